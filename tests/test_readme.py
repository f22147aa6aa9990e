"""The README's Python examples run as written, in order; its ``pycon`` blocks are
doctests, so the outputs they show are a run's."""

import doctest
import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```(python|pycon)\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 4 and "pycon" in {kind for kind, _ in blocks}
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for kind, block in blocks:
        if kind == "python":
            exec(compile(block, str(README), "exec"), namespace)
            continue
        test = doctest.DocTestParser().get_doctest(
            block, namespace, "README.md", str(README), 0
        )
        assert test.examples
        runner.run(test, clear_globs=False)
    assert runner.failures == 0, "a README doctest failed (see the output above)"
    model, X, Y = namespace["model"], namespace["X"], namespace["Y"]
    pred = model.predict(X.head(3))
    assert pred.shape == (3, 2)
    assert set(pred[:, 0]) <= {"yes", "no"}
    assert np.isfinite(pred[:, 1].astype(float)).all()
    # The quick start's churn rule (visits < 2) is learnable.
    assert (model.predict(X)[:, 0] == Y["churn"].to_numpy()).mean() > 0.9
    search = namespace["search"]
    assert set(search.best_params_) == {"mmoe__num_experts", "mmoe__learning_rate"}
    for key in ("mean_test_churn_auc", "mean_test_spend_r2"):
        assert np.isfinite(search.cv_results_[key]).all(), key
    assert search.cv_results_["mean_test_churn_auc"].max() > 0.9
    assert (tmp_path / "model.skmmoe").exists()


def test_ci_runs_the_readme_test_command_as_written():
    """A newcomer's green run is CI's: .ci/run runs README's second set-up command
    line for line, installing nothing else before it."""
    commands = re.findall(r"^pip install torch.* && .*$", README.read_text(), re.M)
    assert len(commands) == 2 and commands[1].endswith("python -m pytest -n 2")
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci
    before = ci[: ci.index(commands[1])]
    assert not any(
        line.lstrip().startswith(("pip", "python -m pip")) for line in before
    )
