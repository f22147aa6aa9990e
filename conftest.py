"""Collection rules for the doctests pytest runs on skmmoe/ (``--doctest-modules``):
a module of an optional extra is skipped where the extra is not installed, as
tests/ skip their tests with ``pytest.importorskip``."""

import importlib.util

OPTIONAL_MODULES = {
    "skmmoe/_onnx.py": ("onnx", "onnxruntime", "skl2onnx"),
    "skmmoe/dask.py": ("dask", "distributed"),
}

collect_ignore = [
    path
    for path, needs in OPTIONAL_MODULES.items()
    if any(importlib.util.find_spec(name) is None for name in needs)
]
# tests/typing is the public API as users' type checkers see it, checked by mypy
# (pyproject.toml), not a test module: it imports every optional extra.
collect_ignore.append("tests/typing")
