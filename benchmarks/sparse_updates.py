"""When do sparse (lazy) embedding updates pay? The training epoch's samples/s with
skmmoe's rule (``skmmoe._engine.training.sparse_updates``) against dense updates
forced, for tables of a growing number of rows.

Data: ``make_recsys_multitask`` with more and more user IDs (the table of the
IDs grows with the distinct users seen); batch 256, one epoch, the settings of
``benchmarks/recsys.py``'s DeepCTR comparison; the rule and the forced dense
updates alternate, and the table shows the median over ``--rounds``.

    python benchmarks/sparse_updates.py [--rounds 2]
    python benchmarks/sparse_updates.py --smoke    # seconds (tests)
"""

from __future__ import annotations

import argparse
import statistics

import skmmoe._engine.training as training
from skmmoe import MMOEEstimator
from skmmoe.datasets import make_recsys_multitask

# (rows, user IDs): tables of about 11k, 36k and 201k rows.
SIZES = ((60_000, 10_000), (60_000, 200_000), (300_000, 3_000_000))
SMOKE_SIZES = ((2_000, 500),)
PARAMS = dict(
    epochs=1,
    batch_size=256,
    seed=0,
    categorical_features=["user_id", "item_id", "device", "hour"],
    shared_embeddings={"recent_items": "item_id"},
    numeric_encoding="scaled",
    lr_schedule="constant",
    learning_rate=1e-3,
)
SMOKE_PARAMS = dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))


def epoch_rate(X, Y, params, dense: bool) -> tuple[float, bool, int]:
    rule = training.sparse_updates
    if dense:
        training.sparse_updates = lambda *args: False
    try:
        est = MMOEEstimator(**params).fit(X, Y)
    finally:
        training.sparse_updates = rule
    seconds = sum(record["seconds"] for record in est.history_)
    rows = est.network_.layout.groups[0].rows
    return len(X) / seconds, est.network_.sparse_gradients, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    args = parser.parse_args(argv)
    sizes = SMOKE_SIZES if args.smoke else SIZES
    params = {**PARAMS, **(SMOKE_PARAMS if args.smoke else {})}
    rounds = 1 if args.smoke else args.rounds
    print("table rows  rule: sparse?  rule samples/s  dense samples/s  rule/dense")
    for n_rows, n_users in sizes:
        X, Y = make_recsys_multitask(
            n_rows, n_users=n_users, n_items=2_000, random_state=0, list_format="arrow"
        )
        rates: dict = {False: [], True: []}
        for _ in range(rounds):
            for dense in (False, True):
                rate, sparse, table_rows = epoch_rate(X, Y, params, dense)
                rates[dense].append(rate)
                if not dense:
                    rule_sparse = sparse
        rule, dense = (statistics.median(rates[d]) for d in (False, True))
        print(
            f"{table_rows:>10,}  {str(rule_sparse):>12}  {rule:>14,.0f}  "
            f"{dense:>15,.0f}  {rule / dense:>10.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
