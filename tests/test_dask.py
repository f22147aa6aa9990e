"""skmmoe on dask: searches on a dask.distributed cluster (joblib's "dask"
backend) and skmmoe.dask's out-of-core fit and prediction by partition.

One LocalCluster for the module: 2 worker processes with 1 thread each.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

import joblib  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, Phase, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from small_network import TINY, assert_close_across_row_sets, small  # noqa: E402

import skmmoe  # noqa: E402
import skmmoe.dask  # noqa: E402
from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor  # noqa: E402
from skmmoe.datasets import make_recsys_multitask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=50,
    ) as cluster:
        with distributed.Client(cluster) as c:
            yield c


# ------------------------------------------------------------- search (point 1)
# Scores of the same fits in another process agree to float32 rounding: a worker
# and this process may run torch's kernels with other thread counts (its blocking
# of sums), which moves a trained model's outputs by far less than this.
SCORE_TOL = 1e-4


def _search_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(240, 4))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=240)
    return X, y


def _assert_same_search(local, on_cluster):
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        assert_allclose(
            on_cluster.cv_results_[key], local.cv_results_[key], atol=SCORE_TOL
        )
    assert on_cluster.best_params_ == local.best_params_
    assert on_cluster.cv_results_["params"] == local.cv_results_["params"]


def test_workers_train_with_the_one_thread_they_were_given(client):
    threads = client.run(torch.get_num_threads)
    assert list(threads.values()) == [1, 1]


def test_grid_search_on_the_cluster_equals_a_local_search(client):
    X, y = _search_data()
    grid = {"num_experts": [1, 2]}

    def search():
        return GridSearchCV(MMOERegressor(**small(epochs=3)), grid, cv=2, scoring="r2")

    local = search().set_params(n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_cluster = search().fit(X, y)
    _assert_same_search(local, on_cluster)
    assert_allclose(
        on_cluster.predict(X[:5]), local.predict(X[:5]), atol=SCORE_TOL * 10
    )


def test_randomized_search_of_a_pipeline_on_the_cluster_equals_a_local_search(
    client,
):
    X, y = _search_data()
    labels = np.where(y > 0, "up", "down")
    pipe = make_pipeline(StandardScaler(), MMOEClassifier(**small(epochs=3)))
    space = {
        "mmoeclassifier__num_experts": [1, 2, 3],
        "mmoeclassifier__dnn_dropout": [0.0, 0.1],
    }

    def search():
        return RandomizedSearchCV(
            pipe, space, n_iter=3, cv=2, scoring="roc_auc", random_state=0
        )

    local = search().set_params(n_jobs=1).fit(X, labels)
    with joblib.parallel_backend("dask"):
        on_cluster = search().fit(X, labels)
    _assert_same_search(local, on_cluster)


# ------------------------------------------------------ out-of-core (point 2)
N_PARTITIONS, PARTITION_ROWS = 12, 500


def _table(n, rng):
    x = rng.normal(size=n)
    city = rng.choice([f"c{i}" for i in range(6)], n).astype(object)
    count = rng.poisson(3, n)
    level = rng.choice(["lo", "mid", "hi"], n).astype(object)
    effect = np.array([int(c[1]) - 2.5 for c in city]) / 2
    logit = 1.5 * x + effect + 0.3 * (count - 3)
    clicked = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    segment = np.where(x + 0.3 * rng.normal(size=n) > 0, "b", "a").astype(object)
    spend = 3.0 * x + 2 * effect + 0.5 * count + 0.5 * rng.normal(size=n) + 100
    X = pd.DataFrame({"x": x, "city": city, "count": count, "level": level})
    Y = pd.DataFrame({"clicked": clicked, "segment": segment, "spend": spend})
    return X, Y


def _late_rows(X, Y, late, rng):
    """A category and a class that only rows of ``late`` hold: city 'late'
    (always clicked) and segment 'vip' (rare)."""
    new_city = late & (rng.random(len(X)) < 0.3)
    X.loc[new_city, "city"] = "late"
    Y.loc[new_city, "clicked"] = "yes"
    Y.loc[late & (rng.random(len(X)) < 0.03), "segment"] = "vip"


@pytest.fixture(scope="module")
def partitioned():
    """(X_dask, Y_dask, X, Y, X_test, Y_test): 12 partitions of 500 rows sorted
    by x (the main signal of every task), so each partition holds a narrow range
    of it; a category ('late') and a rare class ('vip') only in the last three;
    'count' int64 in the first six and float64 with missing values after;
    'level' category in the first six and object after; 'tier' all missing in the
    first four. X and Y: the same rows in memory."""
    rng = np.random.default_rng(0)
    n = N_PARTITIONS * PARTITION_ROWS
    X, Y = _table(n, rng)
    order = np.argsort(X.x.to_numpy())
    X, Y = X.iloc[order].reset_index(drop=True), Y.iloc[order].reset_index(drop=True)
    _late_rows(X, Y, np.arange(n) >= n - 3 * PARTITION_ROWS, rng)
    X["tier"] = np.where(X.x > 0.5, "gold", "std").astype(object)
    X.loc[: 4 * PARTITION_ROWS - 1, "tier"] = None
    X_test, Y_test = _table(3000, np.random.default_rng(1))
    _late_rows(X_test, Y_test, X_test.x.to_numpy() > np.quantile(X.x, 0.75), rng)
    X_test["tier"] = np.where(X_test.x > 0.5, "gold", "std").astype(object)

    x_parts, y_parts = [], []
    for i in range(N_PARTITIONS):
        rows = slice(i * PARTITION_ROWS, (i + 1) * PARTITION_ROWS)
        x_part, y_part = X.iloc[rows].copy(), Y.iloc[rows].copy()
        if i >= 6:
            x_part["count"] = x_part["count"].astype(np.float64)
            x_part.iloc[::10, 2] = np.nan
        else:
            x_part["level"] = x_part["level"].astype("category")
        x_parts.append(x_part)
        y_parts.append(y_part)
    meta = x_parts[-1].iloc[:0]
    X_dask = dd.from_delayed(
        [dask.delayed(p) for p in x_parts], meta=meta, verify_meta=False
    )
    Y_dask = dd.from_delayed([dask.delayed(p) for p in y_parts], meta=Y.iloc[:0])
    X_mem = pd.concat(x_parts)
    X_mem["level"] = X_mem["level"].astype(object)
    return X_dask, Y_dask, X_mem, Y, X_test, Y_test


NETWORK = small(expert_dnn_hidden_units=(32,), gate_dnn_hidden_units=(), batch_size=128)
del NETWORK["epochs"]


def _quality(est, X, Y):
    proba = est.predict_proba(X)
    pred = est.predict(X)
    return {
        "clicked": roc_auc_score(Y.clicked == "yes", proba[0][:, 1]),
        "segment": accuracy_score(Y.segment, pred[:, 1]),
        "spend": r2_score(Y.spend, pred[:, 2].astype(float)),
    }


# The out-of-core fit against fit on the same rows in memory, on held-out rows:
# the margins by which its ROC AUC, accuracy and R^2 may fall short. Measured
# here: 0.001, 0.010 and 0.021 below (AUC 0.865, accuracy 0.901, R^2 0.955 in
# memory); the partitions sorted by x cost R^2 most.
MARGINS = {"clicked": 0.02, "segment": 0.03, "spend": 0.05}


@pytest.fixture(scope="module")
def out_of_core(client, partitioned):
    """(estimator, returned): an MMOEEstimator fitted by skmmoe.dask.fit on the
    partitions, and what fit returned."""
    X_dask, Y_dask = partitioned[:2]
    est = MMOEEstimator(**NETWORK, epochs=4)
    with warnings.catch_warnings():
        # Every category is known (no partial_fit warning), every dtype accepted.
        warnings.simplefilter("error")
        returned = skmmoe.dask.fit(est, X_dask, Y_dask, sample_size=2000)
    return est, returned


def test_out_of_core_fit_matches_the_in_memory_fit(out_of_core, partitioned):
    _, _, X, Y, X_test, Y_test = partitioned
    in_memory = MMOEEstimator(**NETWORK, epochs=4).fit(X, Y)
    est, returned = out_of_core
    assert returned is est
    assert est.get_params() == MMOEEstimator(**NETWORK, epochs=4).get_params()
    # 'segment' is multiclass: its third class 'vip' is only in late partitions.
    assert est.task_types_ == ["binary", "multiclass", "regression"]
    assert list(est.classes_[1]) == ["a", "b", "vip"]
    encoder = est.preprocessor_.named_transformers_["categorical"]
    assert "late" in set(encoder.categories_[0])  # city: only in late partitions
    columns = {c.name: c for c in est.feature_columns_}
    assert columns["city"].vocabulary_size == 8  # c0-c5, late + reserved
    assert columns["tier"].vocabulary_size == 3  # missing in the first partitions
    assert est.n_epochs_ == 1 + 4 * N_PARTITIONS  # the sample's epoch, 4 passes

    mine, reference = _quality(est, X_test, Y_test), _quality(in_memory, X_test, Y_test)
    for task, margin in MARGINS.items():
        assert mine[task] >= reference[task] - margin, (task, mine, reference)


def test_out_of_core_fit_is_seeded(client):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1200, 3))
    y = X[:, 0] + X[:, 1] ** 2
    X_dask, y_dask = da.from_array(X, chunks=(200, 3)), da.from_array(y, chunks=200)
    # n_jobs=1: the same threads in both fits, whatever the machine's load.
    fits = [
        skmmoe.dask.fit(
            MMOERegressor(**small(n_jobs=1)),
            X_dask,
            y_dask,
            passes=2,
            sample_size=300,
            random_state=3,
        )
        for _ in range(2)
    ]
    assert_close_across_row_sets(fits[0].predict(X), fits[1].predict(X))


def test_prediction_by_partition_equals_predict(out_of_core, partitioned):
    X_dask, _, X, _, _, _ = partitioned
    est = out_of_core[0]
    pred = skmmoe.dask.predict(est, X_dask)
    assert pred.npartitions == N_PARTITIONS
    assert list(pred.columns) == est.task_names_
    computed = pred.compute()
    assert_array_equal(computed.index, X_dask.index.compute())
    expected = est.predict(X)
    assert_close_across_row_sets(
        computed["spend"].to_numpy(float), expected[:, 2].astype(float)
    )
    proba = skmmoe.dask.predict_proba(est, X_dask)
    assert proba[2] is None
    assert list(proba[1].columns) == ["a", "b", "vip"]
    for got, want in zip(proba[:2], est.predict_proba(X)[:2]):
        assert_close_across_row_sets(got.compute().to_numpy(), want)


def test_dask_arrays_and_a_one_task_y(client):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1200, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    y[-50:] = 2  # a third class in the last block only
    X_dask = da.from_array(X, chunks=(200, 3))
    y_dask = da.from_array(y, chunks=200)
    est = skmmoe.dask.fit(
        MMOEClassifier(**small()), X_dask, y_dask, passes=1, sample_size=300
    )
    assert_array_equal(est.classes_, [0, 1, 2])
    pred = skmmoe.dask.predict(est, X_dask)
    assert pred.shape == (1200,)
    assert pred.numblocks == (6,)
    assert_array_equal(pred.compute(), est.predict(X))
    proba = skmmoe.dask.predict_proba(est, X_dask)
    assert proba.shape == (1200, 3)
    assert_close_across_row_sets(proba.compute(), est.predict_proba(X))


def test_a_regression_target_of_few_values_stays_regression(client):
    # Sorted, the first partition holds two values of the target (which
    # dask-ml's Incremental read as a binary task); over the data it has nine.
    rng = np.random.default_rng(4)
    x = np.sort(rng.normal(size=2000))
    frame = pd.DataFrame({"x": x, "rating": np.clip(np.round(x * 2) / 2, -2, 2)})
    data = dd.from_pandas(frame, npartitions=20, sort=False)
    assert data.partitions[0].rating.nunique().compute() <= 2
    reg = skmmoe.dask.fit(
        MMOEEstimator(**small()), data[["x"]], data["rating"], passes=1
    )
    assert reg.task_types_ == ["regression"]
    pred = reg.predict(frame[["x"]])
    assert len(np.unique(pred)) > 100  # values, not two classes
    # One pass over partitions sorted by the target: a rough fit, but a fit.
    assert r2_score(frame.rating, pred) > 0.5


def test_bad_input_is_refused_by_name():
    frame = pd.DataFrame({"x": np.arange(20.0), "y": np.arange(20) % 2})
    data = dd.from_pandas(frame, npartitions=4)
    est = MMOEClassifier(**small())
    with pytest.raises(TypeError, match="must be a dask DataFrame, Series or Array"):
        skmmoe.dask.fit(est, frame[["x"]], data["y"])
    with pytest.raises(ValueError, match="same partitions; X has 4 and y 2"):
        skmmoe.dask.fit(est, data[["x"]], data["y"].repartition(npartitions=2))
    with pytest.raises(ValueError, match="passes must be an int >= 1"):
        skmmoe.dask.fit(est, data[["x"]], data["y"], passes=0)
    with pytest.raises(TypeError, match="estimator must be an MMOEEstimator"):
        skmmoe.dask.fit(StandardScaler(), data[["x"]], data["y"])
    # As fit refuses it: a task without a label in any partition.
    unlabelled = dd.from_pandas(frame.assign(z=np.nan), npartitions=4)
    with pytest.raises(ValueError, match="Task 'z' has no sample with a label"):
        skmmoe.dask.fit(est, data[["x"]], unlabelled[["y", "z"]])
    assert not hasattr(est, "network_")


def test_a_model_fitted_on_dask_saves_and_continues(out_of_core, partitioned, tmp_path):
    X = partitioned[2]
    est = out_of_core[0]
    skmmoe.save(est, tmp_path / "model.skmmoe")
    loaded = skmmoe.load(tmp_path / "model.skmmoe")
    assert_close_across_row_sets(loaded.predict_proba(X)[0], est.predict_proba(X)[0])
    loaded.partial_fit(X.iloc[:500], partitioned[3].iloc[:500])
    assert loaded.n_epochs_ == est.n_epochs_ + 1


def test_the_readme_scaling_out_recipes_run(client, monkeypatch):
    # The README's "Scaling out" blocks (```py, which tests/test_readme.py leaves
    # out: they need the dask extra), in order, with Client() giving this
    # module's client instead of starting a second cluster.
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Scaling out", 1)[1].split("\n## ", 1)[0]
    # The Dask recipes: the section's torch.distributed ones need a process group.
    section = section.split("### Data-parallel training", 1)[0]
    blocks = re.findall(r"```py\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    dask_distributed = pytest.importorskip("dask.distributed")
    monkeypatch.setattr(dask_distributed, "Client", lambda *args, **kwargs: client)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert set(namespace["search"].best_params_) == {"num_experts"}
    predictions = namespace["predictions"].compute()
    assert list(predictions.columns) == ["bought", "spend"]
    assert len(predictions) == 2000
    frame = namespace["frame"]
    # The mean of the tasks' ROC AUC and R^2.
    assert (
        namespace["model"].score(frame[["city", "age"]], frame[["bought", "spend"]])
        > 0.9
    )


# ------------------------------ partitions of any size, labels missing by partition
# A predicted class is compared where its probability leads the next one's by
# more than this, far above the float32 rounding of the tiny networks' outputs.
CLEAR_LEAD = 1e-4
# Each kind of y: the dtype of each task's labels ("float": regression, unless
# two values), one task as a 1-D y.
TASK_KINDS = {
    "strings": ("str",),
    "bools": ("bool",),
    "ints": ("int",),
    "floats": ("float",),
    "two string tasks": ("str", "str"),
    "mixed": ("str", "float", "bool"),
}


def _dask_rows(data, sizes):
    """``data`` (a pandas frame or a numpy array) in partitions of ``sizes`` rows,
    as a dask DataFrame, Series or Array."""
    if isinstance(data, np.ndarray):
        return da.from_array(data, chunks=(tuple(sizes), *data.shape[1:]))
    bounds = np.cumsum([0, *sizes])
    parts = [data.iloc[a:b] for a, b in zip(bounds, bounds[1:])]
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=data.iloc[:0])


def _features(n, rng, as_array):
    x = rng.normal(size=(n, 2))
    if as_array:
        return x
    city = rng.choice(["a", "b", "c"], n).astype(object)
    city[rng.random(n) < 0.2] = None
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "city": city})


def _task_labels(dtype, labelled, rng):
    """One task's labels where ``labelled``, missing (NaN, None) elsewhere; the
    classes take turns over the labelled rows, so that two labels hold two."""
    if dtype == "float":
        return np.where(labelled, rng.normal(size=len(labelled)), np.nan)
    turn = np.cumsum(labelled) - 1
    values = {
        "str": np.array(["no", "yes"], dtype=object)[turn % 2],
        "bool": turn % 2 == 0,
        "int": turn % 3,
    }[dtype]
    if labelled.all():
        return values
    values = values.astype(object)
    values[~labelled] = None
    return values


def _targets(kind, labelled, rng, as_array):
    """y of TASK_KINDS[kind], labelled where ``labelled`` (rows, tasks) says."""
    dtypes = TASK_KINDS[kind]
    columns = [_task_labels(d, labelled[:, t], rng) for t, d in enumerate(dtypes)]
    if as_array:
        return columns[0] if len(columns) == 1 else np.column_stack(columns)
    frame = pd.DataFrame({f"t{t}": c for t, c in enumerate(columns)})
    # Bools and ints with missing labels in pandas' nullable dtypes: dask reads an
    # object column as strings (its dataframe.convert-string option).
    nullable = {"bool": "boolean", "int": "Int64"}
    frame = frame.astype(
        {
            f"t{t}": nullable[d]
            for t, d in enumerate(dtypes)
            if d in nullable and columns[t].dtype == object
        }
    )
    return frame["t0"] if len(columns) == 1 else frame


def _labelled(pattern, sizes, n_tasks, rng):
    """Which rows have a label of each task: all; 70% at random, each partition
    keeping one of each task (a partition without one is what the next patterns
    are for); all but the first task's in one partition; or the first task's
    only in the last partition that has rows."""
    bounds = np.cumsum([0, *sizes])
    filled = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
    labelled = np.ones((bounds[-1], n_tasks), dtype=bool)
    if pattern == "at random":
        labelled = rng.random(labelled.shape) > 0.3
        for a, b in filled:
            labelled[a + rng.integers(b - a, size=n_tasks), range(n_tasks)] = True
    elif pattern == "a task missing in a partition":
        a, b = filled[rng.integers(len(filled))]
        labelled[a:b, 0] = False
    elif pattern == "a task only in the last partition":
        labelled[: filled[-1][0], 0] = False
    return labelled


def _block_values(result, computed, X_dask, index):
    """The values of a prediction of skmmoe.dask, ``computed``, after checking
    that it has one block per partition of X_dask, and for a frame X's index and
    the dtypes it declares."""
    if isinstance(result, da.Array):
        assert result.numblocks[0] == X_dask.numblocks[0]
        assert computed.dtype == result.dtype
        return computed
    assert result.npartitions == X_dask.npartitions
    assert_array_equal(computed.index, index)
    if computed.ndim == 1:
        assert computed.dtype == result.dtype
    else:
        assert list(computed.dtypes) == list(result.dtypes)
    return computed.to_numpy()


def _per_task(result, one_task) -> list:
    return [result] if one_task else list(result)


def _assert_predictions_by_partition(est, X_dask, pool=None):
    """skmmoe.dask's predict and predict_proba on X_dask equal est's own on its
    rows in memory: regression values and probabilities to the rounding of other
    row sets, classes wherever one leads clearly, with the same dtype (object for
    strings in a frame) and the classes as a frame's columns. X_dask of no rows:
    empty results, their dtype and columns those of est's on ``pool``."""
    one_task = not isinstance(est.classes_, list)
    frame = not isinstance(X_dask, da.Array)
    has_proba = hasattr(est, "predict_proba")
    lazy = [skmmoe.dask.predict(est, X_dask)]
    if has_proba:
        lazy += _per_task(skmmoe.dask.predict_proba(est, X_dask), one_task)
    X, index, *computed = dask.compute(X_dask, X_dask.index if frame else None, *lazy)
    got, *by_partition = [
        None if r is None else _block_values(r, c, X_dask, index)
        for r, c in zip(lazy, computed)
    ]
    n = len(X)
    source = X if n else pool
    want = est.predict(source)[:n]
    assert got.shape == want.shape
    assert got.dtype == (object if frame and want.dtype.kind in "OU" else want.dtype)
    probas = _per_task(est.predict_proba(source), one_task) if has_proba else [None]
    classes = _per_task(est.classes_, one_task)
    got, want = got.reshape(n, est.n_tasks_), want.reshape(n, est.n_tasks_)
    for t, kind in enumerate(est.task_types_):
        if kind == "regression":
            assert probas[t] is None and (not has_proba or by_partition[t] is None)
            assert_close_across_row_sets(
                got[:, t].astype(float), want[:, t].astype(float)
            )
            continue
        proba = probas[t][:n]
        top_two = np.sort(proba, axis=1)[:, -2:]
        clear = top_two[:, 1] - top_two[:, 0] > CLEAR_LEAD
        assert_array_equal(got[clear, t], want[clear, t])
        if frame:
            assert list(lazy[1 + t].columns) == list(classes[t])
        assert by_partition[t].shape == proba.shape
        assert_close_across_row_sets(by_partition[t], proba)


