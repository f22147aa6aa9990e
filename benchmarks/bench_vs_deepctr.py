"""skmmoe against DeepCTR-Torch's MMOE on the census data, side by side.

Both systems train the same architecture (3 experts of (256, 128), gates (64,),
towers (64,), embeddings of 8) on the same 70/10/20 census split
(examples/census_income.py) with the same batch size, epochs and learning rate
(Adam, 1e-3), skmmoe with ``numeric_encoding="scaled"`` like DeepCTR's dense
inputs. Each run is a fresh process (so peak RSS is its own); runs alternate
A B A B so that machine drift cancels, and medians are reported.

Per run: training samples/s (DeepCTR with verbose=0; skmmoe's training loop, and
its whole fit including preprocessing), inference samples/s of the network at batch
256 and 4096 on encoded inputs (and skmmoe's end-to-end ``predict_proba`` on the
DataFrame), peak RSS, test ROC AUC per task. Then "time to quality": the wall time
of ``MMOEEstimator()`` with its default settings against DeepCTR's 5-epoch,
batch-256 fit, with both AUCs. And the share of the FLOP bound each run reaches:
right after training, in the same process, the run times every matrix product of a
training step at the model's shapes (forward and both backward products of each
layer) on this machine in fp32; their summed time is the bound.

Needs ``pip install -e ".[bench]"`` (deepctr-torch 0.3.0 and requests, which it
imports without declaring).

    python benchmarks/bench_vs_deepctr.py                     # full run
    python benchmarks/bench_vs_deepctr.py --rounds 1 --epochs 1 --batch-sizes 1024
    python benchmarks/bench_vs_deepctr.py --smoke    # a few seconds: 1000 rows,
                # 1 epoch, batch 256 (without deepctr-torch: skmmoe's side only)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from _child_process import report, run_child

ROOT = Path(__file__).resolve().parents[1]
ARCH = dict(
    num_experts=3,
    expert_dnn_hidden_units=(256, 128),
    gate_dnn_hidden_units=(64,),
    tower_dnn_hidden_units=(64,),
)
EMBEDDING_DIM = 8
LEARNING_RATE = 1e-3
# --smoke: tiny data, so that the script runs in a few seconds (tests).
SMOKE = dict(rounds=1, epochs=1, batch_sizes=[256])
SMOKE_ROWS = 1000


def _census(smoke: bool = False):
    sys.path.insert(0, str(ROOT / "examples"))
    from census_income import split_census

    from skmmoe.datasets import load_census_income

    X, Y = load_census_income()
    X_train, _, X_test, Y_train, _, Y_test = split_census(X, Y)
    if smoke:
        X_train, Y_train = X_train.iloc[:SMOKE_ROWS], Y_train.iloc[:SMOKE_ROWS]
        X_test, Y_test = X_test.iloc[:SMOKE_ROWS], Y_test.iloc[:SMOKE_ROWS]
    return X, X_train, X_test, Y_train, Y_test


def _deepctr_importable() -> bool:
    try:
        import deepctr_torch  # noqa: F401
    except ImportError:
        return False
    return True


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _auc(Y_test, p_income, p_marital):
    from sklearn.metrics import roc_auc_score

    return [
        roc_auc_score(Y_test["income"], p_income),
        roc_auc_score(Y_test["marital"], p_marital),
    ]


def _time_inference(predict, n, repeats=3):
    """Median samples/s of predict() over n rows."""
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        predict()
        times.append(time.perf_counter() - tic)
    return n / float(np.median(times))


def run_deepctr(batch_size: int, epochs: int, smoke: bool = False) -> dict:
    import torch
    from deepctr_torch.inputs import DenseFeat, SparseFeat, get_feature_names
    from deepctr_torch.models import MMOE
    from sklearn.preprocessing import LabelEncoder, MinMaxScaler

    X, X_train, X_test, Y_train, Y_test = _census(smoke)
    # DeepCTR's own recipe: label-encode every categorical column on all rows
    # (it cannot handle categories unseen in training), scale numbers to [0, 1].
    sparse = [c for c in X.columns if str(X[c].dtype) == "category"]
    dense = [c for c in X.columns if c not in sparse]
    data = X.copy()
    for c in sparse:
        data[c] = LabelEncoder().fit_transform(data[c].astype(str))
    data[dense] = MinMaxScaler().fit_transform(data[dense])
    columns = [
        SparseFeat(
            c, vocabulary_size=int(data[c].max()) + 1, embedding_dim=EMBEDDING_DIM
        )
        for c in sparse
    ] + [DenseFeat(c, 1) for c in dense]
    names = get_feature_names(columns)
    train = {n: data.loc[X_train.index, n].to_numpy() for n in names}
    test = {n: data.loc[X_test.index, n].to_numpy() for n in names}
    model = MMOE(
        columns,
        task_types=["binary", "binary"],
        task_names=["income", "marital"],
        device="cpu",
        **ARCH,
    )
    model.compile(
        torch.optim.Adam(model.parameters(), lr=LEARNING_RATE),
        loss=["binary_crossentropy", "binary_crossentropy"],
    )
    tic = time.perf_counter()
    model.fit(
        train, Y_train.to_numpy(), batch_size=batch_size, epochs=epochs, verbose=0
    )
    fit_s = time.perf_counter() - tic
    proba = model.predict(test, batch_size=4096)
    n = len(X_test)
    return dict(
        system="deepctr",
        batch_size=batch_size,
        epochs=epochs,
        fit_s=fit_s,
        train_samples_s=len(X_train) * epochs / fit_s,
        infer_256_samples_s=_time_inference(lambda: model.predict(test, 256), n),
        infer_4096_samples_s=_time_inference(lambda: model.predict(test, 4096), n),
        auc=_auc(Y_test, proba[:, 0], proba[:, 1]),
        peak_rss_mib=_peak_rss_mib(),
    )


def run_skmmoe(
    batch_size: int, epochs, defaults: bool = False, smoke: bool = False
) -> dict:
    import torch

    # skmmoe's training does not import torch._dynamo (torch.optim's optimizers do,
    # about 2 s and 70 MiB once per process; DeepCTR pays that in compile(), before
    # its timed fit), so nothing is paid for it here.
    from skmmoe import MMOEEstimator
    from skmmoe._engine.network import predict_logits

    _, X_train, X_test, Y_train, Y_test = _census(smoke)
    if defaults:
        # --smoke: one epoch instead of epochs="auto" (at least 250 steps).
        est = MMOEEstimator(**({"epochs": 1} if smoke else {}))
    else:
        est = MMOEEstimator(
            **ARCH,
            embedding_dim=EMBEDDING_DIM,
            batch_size=batch_size,
            epochs=epochs,
            learning_rate=LEARNING_RATE,
            lr_schedule="constant",  # as DeepCTR-Torch trains
            numeric_encoding="scaled",
        )
    tic = time.perf_counter()
    est.fit(X_train, Y_train)
    fit_s = time.perf_counter() - tic
    train_s = sum(h["seconds"] for h in est.history_)
    proba = est.predict_proba(X_test)
    sparse, dense, _ = est._encoder.transform(X_test)
    sparse, dense = torch.from_numpy(sparse), torch.from_numpy(dense)
    n = len(X_test)

    def network(block):
        return lambda: predict_logits(est.network_, sparse, dense, block=block)

    return dict(
        system="skmmoe-defaults" if defaults else "skmmoe",
        batch_size=est.batch_size,
        epochs=est.n_epochs_,
        fit_s=fit_s,
        train_s=train_s,
        train_samples_s=len(X_train) * est.n_epochs_ / train_s,
        fit_samples_s=len(X_train) * est.n_epochs_ / fit_s,
        infer_256_samples_s=_time_inference(network(256), n),
        infer_4096_samples_s=_time_inference(network(4096), n),
        predict_proba_samples_s=_time_inference(lambda: est.predict_proba(X_test), n),
        auc=_auc(Y_test, proba[0][:, 1], proba[1][:, 1]),
        peak_rss_mib=_peak_rss_mib(),
    )


def _gemm_shapes(batch: int, n_sparse=32, n_dense=7) -> list[tuple[int, int, int, int]]:
    """The network's matrix products per forward pass, as (m, k, n, count): an
    (m x k) @ (k x n) product, count times (both systems compute these)."""
    d = n_sparse * EMBEDDING_DIM + n_dense
    e, (h1, h2), (g,), (t,) = (
        ARCH["num_experts"],
        ARCH["expert_dnn_hidden_units"],
        ARCH["gate_dnn_hidden_units"],
        ARCH["tower_dnn_hidden_units"],
    )
    tasks = 2
    return [
        (batch, d, e * h1, 1),  # the experts' first layers
        (batch, d, g, tasks),  # the gates' first layers
        (batch, h1, h2, e),  # the experts' second layers
        (batch, g, e, tasks),  # the gates' outputs
        (batch, h2, t, tasks),  # the towers
        (batch, t, 1, tasks),  # the output units
    ]


def forward_flop_per_sample() -> float:
    """Multiply-adds of one forward pass, times 2: the matrix products and the
    mixture of the experts' outputs by each gate."""
    macs = sum(k * n * count for _, k, n, count in _gemm_shapes(1))
    macs += 2 * ARCH["num_experts"] * ARCH["expert_dnn_hidden_units"][-1]  # mixture
    return 2.0 * macs


