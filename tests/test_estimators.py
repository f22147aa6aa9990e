"""The public estimators MMOEEstimator, MMOEClassifier and MMOERegressor as
classes: fit/predict/score, shapes of the predictions, fitted attributes,
parameters, determinism, gate weights, rollback of a failed fit, verbosity and
threads.

How y becomes tasks is tested in test_targets.py, X in test_features.py, devices in
test_device.py, partial_fit in test_partial_fit.py, pickles and model files in
test_persistence.py. Shared fixtures are in conftest.py."""

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from small_network import SMALL, assert_close_across_row_sets, small

from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor


# --------------------------------------------------------------- acceptance
def test_acceptance_default_parameters_on_mixed_dataframe(mixed_frame_xy):
    X, Y = mixed_frame_xy
    assert X["city"].dtype == object and X["city"].isna().any()
    assert X["age"].isna().any()

    est = MMOEEstimator().fit(X, Y)

    assert est.task_names_ == ["bought", "spend"]
    assert est.task_types_ == ["binary", "regression"]
    pred = est.predict(X)
    assert pred.shape == (len(X), 2)
    assert set(pred[:, 0]) <= {"yes", "no"}
    assert all(isinstance(v, str) for v in pred[:, 0])
    spend = pred[:, 1].astype(np.float64)
    assert np.isfinite(spend).all()
    assert all(isinstance(v, float) for v in pred[:, 1])

    majority = max(np.mean(Y["bought"] == "yes"), np.mean(Y["bought"] == "no"))
    accuracy = np.mean(pred[:, 0] == Y["bought"].to_numpy())
    assert accuracy > majority + 0.2
    assert accuracy > 0.9
    assert r2_score(Y["spend"], spend) > 0.5

    new = pd.DataFrame(
        {
            "city": pd.Series(["tokyo", None, "rome"], dtype=object),
            "color": pd.Categorical(["purple", None, "red"]),
            "member": [True, False, False],
            "age": [np.nan, 25.0, np.nan],
        }
    )
    new_pred = est.predict(new)
    assert new_pred.shape == (3, 2)
    assert set(new_pred[:, 0]) <= {"yes", "no"}
    assert np.isfinite(new_pred[:, 1].astype(np.float64)).all()
    proba = est.predict_proba(new)
    assert proba[1] is None
    assert np.isfinite(proba[0]).all()
    assert_allclose(proba[0].sum(axis=1), 1.0)


# ------------------------------------------------------------------- shapes
def test_output_shapes_1d_y(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    est = MMOEClassifier(**SMALL).fit(X, y)
    assert est.predict(X).shape == (len(X),)
    assert est.predict_proba(X).shape == (len(X), 2)
    assert isinstance(est.classes_, np.ndarray)
    assert_array_equal(est.classes_, [0, 1])
    assert est.n_tasks_ == 1


def test_output_shapes_2d_y(numeric_binary_regression):
    X, y_binary, y_regression = numeric_binary_regression
    Y = np.column_stack([y_binary, y_regression])
    est = MMOEEstimator(**small(task_types=("binary", "regression"))).fit(X, Y)
    assert est.predict(X).shape == (len(X), 2)
    proba = est.predict_proba(X)
    assert isinstance(proba, list) and len(proba) == 2
    assert proba[0].shape == (len(X), 2)
    assert proba[1] is None
    assert isinstance(est.classes_, list)
    assert_array_equal(est.classes_[0], [0.0, 1.0])
    assert est.classes_[1] is None


def test_single_column_2d_y_stays_2d(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    est = MMOEClassifier(**SMALL).fit(X, y.reshape(-1, 1))
    assert est.predict(X).shape == (len(X), 1)
    proba = est.predict_proba(X)
    assert isinstance(proba, list) and proba[0].shape == (len(X), 2)
    assert isinstance(est.classes_, list) and len(est.classes_) == 1

    est = MMOERegressor(**SMALL).fit(X, pd.DataFrame({"target": y * 1.5}))
    assert est.predict(X).shape == (len(X), 1)
    assert est.task_names_ == ["target"]


# ------------------------------------------------------------------- score
def test_estimator_score_is_mean_of_per_task_metrics():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 4))
    Y = pd.DataFrame(
        {
            "b": np.where(X[:, 0] > 0, "yes", "no"),
            "m": np.digitize(X[:, 1], [-0.5, 0.5]),
            "r": X[:, 2] + X[:, 3],
        }
    )
    est = MMOEEstimator(**small(epochs=10, learning_rate=0.01)).fit(X, Y)
    assert est.task_types_ == ["binary", "multiclass", "regression"]
    proba = est.predict_proba(X)
    pred = est.predict(X)
    expected = np.mean(
        [
            roc_auc_score(Y["b"] == "yes", proba[0][:, 1]),
            accuracy_score(Y["m"], pred[:, 1].astype(int)),
            r2_score(Y["r"], pred[:, 2].astype(float)),
        ]
    )
    assert est.score(X, Y) == pytest.approx(expected, rel=1e-10)

    weight = rng.uniform(0.1, 1.0, len(X))
    expected_weighted = np.mean(
        [
            roc_auc_score(Y["b"] == "yes", proba[0][:, 1], sample_weight=weight),
            accuracy_score(Y["m"], pred[:, 1].astype(int), sample_weight=weight),
            r2_score(Y["r"], pred[:, 2].astype(float), sample_weight=weight),
        ]
    )
    score = est.score(X, Y, sample_weight=weight)
    assert score == pytest.approx(expected_weighted, rel=1e-10)


