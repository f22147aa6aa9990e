"""Recommendation-scale inputs (issue 28): skmmoe against DeepCTR-Torch's MMOE on
list-valued columns, and the cost of a growing ID vocabulary.

Data: ``skmmoe.datasets.make_recsys_multitask`` (``list_format="arrow"``), whose
ground truth puts signal in the list columns (``recent_items`` carries the
session interest, ``item_genres`` what a rare item's ID cannot tell). Tasks:
``click`` (binary), ``conversion`` (binary, observed only where click == 1) and
``watch_time`` (regression).

Part 1, ``--part deepctr``: both systems on the same generated rows and the same
train/test split, the same architecture (3 experts of (256, 128), gates (64,),
towers (64,)), embeddings of 8, Adam at a constant 1e-3, the same epochs and batch
sizes. DeepCTR-Torch gets ``SparseFeat`` user_id, item_id, device, hour;
``DenseFeat`` price (min-max scaled); ``VarLenSparseFeat`` item_genres and
recent_items, padded with 0 to their longest possible list (3 and
``max_recent``), ``combiner="mean"`` (masked mean: padding is not counted),
recent_items sharing item_id's table through ``embedding_name="item_id"``; IDs
label-encoded from 1 over all rows (0 is DeepCTR's padding). That preprocessing
runs outside DeepCTR's timed fit and is reported on its own. skmmoe gets the
DataFrame as generated, with ``categorical_features`` user_id, item_id, device,
hour (hour is an ID for both), ``shared_embeddings={"recent_items": "item_id"}``,
``numeric_encoding="scaled"`` (price as one scaled input, as DeepCTR's dense
feature), ``lr_schedule="constant"``; its timed fit includes its own encoding.

Missing conversion labels. DeepCTR-Torch's MMOE needs a label for every task on
every row and has no sample weights or masks. The honest option its API allows is
the CTCVR label: conversion = 1 where clicked and converted, 0 elsewhere (unclicked
rows included), so its conversion head learns P(click and convert). skmmoe gets
the missing labels as missing (``pd.NA``), which masks those rows out of the
conversion loss, so its head learns P(convert | click). Both are evaluated on what
the task asks, conversion given a click: ROC AUC over the clicked test rows. For
DeepCTR two scores are reported: its conversion head as is, and the ESMM-style
ratio P(click and convert) / P(click) of its two heads, an estimate of
P(convert | click); the comparison takes the better of the two. watch_time:
skmmoe standardises regression targets itself; DeepCTR gets the target
standardised with the training rows' mean and standard deviation (part of its
reported preprocessing) and its predictions are mapped back; R^2 on the test rows
in seconds for both.

Reported per run (each a fresh process, runs alternating DeepCTR, skmmoe, skmmoe
without the list columns): training samples/s of the whole fit (rows x epochs /
fit wall time; skmmoe's encoding included) and per epoch (DeepCTR: its epochs'
time from its callbacks; skmmoe: ``history_`` seconds), click AUC, conversion AUC
on clicked rows, watch_time R^2, peak RSS of the process and peak RSS during the
fit (the peak is reset with /proc/self/clear_refs right before the fit, so the
data already resident is included but not the generation's transient peak).
The truth's Bayes figures: AUC and R^2 of the true probabilities/expectations,
and the click AUC of the best model without ``recent_items`` (the true logit less
its session term).

Round r (``--rounds``, 3 by default) generates its own data and seeds every model
with r: throughputs are medians over the rounds, and accuracy differences are
paired within each data set and reported per seed and as their median.

Once per round, ``MMOEEstimator`` at its own defaults (with the same
``categorical_features`` and ``shared_embeddings``), with and without the list
columns (``--no-defaults`` skips these).

Part 2, ``--part sweep``: user_id with 1k, 100k, 1M and 10M possible values
(``n_users``), 1M training rows, one epoch, ``MMOEEstimator(epochs=1)`` otherwise
at its defaults. Per run: fit rows/s, predict_proba rows/s on 100k held-out rows
(the first call, and the median of 3 after a warm-up), peak RSS during the fit,
and the embedding tables' rows and bytes (tables plus Adam's two moments, 3 x
the table's float32s). Ratios against the 1k run.

Needs deepctr-torch 0.3.0 for part 1 (``pip install -e ".[bench]"``).

    python benchmarks/recsys.py --part deepctr        # 100k/25k rows, 4 epochs, 3 seeds
    python benchmarks/recsys.py --part sweep          # 1M rows, 1k..10M user IDs
    python benchmarks/recsys.py --part sweep --n-users 10000000 --rows 5000000
    python benchmarks/recsys.py --smoke               # seconds: tiny data, both parts
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _child_process import report, run_child, status_kib

ROOT = Path(__file__).resolve().parents[1]
ARCH = dict(
    num_experts=3,
    expert_dnn_hidden_units=(256, 128),
    gate_dnn_hidden_units=(64,),
    tower_dnn_hidden_units=(64,),
)
EMBEDDING_DIM = 8
LEARNING_RATE = 1e-3
SEED = 0
ID_COLUMNS = ["user_id", "item_id", "device", "hour"]
LIST_COLUMNS = ["item_genres", "recent_items"]
MAX_GENRES = 3  # make_recsys_multitask gives each item 1 to 3 genres
# 100,000 training rows of 1,000 users and 500 items: about 100 rows per user,
# where the models learn a part of the truth (click AUC about 0.68 of 0.82). With
# 10,000 users and 2,000 items (10 rows per user) every system stays near 0.65
# and the accuracy comparison measures noise (BENCHMARKS.md has both).
FULL = dict(
    rows=125_000,
    test_rows=25_000,
    n_users=1_000,
    n_items=500,
    max_recent=10,
    epochs=4,
    batch_sizes=[256, 1024],
    rounds=3,
    sweep_rows=1_000_000,
    sweep_users=[1_000, 100_000, 1_000_000, 10_000_000],
    predict_rows=100_000,
)
SMOKE = dict(
    rows=2_000,
    test_rows=500,
    n_users=300,
    n_items=100,
    max_recent=5,
    epochs=1,
    batch_sizes=[256],
    rounds=1,
    sweep_rows=2_000,
    sweep_users=[100, 10_000],
    predict_rows=500,
)


def _mib(kib: int) -> float:
    return kib / 1024.0


def _reset_peak_rss() -> None:
    """Start VmHWM afresh at the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _data(args, n_users=None, rows=None, test_rows=None):
    from skmmoe.datasets import make_recsys_multitask

    rows = rows or args.rows
    test_rows = args.test_rows if test_rows is None else test_rows
    X, Y, truth = make_recsys_multitask(
        rows,
        n_users=n_users or args.n_users,
        n_items=args.n_items,
        max_recent=args.max_recent,
        list_format="arrow",
        return_truth=True,
        random_state=args.seed,
    )
    n_train = rows - test_rows
    return (
        X.iloc[:n_train],
        X.iloc[n_train:],
        Y.iloc[:n_train],
        Y.iloc[n_train:],
        truth.iloc[n_train:],
    )


