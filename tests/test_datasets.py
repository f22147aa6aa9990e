"""skmmoe.datasets: the Census-Income (KDD) loader, the synthetic MMoE tasks and the
synthetic recommendation log; and the tests' MovieLens sample loader."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from recsys_data import MOVIELENS_SAMPLE, load_movielens_sample
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from skmmoe.datasets import (
    load_census_income,
    make_mixed_multitask,
    make_multitask_regression,
    make_recsys_multitask,
)

N_CENSUS = 99762
NUMERIC = [
    "age",
    "wage_per_hour",
    "capital_gains",
    "capital_losses",
    "stock_dividends",
    "num_emp",
    "weeks_worked",
]
CODES = ["det_ind_code", "det_occ_code", "own_or_self", "vet_benefits", "year"]


@pytest.fixture(scope="module")
def census():
    return load_census_income()


@pytest.fixture(scope="module")
def census_paper():
    """The paper's variant, with the survey weights."""
    return load_census_income(drop_education=True, return_sample_weight=True)


# ------------------------------------------------------------------ census
def test_census_shapes_and_targets(census):
    X, Y = census
    assert isinstance(X, pd.DataFrame) and isinstance(Y, pd.DataFrame)
    assert X.shape == (N_CENSUS, 39)
    assert list(Y.columns) == ["income", "marital"]
    assert Y.shape == (N_CENSUS, 2)
    assert (Y.dtypes == np.int64).all()
    assert set(np.unique(Y.to_numpy())) == {0, 1}
    assert_allclose(Y["income"].mean(), 0.062, atol=5e-4)
    assert_allclose(Y["marital"].mean(), 0.432, atol=5e-4)
    assert_array_equal(X.index, Y.index)


def test_census_targets_and_weight_are_not_features(census):
    X, _ = census
    for column in ["income_50k", "marital_stat", "instance_weight"]:
        assert column not in X.columns
    assert X.columns.is_unique


def test_census_dtypes(census):
    X, _ = census
    for column in NUMERIC:
        assert X[column].dtype == np.float64, column
    for column in CODES + ["education", "sex", "class_worker", "race"]:
        assert isinstance(X[column].dtype, pd.CategoricalDtype), column
    # every column is either one of the numeric ones or a category
    categorical = [c for c in X.columns if c not in NUMERIC]
    assert len(categorical) == 39 - len(NUMERIC)
    assert all(isinstance(X[c].dtype, pd.CategoricalDtype) for c in categorical)


def test_census_values(census):
    X, _ = census
    assert not X.isna().any().any()
    assert list(X["year"].cat.categories) == ["94", "95"]
    assert list(X["sex"].cat.categories) == ["Female", "Male"]
    assert "Bachelors degree(BA AB BS)" in X["education"].cat.categories
    # fields are read without the space that follows each comma in the raw file
    for column in ["education", "class_worker", "det_ind_code"]:
        categories = X[column].cat.categories
        assert all(c == c.strip() for c in categories), column
    assert X["age"].between(0, 90).all()
    assert X["weeks_worked"].between(0, 52).all()


def test_census_drop_education_and_sample_weight(census, census_paper):
    X, Y = census
    X_paper, Y_paper, weight = census_paper
    assert X_paper.shape == (N_CENSUS, 38)
    assert "education" not in X_paper.columns
    assert list(X_paper.columns) == [c for c in X.columns if c != "education"]
    pd.testing.assert_frame_equal(Y_paper, Y)
    assert isinstance(weight, np.ndarray)
    assert weight.shape == (N_CENSUS,)
    assert weight.dtype == np.float64
    assert np.isfinite(weight).all()
    assert (weight > 0).all()


# ------------------------------------------------------- synthetic tasks
def test_make_multitask_regression_shapes():
    X, Y = make_multitask_regression(300, 7, random_state=0)
    assert X.shape == (300, 7)
    assert Y.shape == (300, 2)
    assert X.dtype == Y.dtype == np.float64


def test_make_multitask_regression_default_shapes():
    X, Y = make_multitask_regression(random_state=0)
    assert X.shape == (10000, 100)
    assert Y.shape == (10000, 2)


