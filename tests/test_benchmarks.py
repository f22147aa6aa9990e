"""Benchmark scripts run in their smoke mode, so that none of them can rot."""

import runpy
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(name, *argv):
    module = runpy.run_path(str(BENCHMARKS / name), run_name="skmmoe_benchmark")
    return module["main"](list(argv))


def test_vs_gbdt_smoke(capsys):
    table = run_benchmark("vs_gbdt.py", "--fast", "--data", "mixed")
    assert set(table["task"]) == {"churn", "spend", "plan"}
    assert {"skmmoe", "hgb"} <= set(table["model"])
    assert table["score"].between(-1.0, 1.0).all()
    out = capsys.readouterr().out
    assert "skmmoe - HistGradientBoosting" in out and "gap_vs_hgb" in out
