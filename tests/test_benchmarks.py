"""Every benchmark script runs in its smoke mode (``--smoke``: tiny data, one round,
one epoch), each in a fresh process as a user runs it, so that a rename inside
skmmoe cannot break a benchmark silently: the scripts patch skmmoe's internals
(``skmmoe._engine.denormals.flush_denormals``, ``skmmoe._engine.optim.OPTIMIZERS``,
``skmmoe._engine.training.train``) and fail when a patch no longer takes."""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
NUMBER = r"-?[\d,]+(?:\.\d+)?(?:e[-+]\d+)?"
AUC = r"[01]\.\d{4}"
TIMEOUT_S = 180

TESTED = {
    "bench_vs_deepctr.py",
    "denormals.py",
    "lr_schedule.py",
    "numeric_encoding.py",
}
TESTED |= {"optimizer_overhead.py", "precision.py", "profile_training.py"}
TESTED |= {"scaling.py", "under_load.py", "vs_gbdt.py"}
TESTED |= {"onnx_serving.py", "data_parallel.py", "dask_scaling.py"}
TESTED |= {"time_and_offsets.py", "compare_commits.py", "embedding_dim.py"}
TESTED |= {"recsys.py", "sparse_updates.py"}


def run_benchmark(name, *argv, mode="--smoke"):
    """The stdout of ``python benchmarks/<name> --smoke *argv``, run from the
    repository's root; fails with its stderr when the script fails."""
    # One OpenMP thread: a smoke run checks that a script works, not its speed,
    # and on a busy machine OpenMP threads that spin-wait for each other can
    # stretch a second's work to minutes. Children of the script inherit it.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), mode, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def lines_matching(pattern, out):
    return re.findall(pattern, out, flags=re.MULTILINE)


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_every_benchmark_is_tested():
    scripts = {p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_")}
    assert scripts, BENCHMARKS
    assert scripts <= TESTED, f"no smoke test for {sorted(scripts - TESTED)}"


def test_denormals():
    # The "off" child disables flushing by patching skmmoe._engine.denormals, and fails
    # if training did not call the patched function.
    out = run_benchmark("denormals.py")
    for mode in ("off", " on"):
        assert len(lines_matching(rf"^flush {mode}: epoch seconds {NUMBER}$", out)) == 1
        summary = (
            rf"^flush {mode}: total {NUMBER} s, slowest epoch {NUMBER} s, "
            rf"fastest {NUMBER} s \(medians over 1 rounds\)$"
        )
        assert len(lines_matching(summary, out)) == 1, out


def test_optimizer_overhead():
    # The torch.optim child swaps skmmoe._engine.optim.OPTIMIZERS["adam"], and fails if
    # training did not use it.
    out = run_benchmark("optimizer_overhead.py")
    assert re.search(r"^Adam +fit s +epoch s +peak RSS MiB +dynamo$", out, re.M)
    for label in ("skmmoe (functional adam, fused)", "torch.optim.Adam(fused=True)"):
        row = rf"^{re.escape(label)} +({NUMBER}) +({NUMBER}) +({NUMBER})  \{{\w+\}}$"
        [(fit_s, epoch_s, rss_mib)] = lines_matching(row, out)
        assert float(fit_s) >= float(epoch_s) >= 0.0
        assert float(rss_mib) > 0.0


def test_precision():
    out = run_benchmark("precision.py")
    runs = json_lines(out)
    assert [r["precision"] for r in runs] == ["float32", "bfloat16"]
    for precision in ("float32", "bfloat16"):
        row = (
            rf"^{precision} +train samples/s +{NUMBER}  "
            rf"income AUC ({AUC})  marital AUC ({AUC})$"
        )
        [aucs] = lines_matching(row, out)
        assert all(0.0 <= float(auc) <= 1.0 for auc in aucs)


def test_profile_training():
    out = run_benchmark("profile_training.py")
    [rate] = lines_matching(rf"^batch 256: ({NUMBER}) training samples/s$", out)
    assert float(rate.replace(",", "")) > 0


def test_scaling():
    # Whether or not the fit calls skmmoe._engine.training.train through its module (the
    # training phase's memory is measured only then), the script reports each size.
    out = run_benchmark("scaling.py")
    runs = json_lines(out)
    assert [r["rows"] for r in runs] == [500, 1000]
    for run in runs:
        assert run["fit_s"] > 0 and run["fit_peak_mib"] > 0
        assert run["encoded_bytes_per_row"] > 0
    assert "s_per_million" in out
    assert len(lines_matching(r"^500 -> 1,000 rows: per extra row .* rows$", out)) == 1


def test_compare_commits():
    # --smoke compares this checkout with itself: the same AUCs, ratios printed.
    out = run_benchmark("compare_commits.py")
    for key in ("fit_s", "predict_1_ms", "predict_64_ms", "predict_19953_ms"):
        assert len(lines_matching(rf"^{key} +(?:{NUMBER} +){{2}}{NUMBER}$", out)) == 1
    [this] = lines_matching(r"^test AUC \(this\): (.*)$", out)
    [other] = lines_matching(r"^test AUC \(other\): (.*)$", out)
    assert this == other


def test_time_and_offsets():
    out = run_benchmark("time_and_offsets.py")
    inputs = ("x", "x + 1e9", "cents + 1e11", "datetime", "datetime + hour, weekday")
    for name in inputs:
        for model in ("skmmoe", "HGB"):
            row = rf"^{re.escape(name)} +{model} +(?:{NUMBER} \(.*?\) +){{2}}{NUMBER}$"
            assert len(lines_matching(row, out)) == 1, (name, model, out)
    # The same data and seed: an offset moves the encoded inputs by rounding only.
    medians = [
        [
            float(v)
            for v in lines_matching(rf"^{re.escape(name)} +skmmoe +(.*)$", out)[0]
            .replace("(", " ")
            .split()[::2][:2]
        ]
        for name in inputs[:3]
    ]
    assert np.allclose(medians[1:], medians[0], atol=0.005), medians


def test_numeric_encoding():
    out = run_benchmark("numeric_encoding.py")
    encodings = set(re.findall(r"'encoding': '([^']+)'", out))
    assert {"scaled", "scaled+embedding"} <= encodings
    assert "synthetic: metric_1 = binary AUC, metric_2 = regression R^2" in out
    for encoding in encodings:
        # One summary row per data set: medians, minimum and maximum, fit seconds.
        row = rf"^(?:census|synthetic)? +{re.escape(encoding)}(?: +{NUMBER}){{7}}$"
        assert len(lines_matching(row, out)) == 2, encoding


def test_embedding_dim():
    out = run_benchmark("embedding_dim.py")
    for data, n_metrics in (("census", 2), ("recsys", 3)):
        for width in ("8", "auto"):
            row = rf"^{data} +{width} +(?:{NUMBER} +){{{n_metrics}}}fit {NUMBER} s$"
            assert len(lines_matching(row, out)) == 1, (data, width, out)


def test_sparse_updates():
    out = run_benchmark("sparse_updates.py")
    row = rf"^ +{NUMBER} +(?:True|False) +{NUMBER} +{NUMBER} +{NUMBER}$"
    assert len(lines_matching(row, out)) == 1, out


def test_lr_schedule():
    out = run_benchmark("lr_schedule.py")
    rows = lines_matching(
        rf"^(constant|linear \(default\)|cosine|plateau, early stopping, <= 3 "
        rf"epochs|linear, early stopping, 3 epochs)\s+({NUMBER}) \(",
        out,
    )
    assert len(rows) == 5
    assert all(0.0 <= float(auc) <= 1.0 for _, auc in rows)


def test_bench_vs_deepctr():
    out = run_benchmark("bench_vs_deepctr.py")
    runs = json_lines(out)
    assert {"skmmoe", "skmmoe-defaults"} <= {r["system"] for r in runs}
    for run in runs:
        assert len(run["auc"]) == 2 and all(0.0 <= a <= 1.0 for a in run["auc"])
        assert run["train_samples_s"] > 0 and run["bound_samples_s"] > 0
    if importlib.util.find_spec("deepctr_torch") is None:
        assert "the DeepCTR side was skipped" in out
        assert {r["system"] for r in runs} == {"skmmoe", "skmmoe-defaults"}
        assert len(lines_matching(rf"^train samples/s @256 +{NUMBER}$", out)) == 1
        assert len(lines_matching(rf"^income AUC @256 +{AUC}$", out)) == 1
        defaults = rf"^MMOEEstimator\(\) defaults: {NUMBER} s .* AUC {AUC}/{AUC}$"
        assert len(lines_matching(defaults, out)) == 1
    else:
        assert "deepctr" in {r["system"] for r in runs}
        row = rf"^train samples/s @256 +{NUMBER} +{NUMBER} +{NUMBER}$"
        assert len(lines_matching(row, out)) == 1
        assert "time to quality: DeepCTR-Torch 1 epochs at batch 256" in out


def gbdt_gaps(out):
    """The rows of the printed table of skmmoe against HistGradientBoosting."""
    table = out.split("skmmoe - HistGradientBoosting", 1)[1].splitlines()[1:]
    header = table[0].split()
    assert header[:4] == ["data", "task", "kind", "skmmoe"] and "gap_vs_hgb" in header
    lines = table[1:]
    lines = lines[: lines.index("")] if "" in lines else lines  # the table's end
    rows = [dict(zip(header, line.split())) for line in lines]
    for row in rows:
        for model in ("skmmoe", "hgb"):
            score = float(row[model])
            assert math.isfinite(score) and score <= 1.0
            if row["kind"] != "regression":  # R^2 may be below 0
                assert score >= 0.0
    return rows


def test_vs_gbdt():
    out = run_benchmark("vs_gbdt.py")
    rows = gbdt_gaps(out)
    assert {(r["data"], r["task"]) for r in rows} == {
        ("census", "income"),
        ("census", "marital"),
        ("census-small", "income"),
        ("census-small", "marital_stat"),
        ("census-small", "education"),
        ("census-small", "age"),
        ("mixed", "churn"),
        ("mixed", "spend"),
        ("mixed", "plan"),
        ("wine", "quality"),
        ("wine", "red"),
        ("abalone", "rings"),
        ("abalone", "sex"),
        ("parkinsons", "motor_UPDRS"),
        ("parkinsons", "total_UPDRS"),
        ("bike", "casual"),
        ("bike", "registered"),
        ("flights", "cancelled"),
        ("flights", "dep_delay"),
        ("flights", "arr_delay"),
    }
    assert "mean (std) over 1 splits" in out
    datasets = ["census", "census-small", "mixed", "wine", "abalone", "parkinsons"]
    for data in datasets + ["bike", "flights"]:
        for model in ("skmmoe", "hgb"):
            assert len(lines_matching(rf"^{data} split 0 {model}: ", out)) == 1
    for row in rows:
        assert float(row["fit_vs_hgb"]) > 0
    if importlib.util.find_spec("lightgbm") is not None:
        assert lines_matching(
            rf"^mean gap to LightGBM over the 20 tasks: {NUMBER}$", out
        )


def test_vs_gbdt_fast_is_smoke():
    # --fast, the flag's name before --smoke, still works.
    out = run_benchmark("vs_gbdt.py", "--data", "mixed", mode="--fast")
    rows = gbdt_gaps(out)
    assert {r["task"] for r in rows} == {"churn", "spend", "plan"}
    assert "mean (std) over 1 splits" in out


def test_under_load():
    out = run_benchmark("under_load.py")
    rows = lines_matching(
        rf"^  n_jobs=None \(default\)\s+alone: ({NUMBER}) s  1 busy: ({NUMBER}) s",
        out,
    )
    assert len(rows) == 1 and all(float(v) > 0 for v in rows[0])
    assert lines_matching(rf"GridSearchCV.*n_jobs=1 {NUMBER} s, n_jobs=2", out)


def test_onnx_serving():
    """The graph's parity is asserted inside the script; every (threads, batch,
    way) cell is measured and summarised."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    out = run_benchmark("onnx_serving.py")
    runs = json_lines(out)
    cells = {(r["threads"], r["batch"], r["way"]) for r in runs}
    assert len(cells) == len(runs) == 2 * 3 * 3
    assert all(r["ms"] > 0 and r["rows_s"] > 0 for r in runs)
    cell = rf"{NUMBER} ms +{NUMBER}/s"
    rows = lines_matching(rf"^ +[12] +(?:1|64|4096) +{cell} +{cell} +{cell}$", out)
    assert len(rows) == 6, out


def test_data_parallel():
    out = run_benchmark("data_parallel.py")
    startup = lines_matching(
        rf"^2-process gloo group: ready in ({NUMBER}) s \(init_process_group "
        rf"({NUMBER}) s, .*n_workers=2 fit skipped \(smoke\)",
        out,
    )
    assert len(startup) == 1 and all(float(v) >= 0 for v in startup[0]), out
    for setting in ("1 process x 1 thread", "1 process x 2 threads"):
        assert len(lines_matching(rf"^  {setting}\s+epoch {NUMBER} s", out)) == 1
    for setting in ("2 gloo processes x 1 thread", "2 gloo processes, DDP-wrapped"):
        rows = lines_matching(
            rf"^  {setting}\s+epoch ({NUMBER}) s\s+({NUMBER}) rows/s", out
        )
        assert len(rows) == 1 and float(rows[0][0]) > 0, out


def test_dask_scaling():
    pytest.importorskip("distributed")
    out = run_benchmark("dask_scaling.py")
    startup = rf"^LocalCluster \(2 processes x 1 thread\) start-up: median ({NUMBER}) s"
    [seconds] = lines_matching(startup, out)
    assert float(seconds) > 0
    runs = json_lines(out)
    assert [r["how"] for r in runs] == ["memory", "dask"]
    for run in runs:
        assert run["peak_mib"] >= run["after_imports_mib"] > 0
        assert len(run["auc"]) == 2 and all(0.0 <= a <= 1.0 for a in run["auc"])
    assert runs[1]["epochs"] == 1 + 4  # the sample's epoch, one pass of 4 partitions
    for label in ("in memory", "skmmoe.dask"):
        row = rf"^  {re.escape(label)} +peak RSS +{NUMBER} MiB .* AUC {AUC}/{AUC}$"
        assert len(lines_matching(row, out)) == 1, out
    assert lines_matching(
        rf"^peak above imports: skmmoe.dask / in memory = {NUMBER}", out
    )


def test_recsys():
    out = run_benchmark("recsys.py")
    runs = json_lines(out)
    systems = {r.get("system") for r in runs}
    assert {"skmmoe", "skmmoe-no-lists", "sweep"} <= systems
    for run in runs:
        for key in ("click_auc", "conversion_auc"):
            assert key not in run or 0.0 <= run[key] <= 1.0
    assert lines_matching(rf"^truth \(Bayes\): click AUC {AUC} ", out)
    for key in ("click_auc", "conversion_auc", "watch_time_r2"):
        assert (
            len(
                lines_matching(
                    rf"^lists - no lists {key}: [-+]?{NUMBER} \(per data seed: "
                    rf"[-+]?{NUMBER}\)$",
                    out,
                )
            )
            == 1
        )
    for system in ("skmmoe-defaults", "skmmoe-defaults-no-lists"):
        assert len(lines_matching(rf"^{system} +1 epochs at batch ", out)) == 1, out
    if importlib.util.find_spec("deepctr_torch") is None:
        assert "the DeepCTR side was skipped" in out
        assert "deepctr" not in systems
    else:
        assert "deepctr" in systems
        assert lines_matching(r"^skmmoe / DeepCTR throughput: whole fit ", out)
        assert len(lines_matching(r"^skmmoe defaults - DeepCTR's best batch", out)) == 3
    sweep = [r for r in runs if r.get("system") == "sweep"]
    assert [r["n_users"] for r in sweep] == [100, 10_000]
    for run in sweep:
        assert run["fit_rows_s"] > 0 and run["predict_rows_s"] > 0
        assert run["table_rows"] > 0 and run["peak_fit_mib"] > 0
    row = rf"^ +10,000(?: +{NUMBER}){{11}}$"
    assert len(lines_matching(row, out)) == 1, out
