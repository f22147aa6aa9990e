"""Fit time and memory as the data grows: 100k, 1M and 5M rows of census-like data.

Rows of the bundled census data are drawn with replacement (numeric columns jittered
by 1% so rows are not exact copies), as a DataFrame of category and float columns
like ``load_census_income()`` returns. Each size runs in a fresh process and fits
``MMOEEstimator(epochs=1)`` (default settings otherwise), recording:

- fit seconds, and seconds per million rows;
- peak RSS of the whole fit, and of the training phase alone (the peak is reset,
  through /proc/self/clear_refs, when training starts);
- memory per row held during training, (training peak - RSS before fit) / rows,
  and at the whole fit's peak (preprocessing included), as slopes between sizes,
  against the size of the encoded input tensors per row (int32 ids, float32 values
  and targets): the data the network trains on, held once.

    python benchmarks/scaling.py [--rows 100000 1000000 5000000]
    python benchmarks/scaling.py --smoke    # a few seconds: 500 and 1000 rows
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
from _child_process import report, run_child, status_kib

# --smoke: tiny data and network, so that the script runs in a few seconds (tests).
SMOKE = dict(rows=[500, 1000])
SMOKE_NETWORK = dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))
NAN = float("nan")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def census_like(n_rows: int, seed: int = 0):
    from skmmoe.datasets import load_census_income

    X, Y = load_census_income()
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(X), n_rows)
    X = X.iloc[rows].reset_index(drop=True)
    Y = Y.iloc[rows].reset_index(drop=True)
    for column in X.columns:
        if X[column].dtype == np.float64:
            noise = rng.normal(0.0, 0.01, n_rows).astype(np.float64)
            X[column] = X[column] * (1.0 + noise)
    return X, Y


def child(n_rows: int, smoke: bool = False) -> dict:

    import skmmoe._engine.training as _training
    from skmmoe import MMOEEstimator

    X, Y = census_like(n_rows)
    before_kib = status_kib("VmRSS")
    training = {}
    real_train = _training.train

    def train_and_measure(*args, **kwargs):
        training["preprocessing_peak_kib"] = status_kib("VmHWM")
        _reset_peak()
        training["start_kib"] = status_kib("VmRSS")
        result = real_train(*args, **kwargs)
        training["peak_kib"] = status_kib("VmHWM")
        return result

    _training.train = train_and_measure
    _reset_peak()
    tic = time.perf_counter()
    est = MMOEEstimator(epochs=1, **(SMOKE_NETWORK if smoke else {})).fit(X, Y)
    fit_s = time.perf_counter() - tic
    if not training:
        # The fit did not call skmmoe._engine.training.train through its module: the
        # training phase's memory went unmeasured.
        print(
            "warning: skmmoe._engine.training.train was not called; the training "
            "phase's memory is not measured",
            file=sys.stderr,
        )
        training = dict(preprocessing_peak_kib=NAN, start_kib=NAN, peak_kib=NAN)
    fit_peak_kib = max(status_kib("VmHWM"), training["preprocessing_peak_kib"])
    n_sparse = sum(c.kind == "sparse" for c in est.feature_columns_)
    n_dense = len(est.feature_columns_) - n_sparse
    encoded_bytes = n_sparse * 4 + n_dense * 4 + 2 * 4  # int32 ids, float32 values
    # and the two tasks' float32 targets
    held = (training["peak_kib"] - before_kib) * 1024 / n_rows
    return dict(
        rows=n_rows,
        fit_s=fit_s,
        s_per_million=fit_s / n_rows * 1e6,
        train_s=sum(h["seconds"] for h in est.history_),
        rss_before_mib=before_kib / 1024,
        fit_peak_mib=fit_peak_kib / 1024,
        preprocessing_peak_mib=training["preprocessing_peak_kib"] / 1024,
        train_peak_mib=training["peak_kib"] / 1024,
        held_bytes_per_row=held,
        encoded_bytes_per_row=encoded_bytes,
        held_over_encoded=held / encoded_bytes,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000]
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    parser.add_argument("--child", type=int)
    args = parser.parse_args(argv)
    if args.smoke:  # tiny sizes, unless given explicitly
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.child:
        report(child(args.child, args.smoke))
        return
    smoke = ["--smoke"] if args.smoke else []
    results = []
    for n_rows in args.rows:
        results.append(run_child(__file__, "--child", str(n_rows), *smoke))
        print(json.dumps(results[-1]), flush=True)
    table = pd.DataFrame(results).set_index("rows")
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.round(2))
    # Memory per row as the slope between sizes: fixed costs (torch, the network,
    # the optimizer) cancel out.
    rows = table.index.to_numpy()
    held = (table["train_peak_mib"] - table["rss_before_mib"]).to_numpy() * 2**20
    # The whole fit's peak above the RSS before it (which holds the DataFrame).
    fit_held = (table["fit_peak_mib"] - table["rss_before_mib"]).to_numpy() * 2**20
    fit_s = table["fit_s"].to_numpy()
    time_ratio = fit_s[1:] / fit_s[:-1]
    for i in range(1, len(rows)):
        extra = rows[i] - rows[i - 1]
        slope = (held[i] - held[i - 1]) / extra
        fit_slope = (fit_held[i] - fit_held[i - 1]) / extra
        encoded = table["encoded_bytes_per_row"].iloc[i]
        print(
            f"{rows[i - 1]:,} -> {rows[i]:,} rows: per extra row {slope:.0f} bytes "
            f"held during training ({slope / encoded:.2f}x the encoded input of "
            f"{encoded} bytes/row), {fit_slope:.0f} bytes at the fit's peak "
            f"({fit_slope / encoded:.2f}x); fit time x{time_ratio[i - 1]:.1f} for "
            f"x{rows[i] / rows[i - 1]:.0f} rows"
        )
    return table


if __name__ == "__main__":
    main()
