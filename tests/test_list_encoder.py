"""Tests of skmmoe._encoders' list columns (ListEncoder, is_list_column), rare
values grouped as scikit-learn groups them, and hashed vocabularies."""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils import murmurhash3_32

from skmmoe._encoders import (
    CategoryEncoder,
    ListEncoder,
    RaggedIds,
    category_counts,
    hash_strings,
    is_list_column,
    select_categories,
    sum_counts,
)


def rows(ragged: RaggedIds) -> list[list[int]]:
    return [
        ragged.values[ragged.offsets[i] : ragged.offsets[i + 1]].tolist()
        for i in range(len(ragged))
    ]


def frame(values, dtype=object) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series(values, dtype=dtype)})


def test_ids_unknown_empty_and_missing_rows():
    enc = ListEncoder().fit(frame([["b", "a"], ["c"], None, []]))
    assert enc.categories_[0].tolist() == ["a", "b", "c"]
    assert enc.vocabulary_sizes_ == [4]
    out = enc.transform(frame([["a", "zzz", "c"], [], None, np.nan, pd.NA, ["b"]]))
    (ids,) = out
    assert ids.values.dtype == np.int32 and ids.offsets.dtype == np.int64
    assert ids.offsets[0] == 0 and len(ids) == 6
    assert rows(ids) == [[1, 0, 3], [], [], [], [], [2]]


def test_tuples_arrays_and_missing_elements():
    X = frame([(1, 2), np.array([2, 3]), [None, 4.0, np.nan]])
    enc = ListEncoder().fit(X)
    assert enc.categories_[0].tolist() == ["1", "2", "3", "4"]
    assert rows(enc.transform(X)[0]) == [[1, 2], [2, 3], [4]]


@pytest.mark.parametrize(
    "arrow_type, values, expected",
    [
        (pa.list_(pa.string()), [["b", None], None, [], ["a"]], ["a", "b"]),
        (
            pa.list_(pa.int64()),
            [[2**60 + 1, 7], None, [None], [7]],
            ["1152921504606846977", "7"],
        ),
        (pa.large_list(pa.int64()), [[3], None], ["3"]),
        (pa.list_(pa.float64(), 2), [[1.0, 2.5], None], ["1", "2.5"]),
    ],
)
def test_arrow_list_columns(arrow_type, values, expected):
    X = frame(values, dtype=pd.ArrowDtype(arrow_type))
    assert is_list_column(X["x"], "x")
    enc = ListEncoder().fit(X)
    assert enc.categories_[0].tolist() == expected
    # The same lists as Python objects give the same ids.
    objects = ListEncoder().fit(frame(values)).transform(frame(values))[0]
    assert rows(enc.transform(X)[0]) == rows(objects)


def test_polars_list_columns_through_to_pandas():
    df = pl.DataFrame(
        {"items": [[1, 2], None, [], [2, None]], "tags": [["a"], ["b", "a"], None, []]}
    ).to_pandas()
    assert all(is_list_column(df[c], c) for c in df.columns)
    enc = ListEncoder().fit(df)
    assert [c.tolist() for c in enc.categories_] == [["1", "2"], ["a", "b"]]
    items, tags = enc.transform(df)
    assert rows(items) == [[1, 2], [], [], [2]]
    assert rows(tags) == [[1], [2, 1], [], []]


def test_is_list_column():
    assert not is_list_column(pd.Series([None, np.nan], dtype=object), "x")
    assert not is_list_column(pd.Series(["a", None]), "x")
    assert not is_list_column(pd.Series([1, 2]), "x")
    assert not is_list_column(pd.Series([1], dtype=pd.ArrowDtype(pa.int64())), "x")
    assert is_list_column(pd.Series([None, (1,)], dtype=object), "x")
    with pytest.raises(TypeError, match="'x' holds both lists and scalar values"):
        is_list_column(pd.Series([[1], "a"], dtype=object), "x")