def test_make_multitask_regression_is_seeded():
    X1, Y1 = make_multitask_regression(200, 5, random_state=3)
    X2, Y2 = make_multitask_regression(200, 5, random_state=3)
    X3, Y3 = make_multitask_regression(200, 5, random_state=4)
    assert_array_equal(X1, X2)
    assert_array_equal(Y1, Y2)
    assert not np.array_equal(X1, X3)
    assert not np.array_equal(Y1, Y3)


def test_make_multitask_regression_noise_is_a_standard_deviation():
    # Identical weight vectors and no sine terms: y1 - y2 = eps1 - eps2, whose
    # standard deviation is sqrt(2) * noise; the default is the paper's N(0, 0.01).
    for noise, kwargs in ((0.1, {}), (0.5, {"noise": 0.5})):
        _, Y = make_multitask_regression(
            40000, 10, correlation=1.0, n_sin=0, random_state=0, **kwargs
        )
        assert_allclose(np.std(Y[:, 0] - Y[:, 1]), np.sqrt(2) * noise, rtol=0.02)


def test_make_multitask_regression_accepts_a_generator():
    X1, Y1 = make_multitask_regression(100, 4, random_state=np.random.default_rng(5))
    X2, Y2 = make_multitask_regression(100, 4, random_state=np.random.default_rng(5))
    assert_array_equal(X1, X2)
    assert_array_equal(Y1, Y2)


@pytest.mark.parametrize("correlation", [0.5, 0.9, -0.5, 0.0])
def test_make_multitask_regression_correlation(correlation):
    # Linear tasks of standard normal x: corr(y1, y2) = cos(w1, w2) = correlation.
    _, Y = make_multitask_regression(
        20000, 10, correlation=correlation, noise=0.0, n_sin=0, random_state=0
    )
    assert_allclose(np.corrcoef(Y.T)[0, 1], correlation, atol=0.03)


def test_make_multitask_regression_correlation_one_gives_identical_tasks():
    _, Y = make_multitask_regression(
        1000, 10, correlation=1.0, noise=0.0, n_sin=0, random_state=0
    )
    assert_array_equal(Y[:, 0], Y[:, 1])
    _, Y = make_multitask_regression(1000, 10, correlation=1.0, random_state=0)
    # Only the noise differs: eps1 - eps2 has sd sqrt(2) * 0.1, so within 5 sd.
    assert_allclose(Y[:, 0], Y[:, 1], atol=5 * np.sqrt(2) * 0.1)
    assert not np.array_equal(Y[:, 0], Y[:, 1])


def test_make_multitask_regression_scale_and_noise():
    X, Y = make_multitask_regression(
        20000, 10, scale=3.0, noise=0.0, n_sin=0, random_state=0
    )
    # y = w . x with |w| = 3 and x standard normal: sd 3
    assert_allclose(Y.std(axis=0), 3.0, rtol=0.03)
    _, Y_noisy = make_multitask_regression(
        20000, 10, scale=3.0, noise=0.5, n_sin=0, random_state=0
    )
    assert_allclose((Y_noisy - Y).std(axis=0), 0.5, rtol=0.05)


def test_make_multitask_regression_with_sines_is_finite():
    X, Y = make_multitask_regression(
        500, 6, n_sin=10, alpha_scale=2.0, beta_scale=0.5, random_state=1
    )
    assert np.isfinite(X).all()
    assert np.isfinite(Y).all()
    _, Y_linear = make_multitask_regression(500, 6, n_sin=0, random_state=1)
    assert not np.allclose(Y, Y_linear)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(correlation=1.5), "correlation"),
        (dict(correlation=-1.01), "correlation"),
        (dict(n_features=1), "n_features"),
        (dict(noise=-0.1), "noise"),
        (dict(n_sin=-1), "n_sin"),
        (dict(scale=0.0), "scale"),
        (dict(n_samples=0), "n_samples"),
    ],
)
def test_make_multitask_regression_bad_parameters(kwargs, match):
    params = dict(n_samples=10, n_features=3) | kwargs
    with pytest.raises(ValueError, match=match):
        make_multitask_regression(**params)