def _scores(Y_test, p_click, p_conversion, watch_time) -> dict:
    from sklearn.metrics import r2_score, roc_auc_score

    clicked = Y_test["click"].to_numpy() == 1
    conversion = Y_test["conversion"].to_numpy()[clicked].astype(int)
    return dict(
        click_auc=roc_auc_score(Y_test["click"], p_click),
        conversion_auc=roc_auc_score(conversion, np.asarray(p_conversion)[clicked]),
        watch_time_r2=r2_score(Y_test["watch_time"], watch_time),
    )


def bayes(args) -> dict:
    """The truth's scores on the test rows, and the click AUC of the best
    prediction that does not see recent_items."""
    from scipy.special import expit, logit
    from sklearn.metrics import roc_auc_score

    *_, Y_test, truth = _data(args)
    result = _scores(Y_test, truth["click"], truth["conversion"], truth["watch_time"])
    without = expit(logit(truth["click"]) - truth["click_session"])
    result["click_auc_without_recent"] = roc_auc_score(Y_test["click"], without)
    return dict(system="bayes", **result)


def _padded(column, maxlen: int, codes) -> np.ndarray:
    """A list column (Arrow) as an (n, maxlen) int array of ``codes(values)``,
    padded with 0 (missing lists as empty ones)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.chunked_array(column.array._pa_array).combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy()
    values = codes(array.flatten().to_numpy(zero_copy_only=False))
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.arange(len(values)) - starts
    out = np.zeros((len(array), maxlen), dtype=np.int64)
    out[np.repeat(np.arange(len(array)), lengths), position] = values
    return out


def _deepctr_inputs(args, X_train, X_test, Y_train):
    """DeepCTR's recipe: label-encode IDs from 1 over all rows (it cannot handle
    IDs unseen in training; 0 is its padding), scale price to [0, 1], pad the
    lists; CTCVR conversion labels; a standardised watch_time."""
    import pandas as pd
    from deepctr_torch.inputs import DenseFeat, SparseFeat, VarLenSparseFeat

    X = pd.concat([X_train, X_test])
    data = {}
    vocab = {}
    for c in ["user_id", "device", "hour"]:
        codes, uniques = pd.factorize(X[c])
        data[c] = codes + 1
        vocab[c] = len(uniques) + 1
    # item_id and recent_items share one encoding (one table).
    recent = pd.concat([X[c] for c in ["recent_items"]]).array._pa_array
    import pyarrow as pa

    recent_values = pa.chunked_array(recent).combine_chunks().flatten().to_numpy()
    items = np.unique(np.concatenate([X["item_id"].astype(np.int64), recent_values]))
    data["item_id"] = np.searchsorted(items, X["item_id"].astype(np.int64)) + 1
    data["recent_items"] = _padded(
        X["recent_items"], args.max_recent, lambda v: np.searchsorted(items, v) + 1
    )
    genres = np.unique(
        pa.chunked_array(X["item_genres"].array._pa_array)
        .combine_chunks()
        .flatten()
        .to_numpy(zero_copy_only=False)
    )
    data["item_genres"] = _padded(
        X["item_genres"], MAX_GENRES, lambda v: np.searchsorted(genres, v) + 1
    )
    price = X["price"].to_numpy()
    data["price"] = (price - price.min()) / (price.max() - price.min())

    columns = [
        SparseFeat(c, vocabulary_size=vocab[c], embedding_dim=EMBEDDING_DIM)
        for c in ["user_id", "device", "hour"]
    ]
    columns.append(
        SparseFeat(
            "item_id", vocabulary_size=len(items) + 1, embedding_dim=EMBEDDING_DIM
        )
    )
    columns.append(DenseFeat("price", 1))
    columns.append(
        VarLenSparseFeat(
            SparseFeat(
                "item_genres",
                vocabulary_size=len(genres) + 1,
                embedding_dim=EMBEDDING_DIM,
            ),
            maxlen=MAX_GENRES,
            combiner="mean",
        )
    )
    columns.append(
        VarLenSparseFeat(
            SparseFeat(
                "recent_items",
                vocabulary_size=len(items) + 1,
                embedding_dim=EMBEDDING_DIM,
                embedding_name="item_id",
            ),
            maxlen=args.max_recent,
            combiner="mean",
        )
    )
    n = len(X_train)
    train = {c: v[:n] for c, v in data.items()}
    test = {c: v[n:] for c, v in data.items()}
    watch = Y_train["watch_time"].to_numpy()
    mean, std = watch.mean(), watch.std()
    ctcvr = (Y_train["click"].to_numpy() == 1) & (
        Y_train["conversion"].fillna(0).to_numpy() == 1
    )
    y = np.column_stack(
        [Y_train["click"].to_numpy(), ctcvr, (watch - mean) / std]
    ).astype(np.float32)
    return columns, train, test, y, (mean, std)


def run_deepctr(args) -> dict:
    import torch
    from deepctr_torch.callbacks import Callback
    from deepctr_torch.models import MMOE

    X_train, X_test, Y_train, Y_test, _ = _data(args)
    tic = time.perf_counter()
    columns, train, test, y, (mean, std) = _deepctr_inputs(
        args, X_train, X_test, Y_train
    )
    preprocess_s = time.perf_counter() - tic
    model = MMOE(
        columns,
        task_types=["binary", "binary", "regression"],
        task_names=["click", "conversion", "watch_time"],
        device="cpu",
        seed=args.seed,
        **ARCH,
    )
    model.compile(
        torch.optim.Adam(model.parameters(), lr=LEARNING_RATE),
        loss=["binary_crossentropy", "binary_crossentropy", "mse"],
    )

    class EpochTimes(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.tic = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.tic)

    seconds: list[float] = []
    rss_before = status_kib("VmRSS")
    _reset_peak_rss()
    tic = time.perf_counter()
    model.fit(
        train,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=0,
        callbacks=[EpochTimes()],
    )
    fit_s = time.perf_counter() - tic
    peak_fit = status_kib("VmHWM")
    p = model.predict(test, batch_size=4096)
    n = len(X_train)
    result = dict(
        system="deepctr",
        batch_size=args.batch_size,
        epochs=args.epochs,
        preprocess_s=preprocess_s,
        fit_s=fit_s,
        fit_samples_s=n * args.epochs / fit_s,
        epoch_samples_s=n * args.epochs / sum(seconds),
        **_scores(Y_test, p[:, 0], p[:, 1], p[:, 2] * std + mean),
        rss_before_fit_mib=_mib(rss_before),
        peak_fit_mib=_mib(peak_fit),
    )
    esmm = _scores(Y_test, p[:, 0], p[:, 1] / np.maximum(p[:, 0], 1e-12), p[:, 2])
    result["conversion_auc_ratio"] = esmm["conversion_auc"]
    return result


def run_skmmoe(args, lists: bool = True, defaults: bool = False) -> dict:
    from skmmoe import MMOEEstimator

    X_train, X_test, Y_train, Y_test, _ = _data(args)
    if not lists:
        X_train, X_test = (
            X_train.drop(columns=LIST_COLUMNS),
            X_test.drop(columns=LIST_COLUMNS),
        )
    shared = {"recent_items": "item_id"} if lists else None
    if defaults:  # skmmoe's own settings, hour still an ID
        est = MMOEEstimator(
            categorical_features=ID_COLUMNS,
            shared_embeddings=shared,
            seed=args.seed,
            # --smoke: one epoch instead of epochs="auto" (at least 250 steps).
            **({"epochs": 1} if args.smoke else {}),
        )
    else:
        est = MMOEEstimator(
            **ARCH,
            embedding_dim=EMBEDDING_DIM,
            batch_size=args.batch_size,
            epochs=args.epochs,
            learning_rate=LEARNING_RATE,
            lr_schedule="constant",  # as DeepCTR-Torch trains
            numeric_encoding="scaled",
            categorical_features=ID_COLUMNS,
            shared_embeddings=shared,
            seed=args.seed,
        )
    rss_before = status_kib("VmRSS")
    _reset_peak_rss()
    tic = time.perf_counter()
    est.fit(X_train, Y_train)
    fit_s = time.perf_counter() - tic
    peak_fit = status_kib("VmHWM")
    train_s = sum(h["seconds"] for h in est.history_)
    proba = est.predict_proba(X_test)
    watch = est.predict(X_test)[:, 2].astype(float)
    n = len(X_train)
    return dict(
        system=("skmmoe-defaults" if defaults else "skmmoe")
        + ("" if lists else "-no-lists"),
        batch_size=est.batch_size if defaults else args.batch_size,
        epochs=est.n_epochs_,
        sparse_updates=bool(est.network_.sparse_gradients),
        fit_s=fit_s,
        fit_samples_s=n * est.n_epochs_ / fit_s,
        epoch_samples_s=n * est.n_epochs_ / train_s,
        **_scores(Y_test, proba[0][:, 1], proba[1][:, 1], watch),
        rss_before_fit_mib=_mib(rss_before),
        peak_fit_mib=_mib(peak_fit),
    )


def _table_rows(network) -> tuple[int, int]:
    """The embedding tables' rows and their float32 bytes."""
    rows = sum(g.rows for g in network.layout.groups)
    numel = sum(
        p.numel() for name, p in network.named_parameters() if "embedding" in name
    )
    return rows, numel * 4


