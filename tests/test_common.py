"""scikit-learn's common estimator checks on the three estimators, with defaults."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmmoe import MMOEClassifier, MMOEEstimator, MMOERegressor


def _expected_failed_checks(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "Mini-batch SGD cannot make weights exactly equal to repeated rows; the "
            "weighting is tested in tests/test_training.py instead."
        ),
    }


@parametrize_with_checks(
    [MMOEEstimator(), MMOEClassifier(), MMOERegressor()],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
