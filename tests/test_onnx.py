"""skmmoe.to_onnx and onnx_inputs: one ONNX graph from the raw columns to every
task's outputs, equal to predict_proba / predict within 1e-5 in onnxruntime."""

import copy
import hashlib
import subprocess
import sys
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from small_network import TINY, small

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import (  # noqa: E402
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from skmmoe import (  # noqa: E402
    MMOEClassifier,
    MMOEEstimator,
    MMOERegressor,
    onnx_inputs,
    to_onnx,
)
from skmmoe._features import NUMERIC_ENCODINGS  # noqa: E402
from skmmoe._onnx import (  # noqa: E402
    _input_columns,
    _name_inputs,
    _network_graph,
    _preprocessor_graph,
)
from skmmoe.datasets import make_recsys_multitask  # noqa: E402

# The tolerance on probabilities, absolute. Both sides preprocess in
# float64 with the same operations and run the network in float32 on the same
# float32 features; they differ only by the order of float32 sums (about 1e-7
# here), whatever the CPU.
ATOL = 1e-5
BIG_BATCH = 4096


def _session(model, X_example=None, **kwargs):
    proto = to_onnx(model, X_example, **kwargs)
    return ort.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _run(session, model, X) -> dict:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, onnx_inputs(model, X))))


def _frame(n, seed, *, unseen=False):
    """object (with None), category, bool and float (with NaN) columns, a
    few-valued integer column and a constant one; with ``unseen``, categories and
    a missing numeric value the fit never saw."""
    rng = np.random.default_rng(seed)
    cities = ["paris", "rome", "oslo", "lima"] + (["madrid", "kyiv"] if unseen else [])
    city = rng.choice(cities, n).astype(object)
    city[rng.random(n) < 0.1] = None
    colors = ["red", "green", "blue"] + (["teal"] if unseen else [])
    age = rng.normal(40.0, 10.0, n)
    age[rng.random(n) < 0.1] = np.nan
    income = rng.lognormal(3.0, 1.0, n)
    income[rng.random(n) < 0.5] = 0.0  # a point mass
    if unseen:
        income[rng.random(n) < 0.05] = np.nan  # missing, never at fit
        income[:3] = [1e6, -5.0, 1e-9]  # outside the fit's range
    return pd.DataFrame(
        {
            "city": pd.Series(city, dtype=object),
            "color": pd.Categorical(rng.choice(colors, n), categories=colors),
            "member": rng.random(n) < 0.4,
            "age": age,
            "income": income,
            "children": rng.integers(0, 4, n).astype(np.int64),
            "constant": np.ones(n),
        }
    )


def _targets(X, seed):
    rng = np.random.default_rng(seed)
    bought = np.where((X["city"] == "rome") | X["member"], "yes", "no")
    size = np.asarray([1, 2, 3])[rng.integers(0, 3, len(X))]
    spend = np.nan_to_num(X["age"].to_numpy(), nan=40.0) * 10 + rng.normal(size=len(X))
    return pd.DataFrame({"bought": bought, "size": size, "spend": spend})


@pytest.fixture(scope="module")
def mixed():
    X = _frame(400, seed=0)
    return X, _targets(X, seed=1), _frame(BIG_BATCH, seed=2, unseen=True)


def _decision_margin(proba: np.ndarray) -> np.ndarray:
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def assert_task_parity(model, out: dict, X, *, task_names, y_ndim=2):
    """Every task's outputs against predict_proba and predict: probabilities within
    ATOL, the same labels (where the two most probable classes are further apart
    than ATOL, so a float32 tie cannot decide), values within ATOL relative or
    ATOL of the target's scale."""
    proba = model.predict_proba(X) if hasattr(model, "predict_proba") else None
    pred = model.predict(X)
    est = model.steps[-1][1] if isinstance(model, Pipeline) else model
    for t, (name, task) in enumerate(zip(task_names, est._tasks)):
        p_t = pred if y_ndim == 1 else pred[:, t]
        if task.is_classification:
            expected = proba if y_ndim == 1 else proba[t]
            np.testing.assert_allclose(
                out[f"{name}_proba"], expected, rtol=0, atol=ATOL
            )
            clear = _decision_margin(expected) > ATOL
            assert clear.mean() > 0.99
            labels = out[f"{name}_label"]
            assert labels.shape == (len(X),)
            np.testing.assert_array_equal(
                labels[clear].astype(object), p_t[clear].astype(object)
            )
        else:
            values = out[f"{name}_value"]
            assert values.dtype == np.float64 and values.shape == (len(X),)
            np.testing.assert_allclose(
                values,
                p_t.astype(np.float64),
                rtol=ATOL,
                atol=ATOL * getattr(task, "scale_", 1.0),
            )