def run_sweep(args) -> dict:
    from skmmoe import MMOEEstimator

    rows = args.rows + args.predict_rows
    X_train, X_test, Y_train, *_ = _data(args, args.n_users, rows, args.predict_rows)
    est = MMOEEstimator(epochs=1)
    rss_before = status_kib("VmRSS")
    _reset_peak_rss()
    tic = time.perf_counter()
    est.fit(X_train, Y_train)
    fit_s = time.perf_counter() - tic
    peak_fit = status_kib("VmHWM")
    train_s = sum(h["seconds"] for h in est.history_)
    times = []
    for _ in range(4):  # the first call, then a warm-up and 3 timed
        tic = time.perf_counter()
        est.predict_proba(X_test)
        times.append(time.perf_counter() - tic)
    rows_, table_bytes = _table_rows(est.network_)
    n = len(X_train)
    return dict(
        system="sweep",
        n_users=args.n_users,
        rows=n,
        distinct_users=int(X_train["user_id"].nunique()),
        sparse_updates=bool(est.network_.sparse_gradients),
        fit_s=fit_s,
        fit_rows_s=n / fit_s,
        epoch_rows_s=n / train_s,
        predict_first_rows_s=len(X_test) / times[0],
        predict_rows_s=len(X_test) / float(np.median(times[-3:])),
        table_rows=rows_,
        table_mib=table_bytes / 2**20,
        table_and_adam_mib=3 * table_bytes / 2**20,
        rss_before_fit_mib=_mib(rss_before),
        peak_fit_mib=_mib(peak_fit),
        peak_fit_above_start_mib=_mib(peak_fit - rss_before),
    )


