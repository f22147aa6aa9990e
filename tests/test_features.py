"""Tests of skmmoe._features: categorical column selection, the default encoder, the
reserved id 0, mixed and bad inputs, and user-given ColumnTransformers; directly and
through the estimators (categorical_features, preprocessor)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from small_network import small

from skmmoe import MMOEClassifier, MMOEEstimator, _features
from skmmoe._features import (
    FeatureColumn,
    fit_feature_encoder,
    resolve_categorical_mask,
)
from skmmoe._params import FeatureSpec


def fit(
    X,
    categorical_features="auto",
    preprocessor=None,
    embedding_dim=4,
    numeric_encoding="scaled",
    n_bins=16,
):
    spec = FeatureSpec(
        categorical_features=categorical_features,
        preprocessor=preprocessor,
        embedding_dim=embedding_dim,
        numeric_encoding=numeric_encoding,
        n_bins=n_bins,
    )
    encoder, encoded = fit_feature_encoder(X, spec)
    return encoder, encoded.sparse, encoded.dense


@pytest.fixture
def dtype_frame():
    """One column per dtype family."""
    return pd.DataFrame(
        {
            "obj": pd.Series(["a", 1, "b"], dtype=object),
            "str": pd.Series(["a", "b", None], dtype="str"),
            "string": pd.Series(["a", None, "c"], dtype="string"),
            "cat": pd.Categorical(["x", "y", "x"]),
            "bool": [True, False, True],
            "boolean": pd.Series([True, None, False], dtype="boolean"),
            "int": [1, 2, 3],
            "Int64": pd.Series([1, None, 3], dtype="Int64"),
            "float": [0.5, 1.5, np.nan],
        }
    )


@pytest.fixture
def tiny_mixed_frame():
    """Eight rows of object (with None), category (with NaN), bool, int and float
    (with NaN) columns."""
    return pd.DataFrame(
        {
            "city": ["paris", None, "rome", "paris", "oslo", "rome", "oslo", "paris"],
            "grade": pd.Categorical(["b", "a", "b", None, "c", "a", "a", "b"]),
            "member": [True, False, True, True, False, False, True, False],
            "age": [31, 45, 22, 60, 38, 27, 51, 44],
            "income": [1.5, np.nan, 3.25, 2.0, np.nan, 0.5, 4.0, 2.5],
        }
    )


# ------------------------------------------------------ resolve_categorical_mask
def test_auto_picks_object_string_category_and_bool_columns(dtype_frame):
    mask = resolve_categorical_mask(dtype_frame, "auto")
    expected = dict(
        obj=True,
        str=True,
        string=True,
        cat=True,
        bool=True,
        boolean=True,
        int=False,
        Int64=False,
        float=False,
    )
    assert mask.dtype == bool
    assert_array_equal(mask, [expected[c] for c in dtype_frame.columns])


def test_auto_on_an_array_picks_no_column(dtype_frame):
    X = dtype_frame.to_numpy()
    assert X.dtype == object
    assert_array_equal(resolve_categorical_mask(X, "auto"), np.zeros(9, bool))


def test_none_and_empty_pick_no_column(dtype_frame):
    assert not resolve_categorical_mask(dtype_frame, None).any()
    assert not resolve_categorical_mask(dtype_frame, []).any()


@pytest.mark.parametrize(
    "spec",
    [
        ["int", "float"],
        np.array(["float", "int"], dtype=object),
        [6, 8],
        [-3, -1],
        [False] * 6 + [True, False, True],
    ],
    ids=["names", "names-object", "indices", "negative-indices", "mask"],
)
def test_explicit_categorical_features(dtype_frame, spec):
    mask = resolve_categorical_mask(dtype_frame, spec)
    assert_array_equal(np.flatnonzero(mask), [6, 8])


def test_indices_and_mask_on_an_array():
    X = np.zeros((3, 4))
    assert_array_equal(resolve_categorical_mask(X, [1, 3]), [False, True, False, True])
    mask = [True, False, False, True]
    assert_array_equal(resolve_categorical_mask(X, np.array(mask)), mask)


@pytest.mark.parametrize(
    "spec, match",
    [
        (["int", "nope"], r"not in X: \['nope'\]"),
        ([9], r"out of range for 9 features: \[9\]"),
        ([0, -10], r"out of range for 9 features"),
        ([True, False], r"boolean mask must have one entry per feature \(9\)"),
    ],
)
def test_bad_categorical_features_raise(dtype_frame, spec, match):
    with pytest.raises(ValueError, match=match):
        resolve_categorical_mask(dtype_frame, spec)


def test_names_on_an_array_raise():
    with pytest.raises(ValueError, match="needs X to be a DataFrame"):
        resolve_categorical_mask(np.zeros((2, 3)), ["a"])


# ------------------------------------------------------------ default encoder
def test_feature_columns_of_a_mixed_frame(tiny_mixed_frame):
    encoder, sparse, dense = fit(tiny_mixed_frame, embedding_dim=5)
    assert encoder.feature_columns == [
        FeatureColumn("city", "sparse", 3 + 1, 5),
        FeatureColumn("grade", "sparse", 3 + 1, 5),
        FeatureColumn("member", "sparse", 2 + 1, 5),
        FeatureColumn("age", "dense"),
        FeatureColumn("income", "dense"),
        FeatureColumn("missingindicator_income", "dense"),
    ]
    assert encoder.vocabulary_sizes == [4, 4, 3]

    assert sparse.dtype == np.int32
    assert sparse.shape == (8, 3)
    assert (sparse >= 0).all()
    assert (sparse < np.array(encoder.vocabulary_sizes)).all()
    assert dense.dtype == np.float32
    assert dense.shape == (8, 3)
    assert np.isfinite(dense).all()

    # The indicator marks the rows whose income was missing.
    is_missing = tiny_mixed_frame["income"].isna().to_numpy()
    indicator = dense[:, 2]
    assert len(np.unique(indicator)) == 2
    assert (indicator[is_missing] > indicator[~is_missing].max()).all()
    # Numbers are standardised.
    assert_allclose(dense[:, :2].mean(axis=0), 0.0, atol=1e-6)
    assert_allclose(dense[:, 0].std(), 1.0, rtol=1e-5)


def test_transform_equals_fit_output(tiny_mixed_frame):
    encoder, sparse, dense = fit(tiny_mixed_frame)
    sparse2, dense2, _ = encoder.transform(tiny_mixed_frame)
    assert_array_equal(sparse2, sparse)
    assert_array_equal(dense2, dense)


@pytest.mark.parametrize("as_array", [False, True])
def test_block_wise_encoding_equals_encoding_at_once(
    tiny_mixed_frame, monkeypatch, as_array
):
    X = tiny_mixed_frame.to_numpy(dtype=object) if as_array else tiny_mixed_frame
    categorical = [0, 1, 2] if as_array else "auto"
    encoder, sparse, dense = fit(X, categorical)
    monkeypatch.setattr(_features, "TRANSFORM_BLOCK_ROWS", 3)
    monkeypatch.setattr(_features, "SPLIT_BLOCK_ROWS", 2)
    sparse2, dense2, _ = encoder.transform(X)
    assert len(sparse2) == len(tiny_mixed_frame) > 3
    assert sparse2.dtype == np.int32 and dense2.dtype == np.float32
    assert_array_equal(sparse2, sparse)
    assert_array_equal(dense2, dense)
    _, sparse3, dense3 = fit(X, categorical)
    assert_array_equal(sparse3, sparse)
    assert_array_equal(dense3, dense)


def test_sparse_matrix_output_is_encoded_block_wise(user_frame, monkeypatch):
    monkeypatch.setattr(_features, "SPLIT_BLOCK_ROWS", 2)
    preprocessor = ColumnTransformer(
        [("ord", OrdinalEncoder(), ["a"]), ("hot", OneHotEncoder(), ["b"])],
        sparse_threshold=1.0,
    )
    encoder, sparse, dense = fit(user_frame, preprocessor=preprocessor)
    assert_array_equal(sparse[:, 0], [1, 2, 3, 1, 2])
    assert_array_equal(
        dense, OneHotEncoder().fit_transform(user_frame[["b"]]).toarray()
    )


def test_categories_get_distinct_nonzero_ids_and_missing_gets_zero(tiny_mixed_frame):
    _, sparse, _ = fit(tiny_mixed_frame)
    city = tiny_mixed_frame["city"].to_numpy(dtype=object)
    ids = {c: sparse[i, 0] for i, c in enumerate(city) if not pd.isna(c)}
    assert sorted(ids.values()) == [1, 2, 3]
    assert sparse[1, 0] == 0  # city None
    assert sparse[3, 1] == 0  # grade None
    for i, c in enumerate(city):
        if not pd.isna(c):
            assert sparse[i, 0] == ids[c]


def test_unknown_and_missing_categories_map_to_zero(tiny_mixed_frame):
    encoder, sparse, _ = fit(tiny_mixed_frame)
    new = pd.DataFrame(
        {
            "city": ["rome", "berlin", None, "oslo", np.nan],
            "grade": pd.Categorical(["z", "a", None, "c", "b"]),
            "member": pd.Series([False, True, None, True, False], dtype="boolean"),
            "age": [30, 40, 50, 60, 70],
            "income": [1.0, 2.0, np.nan, 3.0, 4.0],
        }
    )
    new_sparse, new_dense, _ = encoder.transform(new)
    fit_id = {
        (j, str(v)): sparse[i, j]
        for j, col in enumerate(["city", "grade", "member"])
        for i, v in enumerate(tiny_mixed_frame[col])
        if not pd.isna(v)
    }
    expected = np.array(
        [
            [fit_id[0, "rome"], 0, fit_id[2, "False"]],
            [0, fit_id[1, "a"], fit_id[2, "True"]],
            [0, 0, 0],
            [fit_id[0, "oslo"], fit_id[1, "c"], fit_id[2, "True"]],
            [0, fit_id[1, "b"], fit_id[2, "False"]],
        ]
    )
    assert_array_equal(new_sparse, expected)
    assert np.isfinite(new_dense).all()
    assert new_dense.shape == (5, 3)


def test_all_missing_categorical_column_at_transform(tiny_mixed_frame):
    encoder, _, _ = fit(tiny_mixed_frame)
    new = tiny_mixed_frame.copy()
    new["city"] = pd.Series([None] * len(new), dtype=object)
    sparse, _, _ = encoder.transform(new)
    assert_array_equal(sparse[:, 0], 0)


def test_all_missing_category_dtype_column_maps_to_zero(tiny_mixed_frame):
    encoder, _, _ = fit(tiny_mixed_frame)
    new = tiny_mixed_frame.copy()
    new["grade"] = pd.Series([None] * len(new), dtype="category")
    sparse, _, _ = encoder.transform(new)
    assert_array_equal(sparse[:, 1], 0)


def test_int_coded_category_arriving_as_float_keeps_its_ids():
    X = pd.DataFrame({"code": [1, 2, 3, 1, 2], "x": [0.0, 1.0, 2.0, 3.0, 4.0]})
    encoder, sparse, _ = fit(X, categorical_features=["code"])
    assert encoder.feature_columns[0] == FeatureColumn("code", "sparse", 4, 4)
    ids = dict(zip(X["code"], sparse[:, 0]))
    new = pd.DataFrame({"code": [3.0, np.nan, 1.0, 2.0, 7.0], "x": np.zeros(5)})
    assert new["code"].dtype == np.float64
    new_sparse, _, _ = encoder.transform(new)
    assert_array_equal(new_sparse[:, 0], [ids[3], 0, ids[1], ids[2], 0])


def test_large_int_categories_stay_distinct():
    ids = np.array([2**53, 2**53 + 1, 2**62 + 1, 2**62 + 2], dtype=np.int64)
    X = pd.DataFrame({"id": ids, "x": [0.0, 1.0, 2.0, 3.0]})
    encoder, sparse, _ = fit(X, categorical_features=["id"])
    assert encoder.feature_columns[0].vocabulary_size == 5
    assert len(np.unique(sparse[:, 0])) == 4


def test_int_category_dtype_matches_plain_ints():
    X = pd.DataFrame({"code": pd.Categorical([10, 20, 30, 10]), "x": [0.0, 1, 2, 3]})
    encoder, sparse, _ = fit(X)
    new = pd.DataFrame({"code": [30.0, 10.0, np.nan, 20.0], "x": np.zeros(4)})
    new_sparse, _, _ = encoder.transform(new)
    assert_array_equal(new_sparse[:, 0], [sparse[2, 0], sparse[0, 0], 0, sparse[1, 0]])


def test_mixed_type_object_column():
    X = pd.DataFrame(
        {
            "m": pd.Series(["a", 1, True, 2.5, None], dtype=object),
            "x": [0.0, 1.0, 2.0, 3.0, 4.0],
        }
    )
    encoder, sparse, _ = fit(X)
    assert encoder.feature_columns[0] == FeatureColumn("m", "sparse", 5, 4)
    ids = sparse[:, 0]
    assert sorted(ids[:4]) == [1, 2, 3, 4]  # four distinct known categories
    assert ids[4] == 0
    new = pd.DataFrame(
        {
            "m": pd.Series([2.5, True, 1.0, "a", None, "zz"], dtype=object),
            "x": np.zeros(6),
        }
    )
    new_sparse, _, _ = encoder.transform(new)
    assert_array_equal(new_sparse[:, 0], [ids[3], ids[2], ids[1], ids[0], 0, 0])


@pytest.mark.parametrize(
    "values, match",
    [
        ([1 + 2j, 3j, 1 + 2j, 0j], "'bad'.*complex"),
        ([object(), object(), object(), object()], "'bad'.*object"),
        ([{"k": 1}, "a", "b", "a"], "'bad'.*dict"),
    ],
    ids=["complex", "object", "dict"],
)
def test_unsupported_categorical_values_raise_type_error(values, match):
    X = pd.DataFrame(
        {"bad": pd.Series(values, dtype=object), "x": [0.0, 1.0, 2.0, 3.0]}
    )
    with pytest.raises(TypeError, match=match):
        fit(X)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_numeric_column_with_infinity_raises(bad):
    X = pd.DataFrame({"s": ["a", "b", "c"], "amount": [1.0, bad, 2.0]})
    with pytest.raises(ValueError, match="'amount'.*infinity"):
        fit(X)


def test_infinity_at_transform_time_raises():
    X = pd.DataFrame({"s": ["a", "b", "c"], "amount": [1.0, 3.0, 2.0]})
    encoder, _, _ = fit(X)
    with pytest.raises(ValueError, match="'amount'.*infinity"):
        encoder.transform(X.assign(amount=[1.0, np.inf, 0.0]))


def test_numeric_only_array():
    X = np.array([[0.0, 1.0], [2.0, np.nan], [4.0, 5.0]])
    encoder, sparse, dense = fit(X)
    assert sparse.shape == (3, 0)
    assert [c.kind for c in encoder.feature_columns] == ["dense"] * 3
    assert np.isfinite(dense).all()


def test_categorical_indices_on_an_object_array():
    X = np.array([["a", 1.0], ["b", 2.0], [None, 3.0], ["a", 4.0]], dtype=object)
    encoder, sparse, dense = fit(X, categorical_features=[0])
    assert [c.kind for c in encoder.feature_columns] == ["sparse", "dense"]
    assert sparse[0, 0] == sparse[3, 0] != 0
    assert sparse[2, 0] == 0
    assert dense.shape == (4, 1)


# ---------------------------------------------------- user ColumnTransformer
@pytest.fixture
def user_frame():
    return pd.DataFrame(
        {
            "a": ["x", "y", "z", "x", "y"],
            "b": ["p", "q", "p", None, "q"],
            "n": [1.0, 2.0, 3.0, 4.0, 5.0],
            "m": [1.0, np.nan, 3.0, 4.0, 0.5],
        }
    )


def test_user_column_transformer_ordinal_outputs_become_sparse(user_frame):
    preprocessor = ColumnTransformer(
        [
            # A numeric block first: sparse columns still come first.
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["n", "m"]),
            (
                "ord",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["a"],
            ),
            (
                "ord_pipe",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value", unknown_value=np.nan
                    ),
                ),
                ["b"],
            ),
        ]
    )
    # b's missing value as NaN: SimpleImputer of scikit-learn 1.6 does not treat
    # None as missing (recent releases do).
    frame = user_frame.assign(b=user_frame.b.where(user_frame.b.notna(), np.nan))
    encoder, sparse, dense = fit(frame, preprocessor=preprocessor, embedding_dim=3)
    # The user's transformer is copied, and the copy fitted.
    assert encoder.preprocessor is not preprocessor
    assert not hasattr(preprocessor, "transformers_")
    assert encoder.feature_columns == [
        FeatureColumn("ord__a", "sparse", 4, 3),
        FeatureColumn("ord_pipe__b", "sparse", 3, 3),
        FeatureColumn("num__n", "dense"),
        FeatureColumn("num__m", "dense"),
    ]
    # Ordinal codes shifted by one: 0 stays free for unknown values.
    assert_array_equal(sparse[:, 0], [1, 2, 3, 1, 2])
    assert_array_equal(sparse[:, 1], [1, 2, 1, 1, 2])
    assert dense.shape == (5, 2)
    assert_allclose(
        dense[:, 0], StandardScaler().fit_transform(user_frame[["n"]])[:, 0], rtol=1e-6
    )

    new = pd.DataFrame(
        {"a": ["w", "y"], "b": ["r", "q"], "n": [1.0, 2.0], "m": [1.0, 2.0]}
    )
    new_sparse, _, _ = encoder.transform(new)
    assert_array_equal(new_sparse, [[0, 0], [2, 2]])


def test_user_ordinal_encoder_with_missing_values(user_frame):
    # An OrdinalEncoder that sees NaN lists it as a category and encodes it as NaN.
    preprocessor = ColumnTransformer(
        [
            (
                "ord",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["b"],
            )
        ],
        remainder=StandardScaler(),
    )
    X = user_frame[["b", "n"]]
    encoder, sparse, dense = fit(X, preprocessor=preprocessor)
    assert [(c.kind, c.vocabulary_size) for c in encoder.feature_columns] == [
        ("sparse", 3),
        ("dense", None),
    ]
    assert_array_equal(sparse[:, 0], [1, 2, 1, 0, 2])
    assert dense.shape == (5, 1)


def test_user_column_transformer_leaving_nan_in_dense_output_raises(user_frame):
    preprocessor = ColumnTransformer(
        [("ord", OrdinalEncoder(), ["a"])], remainder="passthrough"
    )
    with pytest.raises(ValueError, match="NaN"):
        fit(user_frame[["a", "m"]], preprocessor=preprocessor)


def test_user_column_transformer_nan_at_transform_time_raises(user_frame):
    preprocessor = ColumnTransformer(
        [("ord", OrdinalEncoder(), ["a"]), ("num", StandardScaler(), ["n"])]
    )
    encoder, _, _ = fit(user_frame, preprocessor=preprocessor)
    with pytest.raises(ValueError, match="NaN"):
        encoder.transform(user_frame.assign(n=[1.0, np.nan, 3.0, 4.0, 5.0]))


def test_float32_and_float64_categories_agree():
    fit_frame = pd.DataFrame({"f": np.array([0.1, 0.2, 0.1], dtype=np.float32)})
    encoder, sparse, _ = fit(fit_frame, categorical_features=["f"], embedding_dim=2)
    later = pd.DataFrame({"f": np.array([0.1, 0.2, 0.1], dtype=np.float64)})
    np.testing.assert_array_equal(encoder.transform(later)[0], sparse)


def test_a_single_column_name_string_is_refused():
    frame = pd.DataFrame({"city": ["a", "b"], "x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="pass a list"):
        resolve_categorical_mask(frame, "city")


@pytest.mark.parametrize("encoding", _features.NUMERIC_ENCODINGS)
def test_numeric_encodings_feature_columns(encoding):
    X = pd.DataFrame({"c": list("abcabc") * 5, "x": np.linspace(0, 1, 30)})
    X.loc[3, "x"] = np.nan
    encoder, sparse, dense = fit(X, numeric_encoding=encoding, n_bins=5)
    kinds = [(c.name, c.kind) for c in encoder.feature_columns]
    sparse_kinds = [k for k in kinds if k[1] == "sparse"]
    dense_names = [n for n, kind in kinds if kind == "dense"]
    if encoding == "quantile_embedding" or encoding.endswith("+embedding"):
        assert sparse_kinds == [("c", "sparse"), ("x_bin", "sparse")]
        assert sparse[3, 1] == 0  # the missing value at the reserved id
        assert len(np.unique(sparse[:, 1])) == 6  # 5 bins and the reserved id
    else:
        assert sparse_kinds == [("c", "sparse")]
    if encoding.startswith("scaled"):
        assert dense_names == ["x", "missingindicator_x"]
    elif encoding.startswith("piecewise_linear"):
        assert dense_names[:-1] == [f"x_ple{t}" for t in range(5)]
        # A 0/1 column: one piecewise-linear input, edges on its two values.
        assert dense_names[-1] == "missingindicator_x_ple0"
        assert_array_equal(dense[:, -1], np.isnan(X["x"]).astype(np.float32))
    else:
        assert dense_names == []
    assert np.isfinite(dense).all() and dense.dtype == np.float32


# ------------------------------------------------------------------ bin edges


# -------------------------------------------------- X through the estimators
def test_user_column_transformer(mixed_frame_xy):
    X, Y = mixed_frame_xy
    X = X.assign(city=X["city"].fillna("unknown"))
    ct = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["city", "color"],
            ),
            ("num", StandardScaler(), ["age"]),
        ],
        remainder="drop",
    )
    X = X.assign(age=X["age"].fillna(40.0))
    est = MMOEEstimator(**small(epochs=10, preprocessor=ct)).fit(X, Y)
    kinds = {c.name: c.kind for c in est.feature_columns_}
    assert kinds == {"cat__city": "sparse", "cat__color": "sparse", "num__age": "dense"}
    city = next(c for c in est.feature_columns_ if c.name == "cat__city")
    assert city.vocabulary_size == 6  # 4 cities, 'unknown', and the reserved index
    # The user's object is left unfitted; the fitted copy is preprocessor_.
    assert not hasattr(ct, "transformers_")
    assert est.preprocessor_ is not ct
    new = X.head(3).assign(city=["atlantis", "rome", "oslo"])
    assert np.isfinite(est.predict(new)[:, 1].astype(float)).all()

    with pytest.raises(ValueError, match="categorical_features cannot be set"):
        MMOEEstimator(**small(preprocessor=ct, categorical_features=["city"])).fit(X, Y)


def test_categorical_features_as_names():
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"shop": rng.integers(0, 6, 300), "x": rng.normal(size=300)})
    y = np.isin(X["shop"], [1, 4]).astype(int)
    est = MMOEClassifier(
        **small(epochs=20, categorical_features=["shop"], numeric_encoding="scaled")
    ).fit(X, y)
    kinds = {c.name: (c.kind, c.vocabulary_size) for c in est.feature_columns_}
    assert kinds == {"shop": ("sparse", 7), "x": ("dense", None)}
    assert est.score(X, y) > 0.9
    # An unseen shop id goes to the reserved index.
    assert est.predict(pd.DataFrame({"shop": [99], "x": [0.0]})).shape == (1,)


def test_categorical_features_on_object_array():
    rng = np.random.default_rng(6)
    X = np.empty((300, 2), dtype=object)
    X[:, 0] = rng.choice(["a", "b", "c"], 300)
    X[:, 1] = rng.normal(size=300)
    y = (X[:, 0] == "a").astype(int)
    new = np.array([["zzz", 0.3], [None, -1.0]], dtype=object)
    probas = []
    for spec in ([0], [-2], [True, False], np.array([True, False])):
        est = MMOEClassifier(
            **small(epochs=2, categorical_features=spec, numeric_encoding="scaled")
        ).fit(X, y)
        kinds = [(c.kind, c.vocabulary_size) for c in est.feature_columns_]
        assert kinds == [("sparse", 4), ("dense", None)]
        assert est.n_features_in_ == 2
        probas.append(est.predict_proba(np.vstack([X[:20], new])))
    for proba in probas[1:]:
        assert_array_equal(proba, probas[0])
    assert np.isfinite(probas[0]).all()


def test_categorical_features_none_and_bad_names(mixed_frame_xy):
    X, Y = mixed_frame_xy
    numeric = X[["age"]].assign(code=np.arange(len(X)) % 4)
    est = MMOEEstimator(
        **small(epochs=1, categorical_features=None, numeric_encoding="scaled")
    ).fit(numeric, Y)
    assert [c.kind for c in est.feature_columns_] == ["dense"] * 3
    with pytest.raises(ValueError, match="not in X"):
        MMOEEstimator(**small(epochs=1, categorical_features=["nope"])).fit(X, Y)
    with pytest.raises(ValueError, match="DataFrame"):
        MMOEEstimator(**small(epochs=1, categorical_features=["a"])).fit(
            np.zeros((10, 2)), np.arange(10) % 2
        )


# ------------------------------------------- other tables and category values
def _city_frame(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"city": rng.choice(["a", "b", "c"], n), "x": rng.normal(size=n)})
    X.loc[3, "city"] = None
    return X, (X["city"] == "a").astype(int)


@pytest.mark.parametrize("library", ["polars", "pyarrow"])
def test_polars_and_pyarrow_tables_are_read_as_pandas(library):
    module = pytest.importorskip(library)
    X, y = _city_frame()
    table = module.from_pandas(X) if library == "polars" else module.table(X)
    est = MMOEClassifier(**small(epochs=2)).fit(table, y)
    assert est.feature_columns_[0].name == "city"
    assert est.feature_columns_[0].kind == "sparse"
    reference = MMOEClassifier(**small(epochs=2)).fit(X, y)
    assert_allclose(est.predict_proba(table), reference.predict_proba(X), atol=1e-6)


def test_an_array_at_predict_after_a_frame_fit_is_read_by_position():
    X, y = _city_frame()
    est = MMOEClassifier(**small(epochs=2)).fit(X, y)
    with pytest.warns(UserWarning, match="feature names"):
        proba = est.predict_proba(X.to_numpy(dtype=object))
    assert_allclose(proba, est.predict_proba(X))


@pytest.mark.parametrize(
    "values",
    [
        pd.cut(np.linspace(0, 1, 60), 4),
        pd.Categorical(
            pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(60) % 3, "D")
        ),
        pd.Categorical(
            pd.period_range("2024-01", periods=3, freq="M")[np.arange(60) % 3]
        ),
    ],
    ids=["intervals", "timestamps", "periods"],
)
def test_categories_of_intervals_timestamps_and_periods(values, tmp_path):
    import skmmoe

    X = pd.DataFrame({"c": values, "x": np.arange(60.0)})
    y = np.arange(60) % 2
    est = MMOEClassifier(**small(epochs=1)).fit(X, y)
    column = est.feature_columns_[0]
    assert (
        column.kind == "sparse"
        and column.vocabulary_size == len(pd.unique(np.asarray(values))) + 1
    )
    skmmoe.save(est, tmp_path / "model.skmmoe")
    loaded = skmmoe.load(tmp_path / "model.skmmoe")
    assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


def test_get_feature_names_out_without_arguments():
    """skl2onnx (skmmoe.to_onnx) calls get_feature_names_out() with no argument:
    the names are then scikit-learn's defaults x0, x1, ..."""
    from skmmoe._features import (
        CategoryEncoder,
        PiecewiseLinearEncoder,
        QuantileBinner,
    )

    X = np.column_stack([np.arange(20.0), np.arange(20.0) % 3])
    assert CategoryEncoder().fit(X).get_feature_names_out().tolist() == ["x0", "x1"]
    binner = QuantileBinner(n_bins=4).fit(X)
    assert binner.get_feature_names_out().tolist() == ["x0_bin", "x1_bin"]
    ple = PiecewiseLinearEncoder(n_bins=2).fit(X)
    assert ple.get_feature_names_out().tolist() == [
        "x0_ple0",
        "x0_ple1",
        "x1_ple0",
        "x1_ple1",
    ]
    assert ple.get_feature_names_out(["a", "b"]).tolist()[:2] == ["a_ple0", "a_ple1"]