# ------------------------------------------------------------- mixed table
def test_make_mixed_multitask_columns_and_tasks():
    X, Y = make_mixed_multitask(5000, random_state=0)
    assert X.shape == (5000, 12) and list(Y.columns) == ["churn", "spend", "plan"]
    assert (X["gains"] == 0).mean() == pytest.approx(0.9, abs=0.02)
    assert (X["savings"] == 0).mean() > 0.5  # zero-inflated, with missing values
    assert X["income"].max() > 20 * X["income"].median()  # heavy tail
    assert set(X["children"]) <= set(range(7)) and set(X["rating"]) == set(range(1, 6))
    assert (X["hours"] == 40).mean() > 0.4  # a point mass
    assert X["city"].nunique() > 500  # high cardinality
    assert isinstance(X["segment"].dtype, pd.CategoricalDtype)
    assert X["member"].dtype == bool
    for name in ("score", "hours", "savings", "occupation"):
        assert X[name].isna().mean() == pytest.approx(0.05, abs=0.015)
    assert set(Y["churn"]) == {0, 1} and 0.1 < Y["churn"].mean() < 0.5
    assert Y["spend"].dtype == np.float64 and np.isfinite(Y["spend"]).all()
    assert set(Y["plan"]) == {"basic", "plus", "pro", "team"}


def test_make_mixed_multitask_is_seeded_and_tasks_are_related():
    X1, Y1 = make_mixed_multitask(3000, random_state=3)
    X2, Y2 = make_mixed_multitask(3000, random_state=3)
    pd.testing.assert_frame_equal(X1, X2)
    pd.testing.assert_frame_equal(Y1, Y2)
    assert not make_mixed_multitask(3000, random_state=4)[1].equals(Y1)
    # The tasks share latent effects: churn and spend are correlated.
    assert abs(np.corrcoef(Y1["churn"], Y1["spend"])[0, 1]) > 0.1


def test_make_mixed_multitask_without_missing_values():
    X, _ = make_mixed_multitask(500, missing_rate=0.0, random_state=0)
    assert not X.isna().any().any()


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_samples": 0}, "n_samples"), ({"missing_rate": 1.0}, "missing_rate")],
)
def test_make_mixed_multitask_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_mixed_multitask(**{"n_samples": 10, **kwargs})


# ------------------------------------------------------- recommendation log
RECSYS_X = ["user_id", "item_id", "item_genres", "recent_items", "device", "hour"]
RECSYS_X += ["price"]


@pytest.fixture(scope="module")
def recsys():
    return make_recsys_multitask(30000, return_truth=True, random_state=0)


def _lists(column: pd.Series) -> list:
    return [None if v is None or v is pd.NA else list(v) for v in column.tolist()]


def test_make_recsys_multitask_columns_and_dtypes(recsys):
    X, Y, truth = recsys
    assert list(X.columns) == RECSYS_X
    assert list(Y.columns) == ["click", "conversion", "watch_time"]
    assert list(truth.columns) == ["click", "conversion", "watch_time", "click_session"]
    assert len(X) == len(Y) == len(truth) == 30000
    for name, n_ids in (("user_id", 1000), ("item_id", 500)):
        assert isinstance(X[name].dtype, pd.CategoricalDtype)
        assert list(X[name].cat.categories) == list(range(1, n_ids + 1))
    assert list(X["device"].cat.categories) == ["mobile", "desktop", "tablet"]
    assert X["item_genres"].dtype == object and X["recent_items"].dtype == object
    assert X["hour"].dtype == np.int64 and X["hour"].between(0, 23).all()
    assert X["price"].dtype == np.float64 and (X["price"] > 0).all()
    assert Y["click"].dtype == np.int64 and set(Y["click"]) == {0, 1}
    assert Y["conversion"].dtype == "Int64"
    assert Y["watch_time"].dtype == np.float64 and (Y["watch_time"] > 0).all()
    assert 0.1 < Y["click"].mean() < 0.3


def test_make_recsys_multitask_conversion_only_after_a_click(recsys):
    _, Y, _ = recsys
    assert_array_equal(Y["conversion"].isna(), Y["click"] == 0)
    assert set(Y["conversion"].dropna()) == {0, 1}
    assert Y["watch_time"].notna().all()


