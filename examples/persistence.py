"""Saving and loading a fitted model, two ways
===========================================

- ``joblib.dump`` / ``joblib.load``: pickle; works for every estimator and Pipeline,
  but loading a pickle runs code from the file: only load files you trust.
- ``skmmoe.save`` / ``skmmoe.load``: JSON, the weights in safetensors and the
  preprocessor through skops, with an explicit list of trusted types; loading runs
  no code from the file, so a model from an untrusted source is safe to open.
  Tampered or truncated files are refused.

Both give back a model that predicts exactly as the original: the script checks
that the predictions are identical, bit for bit, and that a truncated file is
refused, and raises an AssertionError otherwise. The fast mode (``--fast``, what CI
and the docs gallery run) fits 2,000 rows for one epoch, enough to have weights to
save.

Run it::

    python examples/persistence.py          # full run
    python examples/persistence.py --fast   # a quick run (CI)
"""

from __future__ import annotations

import argparse
import os
import tempfile

import joblib
import numpy as np

import skmmoe
from skmmoe.datasets import load_census_income


def main(argv=None):
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="small, quick run (CI)")
    args = parser.parse_args(argv)
    fast = args.fast or os.environ.get("SKMMOE_EXAMPLES_FAST") == "1"

    X, Y = load_census_income()
    X_train, Y_train = X.iloc[:2000], Y.iloc[:2000]
    if not fast:
        X_train, Y_train = X.iloc[:50000], Y.iloc[:50000]
    X_new = X.iloc[-1000:]
    model = skmmoe.MMOEEstimator(epochs=1 if fast else 4).fit(X_train, Y_train)
    expected = model.predict_proba(X_new)

    checks = {}
    with tempfile.TemporaryDirectory() as folder:
        pickle_path = os.path.join(folder, "model.joblib")
        joblib.dump(model, pickle_path)
        from_pickle = joblib.load(pickle_path)

        safe_path = os.path.join(folder, "model.skmmoe")
        skmmoe.save(model, safe_path)
        from_safe = skmmoe.load(safe_path)

        for name, path, loaded in [
            ("joblib", pickle_path, from_pickle),
            ("skmmoe.save", safe_path, from_safe),
        ]:
            same = all(
                np.array_equal(a, b)
                for a, b in zip(expected, loaded.predict_proba(X_new))
            )
            print(
                f"{name:<12} {os.path.getsize(path) / 1024:8.0f} KiB  "
                f"identical predictions: {same}"
            )
            checks[f"{name} identical predictions"] = same

        # A damaged file is refused with a clear error, never half-loaded.
        with open(safe_path, "r+b") as handle:
            handle.truncate(os.path.getsize(safe_path) // 2)
        try:
            skmmoe.load(safe_path)
        except ValueError as exc:
            print(f"truncated file refused: {exc}")
            checks["truncated file refused"] = True
        else:
            checks["truncated file refused"] = False
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise AssertionError("persistence checks failed: " + ", ".join(failed))
    return checks


if __name__ == "__main__":
    main()
