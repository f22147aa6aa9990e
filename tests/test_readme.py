"""The README's Python examples run as written, in order."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
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
