"""skmmoe.plotting.plot_history draws history_ per task."""

import matplotlib
import numpy as np
import pytest

from skmmoe import MMOEEstimator
from skmmoe.plotting import plot_history

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fitted_with_early_stopping():
    """An MMOEEstimator of a binary and a regression task, fitted with early
    stopping: its history_ holds validation metrics."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    Y = np.column_stack([X[:, 0] > 0, X @ [1.0, 2.0, 0.5]])
    params = dict(expert_dnn_hidden_units=(8,), epochs=6, batch_size=64)
    return MMOEEstimator(**params, early_stopping=True, n_iter_no_change=10).fit(X, Y)


def test_one_panel_per_task_with_train_and_valid_curves(fitted_with_early_stopping):
    axes = plot_history(fitted_with_early_stopping)
    assert [ax.get_title() for ax in axes] == ["task_0", "task_1"]
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels == ["train loss", "valid log_loss", "valid roc_auc"]
    assert [line.get_label() for line in axes[1].get_lines()] == [
        "train loss",
        "valid mse",
    ]
    train = axes[0].get_lines()[0]
    np.testing.assert_allclose(
        train.get_ydata(),
        [h["train_loss"]["task_0"] for h in fitted_with_early_stopping.history_],
    )


def test_given_axes_and_label(fitted_with_early_stopping):
    import matplotlib.pyplot as plt

    _, axes = plt.subplots(1, 2)
    out = plot_history(fitted_with_early_stopping.history_, axes=axes, label="mmoe")
    assert out[0] is axes[0]
    assert out[0].get_lines()[0].get_label() == "mmoe train loss"


def test_empty_history_raises():
    with pytest.raises(ValueError, match="empty"):
        plot_history([])