def assert_preprocessing_parity(model, X):
    """The graph's preprocessing equals the fitted ColumnTransformer's output:
    bin indices exactly, every other value to float32 rounding."""
    est = model.steps[-1][1] if isinstance(model, Pipeline) else model
    columns = _input_columns(model, X)
    proto = _preprocessor_graph(model, columns, 18)
    _name_inputs(proto.graph, [name for name, _, _ in columns])
    session = ort.InferenceSession(proto.SerializeToString())
    (got,) = session.run(None, onnx_inputs(model, X))
    Xt = model[:-1].transform(X) if isinstance(model, Pipeline) else X
    expected = est._encoder.preprocessor.transform(Xt)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, equal_nan=True)
    names = est._encoder.preprocessor.get_feature_names_out()
    bins = np.asarray([str(n).endswith("_bin") for n in names])
    np.testing.assert_array_equal(got[:, bins], expected[:, bins])


@pytest.mark.parametrize("numeric_encoding", NUMERIC_ENCODINGS)
def test_estimator_equals_predict_proba_on_a_mixed_frame(mixed, numeric_encoding):
    """Binary (string labels), multiclass (int labels) and regression tasks; unseen
    categories, missing values (also where the fit had none) and values outside
    the fit's range; every numeric encoding; batch 4096 and batch 1."""
    X, Y, X_test = mixed
    est = MMOEEstimator(**small(epochs=3), numeric_encoding=numeric_encoding)
    est.fit(X, Y)
    session = _session(est, X)
    names = list(Y.columns)
    assert_task_parity(est, _run(session, est, X_test), X_test, task_names=names)
    row = X_test.iloc[[1]]
    assert_task_parity(est, _run(session, est, row), row, task_names=names)
    assert_preprocessing_parity(est, X_test)


def test_shared_gate_model_equals_predict_proba(mixed):
    """OMoE (shared_gate=True): the one gate's weights serve every task."""
    X, Y, X_test = mixed
    est = MMOEEstimator(**small(epochs=2), shared_gate=True).fit(X, Y)
    out = _run(_session(est, X), est, X_test)
    assert_task_parity(est, out, X_test, task_names=list(Y.columns))


def test_classifier_with_batch_norm_and_dropout_equals_predict_proba(mixed, tmp_path):
    """The exported network is the eval-mode one: batch norm with its running
    statistics, no dropout. The graph: one input per column, named and typed by
    column, a dynamic batch size, outputs named after the tasks, and the file
    written."""
    X, Y, X_test = mixed
    clf = MMOEClassifier(**small(epochs=3), dnn_use_bn=True, dnn_dropout=0.3)
    clf.fit(X, Y[["bought", "size"]])
    path = tmp_path / "model.onnx"
    proto = to_onnx(clf, path=path)
    assert onnx.load(path) == proto
    elem = onnx.TensorProto
    inputs = {i.name: i.type.tensor_type for i in proto.graph.input}
    assert list(inputs) == list(X.columns)
    for name in ("city", "color", "member"):  # member, a bool: "True" / "False"
        assert inputs[name].elem_type == elem.STRING
    for name in ("age", "income", "children", "constant"):
        assert inputs[name].elem_type == elem.DOUBLE
    for tensor_type in inputs.values():
        assert not tensor_type.shape.dim[0].HasField("dim_value")  # dynamic batch
    outputs = {o.name: o.type.tensor_type.elem_type for o in proto.graph.output}
    assert outputs == {
        "bought_label": elem.STRING,
        "bought_proba": elem.FLOAT,
        "size_label": elem.INT64,
        "size_proba": elem.FLOAT,
    }
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = _run(session, clf, X_test)
    assert_task_parity(clf, out, X_test, task_names=["bought", "size"])
    row = X_test.iloc[[3]]
    assert_task_parity(clf, _run(session, clf, row), row, task_names=["bought", "size"])


def test_regressor_equals_predict(mixed):
    X, Y, X_test = mixed
    Y2 = pd.DataFrame({"spend": Y["spend"], "twice": 2.0 * Y["spend"] + 7.0})
    reg = MMOERegressor(**small(epochs=3)).fit(X, Y2)
    session = _session(reg, opset=15)  # converted down from torch's opset 18
    out = _run(session, reg, X_test)
    assert list(out) == ["spend_value", "twice_value"]
    assert_task_parity(reg, out, X_test, task_names=["spend", "twice"])
    row = X_test.iloc[[5]]
    assert_task_parity(reg, _run(session, reg, row), row, task_names=["spend", "twice"])


