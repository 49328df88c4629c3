"""Property: ids and ratings written to CSV, TSV or Parquet read back as exactly the same triples."""

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcf.data import read_ratings

INT64 = 2**63
near_limits = st.one_of(st.integers(INT64 - 2**12, INT64 - 1), st.integers(-INT64, -INT64 + 2**12),
                        st.integers(-1000, 1000))
# Text ids: spaces, quotes, separators, line breaks and any unicode, but not what a file
# cannot tell from an integer or a missing id (see fastcf.data.cleaning), and no lone CR:
# it ends a line for every CSV reader, and pandas' writer leaves it unquoted.
text_ids = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\r"), min_size=1,
                   max_size=12).filter(lambda s: s.strip() != "" and not re.fullmatch(r"\s*[+-]?[0-9]+\s*", s))
ratings = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def triples(draw):
    users = draw(st.lists(draw(st.sampled_from([near_limits, text_ids])), min_size=1, max_size=8, unique=True))
    items = draw(st.lists(draw(st.sampled_from([near_limits, text_ids])), min_size=1, max_size=8, unique=True))
    pairs = draw(st.lists(st.tuples(st.sampled_from(users), st.sampled_from(items)), min_size=1, max_size=30,
                          unique=True))
    values = draw(st.lists(ratings, min_size=len(pairs), max_size=len(pairs)))
    return pd.DataFrame({"user": [u for u, _ in pairs], "item": [i for _, i in pairs], "rating": values})


def as_triples(frame):
    return sorted(zip(frame["user"].tolist(), frame["item"].tolist(), frame["rating"].tolist()), key=repr)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=triples())
def test_written_ratings_read_back_exactly(tmp_path, suffix, frame):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    path = tmp_path / f"ratings{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    data = read_ratings(path, dtype=np.float64)
    assert data.report.rows_dropped == 0, str(data.report)
    assert as_triples(data.to_frame()) == as_triples(frame)
