"""Loader fuzzing (issue 11, list 6): read_ratings on hostile bytes raises only DataError.

The inputs mix structure (headers, separators, quotes, ragged rows, CRLF, a BOM, "nan"
strings, huge numbers) with random bytes; every outcome must be Interactions with finite
values or a documented exception. scripts/fuzz_readers.py runs the same target for longer.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcf.data._fuzz import DOCUMENTED, hostile_files, read_bytes

def _check(data, variant, folder):
    try:
        result = read_bytes(data, variant, folder)
    except DOCUMENTED:
        return
    assert result.nnz > 0 and np.isfinite(result.matrix.data).all()
    assert result.matrix.has_canonical_format


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=hostile_files(), variant=st.integers(0, 23))
def test_structured_hostile_files_raise_only_documented_errors(data, variant, tmp_path):
    _check(data, variant, tmp_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200), variant=st.integers(0, 23))
def test_random_bytes_raise_only_documented_errors(data, variant, tmp_path):
    _check(data, variant, tmp_path)


@pytest.mark.parametrize("content", [b"", b"user,item,rating\n", b"user,item,rating\r\n", b"\xef\xbb\xbf",
                                     b"\xef\xbb\xbfuser,item,rating\n", b"\n\n\n", b"user,item,rating\n\n"])
def test_empty_and_header_only_files_raise_data_error(content, tmp_path):
    from fastcf.exceptions import DataError

    with pytest.raises(DataError):
        read_bytes(content, 0, tmp_path)
