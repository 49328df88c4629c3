"""Exceptions fastcf raises beyond the built-in ones."""

__all__ = ["DataError", "NotFittedError"]


class DataError(ValueError):
    """Input data that cannot be used as given; the message names the file, line and column."""


class NotFittedError(ValueError, AttributeError):
    """A model was asked for something that needs ``fit`` first."""