def test_max_length_keeps_the_first_elements():
    X = frame([["a", None, "b", "c"], ["c"], []])
    enc = ListEncoder(max_length=2).fit(X)
    assert enc.categories_[0].tolist() == ["a", "b", "c"]  # c is first in row 2
    assert rows(enc.transform(X)[0]) == [[1, 2], [3], []]
    assert ListEncoder(max_length=1).fit(frame([["a", "b"]])).categories_[
        0
    ].tolist() == ["a"]


def test_errors_name_the_column():
    with pytest.raises(TypeError, match="'x' holds nested lists"):
        ListEncoder().fit(frame([[[1], 2]]))
    with pytest.raises(TypeError, match="'x' holds nested lists"):
        ListEncoder().fit(
            frame([[[1]]], dtype=pd.ArrowDtype(pa.list_(pa.list_(pa.int64()))))
        )
    with pytest.raises(TypeError, match="'x' mixes strings and numbers"):
        ListEncoder().fit(frame([["a", 1]]))
    enc = ListEncoder().fit(frame([[1]]))
    with pytest.raises(
        TypeError, match="'x' was fitted as a list column but holds scalar"
    ):
        enc.transform(frame(["a", None]))
    with pytest.raises(
        TypeError, match="'x' was fitted as a list column but holds scalar"
    ):
        enc.transform(frame([1, 2], dtype=np.int64))
    with pytest.raises(TypeError, match="'x' holds scalar values"):
        ListEncoder().fit(frame([1, 2], dtype=np.int64))
    fitted = CategoryEncoder().fit(frame(["a", "b"]))
    with pytest.raises(
        TypeError, match="'x' was fitted as a scalar categorical column but holds lists"
    ):
        fitted.transform(frame([["a"], None]))


@pytest.mark.parametrize(
    "params",
    [
        {"max_length": 0},
        {"min_frequency": 0},
        {"min_frequency": 1.5},
        {"max_categories": 0},
        {"hash_buckets": 0},
        {"hash_buckets": 8, "min_frequency": 2},
        {"hash_buckets": 8, "max_categories": 2},
    ],
)
def test_parameters_are_checked(params):
    name = next(iter(params)) if len(params) == 1 else "hash_buckets"
    with pytest.raises(ValueError, match=name):
        ListEncoder(**params).fit(frame([["a"]]))
    if "max_length" not in params:
        with pytest.raises(ValueError, match=name):
            CategoryEncoder(**params).fit(frame(["a"]))


def test_element_strings_agree_with_scalar_categories():
    # Columns may share an embedding table: the element 7 and the category 7
    # must be the same string, whatever container or dtype they arrive in.
    values = [7, 2**62 + 3, True, 2.5, 3.0, np.float32(0.1), -0.0]
    scalar = CategoryEncoder().fit(pd.DataFrame({"x": values}, dtype=object))
    listed = ListEncoder().fit(frame([values]))
    assert_array_equal(listed.categories_[0], scalar.categories_[0])
    ints = CategoryEncoder().fit(pd.DataFrame({"x": [7, 12, 2**62 + 3]}))
    for X in (
        frame([[7, 12], [2**62 + 3]]),
        frame([[7, 12], [2**62 + 3]], dtype=pd.ArrowDtype(pa.list_(pa.int64()))),
        pl.DataFrame({"x": [[7, 12], [2**62 + 3]]}).to_pandas(),
        frame([[7.0, 12.0], None]),  # ints read back as floats
    ):
        kept = ListEncoder().fit(X).categories_[0]
        assert set(kept) <= set(ints.categories_[0]) and "7" in kept


def test_pickling_drops_and_rebuilds_the_lookup_tables():
    for enc in (
        ListEncoder(min_frequency=2).fit(frame([["a", "b"], ["a", "c"]])),
        CategoryEncoder(max_categories=2).fit(frame(["a", "a", "b", "c"])),
    ):
        assert "_indexes" not in enc.__getstate__()
        loaded = pickle.loads(pickle.dumps(enc))
        assert len(loaded._indexes) == 1
        X = (
            frame([["a", "c", "z"]])
            if isinstance(enc, ListEncoder)
            else frame(["a", "c", "z"])
        )
        expected = enc.transform(X)
        got = loaded.transform(X)
        if isinstance(enc, ListEncoder):
            assert rows(got[0]) == rows(expected[0]) == [[1, 2, 0]]
        else:
            assert_array_equal(got, expected)
            assert_array_equal(got[:, 0], [0, 1, -1])


