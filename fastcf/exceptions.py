"""Exceptions fastcf raises beyond the built-in ones."""

__all__ = ["DataError", "IndexOutOfRangeError", "ModelFileError", "NotFittedError"]


class DataError(ValueError):
    """Input data that cannot be used as given; the message names the file, line and column."""


class IndexOutOfRangeError(DataError, IndexError):
    """A dense index outside [0, n): bad data (a DataError), and an IndexError for callers
    who catch lookups that way."""


class NotFittedError(ValueError, AttributeError):
    """A model was asked for something that needs ``fit`` first."""


class ModelFileError(ValueError):
    """A model file that cannot be loaded: missing, truncated, corrupted, of a newer format, or
    holding a state that does not fit its model. The message names the file and what failed."""
