"""Scaling out with dask: a local cluster's start-up, and the out-of-core fit's
peak memory and quality against an in-memory fit.

1. Start-up: seconds from nothing to a ``Client`` on a ``LocalCluster`` of 2
   worker processes with 1 thread each, its workers ready (in a fresh process per
   round, torch not imported; closing is not counted); the median of ``--rounds``.
2. Memory: census-like rows (``scaling.census_like``: the bundled census data
   drawn with replacement, numeric columns jittered by 1%) written as
   ``--partitions`` parquet files. In one fresh process, ``MMOEEstimator`` fits
   the whole table read into pandas (``epochs=--passes``); in another,
   ``skmmoe.dask.fit`` fits the same files read by ``dask.dataframe.read_parquet``
   (``passes=--passes``, dask's synchronous scheduler, so the reads are counted in
   that process's memory: with a cluster they would happen in the workers). Each
   reports its peak RSS (VmHWM) over the whole run (imports and reading
   included), its RSS after imports, fit seconds, and both tasks' ROC AUC on
   held-out rows.

    python benchmarks/dask_scaling.py [--rows 400000 --partitions 16 --passes 2]
    python benchmarks/dask_scaling.py --smoke    # 4,000 rows, 4 partitions
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _child_process import report, run_child, status_kib

SMOKE = dict(rows=4000, partitions=4, passes=1, rounds=1, test_rows=1000)
SMOKE_NETWORK = dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))


def startup_child() -> dict:
    tic = time.perf_counter()
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=50,
    )
    client = Client(cluster)
    client.wait_for_workers(2)
    seconds = time.perf_counter() - tic
    client.close()
    cluster.close()
    return dict(startup_s=seconds)


def write_data(folder: Path, n_rows: int, n_partitions: int, n_test: int) -> None:
    from scaling import census_like

    X, Y = census_like(n_rows + n_test, seed=0)
    Y = Y.astype(str)
    table = X.assign(**{f"y_{c}": Y[c] for c in Y.columns})
    table.iloc[n_rows:].to_parquet(folder / "test.parquet")
    train = folder / "train"
    train.mkdir()
    bounds = np.linspace(0, n_rows, n_partitions + 1).astype(int)
    for i in range(n_partitions):
        part = table.iloc[bounds[i] : bounds[i + 1]]
        part.to_parquet(train / f"part-{i:03d}.parquet")


def _split(table):
    targets = [c for c in table.columns if c.startswith("y_")]
    return table.drop(columns=targets), table[targets]


def fit_child(folder: str, how: str, passes: int, smoke: bool) -> dict:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from skmmoe import MMOEEstimator

    network = SMOKE_NETWORK if smoke else {}
    if how == "dask":
        import dask
        import dask.dataframe as dd

        import skmmoe.dask
    imported_kib = status_kib("VmRSS")
    tic = time.perf_counter()
    if how == "dask":
        table = dd.read_parquet(str(Path(folder) / "train"))
        X, Y = _split(table)
        with dask.config.set(scheduler="synchronous"):
            est = skmmoe.dask.fit(MMOEEstimator(**network), X, Y, passes=passes)
    else:
        X, Y = _split(pd.read_parquet(Path(folder) / "train"))
        est = MMOEEstimator(epochs=passes, **network).fit(X, Y)
    fit_s = time.perf_counter() - tic
    X_test, Y_test = _split(pd.read_parquet(Path(folder) / "test.parquet"))
    peak_kib = status_kib("VmHWM")
    proba = est.predict_proba(X_test)
    aucs = [
        roc_auc_score(Y_test.iloc[:, t] == est.classes_[t][1], proba[t][:, 1])
        for t in range(len(proba))
    ]
    return dict(
        how=how,
        fit_s=fit_s,
        peak_mib=peak_kib / 1024,
        after_imports_mib=imported_kib / 1024,
        auc=aucs,
        epochs=est.n_epochs_,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--test-rows", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    parser.add_argument("--child", choices=["startup", "memory", "dask"])
    parser.add_argument("--folder")
    args = parser.parse_args(argv)
    if args.smoke:
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.child == "startup":
        report(startup_child())
        return
    if args.child:
        report(fit_child(args.folder, args.child, args.passes, args.smoke))
        return
    smoke = ["--smoke"] if args.smoke else []

    startups = [
        run_child(__file__, "--child", "startup")["startup_s"]
        for _ in range(args.rounds)
    ]
    print(
        f"LocalCluster (2 processes x 1 thread) start-up: median "
        f"{statistics.median(startups):.2f} s over {args.rounds} rounds "
        f"({', '.join(f'{s:.2f}' for s in startups)})"
    )
    with tempfile.TemporaryDirectory() as folder:
        write_data(Path(folder), args.rows, args.partitions, args.test_rows)
        results = {}
        for how in ("memory", "dask"):
            results[how] = run_child(
                __file__,
                "--child",
                how,
                "--folder",
                folder,
                "--passes",
                str(args.passes),
                *smoke,
            )
            print(json.dumps(results[how]), flush=True)
    rows_per_partition = args.rows // args.partitions
    print(
        f"{args.rows:,} rows in {args.partitions} partitions of "
        f"{rows_per_partition:,} rows, {args.passes} passes/epochs:"
    )
    for how, label in (("memory", "in memory"), ("dask", "skmmoe.dask")):
        r = results[how]
        print(
            f"  {label:<12} peak RSS {r['peak_mib']:8.1f} MiB "
            f"(above imports {r['peak_mib'] - r['after_imports_mib']:7.1f} MiB)  "
            f"fit {r['fit_s']:7.1f} s  AUC " + "/".join(f"{a:.4f}" for a in r["auc"])
        )
    above = {h: r["peak_mib"] - r["after_imports_mib"] for h, r in results.items()}
    print(
        f"peak above imports: skmmoe.dask / in memory = "
        f"{above['dask'] / above['memory']:.2f}; fit time ratio "
        f"{results['dask']['fit_s'] / results['memory']['fit_s']:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
