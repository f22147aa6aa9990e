"""pytest's collection of the package's docstring examples (``--doctest-modules``):
the modules of optional extras are left out where the extra is not installed."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("dask") is None or (
    importlib.util.find_spec("distributed") is None
):
    collect_ignore.append("skmmoe/dask.py")
