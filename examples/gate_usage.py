"""Which experts does each task use? Gate diagnostics on census
============================================================

Fits ``MMOEEstimator()`` (default settings) on the census data, then averages
``gate_weights(X)`` (shape (n_samples, n_tasks, num_experts), each row summing to 1)
over the test rows and writes a heatmap of the mean gate weight per task and expert.
Tasks that share experts have similar rows; a task that has its own expert puts its
weight there.

Run it::

    python examples/gate_usage.py          # full run
    python examples/gate_usage.py --fast   # a quick smoke run (CI)
"""

from __future__ import annotations

import argparse
import os

from sklearn.model_selection import train_test_split

from skmmoe import MMOEEstimator
from skmmoe.datasets import load_census_income


def main(argv=None):
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="small, quick run (CI)")
    parser.add_argument("--output-dir", default="examples/output")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("SKMMOE_EXAMPLES_FAST") == "1"

    X, Y = load_census_income()
    X_train, X_test, Y_train, _ = train_test_split(
        X, Y, test_size=0.2, random_state=2018
    )
    params = {}
    if fast:
        X_train, Y_train, X_test = (
            X_train.iloc[:2000],
            Y_train.iloc[:2000],
            X_test[:500],
        )
        params = {"expert_dnn_hidden_units": (32,)}
    model = MMOEEstimator(**params).fit(X_train, Y_train)
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

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written")
        return mean
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * mean.shape[1], 2.6))
    image = ax.imshow(mean, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(mean.shape[1]), [f"expert {e}" for e in range(mean.shape[1])])
    ax.set_yticks(range(len(model.task_names_)), model.task_names_)
    for t in range(mean.shape[0]):
        for e in range(mean.shape[1]):
            ax.text(e, t, f"{mean[t, e]:.2f}", ha="center", va="center", color="w")
    fig.colorbar(image, ax=ax, label="mean gate weight")
    ax.set_title("census-income: gate weight per task and expert")
    fig.tight_layout()
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "gate_usage.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")
    return mean


if __name__ == "__main__":
    main()