def test_old_pickles_without_the_new_parameters_load():
    enc = CategoryEncoder().fit(frame(["a", "b"]))
    state = enc.__getstate__()
    for key in (
        "min_frequency",
        "max_categories",
        "hash_buckets",
        "infrequent_categories_",
    ):
        state.pop(key)
    old = CategoryEncoder.__new__(CategoryEncoder)
    old.__setstate__(state)
    assert old.get_params() == CategoryEncoder().get_params()
    assert_array_equal(old.transform(frame(["b", "q"]))[:, 0], [1, -1])


def test_infrequent_values_share_one_code_apart_from_unknown():
    X = frame(["a"] * 5 + ["b"] * 3 + ["c", "d", None])
    enc = CategoryEncoder(min_frequency=2).fit(X)
    assert enc.categories_[0].tolist() == ["a", "b"]
    assert enc.infrequent_categories_[0].tolist() == ["c", "d"]
    assert enc.vocabulary_sizes_ == [4]
    codes = enc.transform(frame(["a", "b", "c", "d", "zz", None]))[:, 0]
    assert_array_equal(codes, [0, 1, 2, 2, -1, -1])
    lists = ListEncoder(max_categories=2).fit(frame([["a", "a", "b"], ["c"], None]))
    assert lists.categories_[0].tolist() == ["a"]
    assert lists.infrequent_categories_[0].tolist() == ["b", "c"]
    assert lists.vocabulary_sizes_ == [3]
    assert rows(lists.transform(frame([["a", "b", "c", "zz"]]))[0]) == [[1, 2, 2, 0]]
    default = CategoryEncoder().fit(X)
    assert [c.tolist() for c in default.infrequent_categories_] == [[]]
    assert default.vocabulary_sizes_ == [5]


def test_float_min_frequency_of_lists_is_a_share_of_rows():
    X = frame([["a", "b"], ["a"], ["a"], None])  # a: 3 times, b: once, 4 rows
    enc = ListEncoder(min_frequency=0.5).fit(X)  # fewer than 2 times: infrequent
    assert enc.categories_[0].tolist() == ["a"]
    assert enc.infrequent_categories_[0].tolist() == ["b"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "b", "c", "d", "e", "f", "gg", None]),
        min_size=1,
        max_size=60,
    ),
    st.one_of(st.none(), st.integers(1, 6), st.floats(0.01, 0.99)),
    st.one_of(st.none(), st.integers(1, 7)),
)
def test_rare_grouping_matches_scikit_learn(values, min_frequency, max_categories):
    column = np.array([np.nan if v is None else v for v in values], dtype=object)
    ours = CategoryEncoder(min_frequency=min_frequency, max_categories=max_categories)
    ours.fit(frame(column))
    theirs = OrdinalEncoder(min_frequency=min_frequency, max_categories=max_categories)
    theirs.fit(column.reshape(-1, 1))
    observed = sorted({v for v in values if v is not None})
    grouping = min_frequency is not None or max_categories is not None
    expected = theirs.infrequent_categories_[0] if grouping else None
    expected = [] if expected is None else [v for v in expected if isinstance(v, str)]
    assert ours.infrequent_categories_[0].tolist() == sorted(expected)
    assert ours.categories_[0].tolist() == sorted(set(observed) - set(expected))
    # A list column of one-element rows groups the same elements.
    lists = ListEncoder(min_frequency=min_frequency, max_categories=max_categories)
    lists.fit(frame([None if v is None else [v] for v in values]))
    assert lists.infrequent_categories_[0].tolist() == sorted(expected)