@pytest.fixture(scope="module")
def tiny_models():
    """(kind, as_array) -> (an MMOEEstimator fitted in memory on 40 rows of a y
    of TASK_KINDS[kind], 30 other rows to predict), fitted when first asked."""
    fitted: dict = {}

    def get(kind, as_array):
        if (kind, as_array) not in fitted:
            rng = np.random.default_rng(7)
            labelled = np.ones((40, len(TASK_KINDS[kind])), dtype=bool)
            X, y = _features(40, rng, as_array), _targets(kind, labelled, rng, as_array)
            est = MMOEEstimator(**TINY).fit(X, y)
            fitted[kind, as_array] = est, _features(30, rng, as_array)
        return fitted[kind, as_array]

    return get


@settings(max_examples=10, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5), min_size=1, max_size=6),
    kind=st.sampled_from(sorted(TASK_KINDS)),
    as_array=st.booleans(),
)
def test_prediction_by_partitions_of_any_size_equals_predict(
    client, tiny_models, sizes, kind, as_array
):
    est, pool = tiny_models(kind, as_array)
    _assert_predictions_by_partition(est, _dask_rows(pool[: sum(sizes)], sizes), pool)


def test_prediction_on_a_filtered_frame_with_empty_partitions(out_of_core, partitioned):
    X_dask = partitioned[0]
    # Partitions sorted by x: the filter leaves the first ones without a row.
    kept = X_dask[X_dask.x > 1.0]
    sizes = kept.map_partitions(len).compute().to_numpy()
    assert (sizes == 0).sum() >= 6 and (sizes > 0).sum() >= 2
    # Mixed tasks: predictions of object dtype, probabilities for two tasks.
    _assert_predictions_by_partition(out_of_core[0], kept)