def test_estimator_score_skips_missing_labels(numeric_binary_regression):
    X, y_binary, y_regression = numeric_binary_regression
    Y = pd.DataFrame({"a": y_binary.astype(float), "b": y_regression})
    est = MMOEEstimator(**small(epochs=5)).fit(X, Y)
    Y_test = Y.copy()
    Y_test.loc[:99, "a"] = np.nan
    keep = Y_test["a"].notna().to_numpy()
    expected = np.mean(
        [
            roc_auc_score(y_binary[keep], est.predict_proba(X)[0][keep, 1]),
            r2_score(y_regression, est.predict(X)[:, 1]),
        ]
    )
    assert est.score(X, Y_test) == pytest.approx(expected, rel=1e-10)


def test_classifier_score_is_subset_accuracy_for_string_labels(
    numeric_binary_regression,
):
    X, y, _ = numeric_binary_regression
    Y = pd.DataFrame(
        {"a": np.where(y == 1, "s", "t"), "b": np.where(X[:, 3] > 0, "p", "q")}
    )
    est = MMOEClassifier(**small(epochs=3)).fit(X, Y)
    pred = est.predict(X)
    all_right = (pred == Y.to_numpy()).all(axis=1)
    assert est.score(X, Y) == pytest.approx(all_right.mean())
    assert est.score(X, Y) <= min(
        accuracy_score(Y["a"], pred[:, 0]), accuracy_score(Y["b"], pred[:, 1])
    )
    weight = np.linspace(0.1, 1.0, len(X))
    assert est.score(X, Y, sample_weight=weight) == pytest.approx(
        np.average(all_right, weights=weight)
    )