def training_flop_bound(batch: int, repeats: int = 15) -> dict:
    """This machine's fp32 matrix-product speed at the model's training shapes.

    Times every product a training step computes, in isolation: per layer the
    forward X @ W, and the backward dY @ W.T (input gradient) and X.T @ dY (weight
    gradient), each at its own shapes, interleaved over ``repeats`` rounds; the
    median time per product, summed with their counts, is the least time a step
    can take at this machine's fp32 matmul speed. Returns that speed (FLOP/s) and
    the training samples/s it allows.
    """
    import torch

    products = []
    for m, k, n, count in _gemm_shapes(batch):
        x, w, dy = torch.randn(m, k), torch.randn(k, n), torch.randn(m, n)
        products += [
            (lambda x=x, w=w: x @ w, count),
            (lambda dy=dy, w=w: dy @ w.T, count),
            (lambda x=x, dy=dy: x.T @ dy, count),
        ]
    times = [[] for _ in products]
    for r in range(repeats + 2):
        for i, (product, _) in enumerate(products):
            tic = time.perf_counter()
            product()
            if r >= 2:  # two warm-up rounds
                times[i].append(time.perf_counter() - tic)
    step_s = sum(count * float(np.median(t)) for (_, count), t in zip(products, times))
    flop = 3 * sum(2.0 * m * k * n * count for m, k, n, count in _gemm_shapes(batch))
    return dict(
        bound_flop_s=flop / step_s,
        bound_samples_s=batch / step_s,
    )