@pytest.mark.parametrize(
    "pattern",
    [
        "every label",
        "at random",
        "a task missing in a partition",
        "a task only in the last partition",
    ],
)
# No shrinking, and a stop at the first failure: shrinking examples this small
# gains little for the many fits it takes.
@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(
    sizes=st.lists(st.integers(0, 5), min_size=1, max_size=5),
    kind=st.sampled_from(sorted(TASK_KINDS)),
    as_array=st.booleans(),
    sample_size=st.sampled_from([None, 2, 5]),
    passes=st.integers(1, 2),
    batch_norm=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fit_by_partitions_of_any_size_with_labels_missing_by_partition(
    client, pattern, sizes, kind, as_array, sample_size, passes, batch_norm, seed
):
    rng = np.random.default_rng(seed)
    filled = [s for s in sizes if s > 0]
    # The last two patterns need another partition with rows.
    assume(
        sum(sizes) >= 2
        and (pattern in ("every label", "at random") or len(filled) >= 2)
    )
    labelled = _labelled(pattern, sizes, len(TASK_KINDS[kind]), rng)
    assume(labelled.sum(axis=0).min() >= 2)  # fit needs two labels of each task
    X_dask = _dask_rows(_features(sum(sizes), rng, as_array), sizes)
    y_dask = _dask_rows(_targets(kind, labelled, rng, as_array), sizes)
    params = dict(TINY, dnn_use_bn=batch_norm)

    est = skmmoe.dask.fit(
        MMOEEstimator(**params), X_dask, y_dask, passes=passes, sample_size=sample_size
    )
    # The tasks fit infers on the same rows, their classes of the same values and
    # dtype.
    in_memory = MMOEEstimator(**params).fit(*dask.compute(X_dask, y_dask))
    assert est.task_types_ == in_memory.task_types_
    classes, expected = est.classes_, in_memory.classes_
    for got, want in zip(
        *(c if isinstance(c, list) else [c] for c in (classes, expected))
    ):
        assert (got is None) == (want is None)
        if want is not None:
            assert_array_equal(got, want)
            assert got.dtype == want.dtype
    # One partial_fit call per partition with rows and pass; with batch norm, a
    # one-row partition joins another call.
    calls = est.n_epochs_ - 1
    if batch_norm:
        big = sum(s >= 2 for s in sizes)
        assert passes * big <= calls <= passes * len(filled)
    else:
        assert calls == passes * len(filled)
    _assert_predictions_by_partition(est, X_dask)


@pytest.mark.parametrize("batch_norm, calls", [(False, 3), (True, 2)])
def test_fit_skips_empty_partitions_and_trains_one_row_ones(client, batch_norm, calls):
    # One partial_fit call per partition with rows; under batch norm, which
    # cannot train on one row, the one-row partition joins another call (as fit
    # folds a last batch of one row into the one before).
    sizes = [0, 3, 1, 0, 4]
    X = np.random.default_rng(8).normal(size=(8, 2))
    y = np.array(["no", "yes"] * 4, dtype=object)
    est = skmmoe.dask.fit(
        MMOEClassifier(**TINY, dnn_use_bn=batch_norm),
        _dask_rows(X, sizes),
        _dask_rows(y, sizes),
        passes=1,
    )
    assert est.n_epochs_ == 1 + calls
    _assert_predictions_by_partition(est, _dask_rows(X, sizes))


def _two_tasks(n, rng):
    X = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
    clicked = np.where(X.x0 + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    spend = 2.0 * X.x1 + 0.2 * rng.normal(size=n) + 50
    return X, pd.DataFrame({"clicked": clicked.astype(object), "spend": spend})


def test_each_task_learns_from_the_partitions_holding_its_labels(client):
    # 'clicked' has no label in the first two of six partitions, 'spend' none in
    # the last: each task's loss is left out where it has no label.
    X, Y = _two_tasks(1200, np.random.default_rng(9))
    Y.loc[:399, "clicked"] = None
    Y.loc[1000:, "spend"] = np.nan
    sizes = [200] * 6
    est = skmmoe.dask.fit(
        MMOEEstimator(**small()), _dask_rows(X, sizes), _dask_rows(Y, sizes), passes=3
    )
    assert est.n_epochs_ == 1 + 3 * 6
    X_test, Y_test = _two_tasks(1000, np.random.default_rng(10))
    proba, pred = est.predict_proba(X_test)[0], est.predict(X_test)
    # Measured: ROC AUC 0.96, R^2 0.71 (fit in memory with epochs=3: 0.96, 0.24).
    assert roc_auc_score(Y_test.clicked == "yes", proba[:, 1]) > 0.9
    assert r2_score(Y_test.spend, pred[:, 1].astype(float)) > 0.5


def test_a_task_with_few_labels_in_the_sample_is_fitted_on_its_labelled_rows(
    client,
):
    # 'spend' has a label on one row in 100, in every partition: a sample of 100
    # rows holds about one (here none: skmmoe.dask.fit refused it when the first
    # call had the sample alone). The first call adds the task's labelled rows of
    # smallest key, so that its mean and scale (50 and 2) come from them.
    rng = np.random.default_rng(12)
    X, Y = _two_tasks(2000, rng)
    labelled = np.arange(0, 2000, 100) + rng.integers(100, size=20)
    Y.loc[~Y.index.isin(labelled), "spend"] = np.nan
    sizes = [500] * 4
    est = skmmoe.dask.fit(
        MMOEEstimator(**TINY),
        _dask_rows(X, sizes),
        _dask_rows(Y, sizes),
        passes=1,
        sample_size=100,
    )
    assert est.task_types_ == ["binary", "regression"]
    spend = Y.spend.dropna()
    pred = est.predict(X.iloc[labelled])[:, 1].astype(float)
    # Measured: 0.26 standard deviations off.
    assert abs(pred.mean() - spend.mean()) < 0.5 * spend.std()


# ------------------------------------------------ list columns and vocabularies
RECSYS_SIZES = [150, 0, 150, 150, 150]  # an empty partition among them


@pytest.fixture(scope="module")
def recsys():
    """(X, Y): make_recsys_multitask's 600 rows, with a genre ('genre_late')
    and a recent item (9999) in the last partition only."""
    X, Y = make_recsys_multitask(sum(RECSYS_SIZES), random_state=0)
    late = np.arange(len(X)) >= len(X) - RECSYS_SIZES[-1]
    for i in np.flatnonzero(late)[::5]:
        X.at[i, "item_genres"] = [*X.at[i, "item_genres"], "genre_late"]
        X.at[i, "recent_items"] = [9999, *(X.at[i, "recent_items"] or [])]
    return X, Y


def _arrow_lists(X):
    pa = pytest.importorskip("pyarrow")
    return X.assign(
        item_genres=pd.Series(
            X.item_genres.tolist(), dtype=pd.ArrowDtype(pa.list_(pa.string()))
        ),
        recent_items=pd.Series(
            X.recent_items.tolist(), dtype=pd.ArrowDtype(pa.list_(pa.int64()))
        ),
    )


def _recsys_dask(X, Y):
    # dask turns object columns, Python lists included, into strings unless told
    # not to; Arrow list columns it keeps as they are.
    with dask.config.set({"dataframe.convert-string": False}):
        return _dask_rows(X, RECSYS_SIZES), _dask_rows(Y, RECSYS_SIZES)


def _vocabularies(est):
    """Each categorical and list column's (kept, infrequent) values."""
    out = {}
    for name, fitted, columns in est.preprocessor_.transformers_:
        if name == "categorical":
            for j, c in enumerate(columns):
                out[c] = (fitted.categories_[j], fitted.infrequent_categories_[j])
    for position, encoder in zip(est._encoder.list_columns, est._encoder.list_encoders):
        out[position] = (encoder.categories_[0], encoder.infrequent_categories_[0])
    return out


def _assert_same_encoding(est, in_memory):
    got, want = _vocabularies(est), _vocabularies(in_memory)
    assert got.keys() == want.keys()
    for column in want:
        for g, w in zip(got[column], want[column]):
            assert_array_equal(g, w, err_msg=str(column))

    # Bin edges come from the sample: the number of bins of a column may differ.
    def embeddings(model):
        return [c for c in model.feature_columns_ if not c.name.endswith("_bin")]

    assert embeddings(est) == embeddings(in_memory)


@pytest.mark.parametrize("arrow", [False, True], ids=["object lists", "arrow lists"])
def test_list_columns_get_the_vocabulary_of_every_partition(client, recsys, arrow):
    X, Y = recsys
    X = _arrow_lists(X) if arrow else X
    X_dask, Y_dask = _recsys_dask(X, Y)
    assert pd.api.types.is_object_dtype(X_dask.dtypes.item_genres) != arrow
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no category unknown to partial_fit
        est = skmmoe.dask.fit(
            MMOEEstimator(**TINY), X_dask, Y_dask, passes=1, sample_size=100
        )
    # The same vocabularies as fit on all the rows in memory: the late genre and
    # item, in none of the sample's rows, have ids of their own.
    _assert_same_encoding(est, MMOEEstimator(**TINY).fit(X, Y))
    assert "genre_late" in est._encoder.list_encoders[0].categories_[0]
    assert "9999" in est._encoder.list_encoders[1].categories_[0]
    assert est.n_epochs_ == 1 + 4  # the sample, then the 4 partitions with rows
    proba = skmmoe.dask.predict_proba(est, X_dask)
    for got, want in zip(proba, est.predict_proba(X)):
        assert (got is None) == (want is None)
        if want is not None:
            assert_close_across_row_sets(got.compute().to_numpy(), want)


@pytest.mark.parametrize(
    "params",
    [
        {"min_frequency": 3},
        {"min_frequency": 0.05, "max_categories": 30},
        {"min_frequency": 2, "shared_embeddings": {"recent_items": "item_id"}},
        {"hash_buckets": {"user_id": 64, "recent_items": 32}},
    ],
    ids=["min_frequency", "share of rows", "shared_embeddings", "hash_buckets"],
)
def test_rare_values_shared_and_hashed_columns_as_fit_on_every_row(
    client, recsys, params
):
    # A sample of 100 rows sees few of the rows each value is counted over.
    X, Y = recsys
    est = skmmoe.dask.fit(
        MMOEEstimator(**TINY, **params),
        *_recsys_dask(X, Y),
        passes=1,
        sample_size=100,
    )
    in_memory = MMOEEstimator(**TINY, **params).fit(X, Y)
    _assert_same_encoding(est, in_memory)
    assert est.get_params() == in_memory.get_params()


def test_lists_that_dask_turned_into_strings_are_warned_of(client, recsys):
    X, Y = recsys
    X_dask = _dask_rows(X[["item_genres", "hour"]], RECSYS_SIZES)
    assert isinstance(X_dask.dtypes.item_genres, pd.StringDtype)  # not lists
    with pytest.warns(UserWarning, match="'item_genres' holds strings that read as"):
        skmmoe.dask.fit(
            MMOEEstimator(**TINY), X_dask, _dask_rows(Y, RECSYS_SIZES), passes=1
        )