def _as_float32(feed: dict) -> dict:
    """The feed with its numbers rounded to float32, as the graph read them
    before they went through the preprocessing in float64."""
    return {
        name: values.astype(np.float32).astype(np.float64)
        if values.dtype == np.float64
        else values
        for name, values in feed.items()
    }


def assert_full_precision_parity(model, X, *, task_names):
    """Parity at batch 4096 and 1, and the proof that it needs float64: fed the
    same rows rounded to float32, the graph's probabilities move far past ATOL."""
    session = _session(model)
    assert_task_parity(model, _run(session, model, X), X, task_names=task_names)
    row = X.iloc[[0]]
    assert_task_parity(model, _run(session, model, row), row, task_names=task_names)
    assert_preprocessing_parity(model, X)
    name = f"{task_names[0]}_proba"
    (rounded,) = session.run([name], _as_float32(onnx_inputs(model, X)))
    assert np.abs(rounded - model.predict_proba(X)[0]).max() > 100 * ATOL


@pytest.mark.parametrize("numeric_encoding", ["scaled+embedding", "piecewise_linear"])
def test_large_offsets_keep_their_fine_part(numeric_encoding):
    """Columns whose information float32 rounds away (a Unix time x + 1e9, where
    its step is 128; amounts in cents near 1e11, where it is 8192) and a tiny one
    (x * 1e-6): the graph reads them as float64 and scales and bins them in
    float64, as predict does, so the two agree where the labels hang on x."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=400 + BIG_BATCH)
    X = pd.DataFrame(
        {
            "stamp": 1e9 + x,
            "micro": 1e-6 * x,
            "cents": 1e11 + 100.0 * x,
            "city": rng.choice(["paris", "rome"], len(x)).astype(object),
        }
    )
    Y = pd.DataFrame({"up": np.where(x > 0, "up", "down"), "size": 3.0 * x})
    est = MMOEEstimator(**small(epochs=5), numeric_encoding=numeric_encoding)
    est.fit(X.iloc[:400], Y.iloc[:400])
    assert_full_precision_parity(est, X.iloc[400:], task_names=["up", "size"])


def test_datetime_and_timedelta_columns_are_seconds_at_full_precision():
    """Naive, tz-aware and Arrow timestamps (seconds since the epoch near 1.7e9,
    spread by 10 s) and a timedelta (near 3e8 s): onnx_inputs feeds them as the
    float64 seconds predict reads (the same instant, the same number, whatever
    its time zone; NaT as NaN), and the graph agrees with predict where the
    labels hang on the seconds."""
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    x = rng.normal(size=400 + BIG_BATCH)
    micros = np.round((1.7e9 + 10.0 * x) * 1e6).astype(np.int64)
    stamps = pd.Series(micros.astype("datetime64[us]"))
    naive = stamps.copy()
    naive[rng.random(len(x)) < 0.05] = pd.NaT
    X = pd.DataFrame(
        {
            "naive": naive,
            "aware": stamps.dt.tz_localize("UTC").dt.tz_convert("Asia/Kolkata"),
            "arrow": stamps.astype(pd.ArrowDtype(pa.timestamp("us", tz="UTC"))),
            "waited": pd.to_timedelta(np.round((3e8 + 10.0 * x) * 1e9), unit="ns"),
        }
    )
    Y = pd.DataFrame({"late": np.where(x > 0, "yes", "no"), "delay": x})
    est = MMOEEstimator(**small(epochs=5)).fit(X.iloc[:400], Y.iloc[:400])
    test = X.iloc[400:]
    feed = onnx_inputs(est, test)
    seconds = micros[400:] / 1e6
    for name in ("aware", "arrow"):
        assert feed[name].dtype == np.float64
        np.testing.assert_allclose(feed[name].ravel(), seconds, rtol=0, atol=1e-6)
    missing = test["naive"].isna().to_numpy()
    assert missing.any() and np.isnan(feed["naive"].ravel()[missing]).all()
    np.testing.assert_allclose(
        feed["waited"].ravel(), 3e8 + 10.0 * x[400:], rtol=0, atol=1e-6
    )
    assert_full_precision_parity(est, test, task_names=["late", "delay"])


def test_one_dimensional_y_and_array_input():
    """An array X gets inputs x0, x1, ...; a 1-D y's one task is task_0."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = np.where(X[:, 0] > 0, "up", "down")
    clf = MMOEClassifier(**small(epochs=2)).fit(X, y)
    session = _session(clf)
    assert [i.name for i in session.get_inputs()] == ["x0", "x1", "x2"]
    out = _run(session, clf, X)
    assert_task_parity(clf, out, X, task_names=["task_0"], y_ndim=1)