def _deepctr_importable() -> bool:
    try:
        import deepctr_torch  # noqa: F401
    except ImportError:
        return False
    return True


def _spawn(args, system: str, **overrides) -> dict:
    values = {**vars(args), **overrides}
    argv = ["--child", system]
    for key in ("rows", "test_rows", "n_users", "n_items", "max_recent", "epochs"):
        argv += [f"--{key.replace('_', '-')}", str(values[key])]
    argv += ["--batch-size", str(values.get("batch_size") or 0)]
    argv += ["--predict-rows", str(values["predict_rows"])]
    argv += ["--seed", str(values.get("seed", SEED))]
    argv += ["--smoke"] if args.smoke else []
    result = run_child(__file__, *argv, cwd=ROOT)
    print(json.dumps(result), flush=True)
    return result


def part_deepctr(args) -> list[dict]:
    systems = ["deepctr", "skmmoe", "skmmoe-no-lists"]
    if not _deepctr_importable():
        systems.remove("deepctr")
        print(
            "deepctr_torch is not importable: the DeepCTR side was skipped "
            "(skmmoe's side only)",
            flush=True,
        )
    # Round r generates its data and seeds every model with SEED + r: the
    # accuracy medians are over data sets, the differences paired within each.
    results = []
    for r in range(args.rounds):
        results.append(_spawn(args, "bayes", seed=SEED + r))
        for bs in args.batch_sizes:
            for system in systems:  # A B C A B C ...
                results.append(_spawn(args, system, batch_size=bs, seed=SEED + r))
        if args.defaults:
            for system in ("skmmoe-defaults", "skmmoe-defaults-no-lists"):
                results.append(_spawn(args, system, seed=SEED + r))
    truths = [r for r in results if r.get("system") == "bayes"]
    results = [r for r in results if r.get("system") != "bayes"]

    def median(system, key, bs):
        values = per_seed(system, key, bs)
        if not values:
            raise KeyError(key)
        return float(np.median(values))

    def per_seed(system, key, bs) -> list[float]:
        return [
            r[key]
            for r in results
            if r["system"] == system and r["batch_size"] == bs and key in r
        ]

    def scores(system, key, bs) -> list[float]:
        """Per seed; DeepCTR's conversion: the better of its head and ratio."""
        values = per_seed(system, key, bs)
        if system == "deepctr" and key == "conversion_auc":
            ratio = per_seed(system, "conversion_auc_ratio", bs)
            values = [max(a, b) for a, b in zip(values, ratio)]
        return values

    def paired(key, ours, theirs, bs) -> str:
        gaps = [a - b for a, b in zip(scores(ours, key, bs), scores(theirs, key, bs))]
        return (
            f"{float(np.median(gaps)):+.4f} (per data seed: "
            + ", ".join(f"{g:+.4f}" for g in gaps)
            + ")"
        )

    n_train = args.rows - args.test_rows
    print(
        f"\n{n_train:,} training rows, {args.test_rows:,} test rows, {args.epochs} "
        f"epochs, medians over {args.rounds} rounds"
    )
    truth = {
        key: float(np.median([t[key] for t in truths]))
        for key in truths[0]
        if key != "system"
    }
    print(
        f"truth (Bayes): click AUC {truth['click_auc']:.4f} (without recent_items "
        f"{truth['click_auc_without_recent']:.4f}), conversion AUC on clicked rows "
        f"{truth['conversion_auc']:.4f}, watch_time R^2 {truth['watch_time_r2']:.4f}"
    )
    keys = [
        ("fit_samples_s", "whole fit samples/s", ",.0f"),
        ("epoch_samples_s", "per-epoch samples/s", ",.0f"),
        ("click_auc", "click AUC", ".4f"),
        ("conversion_auc", "conversion AUC (clicked)", ".4f"),
        ("conversion_auc_ratio", "  DeepCTR ctcvr/ctr", ".4f"),
        ("watch_time_r2", "watch_time R^2", ".4f"),
        ("rss_before_fit_mib", "RSS before fit MiB", ",.0f"),
        ("peak_fit_mib", "peak RSS in fit MiB", ",.0f"),
        ("preprocess_s", "DeepCTR preprocess s", ".2f"),
    ]
    for bs in args.batch_sizes:
        print(f"\nbatch {bs}:")
        print(f"{'':26}" + "".join(f"{s:>17}" for s in systems))
        for key, label, fmt in keys:
            cells = []
            for system in systems:
                try:
                    cells.append(format(median(system, key, bs), fmt))
                except KeyError:
                    cells.append("-")
            print(f"{label:<26}" + "".join(f"{c:>17}" for c in cells))
        if "deepctr" in systems:
            ratio = median("skmmoe", "fit_samples_s", bs) / median(
                "deepctr", "fit_samples_s", bs
            )
            epoch_ratio = median("skmmoe", "epoch_samples_s", bs) / median(
                "deepctr", "epoch_samples_s", bs
            )
            print(
                f"skmmoe / DeepCTR throughput: whole fit {ratio:.2f}x, "
                f"per epoch {epoch_ratio:.2f}x"
            )
            for key in ("click_auc", "conversion_auc", "watch_time_r2"):
                print(f"skmmoe - DeepCTR {key}: {paired(key, 'skmmoe', 'deepctr', bs)}")
        for key in ("click_auc", "conversion_auc", "watch_time_r2"):
            gain = paired(key, "skmmoe", "skmmoe-no-lists", bs)
            print(f"lists - no lists {key}: {gain}")
    defaults = [r for r in results if r.get("system", "").startswith("skmmoe-defaults")]
    if defaults:
        print(
            "\nMMOEEstimator defaults (hour an ID, recent_items sharing "
            "item_id's table):"
        )
        for system in ("skmmoe-defaults", "skmmoe-defaults-no-lists"):
            runs = [r for r in defaults if r["system"] == system]
            cells = {
                key: float(np.median([r[key] for r in runs]))
                for key in ("fit_s", "click_auc", "conversion_auc", "watch_time_r2")
            }
            print(
                f"{system:<26} {runs[0]['epochs']} epochs at batch "
                f"{runs[0]['batch_size']}, fit {cells['fit_s']:.1f} s, click AUC "
                f"{cells['click_auc']:.4f}, conversion AUC "
                f"{cells['conversion_auc']:.4f}, watch_time R^2 "
                f"{cells['watch_time_r2']:.4f}"
            )
        if "deepctr" in systems:
            # What a user gets: skmmoe at its defaults against DeepCTR at the
            # better of its batch sizes, on each data set.
            batch = defaults[0]["batch_size"]
            for key in ("click_auc", "conversion_auc", "watch_time_r2"):
                ours = scores("skmmoe-defaults", key, batch)
                best = [
                    max(v)
                    for v in zip(
                        *(scores("deepctr", key, bs) for bs in args.batch_sizes)
                    )
                ]
                gaps = [a - b for a, b in zip(ours, best)]
                print(
                    f"skmmoe defaults - DeepCTR's best batch, {key}: "
                    + ", ".join(f"{g:+.4f}" for g in gaps)
                    + " (per data seed)"
                )
    return truths + results