def test_classifier_score_with_column_y_after_1d_fit(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    est = MMOEClassifier(**small(epochs=10, learning_rate=0.01)).fit(X, y)
    expected = est.score(X, y)
    assert expected > 0.8
    try:
        got = est.score(X, y.reshape(-1, 1))
    except ValueError:
        return  # refusing the shape is as good as scoring it right
    assert got == pytest.approx(expected)


def test_regressor_score_is_mean_r2(numeric_binary_regression):
    X, _, y = numeric_binary_regression
    Y = np.column_stack([y, X[:, 0] * 3.0])
    est = MMOERegressor(**small(epochs=5)).fit(X, Y)
    pred = est.predict(X)
    expected = np.mean([r2_score(Y[:, 0], pred[:, 0]), r2_score(Y[:, 1], pred[:, 1])])
    assert est.score(X, Y) == pytest.approx(expected, rel=1e-10)
    # A missing label leaves its sample out of that task only (scikit-learn's
    # RegressorMixin.score refused NaN in y), with sample_weight applied per task.
    Y_missing = Y.copy()
    Y_missing[:50, 0] = np.nan
    weight = np.linspace(0.5, 1.5, len(X))
    expected = np.mean(
        [
            r2_score(Y[50:, 0], pred[50:, 0], sample_weight=weight[50:]),
            r2_score(Y[:, 1], pred[:, 1], sample_weight=weight),
        ]
    )
    got = est.score(X, Y_missing, sample_weight=weight)
    assert got == pytest.approx(expected, rel=1e-10)


# ------------------------------------------------------------- determinism
def test_same_seed_same_predictions_different_seed_differs(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    params = small(epochs=3, dnn_dropout=0.2)
    a = MMOEClassifier(**params, seed=7).fit(X, y).predict_proba(X)
    b = MMOEClassifier(**params, seed=7).fit(X, y).predict_proba(X)
    c = MMOEClassifier(**params, seed=8).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_leaves_global_rng_states_alone(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    torch_state = torch.get_rng_state()
    # The legacy global numpy RNG is the state a user's program may rely on.
    numpy_state = np.random.get_state()  # noqa: NPY002
    est = MMOEClassifier(**small(epochs=3, dnn_dropout=0.1, early_stopping=True))
    est.fit(X, y)
    est.predict(X)
    MMOEClassifier(**small(epochs=2, seed=None)).fit(X, y)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0]
    assert_array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]


# ------------------------------------------------------------------ params
def test_init_stores_params_only_and_get_set_params_clone():
    units = (32, 16)
    est = MMOEEstimator(expert_dnn_hidden_units=units, device="bogus", epochs=3)
    # No validation in __init__: a bogus device only fails at fit.
    assert est.device == "bogus"
    assert est.expert_dnn_hidden_units is units
    assert not [k for k in vars(est) if k.endswith("_")]
    params = est.get_params()
    assert params["epochs"] == 3 and params["num_experts"] == 3
    assert set(params) == set(vars(est))

    est.set_params(num_experts=5, loss_weights=(1.0, 2.0))
    assert est.num_experts == 5 and est.loss_weights == (1.0, 2.0)
    copy = clone(est)
    assert copy is not est
    assert copy.get_params() == est.get_params()
    assert MMOEClassifier().get_params() == MMOERegressor().get_params()


def test_clone_of_fitted_estimator_is_unfitted(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    est = MMOEClassifier(**small(epochs=1)).fit(X, y)
    copy = clone(est)
    assert not hasattr(copy, "network_")
    assert copy.get_params() == est.get_params()


# --------------------------------------------------------------- gates etc.
@pytest.mark.parametrize("num_experts", [1, 4])
def test_gate_weights_shape_and_sum(numeric_binary_regression, num_experts):
    X, y_binary, y_regression = numeric_binary_regression
    Y = pd.DataFrame({"a": y_binary, "b": y_regression})
    est = MMOEEstimator(**small(epochs=3, num_experts=num_experts)).fit(X, Y)
    gates = est.gate_weights(X)
    assert gates.shape == (len(X), 2, num_experts)
    assert (gates >= 0).all()
    assert_allclose(gates.sum(axis=2), 1.0, rtol=1e-5)


@pytest.mark.parametrize("num_experts", [1, 3])
def test_shared_bottom_and_multiple_experts_both_learn(
    numeric_binary_regression, num_experts
):
    X, y_binary, y_regression = numeric_binary_regression
    Y = pd.DataFrame({"a": y_binary, "b": y_regression})
    est = MMOEEstimator(**small(epochs=20, num_experts=num_experts)).fit(X, Y)
    pred = est.predict(X)
    assert accuracy_score(y_binary, pred[:, 0].astype(int)) > 0.85
    assert r2_score(y_regression, pred[:, 1].astype(float)) > 0.7


def test_fitted_attributes(mixed_frame_xy):
    X, Y = mixed_frame_xy
    est = MMOEEstimator(**small(epochs=4)).fit(X, Y)
    assert est.n_features_in_ == 4
    assert_array_equal(est.feature_names_in_, ["city", "color", "member", "age"])
    kinds = {c.name: c.kind for c in est.feature_columns_}
    assert kinds["city"] == kinds["color"] == kinds["member"] == "sparse"
    # The default "scaled+embedding": the standardised value and its bin's embedding.
    assert kinds["age"] == "dense" and kinds["age_bin"] == "sparse"
    age_bins = next(c for c in est.feature_columns_ if c.name == "age_bin")
    assert age_bins.vocabulary_size > 4 and age_bins.embedding_dim == 8
    city = next(c for c in est.feature_columns_ if c.name == "city")
    # 4 cities plus the reserved index for unknown and missing.
    assert city.vocabulary_size == 5 and city.embedding_dim == 8
    assert all(
        c.vocabulary_size is None for c in est.feature_columns_ if c.kind == "dense"
    )
    assert isinstance(est.preprocessor_, ColumnTransformer)
    assert hasattr(est.preprocessor_, "transformers_")
    assert est.n_epochs_ == 4 and len(est.history_) == 4
    assert est.best_epoch_ is None
    assert est.n_tasks_ == 2
    for epoch, record in enumerate(est.history_, start=1):
        assert record["epoch"] == epoch
        assert set(record["train_loss"]) == {"bought", "spend"}
        assert all(np.isfinite(v) for v in record["train_loss"].values())
        assert "valid" not in record
    assert isinstance(est.network_, torch.nn.Module)


def test_array_input_has_no_feature_names(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    est = MMOEClassifier(**small(epochs=1)).fit(X, y)
    assert est.n_features_in_ == 4
    assert not hasattr(est, "feature_names_in_")
    # Numeric columns only: dense piecewise-linear inputs and bin embeddings.
    sparse = [c.name for c in est.feature_columns_ if c.kind == "sparse"]
    assert sparse == [f"x{j}_bin" for j in range(4)]
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])


def test_unfitted_estimator_raises():
    from sklearn.exceptions import NotFittedError

    est = MMOEEstimator()
    for method in (est.predict, est.predict_proba, est.gate_weights):
        with pytest.raises(NotFittedError):
            method(np.zeros((2, 2)))


def test_predict_proba_absent_for_regression_only(numeric_binary_regression):
    X, _, y = numeric_binary_regression
    est = MMOEEstimator(**small(epochs=1)).fit(X, y)
    assert not hasattr(est, "predict_proba")
    assert not hasattr(MMOERegressor(), "predict_proba")


# --------------------------------------------------------- DataFrame input
def test_reordered_columns_match_by_name(mixed_frame_xy):
    X, Y = mixed_frame_xy
    est = MMOEEstimator(**small(epochs=3)).fit(X, Y)
    expected = est.predict(X)
    shuffled = X[["age", "member", "city", "color"]]
    assert_array_equal(est.predict(shuffled), expected)
    assert_array_equal(est.predict_proba(shuffled)[0], est.predict_proba(X)[0])

    with pytest.raises(ValueError):
        est.predict(X.drop(columns="member"))


def test_predictions_do_not_depend_on_other_rows(mixed_frame_xy):
    X, Y = mixed_frame_xy
    est = MMOEEstimator(**small(epochs=3)).fit(X, Y)
    full = est.predict_proba(X)[0]
    part = est.predict_proba(X.iloc[7:19])[0]
    assert_close_across_row_sets(part, full[7:19])


# -------------------------------------------------------------------- rollback
def test_failed_fit_keeps_previous_fit(numeric_binary_regression):
    X, y, _ = numeric_binary_regression
    est = MMOEClassifier(**small(epochs=3)).fit(X, y)
    expected = est.predict_proba(X)
    history = est.history_
    network = est.network_
    est.set_params(device="bogus", epochs=7)
    with pytest.raises(ValueError, match="bogus"):
        est.fit(X, y)
    assert est.network_ is network
    assert est.history_ is history
    assert_array_equal(est.predict_proba(X), expected)
    # A failure later in fit (labels of a 3-class task declared binary) as well.
    est.set_params(device="cpu", task_types=("binary",))
    with pytest.raises(ValueError, match="binary"):
        est.fit(X, np.arange(len(X)) % 3)
    assert_array_equal(est.predict_proba(X), expected)
    assert est.n_epochs_ == 3


# ----------------------------------------------------------------- verbose
def test_verbose_zero_prints_nothing(capsys, mixed_frame_xy):
    X, Y = mixed_frame_xy
    est = MMOEEstimator(**small(epochs=3, early_stopping=True, verbose=0))
    est.fit(X, Y)
    est.predict(X)
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ""


def test_verbose_one_reports_each_task_on_stderr(capsys, mixed_frame_xy):
    X, Y = mixed_frame_xy
    MMOEEstimator(**small(epochs=2, verbose=1)).fit(X, Y)
    out, err = capsys.readouterr()
    assert out == ""
    assert "bought" in err and "spend" in err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err


# --------------------------------------------------------------------- threads
def test_predict_from_threads(mixed_frame_xy):
    X, Y = mixed_frame_xy
    est = MMOEEstimator(**small(epochs=3)).fit(X, Y)
    expected = est.predict_proba(X)[0]
    barrier = threading.Barrier(4)

    def work(_):
        barrier.wait()
        return [est.predict_proba(X)[0] for _ in range(3)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(4)))
    for per_thread in results:
        for proba in per_thread:
            assert_array_equal(proba, expected)