# Column names the converter used to rename: spaces, punctuation, dots, dashes,
# unicode, a digit first, a pair that one sanitisation merges ("a b", "a_b"), and
# names of the graph's own inner values.
AWKWARD_NAMES = [
    "hours per week",
    "capital-gain",
    "x.1",
    "a b",
    "a_b",
    "名前",
    "0x",
    "features",
    "skmmoe_features",
    "skmmoe_in_a_b",
    "bought__classes",
]


def _awkward_frame(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {name: rng.normal(j, 1.0 + j, n) for j, name in enumerate(AWKWARD_NAMES)}
    )
    X["état civil"] = rng.choice(["marié", "seul"], n).astype(object)
    return X


def test_graph_inputs_are_the_column_names():
    """Each input is named exactly as its column, and onnx_inputs' feed runs."""
    X = _awkward_frame(300, seed=0)
    Y = pd.DataFrame(
        {"bought": np.where(X["a b"] > 3.0, "yes", "no"), "spend": X["a_b"] * 2.0}
    )
    est = MMOEEstimator(**small(epochs=2)).fit(X, Y)
    session = _session(est)
    assert [i.name for i in session.get_inputs()] == list(X.columns)
    X_test = _awkward_frame(BIG_BATCH, seed=1)
    out = _run(session, est, X_test)
    assert_task_parity(est, out, X_test, task_names=["bought", "spend"])


def test_a_users_column_transformer_picks_awkward_names():
    """A ColumnTransformer that picks columns by such names, in a Pipeline and
    as the estimator's own preprocessor."""
    X = _awkward_frame(300, seed=0)
    Y = pd.DataFrame({"bought": np.where(X["a_b"] > 4.0, "yes", "no")})
    ct = ColumnTransformer(
        [
            ("num", StandardScaler(), ["hours per week", "a b", "a_b", "x.1"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["état civil"]),
        ],
        sparse_threshold=0.0,
    )
    X_test = _awkward_frame(BIG_BATCH, seed=1)
    for model in (
        Pipeline([("ct", ct), ("mmoe", MMOEClassifier(**small(epochs=2)))]),
        MMOEClassifier(**small(epochs=2), preprocessor=ct),
    ):
        model.fit(X, Y)
        session = _session(model, X)
        assert [i.name for i in session.get_inputs()] == list(X.columns)
        out = _run(session, model, X_test)
        assert_task_parity(model, out, X_test, task_names=["bought"])


@pytest.mark.parametrize(
    "labels, names",
    [
        ([0, 1, 2], ["0", "1", "2"]),
        ([7, -1, 3], ["7", "-1", "3"]),
        (
            [("income", "2023"), ("income", 2024), ("city", "")],
            ["('income', '2023')", "('income', 2024)", "('city', '')"],
        ),
    ],
)
def test_integer_and_tuple_labels_are_named_as_str_writes_them(labels, names):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            0: rng.normal(size=200),
            1: rng.normal(size=200),
            2: rng.choice(["a", "b"], 200).astype(object),
        }
    )
    X.columns = labels
    y = np.where(X.iloc[:, 0] > 0, "up", "down")
    clf = MMOEClassifier(**small(epochs=1)).fit(X, y)
    session = _session(clf)
    assert [i.name for i in session.get_inputs()] == names
    out = _run(session, clf, X.iloc[:, ::-1])  # matched by label, not position
    assert_task_parity(clf, out, X, task_names=["task_0"], y_ndim=1)


OUTPUT_NAMES = {"t_label", "t_proba", "r_value"}  # of the tasks t and r below
NAMES = st.one_of(
    st.sampled_from(AWKWARD_NAMES),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=8),
).filter(lambda name: name not in OUTPUT_NAMES)
COLUMN_LABELS = st.one_of(
    st.lists(NAMES, min_size=4, max_size=4, unique=True),
    st.lists(st.integers(-(2**40), 2**40), min_size=4, max_size=4, unique=True),
    st.lists(
        st.tuples(NAMES, st.one_of(NAMES, st.integers(-9, 9))),
        min_size=4,
        max_size=4,
        unique=True,
    ),
)


