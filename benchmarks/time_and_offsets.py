"""Numbers with a large offset, and datetime columns: what skmmoe learns from them.

1. **Offsets.** One numeric column ``x`` (uniform on [0, 100]), a regression task
   ``sin(x / 10)`` and a binary task ``x mod 20 < 10``, each with noise; the same
   column given as ``x``, ``x + 1e9`` (a Unix timestamp's size) and ``x * 100 +
   1e11`` (an amount in cents). skmmoe and HistGradientBoosting per task; test R^2
   and ROC AUC.
2. **Datetimes.** A datetime column over 120 days at random seconds; a regression
   task of a trend, a daily profile (by hour) and a weekend effect, and a binary
   task of the daily profile alone. Given as the datetime column alone, and with
   the calendar parts a user would add (hour of the day, day of the week).
   skmmoe reads the datetime as seconds since the epoch; HistGradientBoosting
   (which takes no datetime) gets the same seconds.

Each setting is fitted with several seeds (data and model); the table gives the
median and the range.

    python benchmarks/time_and_offsets.py [--seeds 3] [--rows 20000]
    python benchmarks/time_and_offsets.py --smoke    # seconds: 1 seed, 1000 rows
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier as HGBClassifier
from sklearn.ensemble import HistGradientBoostingRegressor as HGBRegressor
from sklearn.metrics import r2_score, roc_auc_score

from skmmoe import MMOEEstimator
from skmmoe._encoders import numbers_as_float

SMOKE_PARAMS = dict(
    epochs=1, expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,)
)


def offsets_data(n: int, seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 100.0, n)
    Y = pd.DataFrame(
        {
            "smooth": np.sin(x / 10.0) + 0.1 * rng.normal(size=n),
            "periodic": (x % 20.0 < 10.0) ^ (rng.random(n) < 0.05),
        }
    )
    frames = {
        "x": pd.DataFrame({"x": x}),
        "x + 1e9": pd.DataFrame({"x": x + 1e9}),
        "cents + 1e11": pd.DataFrame({"x": x * 100.0 + 1e11}),
    }
    return frames, Y


def datetime_data(n: int, seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 120 * 86_400, n))
    t = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"))
    hour = t.dt.hour.to_numpy()
    weekend = (t.dt.day_of_week >= 5).to_numpy()
    daily = np.sin(2 * np.pi * (hour - 6) / 24.0)
    Y = pd.DataFrame(
        {
            "demand": seconds / 86_400 / 60.0
            + daily
            + 0.8 * weekend
            + 0.2 * rng.normal(size=n),
            "peak": (daily > 0.5) ^ (rng.random(n) < 0.05),
        }
    )
    frames = {
        "datetime": pd.DataFrame({"t": t}),
        "datetime + hour, weekday": pd.DataFrame(
            {"t": t, "hour": hour, "weekday": t.dt.day_of_week.astype(str)}
        ),
    }
    return frames, Y


def scores(Y_test: pd.DataFrame, predict) -> list[float]:
    out = []
    for task in Y_test.columns:
        if Y_test[task].dtype == bool:
            out.append(roc_auc_score(Y_test[task], predict(task, True)))
        else:
            out.append(r2_score(Y_test[task], predict(task, False)))
    return out


def fit_skmmoe(X_train, Y_train, X_test, Y_test, seed, params):
    model = MMOEEstimator(seed=seed, **params).fit(X_train, Y_train)
    proba = model.predict_proba(X_test)
    pred = model.predict(X_test)

    def predict(task, wants_proba):
        t = list(Y_train.columns).index(task)
        return proba[t][:, 1] if wants_proba else pred[:, t].astype(float)

    return scores(Y_test, predict)


def hgb_matrix(X: pd.DataFrame) -> pd.DataFrame:
    """HistGradientBoosting takes no datetime: the same seconds skmmoe reads, and
    string columns as categories."""
    out = {}
    for name, column in X.items():
        if column.dtype.kind == "M":
            out[name] = numbers_as_float(column.to_frame())[:, 0]
        elif column.dtype == object:
            out[name] = column.astype("category")
        else:
            out[name] = column
    return pd.DataFrame(out)


def fit_hgb(X_train, Y_train, X_test, Y_test, seed, params):
    A, B = hgb_matrix(X_train), hgb_matrix(X_test)
    cat = "from_dtype"

    def predict(task, wants_proba):
        y = Y_train[task]
        if wants_proba:
            m = HGBClassifier(random_state=seed, categorical_features=cat).fit(A, y)
            return m.predict_proba(B)[:, 1]
        return (
            HGBRegressor(random_state=seed, categorical_features=cat)
            .fit(A, y)
            .predict(B)
        )

    return scores(Y_test, predict)


def run(name, make_data, args, params) -> None:
    print(f"\n{name}: median (min-max) over {args.seeds} seed(s), {args.rows} rows")
    frames, Y = make_data(10, 0)
    tasks = list(Y.columns)
    print(
        f"{'input':<26}{'model':<10}" + "".join(f"{t:>24}" for t in tasks) + "  fit s"
    )
    for input_name in frames:
        for model_name, fit in (("skmmoe", fit_skmmoe), ("HGB", fit_hgb)):
            results, seconds = [], []
            for seed in range(args.seeds):
                frames, Y = make_data(args.rows, seed)
                X, cut = frames[input_name], int(0.75 * args.rows)
                order = np.random.default_rng(seed).permutation(args.rows)
                train, test = order[:cut], order[cut:]
                tic = time.perf_counter()
                results.append(
                    fit(
                        X.iloc[train],
                        Y.iloc[train],
                        X.iloc[test],
                        Y.iloc[test],
                        seed,
                        params,
                    )
                )
                seconds.append(time.perf_counter() - tic)
            values = np.asarray(results)
            cells = "".join(
                f"{np.median(v):>10.4f} ({v.min():.3f}-{v.max():.3f})" for v in values.T
            )
            print(f"{input_name:<26}{model_name:<10}{cells}  {np.median(seconds):.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    args = parser.parse_args(argv)
    params: dict = {}
    if args.smoke:
        args.seeds, args.rows, params = 1, 1000, SMOKE_PARAMS
    run("offsets (metric: R^2, ROC AUC)", offsets_data, args, params)
    run("datetimes (metric: R^2, ROC AUC)", datetime_data, args, params)


if __name__ == "__main__":
    main()
