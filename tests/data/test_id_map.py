"""IdMap: raw IDs of any hashable type <-> dense indices."""

import numpy as np
import pytest

from fastcf.data import IdMap


def test_factorize_sorts_raw_ids_so_order_in_the_file_does_not_matter():
    first, codes = IdMap.factorize(np.array([30, 10, 20, 10]), "user")
    np.testing.assert_array_equal(first.raw_ids, [10, 20, 30])
    np.testing.assert_array_equal(codes, [2, 0, 1, 0])
    second, _ = IdMap.factorize(np.array([10, 20, 30, 30]), "user")
    assert first == second


def test_string_and_mixed_ids():
    strings, codes = IdMap.factorize(np.array(["b", "a", "b"], dtype=object), "item")
    np.testing.assert_array_equal(strings.raw_ids, ["a", "b"])
    np.testing.assert_array_equal(codes, [1, 0, 1])
    mixed, codes = IdMap.factorize(np.array([3, "a", 3], dtype=object), "item")
    assert len(mixed) == 2 and codes[0] == codes[2] != codes[1]


def test_round_trip_and_scalar_lookup():
    ids = IdMap(np.array([5, 7, 9]), "user")
    np.testing.assert_array_equal(ids.to_index([9, 5]), [2, 0])
    assert ids.to_index(7) == 1
    np.testing.assert_array_equal(ids.to_raw([2, 0]), [9, 5])
    assert 7 in ids and 8 not in ids


def test_unknown_ids_raise_naming_them_or_map_to_minus_one():
    ids = IdMap(np.array([5, 7, 9]), "user")
    with pytest.raises(KeyError, match=r"unknown user id\(s\) \[6, 8\]; 3 users are known"):
        ids.to_index([5, 6, 8])
    np.testing.assert_array_equal(ids.to_index([5, 6], missing="ignore"), [0, -1])


def test_out_of_range_index_names_the_range():
    ids = IdMap(np.array(["a", "b"], dtype=object), "item")
    with pytest.raises(IndexError, match=r"item index 2, outside \[0, 2\)"):
        ids.to_raw([0, 2])
    with pytest.raises(IndexError, match=r"item index -1"):
        ids.to_raw(-1)


def test_duplicate_raw_ids_are_refused():
    with pytest.raises(ValueError, match=r"user ids must be distinct; repeated: \[1\]"):
        IdMap(np.array([1, 2, 1]), "user")


def test_extend_appends_new_ids_and_keeps_old_indices():
    ids = IdMap(np.array([5, 7]), "user")
    grown = ids.extend([7, 11, 3, 11])
    np.testing.assert_array_equal(grown.raw_ids, [5, 7, 11, 3])
    assert ids.extend([5]) is ids