_NETWORK_GRAPHS: dict = {}


def _network_graph_once(est, n_features, opset):
    """skmmoe._onnx._network_graph, run once per distinct network: torch's
    exporter takes seconds, and the network graph does not depend on column
    names. Keyed by everything it reads (the network's structure and weights,
    which features feed embeddings, the tasks), so that a reused graph is the
    one it would build."""
    state = est._fitted_state()
    encoder = state.encoder
    key = hashlib.sha256(
        repr(
            (
                opset,
                n_features,
                state.network,
                encoder.sparse_positions.tolist(),
                encoder.dense_positions.tolist(),
                encoder.vocabulary_sizes,
                [task.to_json() for task in state.tasks],
            )
        ).encode()
    )
    for name, tensor in state.network.state_dict().items():
        key.update(f"{name}{tuple(tensor.shape)}".encode())
        key.update(tensor.cpu().numpy().tobytes())
    digest = key.hexdigest()
    if digest not in _NETWORK_GRAPHS:
        _NETWORK_GRAPHS[digest] = _network_graph(est, n_features, opset)
    proto, tasks = _NETWORK_GRAPHS[digest]
    return copy.deepcopy(proto), tasks


@settings(max_examples=15, deadline=None, database=None)
@given(labels=COLUMN_LABELS, categorical=st.integers(0, 3))
def test_any_column_labels_export_and_match_predict(labels, categorical):
    """Whatever the labels (text of any characters, ints, MultiIndex tuples),
    the graph's inputs are ``str(label)``, every drawn frame exports, and
    onnx_inputs' feed gives predict_proba and predict. (The network's part of
    the graph is exported once per distinct network: see _network_graph_once.)"""
    rng = np.random.default_rng(0)
    columns = [rng.normal(j, 1.0, 50) for j in range(4)]
    city = rng.choice(["paris", "rome", "oslo"], 50).astype(object)
    city[::7] = None
    columns[categorical] = city
    X = pd.DataFrame(dict(enumerate(columns)))
    X.columns = labels
    numeric = columns[(categorical + 1) % 4]
    Y = pd.DataFrame({"t": numeric > np.median(numeric), "r": rng.normal(size=50)})
    est = MMOEEstimator(**TINY).fit(X, Y)
    with mock.patch("skmmoe._onnx._network_graph", _network_graph_once):
        session = _session(est)
    assert [i.name for i in session.get_inputs()] == [str(c) for c in labels]
    out = _run(session, est, X)
    proba = est.predict_proba(X)[0]
    np.testing.assert_allclose(out["t_proba"], proba, rtol=0, atol=ATOL)
    clear = _decision_margin(proba) > ATOL
    np.testing.assert_array_equal(out["t_label"][clear], est.predict(X)[clear, 0])
    np.testing.assert_allclose(
        out["r_value"], est.predict(X)[:, 1].astype(float), rtol=ATOL, atol=ATOL
    )


@pytest.fixture(scope="module")
def census():
    from skmmoe.datasets import load_census_income

    X, Y = load_census_income()
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(X))
    train, test = rows[:3000], rows[3000 : 3000 + BIG_BATCH]
    return X.iloc[train], Y.iloc[train], X.iloc[test], Y.iloc[test]


@pytest.mark.parametrize("cls", [MMOEEstimator, MMOEClassifier, MMOERegressor])
def test_census_equals_predict_proba(census, cls):
    X, Y, X_test, _ = census
    if cls is MMOERegressor:  # two of census' numeric columns as targets
        Y = X[["age", "weeks_worked"]]
        X, X_test = X.drop(columns=Y.columns), X_test.drop(columns=Y.columns)
    model = cls(**small(epochs=1, batch_size=256)).fit(X, Y)
    session = _session(model)
    names = list(Y.columns)
    assert [i.name for i in session.get_inputs()] == list(X.columns)
    assert_task_parity(model, _run(session, model, X_test), X_test, task_names=names)
    row = X_test.iloc[[0]]
    assert_task_parity(model, _run(session, model, row), row, task_names=names)


