"""Which experts does each task use? Gate diagnostics on census
============================================================

Fits ``MMOEEstimator()`` (default settings) on the census data, then averages
``gate_weights(X)`` (shape (n_samples, n_tasks, num_experts), each row summing to 1)
over the test rows and writes a heatmap of the mean gate weight per task and expert.
Tasks that share experts have similar rows; a task that has its own expert puts its
weight there. It also prints the model's test ROC AUC per task: gates are worth
reading only on a model that learned.

The fast mode (``--fast``, what CI and the docs gallery run) trains on 10,000 rows
for 3 epochs and reads the gates on 5,000 test rows; it checks the test AUCs
against ``FAST_MIN_AUC`` and raises an AssertionError naming any below its floor.

Run it::

    python examples/gate_usage.py          # full run
    python examples/gate_usage.py --fast   # a quick run (CI)
"""

from __future__ import annotations

import argparse
import os

from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skmmoe import MMOEEstimator
from skmmoe.datasets import load_census_income

# The fast run's test AUC floors (5,000 test rows). Measured on an AMD EPYC
# (AVX-512): income 0.9500, marital 0.9929, the same with torch's AVX2 kernels;
# seeds 1-4 spread them over 0.946-0.948 and 0.9915-0.9922. The floors sit 0.01-0.015
# below the lowest, far above a model that learned nothing (0.5). The gate weights
# move with the seed (which expert a task prefers is arbitrary), so none is checked.
FAST_MIN_AUC = {"income": 0.93, "marital": 0.98}


def check_auc(auc, floors, name):
    """Raises an AssertionError naming every test AUC below its floor."""
    low = [
        f"{key} test AUC {value:.4f} < {floors[key]}"
        for key, value in auc.items()
        if not value >= floors[key]  # a NaN fails too
    ]
    if low:
        raise AssertionError(f"below the floors of {name}: " + "; ".join(low))
    print(f"checked: every test AUC reaches {name} {floors}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="small, quick run (CI)")
    parser.add_argument("--output-dir", default="examples/output")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("SKMMOE_EXAMPLES_FAST") == "1"

    X, Y = load_census_income()
    X_train, X_test, Y_train, Y_test = train_test_split(
        X, Y, test_size=0.2, random_state=2018
    )
    params = {}
    if fast:
        X_train, Y_train = X_train.iloc[:10_000], Y_train.iloc[:10_000]
        X_test, Y_test = X_test.iloc[:5000], Y_test.iloc[:5000]
        params = {"epochs": 3}  # "auto" would take 13 on so few rows
    model = MMOEEstimator(**params).fit(X_train, Y_train)
    proba = model.predict_proba(X_test)
    auc = {
        task: roc_auc_score(Y_test[task], proba[t][:, 1])
        for t, task in enumerate(model.task_names_)
    }
    print("test AUC: " + ", ".join(f"{k} {v:.4f}" for k, v in auc.items()))
    weights = model.gate_weights(X_test)  # (n, tasks, experts)
    mean = weights.mean(axis=0)
    spread = weights.std(axis=0)

    print("mean gate weight (std over test rows)")
    print(
        f"{'task':<10}"
        + "".join(f"{'expert ' + str(e):>16}" for e in range(mean.shape[1]))
    )
    for t, task in enumerate(model.task_names_):
        print(
            f"{task:<10}"
            + "".join(
                f"{mean[t, e]:>9.3f} ({spread[t, e]:.2f})" for e in range(mean.shape[1])
            )
        )

    plot_gates(mean, model.task_names_, args.output_dir)
    if fast:
        check_auc(auc, FAST_MIN_AUC, "FAST_MIN_AUC")
    return mean, auc


def plot_gates(mean, task_names, output_dir):
    """A heatmap of the mean gate weight per task (rows) and expert (columns)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written")
        return
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * mean.shape[1], 2.6))
    image = ax.imshow(mean, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(mean.shape[1]), [f"expert {e}" for e in range(mean.shape[1])])
    ax.set_yticks(range(len(task_names)), task_names)
    for t in range(mean.shape[0]):
        for e in range(mean.shape[1]):
            ax.text(e, t, f"{mean[t, e]:.2f}", ha="center", va="center", color="w")
    fig.colorbar(image, ax=ax, label="mean gate weight")
    ax.set_title("census-income: gate weight per task and expert")
    fig.tight_layout()
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "gate_usage.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