def _with_flop_share(result: dict, batch: int) -> dict:
    """Measures the FLOP bound right after the run, in its own process, so that
    both share the machine's state at that time."""
    bound = training_flop_bound(batch)
    result.update(bound)
    result["flop_share"] = result["train_samples_s"] / bound["bound_samples_s"]
    return result


def _child(args) -> None:
    if args.system == "deepctr":
        result = run_deepctr(args.batch_size, args.epochs, args.smoke)
    else:
        defaults = args.system == "defaults"
        result = run_skmmoe(args.batch_size, args.epochs, defaults, args.smoke)
    report(_with_flop_share(result, result["batch_size"]))


def _spawn(system: str, batch_size: int, epochs: int, smoke: bool = False) -> dict:
    arguments = ["--child", system, "--batch-size", str(batch_size)]
    arguments += ["--epochs", str(epochs), *(["--smoke"] if smoke else [])]
    return run_child(__file__, *arguments, cwd=ROOT)


def _print_skmmoe_only(results, batch_sizes) -> None:
    """The summary without DeepCTR-Torch (a smoke run where it is not installed):
    skmmoe's figures alone."""

    def median(system, key, bs=None):
        values = [
            r[key]
            for r in results
            if r["system"] == system and (bs is None or r["batch_size"] == bs)
        ]
        return np.median(np.asarray(values, dtype=float), axis=0)

    print(f"\nforward {forward_flop_per_sample() / 1e6:.3f} MFLOP/sample")
    print(f"\n{'':28}{'skmmoe':>12}")
    for key, label in [
        ("infer_256_samples_s", "infer samples/s @256"),
        ("infer_4096_samples_s", "infer samples/s @4096"),
        ("predict_proba_samples_s", "predict_proba samples/s"),
    ]:
        print(f"{label:<28}{median('skmmoe', key):>12,.0f}")
    for bs in batch_sizes:
        print(f"training at batch {bs}:")
        for key, label in [
            ("train_samples_s", f"train samples/s @{bs}"),
            ("fit_samples_s", "whole fit samples/s"),
            ("peak_rss_mib", "peak RSS MiB"),
            ("bound_samples_s", "FLOP bound samples/s"),
        ]:
            print(f"{label:<28}{median('skmmoe', key, bs):>12,.0f}")
        for t, task in enumerate(["income", "marital"]):
            auc = median("skmmoe", "auc", bs)[t]
            print(f"{task + ' AUC @' + str(bs):<28}{auc:>12.4f}")
        share = median("skmmoe", "flop_share", bs)
        print(f"{'share of FLOP bound':<28}{share:>12.0%}")
    fit_s, auc = median("skmmoe-defaults", "fit_s"), median("skmmoe-defaults", "auc")
    print(
        f"\nMMOEEstimator() defaults: {fit_s:.1f} s (whole fit, preprocessing "
        f"included), AUC {auc[0]:.4f}/{auc[1]:.4f}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--child", choices=["deepctr", "skmmoe", "defaults"])
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--output", default=None, help="also write results as JSON")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run (tests); without deepctr-torch, skmmoe's side only",
    )
    args = parser.parse_args(argv)
    if args.smoke:  # tiny sizes, unless given explicitly
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if args.child:
        args.system = args.child
        return _child(args)

    systems = ("deepctr", "skmmoe")
    if args.smoke and not _deepctr_importable():
        systems = ("skmmoe",)
        print(
            "deepctr_torch is not importable: the DeepCTR side was skipped "
            "(smoke run of skmmoe's side only)",
            flush=True,
        )
    results = []
    for _ in range(args.rounds):
        for bs in args.batch_sizes:
            for system in systems:  # A B A B ...
                results.append(_spawn(system, bs, args.epochs, args.smoke))
                print(json.dumps(results[-1]), flush=True)
        results.append(_spawn("defaults", 0, 0, args.smoke))
        print(json.dumps(results[-1]), flush=True)

    if "deepctr" not in systems:
        _print_skmmoe_only(results, args.batch_sizes)
        if args.output:
            Path(args.output).write_text(json.dumps(results, indent=1))
        return results

    def median(system, key, bs=None):
        values = [
            r[key] if not isinstance(r[key], list) else r[key]
            for r in results
            if r["system"] == system and (bs is None or r["batch_size"] == bs)
        ]
        return np.median(np.asarray(values, dtype=float), axis=0)

    print(
        f"\nforward {forward_flop_per_sample() / 1e6:.3f} MFLOP/sample, training "
        "three times that; each run measured the machine's fp32 matmul speed at the "
        "model's training shapes right after training (the FLOP bound)"
    )

    def spread(system, key, bs):
        values = [
            r[key] for r in results if r["system"] == system and r["batch_size"] == bs
        ]
        return min(values), max(values)

    print(f"\n{'':24}{'DeepCTR-Torch':>16}{'skmmoe':>12}{'ratio':>8}")
    print("inference, the network alone on encoded inputs (all runs pooled):")
    for key, label in [
        ("infer_256_samples_s", "infer samples/s @256"),
        ("infer_4096_samples_s", "infer samples/s @4096"),
    ]:
        a, b = median("deepctr", key), median("skmmoe", key)
        print(f"{label:<24}{a:>16,.0f}{b:>12,.0f}{b / a:>8.2f}")
    for bs in args.batch_sizes:
        print(f"training at batch {bs}:")
        for key, label in [
            ("train_samples_s", f"train samples/s @{bs}"),
            ("peak_rss_mib", "peak RSS MiB"),
            ("bound_samples_s", "FLOP bound samples/s"),
        ]:
            a, b = median("deepctr", key, bs), median("skmmoe", key, bs)
            print(f"{label:<24}{a:>16,.0f}{b:>12,.0f}{b / a:>8.2f}")
        for t, task in enumerate(["income", "marital"]):
            a, b = median("deepctr", "auc", bs)[t], median("skmmoe", "auc", bs)[t]
            print(f"{task + ' AUC @' + str(bs):<24}{a:>16.4f}{b:>12.4f}{b - a:>+8.4f}")
        gflop_a = median("deepctr", "bound_flop_s", bs) / 1e9
        gflop_b = median("skmmoe", "bound_flop_s", bs) / 1e9
        print(f"{'FLOP bound GFLOP/s':<24}{gflop_a:>16.1f}{gflop_b:>12.1f}")
        frac_a = median("deepctr", "flop_share", bs)
        frac_b = median("skmmoe", "flop_share", bs)
        print(f"{'share of FLOP bound':<24}{frac_a:>16.0%}{frac_b:>12.0%}")
        lo_a, hi_a = spread("deepctr", "flop_share", bs)
        lo_b, hi_b = spread("skmmoe", "flop_share", bs)
        range_a, range_b = f"{lo_a:.0%}-{hi_a:.0%}", f"{lo_b:.0%}-{hi_b:.0%}"
        print(f"{'  (min-max over runs)':<24}{range_a:>16}{range_b:>12}")
        fit_b = median("skmmoe", "fit_samples_s", bs)
        print(f"{'skmmoe whole fit samples/s':<28}{fit_b:>24,.0f}")

    if 256 in args.batch_sizes:
        ref_s = median("deepctr", "fit_s", 256)
        ref_auc = median("deepctr", "auc", 256)
        ours_s = median("skmmoe-defaults", "fit_s")
        ours_auc = median("skmmoe-defaults", "auc")
        print(
            f"\ntime to quality: DeepCTR-Torch {args.epochs} epochs at batch 256: "
            f"{ref_s:.1f} s, AUC {ref_auc[0]:.4f}/{ref_auc[1]:.4f}; "
            f"MMOEEstimator() defaults: {ours_s:.1f} s (whole fit, preprocessing "
            f"included), AUC {ours_auc[0]:.4f}/{ours_auc[1]:.4f}; "
            f"time ratio {ours_s / ref_s:.2f}"
        )
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