def test_onnx_inputs_spells_missing_values():
    X = pd.DataFrame(
        {
            "city": pd.Series(["a", None, "b", np.nan], dtype=object),
            "n": [1.0, np.nan, 3.0, 4.0],
            "k": [1, 2, 3, 4],
        }
    )
    clf = MMOEClassifier(**small(epochs=1)).fit(X, [0, 1, 0, 1])
    feed = onnx_inputs(clf, X)
    assert feed["city"].ravel().tolist() == ["a", "", "b", ""]
    assert feed["city"].shape == (4, 1)
    assert feed["n"].dtype == np.float64 and np.isnan(feed["n"][1, 0])
    assert feed["k"].dtype == np.float64
    # Columns are matched by name, in any order.
    reordered = onnx_inputs(clf, X[["k", "n", "city"]])
    for name in feed:
        np.testing.assert_array_equal(reordered[name], feed[name])
    with pytest.raises(ValueError, match="lacks the columns"):
        onnx_inputs(clf, X[["city", "n"]])


def test_pipeline_with_a_scikit_learn_column_transformer(mixed):
    X, Y, X_test = mixed
    ct = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(), StandardScaler()),
                ["age", "income"],
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "color"]),
        ],
        sparse_threshold=0.0,
    )
    # scikit-learn's encoders see a missing value as a category of its own, which
    # the graph's strings cannot spell: "none" stands for it.
    X_str = X.fillna({"city": "none"}).astype({"city": str, "color": str})
    X_test_str = X_test.fillna({"city": "none"}).astype({"city": str, "color": str})
    pipe = Pipeline([("ct", ct), ("mmoe", MMOEEstimator(**small(epochs=2)))])
    pipe.fit(X_str, Y)
    session = _session(pipe, X_str)
    out = _run(session, pipe, X_test_str)
    assert_task_parity(pipe, out, X_test_str, task_names=list(Y.columns))


def test_users_preprocessor_with_an_ordinal_encoder(mixed):
    """The OrdinalEncoder's outputs feed embeddings; its unknown value (-1) goes
    to the reserved index as in predict."""
    X, Y, X_test = mixed
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age"]),
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["city"],
            ),
        ]
    )
    X_str = X.fillna({"city": "none"}).astype({"city": str})
    X_test_str = X_test.fillna({"city": "none"}).astype({"city": str})
    est = MMOEEstimator(**small(epochs=2), preprocessor=pre).fit(X_str, Y)
    assert any(c.kind == "sparse" for c in est.feature_columns_)
    session = _session(est, X_str)
    out = _run(session, est, X_test_str)
    assert_task_parity(est, out, X_test_str, task_names=list(Y.columns))


def test_pipeline_whose_skmmoe_step_embeds_a_numeric_column(mixed):
    """The skmmoe step of a Pipeline with categorical_features: its category
    lookup gets the earlier steps' float64 numbers (here ordinal codes)."""
    X, Y, X_test = mixed
    ct = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["city"],
            ),
            ("num", SimpleImputer(), ["age", "income"]),
        ]
    )
    X_str = X.fillna({"city": "none"}).astype({"city": str})
    X_test_str = X_test.fillna({"city": "none"}).astype({"city": str})
    mmoe = MMOEEstimator(**small(epochs=2), categorical_features=[0])
    pipe = Pipeline([("ct", ct), ("mmoe", mmoe)]).fit(X_str, Y)
    assert mmoe.feature_columns_[0].kind == "sparse"
    out = _run(_session(pipe, X_str), pipe, X_test_str)
    assert_task_parity(pipe, out, X_test_str, task_names=list(Y.columns))


def test_unsupported_steps_raise_naming_the_step(mixed):
    X, Y, _ = mixed
    numeric = X[["age", "income"]].fillna(0.0).abs()
    first = Pipeline(
        [("log", FunctionTransformer(np.log1p)), ("mmoe", MMOERegressor(epochs=1))]
    ).fit(numeric, Y["spend"])
    with pytest.raises(ValueError, match="first step 'log' is FunctionTransformer"):
        to_onnx(first)
    inside = Pipeline(
        [
            ("ct", ColumnTransformer([("log", FunctionTransformer(np.log1p), [0, 1])])),
            ("mmoe", MMOERegressor(epochs=1)),
        ]
    ).fit(numeric, Y["spend"])
    with pytest.raises(ValueError, match="'ct'.*log1p"):
        to_onnx(inside)
    with pytest.raises(TypeError, match="ends in StandardScaler"):
        to_onnx(make_pipeline(StandardScaler()).fit(numeric))
    with pytest.raises(TypeError, match="got StandardScaler"):
        to_onnx(StandardScaler())
    with pytest.raises(NotFittedError):
        to_onnx(MMOEClassifier())
    with pytest.raises(ValueError, match="opset must be an int >= 15"):
        to_onnx(first[-1], opset=13)