def test_counts_for_shared_vocabularies():
    scalar = frame(["a", "b", "a", None])["x"]
    listed = frame([["a", "c"], ["c", "c"], None, []])["x"]
    values, counts = sum_counts([category_counts(scalar), category_counts(listed)])
    assert values.tolist() == ["a", "b", "c"] and counts.tolist() == [3, 1, 3]
    kept, infrequent = select_categories(
        values, counts, min_frequency=None, max_categories=2, n_samples=4
    )
    # Ties broken as scikit-learn breaks them: the category sorting last is kept.
    assert kept.tolist() == ["c"] and infrequent.tolist() == ["a", "b"]
    enc = ListEncoder().set_categories([kept], [infrequent])
    assert rows(enc.transform(frame([["c", "a", "q"]]))[0]) == [[1, 2, 0]]


def test_hashed_codes():
    X = frame(["a", "é", None, 7])
    enc = CategoryEncoder(hash_buckets=5).fit(X.iloc[:1])
    assert [len(c) for c in enc.categories_] == [0]
    assert enc.vocabulary_sizes_ == [6]
    expected = [murmurhash3_32(s, seed=0, positive=True) % 5 for s in ["a", "é"]]
    assert_array_equal(
        enc.transform(X)[:, 0], [*expected, -1, hash_strings(["7"], 5)[0]]
    )
    lists = ListEncoder(hash_buckets=5).fit(frame([["a"]]))
    assert rows(lists.transform(frame([["a", None, "é"], None]))[0]) == [
        [expected[0] + 1, expected[1] + 1],
        [],
    ]
    assert lists.vocabulary_sizes_ == [6]


def test_hashes_are_stable_across_pickling_and_processes():
    strings = ["user_1", "Zürich", "東京", "7"]
    enc = pickle.loads(
        pickle.dumps(CategoryEncoder(hash_buckets=1000).fit(frame(["a"])))
    )
    here = enc.transform(frame(strings))[:, 0].astype(int).tolist()
    code = (
        "import sys, pandas as pd; from skmmoe._encoders import CategoryEncoder;"
        "e = CategoryEncoder(hash_buckets=1000).fit(pd.DataFrame({'x': ['a']}));"
        "x = pd.DataFrame({'x': sys.argv[1:]});"
        "print(e.transform(x)[:, 0].astype(int).tolist())"
    )
    env = {"PYTHONHASHSEED": "123", "PYTHONPATH": str(Path(__file__).parents[1])}
    other = subprocess.run(
        [sys.executable, "-c", code, *strings],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert other.stdout.strip() == str(here)


def test_hash_matches_onnxruntime_murmurhash3():
    onnx = pytest.importorskip("onnx")  # the extra "onnx"
    ort = pytest.importorskip("onnxruntime")
    TensorProto, helper = onnx.TensorProto, onnx.helper
    node = helper.make_node(
        "MurmurHash3", ["x"], ["y"], domain="com.microsoft", seed=0, positive=1
    )
    graph = helper.make_graph(
        [node],
        "hash",
        [helper.make_tensor_value_info("x", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("y", TensorProto.UINT32, [None])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", 17),
            helper.make_opsetid("com.microsoft", 1),
        ],
    )
    onnx.checker.check_model(model)
    session = ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    strings = np.array(
        ["", "a", "7", "True", "2.5", "café", "東京", "😀", "x" * 300], object
    )
    hashed = session.run(None, {"x": strings})[0].astype(np.int64)
    assert_array_equal(hashed % 1000, hash_strings(strings, 1000))
    assert_array_equal(hashed, hash_strings(strings, 2**32))


ROWS = st.lists(
    st.one_of(
        st.none(),
        st.lists(st.one_of(st.none(), st.integers(-3, 9)), max_size=6),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(ROWS, ROWS, st.one_of(st.none(), st.integers(1, 4)))
def test_ids_match_a_per_row_reference(fit_rows, rows_in, max_length):
    enc = ListEncoder(max_length=max_length).fit(frame(fit_rows))
    known = {v: k + 1 for k, v in enumerate(enc.categories_[0])}
    expected = []
    for row in rows_in:
        kept = [str(v) for v in (row or []) if v is not None][:max_length]
        expected.append([known.get(v, 0) for v in kept])
    (ids,) = enc.transform(frame(rows_in))
    assert ids.offsets[0] == 0 and ids.offsets[-1] == len(ids.values)
    assert rows(ids) == expected