def _fitted_column_transformer(X):
    return ColumnTransformer(
        [
            ("cat", OrdinalEncoder(), ["a", "b"]),
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["n", "m"]),
        ]
    ).fit(X)


def test_frozen_preprocessor_is_kept_through_fit_partial_fit_and_clone(user_frame):
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    X = pd.concat([user_frame] * 8, ignore_index=True)
    y = np.tile([0, 1], len(X) // 2)
    ct = _fitted_column_transformer(X)
    categories = [c.copy() for c in ct.named_transformers_["cat"].categories_]
    mean = ct.named_transformers_["num"][-1].mean_.copy()
    # Fit on rows that lack category 'z' and have other numbers: the frozen
    # encoding, fitted on all rows, is used as it is.
    part = X.a != "z"
    est = MMOEClassifier(**small(epochs=1), preprocessor=FrozenEstimator(ct))
    est.fit(X[part], y[part])
    assert est.preprocessor_ is ct
    assert est.feature_columns_[0].vocabulary_size == 4  # x, y, z + reserved
    for kept, fitted in zip(categories, ct.named_transformers_["cat"].categories_):
        assert [str(c) for c in kept] == [str(c) for c in fitted]
    assert_allclose(ct.named_transformers_["num"][-1].mean_, mean)
    est.partial_fit(X[~part], y[~part])
    assert est.preprocessor_ is ct
    twin = clone(est)
    assert twin.preprocessor.estimator is ct
    twin.partial_fit(X[~part], y[~part], classes=[0, 1])
    assert twin.preprocessor_ is ct
    assert twin.feature_columns_ == est.feature_columns_


def test_frozen_preprocessor_must_wrap_a_fitted_column_transformer(user_frame):
    from sklearn.frozen import FrozenEstimator

    y = np.array([0, 1, 0, 1, 0])
    unfitted = ColumnTransformer([("cat", OrdinalEncoder(), ["a"])])
    est = MMOEClassifier(**small(epochs=1), preprocessor=FrozenEstimator(unfitted))
    with pytest.raises(ValueError, match="not fitted; fit the ColumnTransformer"):
        est.fit(user_frame, y)
    est.set_params(preprocessor=FrozenEstimator(StandardScaler().fit([[0.0], [1.0]])))
    with pytest.raises(ValueError, match="must wrap a fitted ColumnTransformer; it "):
        est.fit(user_frame, y)
    assert not hasattr(est, "network_")


# ------------------------------------------- numbers at full precision, and time
# A network that learns a smooth function of one column in a fraction of a second.
SMOOTH = small(
    expert_dnn_hidden_units=(32,),
    gate_dnn_hidden_units=(),
    tower_dnn_hidden_units=(16,),
    epochs=20,
)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    offset_exponent=st.integers(0, 15),
    offset_sign=st.sampled_from([-1.0, 1.0]),
    scale_exponent=st.integers(-9, 9),
    encoding=st.sampled_from(_features.NUMERIC_ENCODINGS),
)
def test_offsets_and_scales_of_any_magnitude_encode_as_the_plain_column(
    seed, offset_exponent, offset_sign, scale_exponent, encoding
):
    """A column moved by a large offset (timestamps, amounts in cents, large ids)
    or scaled by any power of ten encodes to the same network inputs as the
    plain column: the same bin of every value, standardised and piecewise-linear
    values within 1e-5. float32 would round 1e9 + x to steps of 128. The offset
    is capped at 1e6 steps of the column, where float64 still tells its values
    apart."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-500, 500, size=300) / 100.0  # steps of 0.01
    x[rng.random(300) < 0.1] = np.nan
    scale = 10.0**scale_exponent
    offset = offset_sign * min(10.0**offset_exponent, 1e6 * scale)
    plain = fit(pd.DataFrame({"x": x}), numeric_encoding=encoding)
    moved = fit(pd.DataFrame({"x": x * scale + offset}), numeric_encoding=encoding)
    assert_array_equal(moved[1], plain[1])  # bin ids
    assert_allclose(moved[2], plain[2], rtol=0, atol=1e-5)  # dense inputs


def test_a_large_offset_keeps_what_the_column_says():
    """The issue's case: y a smooth function of x, given as x + 1e9; as accurate
    as x itself (float32 left R^2 near 0)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, 1500)
    y = np.sin(x / 10.0) + 0.05 * rng.normal(size=1500)
    scores = []
    for offset in (0.0, 1e9, 1e12):
        X = pd.DataFrame({"x": x + offset})
        est = MMOEEstimator(**SMOOTH).fit(X[:1000], y[:1000])
        scores.append(est.score(X[1000:], y[1000:]))
    assert scores[0] > 0.9, scores
    assert_allclose(scores[1:], scores[0], atol=0.02)
