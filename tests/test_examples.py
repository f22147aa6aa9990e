"""Every example runs in its fast mode, so none of them can rot."""

import runpy
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *argv):
    module = runpy.run_path(str(EXAMPLES / name), run_name="skmmoe_example")
    return module["main"](["--fast", *argv])


def test_every_example_is_tested():
    tested = {"census_income.py", "grid_search.py", "persistence.py"}
    tested |= {"task_correlation.py", "gate_usage.py", "distributed_torchrun.py"}
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


def test_task_correlation(tmp_path):
    results = run_example("task_correlation.py", "--output-dir", str(tmp_path))
    for per_model in results.values():
        assert all(np.isfinite(v).all() for v in per_model.values())
    assert (tmp_path / "task_correlation.png").exists()


def test_gate_usage(tmp_path):
    mean = run_example("gate_usage.py", "--output-dir", str(tmp_path))
    assert mean.shape == (2, 3)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-6)
    assert (tmp_path / "gate_usage.png").exists()


def test_distributed_torchrun_in_one_process(tmp_path, capsys):
    # Without torchrun a plain fit; tests/test_distributed.py runs it under
    # torchrun with 2 processes.
    output = tmp_path / "census.skmmoe"
    auc = run_example("distributed_torchrun.py", "--output", str(output))
    assert set(auc) == {"income", "marital"}
    assert all(0.5 < v <= 1.0 for v in auc.values())
    assert "1 process(es): test AUC" in capsys.readouterr().out
    assert output.exists()
