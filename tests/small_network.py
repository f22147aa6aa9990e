"""Estimator parameters for a network small enough that a test fits in moments,
shared by the test modules: ``MMOEEstimator(**small(epochs=2))``."""

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
