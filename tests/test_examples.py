"""Every example runs in its fast mode, so none of them can rot."""

import json
import runpy
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *argv):
    module = runpy.run_path(str(EXAMPLES / name), run_name="skmmoe_example")
    return module["main"](["--fast", *argv])


def test_every_example_is_tested():
    tested = {"census_income.py", "grid_search.py", "persistence.py"}
    tested |= {"paper_synthetic.py", "paper_census.py", "gate_usage.py"}
    tested |= {"distributed_torchrun.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} <= tested


def test_census_income(tmp_path, capsys):
    auc = run_example("census_income.py", "--output-dir", str(tmp_path))
    assert set(auc) == {"income", "marital"}
    assert all(0.5 < v <= 1.0 for v in auc.values())
    assert (tmp_path / "census_training_curves.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "two single-task models" in out and "MMoE" in out


def test_grid_search(capsys):
    search = run_example("grid_search.py")
    for key in ("mean_test_income_auc", "mean_test_marital_auc", "mean_test_mean_auc"):
        assert np.isfinite(search.cv_results_[key]).all()
    assert "best for income AUC" in capsys.readouterr().out


def test_persistence(capsys):
    run_example("persistence.py")
    out = capsys.readouterr().out
    assert out.count("identical predictions: True") == 2
    assert "truncated file refused" in out


def test_paper_synthetic(tmp_path, capsys):
    summary = run_example(
        "paper_synthetic.py", "--output-dir", str(tmp_path), "--rows", "300"
    )
    for model in ("MMoE", "OMoE", "Shared-Bottom"):
        for corr in (0.5, 0.9, 1.0):
            mean, half = summary[f"{model} corr {corr}"]
            assert 0 < mean < 10 and half >= 0  # two runs: a finite interval
    assert "MMoE - OMoE corr 0.5" in summary
    saved = json.loads((tmp_path / "paper_synthetic.json").read_text())
    assert set(saved["learning_rates"]) == {"MMoE", "OMoE", "Shared-Bottom"}
    assert saved["settings"]["n_train"] == 300  # --rows overrides the fast setting
    assert (tmp_path / "paper_synthetic.png").stat().st_size > 0
    assert "95% CI" in capsys.readouterr().out


def test_paper_census(tmp_path, capsys):
    summary = run_example("paper_census.py", "--output-dir", str(tmp_path))
    for approach in ("Single-Task", "Shared-Bottom", "OMoE", "MMoE"):
        for key in ("group 1 {} income", "group 1 {} marital", "group 2 {} education"):
            assert 0.0 <= summary[key.format(approach)][0] <= 1.0
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
    assert "MMoE minus" in out
    assert "0.9359" in out  # the paper's group 1 MMoE income AUC, printed alongside


def test_gate_usage(tmp_path):
    mean = run_example("gate_usage.py", "--output-dir", str(tmp_path))
    assert mean.shape == (2, 3)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-6)
    assert (tmp_path / "gate_usage.png").exists()


def test_distributed_torchrun_in_one_process(tmp_path, capsys):
    # Without torchrun a plain fit; tests/test_distributed.py runs it under
    # torchrun with 2 processes.
    output = tmp_path / "census_ddp.skmmoe"
    auc = run_example("distributed_torchrun.py", "--output-dir", str(tmp_path))
    assert set(auc) == {"income", "marital"}
    assert all(0.5 < v <= 1.0 for v in auc.values())
    assert "1 process(es): test AUC" in capsys.readouterr().out
    assert output.exists()