@pytest.mark.parametrize(
    "column, task",
    [("spend_value", "spend"), ("bought_label", "bought"), ("bought_proba", "bought")],
)
def test_a_column_named_as_an_output_is_refused(column, task):
    """A graph's inputs and outputs share one namespace, and the outputs' names
    are documented: the export stops before building anything, naming both."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({column: rng.normal(size=40), "n": rng.normal(size=40)})
    Y = pd.DataFrame({"bought": X["n"] > 0, "spend": rng.normal(size=40)})
    est = MMOEEstimator(**small(epochs=1)).fit(X, Y)
    with mock.patch("skmmoe._onnx._preprocessor_graph") as build:
        with pytest.raises(ValueError, match=f"{column!r} of task {task!r}"):
            to_onnx(est)
    build.assert_not_called()


@pytest.mark.parametrize(
    "label, message",
    [("", "column named '' cannot be a graph input"), ("\ud800", "UTF-8")],
)
def test_a_name_onnx_cannot_hold_is_refused(label, message):
    """The empty name means an absent input in ONNX, and names are UTF-8 (a lone
    surrogate, which an object Index holds, is not)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        rng.normal(size=(40, 2)), columns=pd.Index([label, "n"], dtype=object)
    )
    est = MMOEEstimator(**small(epochs=1)).fit(X, X["n"] > 0)
    with pytest.raises(ValueError, match=message):
        to_onnx(est)


def test_empty_string_category_is_refused():
    """The graph spells missing categories as the empty string; a fit that saw
    the empty string as a category of its own cannot be exported faithfully."""
    X = pd.DataFrame({"city": ["a", "", "b", "a"], "n": [1.0, 2.0, 3.0, 4.0]})
    clf = MMOEClassifier(**small(epochs=1)).fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="empty string"):
        to_onnx(clf)