def test_fits_with_one_seed_in_several_threads_give_one_model(mixed_frame_xy):
    """Each fit draws its dropout masks from its own generator, and layers are
    initialised under a lock: no fit sees another's RNG."""
    import threading

    X, Y = mixed_frame_xy
    params = small(epochs=3, dnn_dropout=0.3)
    expected = MMOEEstimator(**params).fit(X, Y).predict_proba(X)[0]
    results = [None] * 4

    def fit(i):
        results[i] = MMOEEstimator(**params).fit(X, Y).predict_proba(X)[0]

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proba in results:
        assert_array_equal(proba, expected)


# ------------------------------------------------ scoring with missing labels
@functools.cache
def _scored_models():
    """Three fitted models on 80 rows, and their full labels: an MMOEEstimator
    (binary, multiclass, regression), an MMOEClassifier (binary, multiclass)
    and an MMOERegressor (two regressions)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, 3))
    Y = pd.DataFrame(
        {
            "b": np.where(X[:, 0] > 0, "yes", "no"),
            "m": np.array(["p", "q", "r"])[np.argmax(X, axis=1)],
            "r": X[:, 1] + 0.1 * rng.normal(size=80),
            "s": X[:, 2] - X[:, 0],
        }
    )
    return (
        X,
        Y,
        {
            "estimator": (MMOEEstimator(**small()).fit(X, Y[["b", "m", "r"]]), "bmr"),
            "classifier": (MMOEClassifier(**small()).fit(X, Y[["b", "m"]]), "bm"),
            "regressor": (MMOERegressor(**small()).fit(X, Y[["r", "s"]]), "rs"),
        },
    )


MISSING_PATTERNS = ("none", "random", "half", "all", "alternate")


def _with_missing(column: pd.Series, pattern: str, rng) -> pd.Series:
    hidden = {
        "none": np.zeros(len(column), dtype=bool),
        "random": rng.random(len(column)) < 0.4,
        "half": np.arange(len(column)) < len(column) // 2,
        "all": np.ones(len(column), dtype=bool),
        "alternate": np.arange(len(column)) % 2 == 0,
    }[pattern]
    return column.astype(object).mask(hidden, None)


def _expected_task_score(model, t: int, y_true: pd.Series, pred) -> float:
    keep = y_true.notna().to_numpy()
    observed = y_true[keep].infer_objects().to_numpy()
    if model.task_types_[t] == "binary":
        proba = model.predict_proba(_scored_models()[0])[t][keep, 1]
        return roc_auc_score(observed == model.classes_[t][1], proba)
    if model.task_types_[t] == "multiclass":
        return accuracy_score(observed, pred[keep, t])
    return r2_score(observed.astype(float), pred[keep, t].astype(float))


@settings(max_examples=40, deadline=None)
@given(
    which=st.sampled_from(["estimator", "classifier", "regressor"]),
    patterns=st.lists(st.sampled_from(MISSING_PATTERNS), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_scores_count_only_labelled_rows_and_name_a_task_with_none(
    which, patterns, seed
):
    """score and task_scorer under labels missing in any pattern per task: each
    task is scored on its labelled rows (the classifier's subset accuracy on the
    rows with any label; a row with no label counted as right before), and a
    task, or a y, with no label at all is refused by a ValueError naming it."""
    from skmmoe.metrics import task_scorer

    X, full, models = _scored_models()
    model, names = models[which]
    rng = np.random.default_rng(seed)
    Y = pd.DataFrame(
        {n: _with_missing(full[n], p, rng) for n, p in zip(names, patterns)}
    )
    pred = model.predict(X)
    labelled = Y.notna().to_numpy()
    for t, name in enumerate(names):
        if not labelled[:, t].any():
            with pytest.raises(ValueError, match=f"task '{name}' has no label"):
                task_scorer(name, "accuracy" if t < 2 else "r2")(model, X, Y)
            continue
        assert_allclose(
            task_scorer(
                name,
                "roc_auc"
                if model.task_types_[t] == "binary"
                else "accuracy"
                if model.task_types_[t] == "multiclass"
                else "r2",
            )(model, X, Y),
            _expected_task_score(model, t, Y[name], pred),
        )
    if which == "classifier":
        rows = labelled.any(axis=1)
        if not rows.any():
            with pytest.raises(ValueError, match="y has no label"):
                model.score(X, Y)
            return
        right = np.where(labelled, pred == Y.to_numpy(), True).all(axis=1)
        assert_allclose(model.score(X, Y), right[rows].mean())
        return
    empty = [n for n, has in zip(names, labelled.any(axis=0)) if not has]
    if empty:
        with pytest.raises(ValueError, match=f"task '{empty[0]}' has no label"):
            model.score(X, Y)
        return
    expected = [_expected_task_score(model, t, Y[n], pred) for t, n in enumerate(names)]
    assert_allclose(model.score(X, Y), np.mean(expected))
