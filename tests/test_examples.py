"""Every example runs in its fast mode and its results must reach the margins the
example states (its FAST_* constants), so a fast mode that stops learning fails."""

import json
import math
import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def load_example(name):
    """The example's module namespace: its constants and functions."""
    return runpy.run_path(str(EXAMPLES / name), run_name="skmmoe_example")


def run_example(name, *argv):
    """Runs the example's fast mode; returns its namespace and main's result."""
    example = load_example(name)
    return example, example["main"](["--fast", *argv])


def assert_floors(values, floors):
    """Each value reaches its floor; the floors stay far above chance (AUC 0.5)."""
    assert set(values) <= set(floors)
    assert min(floors.values()) >= 0.8
    for key, value in values.items():
        assert floors[key] <= value <= 1.0, (key, value, floors[key])


def test_every_example_is_tested():
    tested = {"census_income.py", "grid_search.py", "persistence.py"}
    tested |= {"paper_synthetic.py", "paper_census.py", "gate_usage.py"}
    tested |= {"distributed_torchrun.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} <= tested


def test_census_income(tmp_path, capsys):
    example, auc = run_example("census_income.py", "--output-dir", str(tmp_path))
    assert set(auc) == {"MMoE", "single-task"}
    for by_task in auc.values():
        assert set(by_task) == {"income", "marital"}
        assert_floors(by_task, example["FAST_MIN_AUC"])
    assert (tmp_path / "census_training_curves.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "two single-task models" in out and "MMoE" in out
    assert "checked: every test AUC reaches FAST_MIN_AUC" in out
    # The full run checks the README's targets.
    full = example["FULL_MIN_AUC"]
    readme = (ROOT / "README.md").read_text()
    targets = f"income AUC >= {full['income']} and marital AUC >= {full['marital']}"
    assert f"Targets with default settings: {targets}" in readme


@pytest.mark.parametrize(
    "name, results",
    [
        ("census_income.py", {"MMoE": {"income": 0.5, "marital": 1.0}}),
        ("gate_usage.py", {"income": 0.5, "marital": 1.0}),
        ("grid_search.py", {"held-out": 0.5, "cross-validated": 1.0}),
        ("distributed_torchrun.py", {"income": 0.5, "marital": 1.0}),
    ],
)
def test_a_result_below_its_floor_fails_the_example(name, results):
    example = load_example(name)
    floors = example["FAST_MIN_AUC"]
    with pytest.raises(AssertionError) as failed:
        example["check_auc"](results, floors, "FAST_MIN_AUC")
    message = str(failed.value)  # names the figure, its value and its floor
    low = "held-out" if name == "grid_search.py" else "income"
    assert message.startswith("below the floors of FAST_MIN_AUC: ")
    assert low in message and f"AUC 0.5000 < {floors[low]}" in message
    assert "1.0000" not in message  # only the figures below their floors


def test_grid_search(capsys):
    example, (search, income_auc) = run_example("grid_search.py")
    for key in ("mean_test_income_auc", "mean_test_marital_auc", "mean_test_mean_auc"):
        assert np.isfinite(search.cv_results_[key]).all()
    auc = {"cross-validated": search.best_score_, "held-out": income_auc}
    assert_floors(auc, example["FAST_MIN_AUC"])
    out = capsys.readouterr().out
    assert "best for income AUC" in out and "checked:" in out


def test_persistence(capsys):
    _, checks = run_example("persistence.py")
    assert checks == {
        "joblib identical predictions": True,
        "skmmoe.save identical predictions": True,
        "truncated file refused": True,
    }
    out = capsys.readouterr().out
    assert out.count("identical predictions: True") == 2
    assert "truncated file refused" in out


def test_paper_synthetic(tmp_path, capsys):
    example, summary = run_example("paper_synthetic.py", "--output-dir", str(tmp_path))
    ceiling = example["FAST_MAX_LOSS"]
    assert ceiling <= 0.7  # a third below a constant prediction's loss (1.0)
    for model in ("MMoE", "OMoE", "Shared-Bottom"):
        for corr in (0.5, 0.9, 1.0):
            mean, half = summary[f"{model} corr {corr}"]
            assert 0 < mean <= ceiling and half >= 0  # two runs: a finite interval
    assert "MMoE - OMoE corr 0.5" in summary
    saved = json.loads((tmp_path / "paper_synthetic.json").read_text())
    assert set(saved["learning_rates"]) == {"MMoE", "OMoE", "Shared-Bottom"}
    assert saved["settings"] == example["FAST"]
    assert (tmp_path / "paper_synthetic.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "95% CI" in out and "checked:" in out


def test_paper_synthetic_options_override_the_settings(monkeypatch):
    monkeypatch.delenv("SKMMOE_EXAMPLES_FAST", raising=False)
    example = load_example("paper_synthetic.py")
    _, fast, settings = example["parse_args"](["--fast", "--rows", "300"])
    assert fast and settings == {**example["FAST"], "n_train": 300}
    _, fast, settings = example["parse_args"](["--tuning-runs", "0"])
    assert not fast and settings == {**example["FULL"], "n_tuning_runs": 0}


def test_paper_census(tmp_path, capsys):
    example, summary = run_example("paper_census.py", "--output-dir", str(tmp_path))
    floors = example["FAST_MIN_AUC"]
    for approach in ("Single-Task", "Shared-Bottom", "OMoE", "MMoE"):
        for group, tasks in example["GROUPS"].items():
            for task in tasks:
                mean, half = summary[f"{group} {approach} {task}"]
                assert floors[task] <= mean <= 1.0 and math.isnan(half)  # 1 seed
    assert min(floors.values()) >= 0.8
    assert "group 2 MMoE - OMoE marital" in summary
    saved = json.loads((tmp_path / "paper_census.json").read_text())
    paper = saved["paper_mean_auc"]  # the paper's figures, for every approach/task
    assert set(paper) == {"group 1", "group 2"}
    for group, tasks in (
        ("group 1", {"income", "marital"}),
        ("group 2", {"education", "marital"}),
    ):
        assert set(paper[group]) == {"Single-Task", "Shared-Bottom", "OMoE", "MMoE"}
        assert all(set(aucs) == tasks for aucs in paper[group].values())
    assert (tmp_path / "paper_census.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "MMoE minus" in out and "checked:" in out
    assert "0.9359" in out  # the paper's group 1 MMoE income AUC, printed alongside


def test_paper_census_below_a_floor_fails():
    example = load_example("paper_census.py")
    summary = {
        f"{group} {approach} {task}": [1.0, float("nan")]
        for group, tasks in example["GROUPS"].items()
        for approach in example["APPROACHES"]
        for task in tasks
    }
    summary["group 2 OMoE education"] = [0.5, float("nan")]
    with pytest.raises(AssertionError, match="group 2 OMoE education AUC 0.5000 <"):
        example["check_auc"](summary, example["FULL_MIN_AUC"], "FULL_MIN_AUC")


def test_paper_synthetic_above_a_ceiling_fails():
    example = load_example("paper_synthetic.py")
    summary = {
        f"{m} corr {c}": [0.1, 0.0] for m in example["MODELS"] for c in (0.5, 0.9, 1.0)
    }
    summary["OMoE corr 0.9"] = [1.0, 0.0]
    ceilings = dict.fromkeys(example["MODELS"], example["FAST_MAX_LOSS"])
    high = f"OMoE corr 0.9 loss 1.0000 > {example['FAST_MAX_LOSS']}"
    with pytest.raises(AssertionError, match=high):
        example["check_loss"](summary, ceilings, "FAST_MAX_LOSS")


def test_gate_usage(tmp_path):
    example, (mean, auc) = run_example("gate_usage.py", "--output-dir", str(tmp_path))
    assert mean.shape == (2, 3)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-6)
    assert set(auc) == {"income", "marital"}
    assert_floors(auc, example["FAST_MIN_AUC"])
    assert (tmp_path / "gate_usage.png").exists()


def test_distributed_torchrun_in_one_process(tmp_path, capsys):
    # Without torchrun a plain fit; tests/test_distributed.py runs it under
    # torchrun with 2 processes.
    output = tmp_path / "census_ddp.skmmoe"
    example, auc = run_example("distributed_torchrun.py", "--output-dir", str(tmp_path))
    assert set(auc) == {"income", "marital"}
    assert_floors(auc, example["FAST_MIN_AUC"])
    out = capsys.readouterr().out
    assert "1 process(es): test AUC" in out and "checked:" in out
    assert output.exists()