def test_import_skmmoe_does_not_import_onnx():
    code = (
        "import sys, skmmoe; "
        "print([m in sys.modules for m in ('onnx', 'skl2onnx', 'onnxruntime')])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[False, False, False]"


def test_missing_extra_says_how_to_install(monkeypatch):
    import skmmoe

    monkeypatch.delitem(sys.modules, "skmmoe._onnx")
    monkeypatch.delattr(skmmoe, "_onnx", raising=False)
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install skmmoe\[onnx\]"):
        skmmoe.to_onnx  # noqa: B018


@pytest.mark.parametrize("numeric_encoding", NUMERIC_ENCODINGS)
def test_calendar_parts_of_a_datetime_column_in_the_graph(numeric_encoding):
    """A datetime column's calendar parts (hour, day of the week, day, month) are
    computed in the graph as predict computes them, over a century that starts
    before 1970, with NaT: the preprocessing exactly where it is whole numbers,
    the predictions to the tolerance."""
    rng = np.random.default_rng(4)
    seconds = np.sort(rng.integers(-20 * 365 * 86400, 80 * 365 * 86400, 1500))
    times = pd.Series(pd.Timestamp("1970-01-01") + pd.to_timedelta(seconds, "s"))
    times[[3, 700]] = pd.NaT
    X = pd.DataFrame({"t": times, "x": rng.normal(size=1500)})
    Y = pd.DataFrame(
        {
            "evening": times.dt.hour.fillna(0).to_numpy() >= 18,
            "r": times.dt.month.fillna(6).to_numpy() + X["x"].to_numpy(),
        }
    )
    est = MMOEEstimator(**small(epochs=2), numeric_encoding=numeric_encoding)
    est.fit(X, Y)
    names = est._encoder.preprocessor.get_feature_names_out()
    for part in ("hour", "weekday", "day", "month"):
        assert any(str(n).startswith(f"t_{part}") for n in names), (part, names)
    assert_preprocessing_parity(est, X)
    session = _session(est, X)
    for rows in (X, X.iloc[[3]]):
        out = _run(session, est, rows)
        assert_task_parity(est, out, rows, task_names=["evening", "r"])


RECSYS_TASKS = ["click", "conversion", "watch_time"]


@pytest.fixture(scope="module")
def recsys():
    """make_recsys_multitask's log, and rows to predict with item ids the fit
    never saw, and a row of each kind: an empty list, a missing one, unseen
    and missing elements, a list longer than ``max_list_length``, a missing and
    an unseen device."""
    X, Y = make_recsys_multitask(300, random_state=0)
    X_test, _ = make_recsys_multitask(300, n_items=800, random_state=1)
    X_test["device"] = X_test["device"].astype(object)
    X_test.loc[[5, 6], "device"] = [None, "fridge"]
    rows = {
        0: ("recent_items", []),
        1: ("recent_items", None),
        2: ("item_genres", ["genre_99", None, "genre_01"]),
        3: ("recent_items", [None, 5, 5, 5, 7, 9, 11, 13]),
        4: ("item_genres", None),
    }
    for row, (column, value) in rows.items():
        X_test.at[row, column] = value
    return X, Y, X_test


def assert_list_parity(model, session, X):
    """Parity on X, and on its rows 1 (a missing list) and 3 (a long one)
    alone, each call padded to its own longest list."""
    for rows in (X, X.iloc[[1]], X.iloc[[3]]):
        out = _run(session, model, rows)
        assert_task_parity(model, out, rows, task_names=RECSYS_TASKS)


def test_list_columns_equal_predict_proba(recsys):
    """Max and sum pooling, rare scalar values and elements grouped
    (min_frequency), max_list_length; the feed from Python, Arrow and polars
    lists. Each list column is two inputs: its elements as strings, padded,
    and their number."""
    X, Y, X_test = recsys
    est = MMOEEstimator(
        **TINY,
        combiner={"item_genres": "max", "recent_items": "sum"},
        min_frequency=3,
        max_list_length={"recent_items": 4},
    ).fit(X, Y)
    assert est._encoder.list_encoders[1].infrequent_categories_[0].size
    session = _session(est)
    assert [(i.name, i.type) for i in session.get_inputs()][2:6] == [
        ("item_genres", "tensor(string)"),
        ("item_genres__length", "tensor(int64)"),
        ("recent_items", "tensor(string)"),
        ("recent_items__length", "tensor(int64)"),
    ]
    feed = onnx_inputs(est, X_test.iloc[:4])
    assert feed["recent_items"].shape == (4, 4)  # the longest, cut to 4
    recent = min(len(X_test.at[2, "recent_items"]), 4)
    assert feed["recent_items__length"].tolist() == [0, 0, recent, 4]
    assert feed["item_genres"][2, :2].tolist() == ["genre_99", "genre_01"]
    assert_list_parity(est, session, X_test)
    arrow, _ = make_recsys_multitask(200, list_format="arrow", random_state=2)
    assert_list_parity(est, session, arrow)
    pl = pytest.importorskip("polars")
    polars = pl.from_pandas(arrow.astype({"device": object})).to_pandas()
    assert isinstance(polars["recent_items"].dropna().iloc[0], np.ndarray)
    assert_list_parity(est, session, polars)


def test_shared_table_and_hashing_equal_predict_proba(recsys):
    """recent_items looks its elements up in item_id's table; item_genres
    (a list) and device (a scalar, missing values aside) are hashed by
    onnxruntime's com.microsoft.MurmurHash3."""
    X, Y, X_test = recsys
    est = MMOEEstimator(
        **TINY,
        shared_embeddings={"recent_items": "item_id"},
        hash_buckets={"item_genres": 7, "device": 3},
    ).fit(X, Y)
    proto = to_onnx(est)
    assert "com.microsoft" in {i.domain for i in proto.opset_import}
    session = ort.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    assert_list_parity(est, session, X_test)


def test_list_columns_only():
    """Without scalar columns the network's input is the pooled lists alone."""
    X, Y = make_recsys_multitask(200, random_state=0)
    X = X[["item_genres", "recent_items"]]
    est = MMOEEstimator(**TINY).fit(X, Y)
    assert_list_parity(est, _session(est), X)


def test_list_exports_it_cannot_do_raise_naming_the_column():
    X, Y = make_recsys_multitask(100, random_state=0)
    taken = X.assign(recent_items__length=1.0)
    est = MMOEEstimator(**TINY).fit(taken, Y)
    with pytest.raises(ValueError, match="'recent_items'.*'recent_items__length'"):
        to_onnx(est)
    numbers = ColumnTransformer([("hour", "passthrough", ["hour"])])
    model = make_pipeline(
        numbers, MMOEEstimator(**TINY, categorical_features=[0], hash_buckets=5)
    ).fit(X, Y)
    with pytest.raises(ValueError, match="hashed column 0 of the skmmoe step"):
        to_onnx(model)