def test_make_recsys_multitask_lists(recsys):
    X, _, _ = recsys
    recent = X["recent_items"]
    missing = recent.isna()
    assert 0.01 < missing.mean() < 0.03
    lengths = recent[~missing].map(len)
    assert lengths.min() == 0 and lengths.max() == 10  # some empty, up to max
    elements = [i for items in recent[~missing] for i in items]
    # The same ID space as item_id, as the same Python ints.
    assert {type(i) for i in elements} == {type(X["item_id"].iloc[0])} == {int}
    assert set(elements) <= set(X["item_id"].cat.categories)
    genres = X["item_genres"].map(tuple)
    assert genres.map(len).between(1, 3).all()
    assert (genres.map(lambda g: len(set(g))) == genres.map(len)).all()
    # Fixed per item.
    assert (genres.groupby(X["item_id"], observed=True).nunique() == 1).all()


def test_make_recsys_multitask_popularity_is_skewed(recsys):
    X, _, _ = recsys
    items = X["item_id"].value_counts()
    assert items.iloc[:5].sum() > 0.2 * len(X)  # the top 1% of items
    users = X["user_id"].value_counts()
    assert users.iloc[:10].sum() > 0.1 * len(X)
    # IDs are shuffled: the most popular item is not item 1.
    assert items.index[0] != 1


def test_make_recsys_multitask_is_seeded():
    X1, Y1 = make_recsys_multitask(500, random_state=3)
    X2, Y2 = make_recsys_multitask(500, random_state=3)
    pd.testing.assert_frame_equal(X1, X2)
    pd.testing.assert_frame_equal(Y1, Y2)
    X3, Y3 = make_recsys_multitask(500, random_state=4)
    assert not Y3.equals(Y1)
    assert _lists(X3["recent_items"]) != _lists(X1["recent_items"])


def test_make_recsys_multitask_arrow_holds_the_same_values():
    pa = pytest.importorskip("pyarrow")
    X, Y, truth = make_recsys_multitask(2000, return_truth=True, random_state=1)
    Xa, Ya, truth_a = make_recsys_multitask(
        2000, list_format="arrow", return_truth=True, random_state=1
    )
    assert Xa["item_genres"].dtype == pd.ArrowDtype(pa.list_(pa.string()))
    assert Xa["recent_items"].dtype == pd.ArrowDtype(pa.list_(pa.int64()))
    for name in ("item_genres", "recent_items"):
        assert _lists(Xa[name]) == _lists(X[name]), name
    assert_array_equal(Xa["recent_items"].isna(), X["recent_items"].isna())
    scalars = [c for c in RECSYS_X if c not in ("item_genres", "recent_items")]
    pd.testing.assert_frame_equal(Xa[scalars], X[scalars])
    pd.testing.assert_frame_equal(Ya, Y)
    pd.testing.assert_frame_equal(truth_a, truth)


def test_make_recsys_multitask_takes_millions_of_ids():
    pytest.importorskip("pyarrow")
    X, Y = make_recsys_multitask(
        1000, n_users=10_000_000, n_items=1_000_000, list_format="arrow",
        random_state=0,
    )  # fmt: skip
    assert len(X["user_id"].cat.categories) == 10_000_000
    assert X["user_id"].astype(np.int64).between(1, 10_000_000).all()
    assert len(Y) == 1000


def _without_session(truth: pd.DataFrame) -> np.ndarray:
    logit = np.log(truth["click"] / (1.0 - truth["click"]))
    return 1.0 / (1.0 + np.exp(-(logit - truth["click_session"])))


