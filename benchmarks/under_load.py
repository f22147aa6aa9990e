"""Fit time alone and beside busy processes, and GridSearchCV's n_jobs.

1. A default ``MMOEEstimator()`` fit on the census example's training split, each
   in a fresh process, alone and beside 1 and 3 processes running ``while True:
   pass``; with the default ``n_jobs=None`` (torch's threads, one thread where
   measurement finds it clearly faster), with ``n_jobs=-1`` (all cores throughout:
   two on a 2-core machine) and with ``n_jobs=1``.
   Rounds alternate the settings; medians are reported with the ratio to the fit
   alone. On a 2-core machine a fair share of the CPU beside one busy process gives
   1.5x.
2. ``GridSearchCV`` over 4 candidates x 3 folds on 20,000 census rows with
   ``n_jobs=1`` and ``n_jobs=2`` (joblib's workers limit each fit's threads), each
   in a fresh process: the first search (which starts joblib's worker processes)
   and a second one in the same process (the workers are reused).

    python benchmarks/under_load.py [--rounds 3]
    python benchmarks/under_load.py --skip-fits --search-rows 60000
    python benchmarks/under_load.py --smoke          # tiny data, one round (tests)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _child_process import report, run_child

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"n_jobs=None (default)": None, "n_jobs=-1": -1, "n_jobs=1": 1}


def child_fit(n_jobs: int | str | None, n_rows: int) -> dict:
    sys.path.insert(0, str(ROOT / "examples"))
    from census_income import split_census

    from skmmoe import MMOEEstimator
    from skmmoe.datasets import load_census_income

    X, Y = load_census_income()
    X_train, _, _, Y_train, _, _ = split_census(X, Y)
    X_train, Y_train = X_train.iloc[:n_rows], Y_train.iloc[:n_rows]
    tic = time.perf_counter()
    MMOEEstimator(n_jobs=n_jobs).fit(X_train, Y_train)
    return {"fit_s": time.perf_counter() - tic}


def child_search(n_jobs: int, n_rows: int) -> dict:
    from sklearn.model_selection import GridSearchCV

    from skmmoe import MMOEEstimator
    from skmmoe.datasets import load_census_income

    X, Y = load_census_income()
    X, Y = X.iloc[:n_rows], Y.iloc[:n_rows]
    grid = {"num_experts": [2, 3], "learning_rate": [2e-3, 4e-3]}
    times = []
    for _ in range(2):  # the second search finds joblib's workers started
        search = GridSearchCV(MMOEEstimator(epochs=2), grid, cv=3, n_jobs=n_jobs)
        tic = time.perf_counter()
        search.fit(X, Y)
        times.append(time.perf_counter() - tic)
    return {"first_s": times[0], "second_s": times[1]}


def _busy(count: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(count)
    ]


def measure_fits(rounds: int, n_rows: int, settings: dict, busy_counts) -> dict:
    times: dict = {}
    for _ in range(rounds):
        for busy_count in busy_counts:
            busy = _busy(busy_count)
            try:
                time.sleep(0.5 if busy_count else 0)
                for name, n_jobs in settings.items():
                    args = ["--child", "fit", "--rows", str(n_rows)]
                    args += ["--n-jobs", str(n_jobs)]
                    result = run_child(__file__, *args, cwd=ROOT)
                    times.setdefault((name, busy_count), []).append(result["fit_s"])
            finally:
                for process in busy:
                    process.kill()
                    process.wait()
    return {key: statistics.median(values) for key, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny data, one round")
    parser.add_argument("--child", choices=["fit", "search"])
    parser.add_argument("--rows", type=int)
    parser.add_argument(
        "--search-rows", type=int, default=20_000, help="rows of the grid search"
    )
    parser.add_argument("--skip-fits", action="store_true", help="the search only")
    parser.add_argument("--n-jobs", default="None")
    args = parser.parse_args(argv)
    n_jobs = None if args.n_jobs == "None" else int(args.n_jobs)
    if args.child == "fit":
        return report(child_fit(n_jobs, args.rows))
    if args.child == "search":
        return report(child_search(n_jobs, args.rows))

    rounds = 1 if args.smoke else args.rounds
    fit_rows, search_rows = (300, 300) if args.smoke else (69_832, args.search_rows)
    # The smoke run checks that the script works: the default setting, 1 busy.
    settings = dict(list(SETTINGS.items())[:1]) if args.smoke else SETTINGS
    busy_counts = (0, 1) if args.smoke else (0, 1, 3)
    medians = {}
    if not args.skip_fits:
        medians = measure_fits(rounds, fit_rows, settings, busy_counts)
        print(f"default census fit ({fit_rows} rows), median of {rounds} round(s):")
    for name in settings if medians else ():
        alone = medians[(name, 0)]
        cells = "  ".join(
            f"{count} busy: {medians[(name, count)]:.2f} s "
            f"({medians[(name, count)] / alone:.1f}x)"
            for count in busy_counts[1:]
        )
        print(f"  {name:22s} alone: {alone:.2f} s  {cells}")
    search = {}
    for n in (1, 2):
        args_ = ["--child", "search", "--rows", str(search_rows), "--n-jobs", str(n)]
        search[n] = run_child(__file__, *args_, cwd=ROOT)
    for key, name in (("first_s", "first search"), ("second_s", "second search")):
        one, two = search[1][key], search[2][key]
        print(
            f"GridSearchCV, 4 candidates x 3 folds on {search_rows} rows, {name}: "
            f"n_jobs=1 {one:.1f} s, n_jobs=2 {two:.1f} s ({two / one:.2f}x)"
        )
    return {"fits": medians, "search": search}


if __name__ == "__main__":
    main()
