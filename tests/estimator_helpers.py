"""Helpers shared by test_persistence.py and test_device.py:
``from estimator_helpers import assert_same_proba, private_copy``."""

import copy

from numpy.testing import assert_array_equal


def private_copy(est):
    """A deep copy made without calling est.__getstate__, for tests that pickle
    or could change the estimator."""
    out = type(est).__new__(type(est))
    out.__dict__.update(copy.deepcopy(dict(vars(est))))
    out.__dict__.pop("_skmmoe_version", None)
    out.__dict__.pop("_fit_device", None)
    return out


def assert_same_proba(a, b):
    """predict_proba outputs equal: arrays, or lists of arrays and None."""
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for pa, pb in zip(a, b):
            if pa is None:
                assert pb is None
            else:
                assert_array_equal(pa, pb)
    else:
        assert_array_equal(a, b)