def test_make_recsys_multitask_truth_and_the_lists_signal(recsys):
    _, Y, truth = recsys
    bayes = roc_auc_score(Y["click"], truth["click"])
    without_session = roc_auc_score(Y["click"], _without_session(truth))
    assert bayes > 0.78
    assert bayes - without_session > 0.05  # the list-derived session term
    clicked = Y["click"] == 1
    conversion = roc_auc_score(
        Y.loc[clicked, "conversion"].astype(int), truth.loc[clicked, "conversion"]
    )
    assert conversion > 0.7
    log_watch = np.log(Y["watch_time"])
    assert np.corrcoef(log_watch, np.log(truth["watch_time"]))[0, 1] > 0.6
    assert_allclose(Y["watch_time"].mean(), truth["watch_time"].mean(), rtol=0.03)
    assert_allclose(Y["click"].mean(), truth["click"].mean(), atol=0.01)


def test_make_recsys_multitask_scalar_columns_miss_the_lists_signal(recsys):
    # A logistic regression on every scalar column (one weight per user, item,
    # device and hour, and the log price) stays well below the Bayes AUC: what
    # the lists add is there to be learned.
    X, Y, truth = recsys
    model = make_pipeline(
        make_column_transformer(
            (
                OneHotEncoder(handle_unknown="ignore"),
                ["user_id", "item_id", "device", "hour"],
            ),
            (FunctionTransformer(np.log), ["price"]),
        ),
        LogisticRegression(max_iter=1000),
    )
    train, test = slice(0, 20000), slice(20000, None)
    model.fit(X.iloc[train], Y["click"].iloc[train])
    y_test = Y["click"].iloc[test]
    scalar_auc = roc_auc_score(y_test, model.predict_proba(X.iloc[test])[:, 1])
    bayes = roc_auc_score(y_test, truth["click"].iloc[test])
    without_session = roc_auc_score(y_test, _without_session(truth.iloc[test]))
    assert 0.55 < scalar_auc < without_session + 0.01 < bayes - 0.05


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_users": 0}, "n_users"),
        ({"n_items": 0}, "n_items"),
        ({"n_genres": 2}, "n_genres"),
        ({"max_recent": -1}, "max_recent"),
        ({"n_items": 2.5}, "n_items must be an int"),
        ({"missing_rate": 1.0}, "missing_rate"),
        ({"list_format": "polars"}, "list_format"),
        ({"n_samples": 2**28, "max_recent": 8}, "2\\*\\*31"),
    ],
)
def test_make_recsys_multitask_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_recsys_multitask(**{"n_samples": 10, **kwargs})


# ------------------------------------------------------ MovieLens sample
# Made-up rows in the file's format (a quoted title with a comma, a zip code
# with a leading zero and one of ZIP+4 form, one genre or several).
MOVIELENS_LIKE = """\
user_id,movie_id,rating,timestamp,title,genres,gender,age,occupation,zip
10,20,5,970000000,"Film, The (1999)",Comedy|Drama,F,25,4,02139
11,21,3,970000001,Other Film (1990),Action,M,18,0,12345-6789
10,21,4,970000002,Other Film (1990),Action,F,25,4,02139
"""


def test_load_movielens_sample_format(tmp_path):
    path = tmp_path / "movielens_like.txt"
    path.write_text(MOVIELENS_LIKE)
    X, Y = load_movielens_sample(path)
    assert list(X.columns) == [
        "user_id", "movie_id", "gender", "age", "occupation", "zip", "genres",
    ]  # fmt: skip
    assert all(isinstance(X[c].dtype, pd.CategoricalDtype) for c in X.columns[:-1])
    assert X["genres"].tolist() == [["Comedy", "Drama"], ["Action"], ["Action"]]
    assert X["zip"].tolist() == ["02139", "12345-6789", "02139"]
    assert Y["liked"].tolist() == [1, 0, 1] and Y["liked"].dtype == np.int64
    assert Y["rating"].tolist() == [5.0, 3.0, 4.0] and Y["rating"].dtype == np.float64


@pytest.mark.skipif(
    not MOVIELENS_SAMPLE.exists(),
    reason="the MovieLens sample is not redistributed: see tests/data/README.md",
)
def test_load_movielens_sample():
    X, Y = load_movielens_sample()
    assert X.shape == (200, 7) and Y.shape == (200, 2)
    assert X["genres"].map(len).between(1, 6).all()
    assert "Drama" in {g for genres in X["genres"] for g in genres}
    assert set(Y["rating"]) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert_array_equal(Y["liked"], Y["rating"] >= 4)
