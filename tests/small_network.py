"""Estimator parameters for a network small enough that a test fits in moments,
shared by the test modules: ``MMOEEstimator(**small(epochs=2))``; and the
tolerance for comparing results computed for different sets of rows."""

import numpy as np

SMALL = dict(
    expert_dnn_hidden_units=(16,),
    gate_dnn_hidden_units=(8,),
    tower_dnn_hidden_units=(8,),
    epochs=5,
    batch_size=64,
)


def small(**overrides) -> dict:
    """SMALL with ``overrides`` applied."""
    return {**SMALL, **overrides}


# Smaller still, for property tests that fit once per generated example.
TINY = dict(
    epochs=1,
    expert_dnn_hidden_units=(8,),
    tower_dnn_hidden_units=(),
    gate_dnn_hidden_units=(),
    num_experts=2,
)


# Results computed for different sets of rows (a row alone, or within a larger
# batch) go through matrix products whose kernels block the sums differently per
# batch size and per CPU (AVX-512, AVX2, ARM), so they agree to rounding, not
# bit for bit. Each reordered sum of K float32 terms moves by at most about
# K * eps times the sum of the terms' magnitudes; the test networks' inner
# dimensions are at most 32, so 64 * eps (7.6e-6), relative to the largest output,
# bounds it with a margin while staying far below any difference a test looks for.
ROW_SET_TOL = 64 * float(np.finfo(np.float32).eps)


def assert_close_across_row_sets(actual, expected):
    """``actual`` equals ``expected`` up to the float32 rounding of different
    batch compositions (:data:`ROW_SET_TOL` relative to the largest value)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=ROW_SET_TOL * scale)
