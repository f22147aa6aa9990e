"""Serving with ONNX: latency at batch 1 and throughput at batch 64 and 4096 of
onnxruntime running ``skmmoe.to_onnx``'s graph against ``predict_proba``, with 1
and 2 threads, on census.

The model: MMOEEstimator with its default network and features, fitted for one
epoch on census' training split (speed of inference does not depend on how well it
is trained). Rows come from the test split. Three ways to predict:

- ``predict_proba``: the estimator, from the DataFrame rows (torch threads set).
- ``onnxruntime``: ``session.run`` on a feed made beforehand, as a service that
  receives each column's values does (intra-op threads set, graph optimisations
  on, the default).
- ``onnx_inputs+ort``: ``skmmoe.onnx_inputs`` from the DataFrame rows, then
  ``session.run``.

Each measurement is the median of ``--repeats`` timed calls (at least 0.2 s of
calls for batch 1), after warm-up; the rounds alternate the three (A B C A B C) and
the summary gives medians over rounds.

    python benchmarks/onnx_serving.py [--rounds 3] [--repeats 30]
    python benchmarks/onnx_serving.py --smoke     # seconds: 2000 rows, tiny net
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 64, 4096)
THREADS = (1, 2)
SMOKE = dict(rounds=1, repeats=3)
SMOKE_ROWS = 2000
SMOKE_NETWORK = dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))


def _median_seconds(call, repeats: int, min_seconds: float) -> float:
    call()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_seconds:
        tic = time.perf_counter()
        call()
        times.append(time.perf_counter() - tic)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    args = parser.parse_args(argv)
    if args.smoke:
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)

    import onnxruntime as ort
    import torch

    sys.path.insert(0, str(ROOT / "examples"))
    from census_income import split_census

    from skmmoe import MMOEEstimator, onnx_inputs, to_onnx
    from skmmoe.datasets import load_census_income

    X, Y = load_census_income()
    X_train, _, X_test, Y_train, _, _ = split_census(X, Y)
    network = {}
    if args.smoke:
        X_train, Y_train = X_train.iloc[:SMOKE_ROWS], Y_train.iloc[:SMOKE_ROWS]
        network = SMOKE_NETWORK
    est = MMOEEstimator(epochs=1, **network).fit(X_train, Y_train)
    model = to_onnx(est).SerializeToString()
    rows = {b: X_test.iloc[:b] for b in BATCHES}
    feeds = {b: onnx_inputs(est, rows[b]) for b in BATCHES}
    min_seconds = 0.0 if args.smoke else 0.2

    sessions = {}
    for threads in THREADS:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        sessions[threads] = ort.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )

    # Parity on the 4096 rows first: a benchmark of a wrong graph is worthless.
    got = sessions[1].run(None, feeds[4096])
    expected = est.predict_proba(rows[4096])
    for t in range(2):
        assert np.abs(got[2 * t + 1] - expected[t]).max() < 1e-5

    ways = {
        "predict_proba": lambda b, s: est.predict_proba(rows[b]),
        "onnxruntime": lambda b, s: s.run(None, feeds[b]),
        "onnx_inputs+ort": lambda b, s: s.run(None, onnx_inputs(est, rows[b])),
    }
    results = []
    for round_ in range(args.rounds):
        for threads in THREADS:
            torch.set_num_threads(threads)
            for batch in BATCHES:
                for way, call in ways.items():
                    seconds = _median_seconds(
                        lambda: call(batch, sessions[threads]),  # noqa: B023
                        args.repeats if batch < 4096 else max(args.repeats // 3, 3),
                        min_seconds if batch == 1 else 0.0,
                    )
                    result = dict(
                        round=round_,
                        threads=threads,
                        batch=batch,
                        way=way,
                        ms=seconds * 1e3,
                        rows_s=batch / seconds,
                    )
                    results.append(result)
                    print(json.dumps(result), flush=True)

    print(f"{'threads':>7} {'batch':>5} " + "".join(f"{w:>22}" for w in ways))
    for threads in THREADS:
        for batch in BATCHES:
            cells = []
            for way in ways:
                runs = [
                    r
                    for r in results
                    if (r["threads"], r["batch"], r["way"]) == (threads, batch, way)
                ]
                ms = float(np.median([r["ms"] for r in runs]))
                rate = float(np.median([r["rows_s"] for r in runs]))
                cells.append(f"{ms:>9.3f} ms {rate:>9,.0f}/s")
            print(f"{threads:>7} {batch:>5} " + "".join(f"{c:>22}" for c in cells))
    return results


if __name__ == "__main__":
    main()