def part_sweep(args) -> list[dict]:
    results = [
        _spawn(args, "sweep", n_users=n, rows=args.sweep_rows) for n in args.sweep_users
    ]
    base = results[0]
    print(
        f"\n{args.sweep_rows:,} training rows, 1 epoch, MMOEEstimator(epochs=1), "
        f"predict_proba of {args.predict_rows:,} rows"
    )
    header = (
        "n_users",
        "distinct",
        "table rows",
        "tables+Adam MiB",
        "fit rows/s",
        "(ratio)",
        "epoch rows/s",
        "predict rows/s",
        "(ratio)",
        "first predict",
        "peak fit MiB",
        "peak-start MiB",
    )
    print("  ".join(f"{h:>14}" for h in header))
    for r in results:
        cells = [
            f"{r['n_users']:,}",
            f"{r['distinct_users']:,}",
            f"{r['table_rows']:,}",
            f"{r['table_and_adam_mib']:,.1f}",
            f"{r['fit_rows_s']:,.0f}",
            f"{r['fit_rows_s'] / base['fit_rows_s']:.2f}",
            f"{r['epoch_rows_s']:,.0f}",
            f"{r['predict_rows_s']:,.0f}",
            f"{r['predict_rows_s'] / base['predict_rows_s']:.2f}",
            f"{r['predict_first_rows_s']:,.0f}",
            f"{r['peak_fit_mib']:,.0f}",
            f"{r['peak_fit_above_start_mib']:,.0f}",
        ]
        print("  ".join(f"{c:>14}" for c in cells))
    for r in results[1:]:
        grew = r["peak_fit_above_start_mib"] - base["peak_fit_above_start_mib"]
        tables = r["table_and_adam_mib"] - base["table_and_adam_mib"]
        print(
            f"n_users {r['n_users']:,}: peak above start grew {grew:,.0f} MiB over the "
            f"first run; tables + Adam grew {tables:,.1f} MiB"
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["deepctr", "sweep", "both"], default="both")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--test-rows", type=int)
    parser.add_argument("--n-users", type=int)
    parser.add_argument("--n-items", type=int)
    parser.add_argument("--max-recent", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-sizes", type=int, nargs="+")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--sweep-rows", type=int)
    parser.add_argument("--sweep-users", type=int, nargs="+")
    parser.add_argument("--predict-rows", type=int)
    parser.add_argument(
        "--no-defaults",
        dest="defaults",
        action="store_false",
        help="skip the runs of MMOEEstimator's defaults with and without the lists",
    )
    parser.add_argument(
        "--child",
        choices=[
            "deepctr",
            "skmmoe",
            "skmmoe-no-lists",
            "skmmoe-defaults",
            "skmmoe-defaults-no-lists",
            "bayes",
            "sweep",
        ],
    )
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    parser.add_argument("--output", help="also write the results as JSON")
    parser.add_argument("--smoke", action="store_true", help="tiny data (tests)")
    args = parser.parse_args(argv)
    for key, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.child:
        run = {
            "deepctr": run_deepctr,
            "skmmoe": run_skmmoe,
            "skmmoe-no-lists": lambda a: run_skmmoe(a, lists=False),
            "skmmoe-defaults": lambda a: run_skmmoe(a, defaults=True),
            "skmmoe-defaults-no-lists": lambda a: run_skmmoe(
                a, lists=False, defaults=True
            ),
            "bayes": bayes,
            "sweep": run_sweep,
        }[args.child]
        return report(run(args))
    results = []
    if args.part in ("deepctr", "both"):
        results += part_deepctr(args)
    if args.part in ("sweep", "both"):
        results += part_sweep(args)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
