"""Tests of skmmoe._encoders: the built-in preprocessor's transformers (bins, the
piecewise-linear encoding) and how numeric, datetime and timedelta columns become
numbers."""

import datetime

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from small_network import small

from skmmoe import MMOEEstimator, _encoders
from skmmoe._encoders import PiecewiseLinearEncoder, QuantileBinner

# A network that learns a smooth function of one column in a fraction of a second.
SMOOTH = small(
    expert_dnn_hidden_units=(32,),
    gate_dnn_hidden_units=(),
    tower_dnn_hidden_units=(16,),
    epochs=20,
)


def test_piecewise_linear_encoding_by_hand():

    enc = PiecewiseLinearEncoder(n_bins=2).fit(np.array([[0.0], [1.0], [2.0]]))
    assert_allclose(enc.bin_edges_[0], [0.0, 1.0, 2.0])
    out = enc.transform(np.array([[-1.0], [0.5], [1.0], [1.5], [3.0]]))
    # component 0 is open below, component 1 open above
    assert_allclose(out, [[-1.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [1.0, 2.0]])
    assert list(enc.get_feature_names_out(["x"])) == ["x_ple0", "x_ple1"]
    constant = PiecewiseLinearEncoder(n_bins=4).fit(np.ones((5, 1)))
    assert_allclose(constant.transform(np.array([[1.0], [7.0]])), 0.0)


def test_quantile_binner_codes_and_missing():

    X = np.arange(100, dtype=float).reshape(-1, 1)
    binner = QuantileBinner(n_bins=4).fit(X)
    codes = binner.transform(
        np.array([[-5.0], [10.0], [60.0], [99.0], [500.0], [np.nan]])
    )
    assert_allclose(codes[:5, 0], [0, 0, 2, 3, 3])
    assert np.isnan(codes[5, 0])
    assert [len(c) for c in binner.categories_] == [4]


def test_a_point_mass_gets_a_bin_of_its_own_and_the_rest_keep_theirs():
    rng = np.random.default_rng(0)
    n = 10_000
    amounts = np.where(rng.random(n) < 0.9, 0.0, rng.lognormal(8.0, 1.0, n))
    edges = _encoders.bin_edges(amounts, 16)
    # Plain quantiles put 14 of 17 edges on the zero and leave 2 bins for the rest.
    assert len(np.unique(np.quantile(amounts, np.linspace(0, 1, 17)))) <= 4
    smallest_positive = amounts[amounts > 0].min()
    assert edges[0] == 0.0 and edges[1] == pytest.approx(smallest_positive / 2)
    assert len(edges) - 1 == 16
    codes = _encoders.QuantileBinner(n_bins=16).fit(amounts[:, None])
    codes = codes.transform(amounts[:, None])[:, 0]
    assert set(codes[amounts == 0]) == {0.0}
    assert 0.0 not in set(codes[amounts > 0])
    # The non-zero rows are spread evenly over the other 15 bins.
    counts = np.bincount(codes[amounts > 0].astype(int))[1:]
    assert len(counts) == 15 and counts.min() > 0.5 * counts.max()


def test_several_point_masses_each_get_a_bin():
    rng = np.random.default_rng(1)
    n = 6000
    hours = np.where(
        rng.random(n) < 0.5, 40.0, np.round(rng.uniform(1, 99, n))
    )  # 40 for half the rows
    hours[:1500] = 20.0  # a second point mass
    codes = _encoders.QuantileBinner(n_bins=8).fit(hours[:, None])
    codes = codes.transform(hours[:, None])[:, 0]
    for value in (20.0, 40.0):
        assert len(set(codes[hours == value])) == 1
        assert set(codes[hours == value]).isdisjoint(codes[hours != value])


def test_few_distinct_values_are_binned_value_by_value():
    column = np.array([3.0, 1.0, 2.0, 2.0, 7.0, np.nan, 1.0])
    # For embeddings: edges halfway between the values, one bin per value.
    assert_allclose(_encoders.bin_edges(column, 4), [1.0, 1.5, 2.5, 5.0, 7.0])
    binner = _encoders.QuantileBinner(n_bins=4).fit(column[:, None])
    values = np.array([[1.0], [2.0], [3.0], [7.0]])
    assert_allclose(binner.transform(values)[:, 0], [0, 1, 2, 3])
    # For the piecewise-linear encoding: edges on the values (thermometer codes).
    assert_allclose(_encoders.bin_edges(column, 4, at_values=True), [1, 2, 3, 7])
    observed = column[~np.isnan(column), None]
    ple = _encoders.PiecewiseLinearEncoder(n_bins=4).fit(observed)
    assert_allclose(
        ple.transform(values),
        [[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]],
    )
    # Once there are more values than bins, quantiles take over.
    many = np.arange(100.0)
    assert len(_encoders.bin_edges(many, 4)) == 5


def test_bin_edges_of_constant_and_empty_columns():
    assert_allclose(_encoders.bin_edges(np.full(5, 2.5), 4), [2.5])
    assert_allclose(_encoders.bin_edges(np.full(3, np.nan), 4), [0.0])


TIME_UNITS = ("s", "ms", "us", "ns")


def _instants(n: int = 600) -> pd.Series:
    times = pd.Series(pd.date_range("2024-03-01 12:00", periods=n, freq="s"))
    times[7] = pd.NaT
    return times


@pytest.mark.parametrize("unit", TIME_UNITS)
def test_datetimes_are_seconds_since_the_epoch_whatever_their_unit(unit):
    times = _instants().dt.as_unit(unit)
    seconds = _encoders.numbers_as_float(pd.DataFrame({"t": times}))[:, 0]
    expected = (_instants() - pd.Timestamp("1970-01-01")).dt.total_seconds()
    assert_array_equal(seconds, expected.to_numpy())
    assert np.isnan(seconds[7])  # NaT is missing, never the int64 minimum


@pytest.mark.parametrize(
    "convert",
    [
        lambda t: t.dt.tz_localize("UTC").dt.tz_convert("America/New_York"),
        lambda t: t.astype(pd.ArrowDtype(__import__("pyarrow").timestamp("ms"))),
        lambda t: t.dt.tz_localize("UTC").astype(
            pd.ArrowDtype(__import__("pyarrow").timestamp("us", tz="Asia/Tokyo"))
        ),
    ],
    ids=["tz-aware", "arrow", "arrow-tz"],
)
def test_tz_aware_and_arrow_datetimes_are_the_same_instants(convert):
    pytest.importorskip("pyarrow")
    plain = _encoders.numbers_as_float(pd.DataFrame({"t": _instants()}))
    other = _encoders.numbers_as_float(pd.DataFrame({"t": convert(_instants())}))
    assert_array_equal(other, plain)


def test_arrow_dates_are_seconds_at_midnight():
    pa = pytest.importorskip("pyarrow")
    days = [datetime.date(1969, 12, 31), None, datetime.date(2024, 2, 29)]
    expected = [-86400.0, np.nan, 1709164800.0]
    for kind in (pa.date32(), pa.date64()):
        column = pd.Series(days, dtype=pd.ArrowDtype(kind))
        seconds = _encoders.numbers_as_float(pd.DataFrame({"d": column}))[:, 0]
        assert_array_equal(seconds, expected)


def test_timedeltas_are_seconds():
    pa = pytest.importorskip("pyarrow")
    deltas = pd.Series(pd.to_timedelta([1.5, None, 86400.0], unit="s"))
    for column in (deltas, deltas.astype(pd.ArrowDtype(pa.duration("ms")))):
        seconds = _encoders.numbers_as_float(pd.DataFrame({"d": column}))[:, 0]
        assert_array_equal(seconds, [1.5, np.nan, 86400.0])


def test_a_datetime_column_predicts_at_one_second_resolution():
    """Ten minutes at one-second steps, the target a function of the time: the
    model learns it (float32 kept 5 distinct values and scored 0.08), and
    predicts the same whatever unit the column arrives in at predict time."""
    times = _instants().dt.as_unit("ns")
    y = np.sin(np.arange(len(times)) / 60.0)
    X = pd.DataFrame({"t": times})
    est = MMOEEstimator(**SMOOTH).fit(X[::2], y[::2])
    assert est.score(X[1::2], y[1::2]) > 0.9
    for unit in TIME_UNITS:
        other = pd.DataFrame({"t": times.dt.as_unit(unit)})
        assert_allclose(est.predict(other), est.predict(X), rtol=0, atol=1e-6)


# ------------------------------------------------------------- calendar parts
def test_calendar_parts_are_pandas_over_two_centuries():
    """Floor divisions only (the graph repeats them in ONNX), and right over
    leap years, centuries and the instants before 1970."""
    times = pd.Series(pd.date_range("1890-01-01", "2110-12-31 23:00", freq="37h"))
    seconds = (times - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()
    parts = _encoders.calendar_parts(seconds)
    assert_array_equal(parts["hour"], times.dt.hour)
    assert_array_equal(parts["weekday"], times.dt.day_of_week)
    assert_array_equal(parts["day"], times.dt.day)
    assert_array_equal(parts["month"], times.dt.month)
    assert all(
        np.isnan(v).all() for v in _encoders.calendar_parts(np.array([np.nan])).values()
    )


def test_the_calendar_encoder_adds_the_parts_that_vary():
    dates = pd.Series(pd.date_range("2024-01-01", periods=90, freq="D"))
    stamps = dates + pd.to_timedelta(np.arange(90) % 24, unit="h")
    X = pd.DataFrame({"day": dates, "stamp": stamps})
    X.loc[3, "stamp"] = pd.NaT
    encoder = _encoders.CalendarEncoder().fit(X)
    # Dates have no hour; one month's days would have no month.
    assert encoder.parts_ == [
        ["weekday", "day", "month"],
        list(_encoders.CALENDAR_PARTS),
    ]
    names = list(encoder.get_feature_names_out())
    assert names[:4] == ["day", "day_weekday", "day_day", "day_month"]
    assert names[4:] == [
        "stamp",
        "stamp_hour",
        "stamp_weekday",
        "stamp_day",
        "stamp_month",
    ]
    out = encoder.transform(X)
    assert out.shape == (90, 9)
    assert_array_equal(out[:, 5], X["stamp"].dt.hour.to_numpy(float, na_value=np.nan))
    assert np.isnan(out[3, 4:]).all()  # NaT: the seconds and every part missing


def test_a_datetime_column_learns_a_daily_rhythm_by_itself():
    """A target of the hour of the day over four months: the seconds alone spread
    each hour over many bins; the hour part learns it (R^2 0.37 without it, on
    the benchmark's daily profile)."""
    rng = np.random.default_rng(0)
    seconds = np.sort(rng.integers(0, 120 * 86_400, 3000))
    times = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"))
    y = np.sin(2 * np.pi * times.dt.hour / 24.0) + 0.1 * rng.normal(size=3000)
    X = pd.DataFrame({"t": times})
    est = MMOEEstimator(**SMOOTH).fit(X[:2000], y[:2000])
    assert est.score(X[2000:], y[2000:]) > 0.9
    assert {c.name for c in est.feature_columns_} >= {"t_hour", "t_hour_bin"}
