"""Datasets: the UCI Census-Income (KDD) data and the MMoE paper's synthetic tasks."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "CENSUS_COLUMNS",
    "load_census_income",
    "make_mixed_multitask",
    "make_multitask_regression",
]

CENSUS_COLUMNS = (
    "age", "class_worker", "det_ind_code", "det_occ_code", "education",
    "wage_per_hour", "hs_college", "marital_stat", "major_ind_code",
    "major_occ_code", "race", "hisp_origin", "sex", "union_member", "unemp_reason",
    "full_or_part_emp", "capital_gains", "capital_losses", "stock_dividends",
    "tax_filer_stat", "region_prev_res", "state_prev_res", "det_hh_fam_stat",
    "det_hh_summ", "instance_weight", "mig_chg_msa", "mig_chg_reg", "mig_move_reg",
    "mig_same", "mig_prev_sunbelt", "num_emp", "fam_under_18", "country_father",
    "country_mother", "country_self", "citizenship", "own_or_self", "vet_question",
    "vet_benefits", "weeks_worked", "year", "income_50k",
)  # fmt: skip

_NUMERIC = (
    "age", "wage_per_hour", "capital_gains", "capital_losses", "stock_dividends",
    "num_emp", "weeks_worked",
)  # fmt: skip
# Integer columns that are codes, not quantities.
_CODES = ("det_ind_code", "det_occ_code", "own_or_self", "vet_benefits", "year")


def load_census_income(
    *, drop_education: bool = False, return_sample_weight: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame] | tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Load the UCI Census-Income (KDD) test split shipped with skmmoe.

    99,762 rows of the 1994-1995 US Current Population Survey, as used by the MMoE
    paper (Ma et al., KDD 2018, section 6.3, first task group). The data is the UCI
    Machine Learning Repository's "Census-Income (KDD)" test split, by Terran Lane and
    Ronny Kohavi, licensed CC BY 4.0 (https://doi.org/10.24432/C5N30T).

    Parameters
    ----------
    drop_education : bool, default=False
        Drop the ``education`` column from X, as the paper does.
    return_sample_weight : bool, default=False
        Also return the survey's ``instance_weight`` column, which is not a
        feature but may be passed to ``fit(..., sample_weight=...)``.

    Returns
    -------
    X : DataFrame of shape (99762, 39) or (99762, 38)
        String columns and code-like integer columns (industry, occupation, ...)
        as ``category``; age, wages, capital gains and losses, dividends, number of
        employers and weeks worked as numbers. The two targets and the instance
        weight are not in X.
    Y : DataFrame of shape (99762, 2)
        ``income``: 1 if income is above 50K, else 0; ``marital``: 1 if never
        married, else 0.
    sample_weight : ndarray of shape (99762,)
        Only when ``return_sample_weight=True``.

    Examples
    --------
    >>> from skmmoe.datasets import load_census_income
    >>> X, Y = load_census_income()
    >>> X.shape, list(Y.columns)
    ((99762, 39), ['income', 'marital'])
    >>> round(float(Y["income"].mean()), 3), round(float(Y["marital"].mean()), 3)
    (0.062, 0.432)
    """
    path = resources.files("skmmoe") / "data" / "census-income.test.gz"
    with resources.as_file(path) as file:
        raw = pd.read_csv(
            file,
            header=None,
            names=list(CENSUS_COLUMNS),
            skipinitialspace=True,
            compression="gzip",
            dtype={c: "string" for c in CENSUS_COLUMNS if c not in _NUMERIC + _CODES}
            | {"instance_weight": "float64"},
            na_values=[],
            keep_default_na=False,
        )
    Y = pd.DataFrame(
        {
            "income": (raw["income_50k"].str.strip(".") == "50000+").astype(np.int64),
            "marital": (raw["marital_stat"] == "Never married").astype(np.int64),
        }
    )
    X = raw.drop(columns=["income_50k", "marital_stat", "instance_weight"])
    if drop_education:
        X = X.drop(columns=["education"])
    for column in X.columns:
        if column in _NUMERIC:
            X[column] = X[column].astype(np.float64)
        else:
            X[column] = X[column].astype(str).astype("category")
    if return_sample_weight:
        return X, Y, raw["instance_weight"].to_numpy()
    return X, Y


def make_multitask_regression(
    n_samples: int = 10000,
    n_features: int = 100,
    *,
    correlation: float = 0.5,
    scale: float = 1.0,
    n_sin: int = 10,
    alpha_scale: float = 1.0,
    beta_scale: float = 1.0,
    noise: float = 0.1,
    random_state: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two regression tasks of a chosen correlation (Ma et al., KDD 2018, sec. 3.2).

    Following the paper: two orthogonal unit vectors u1, u2 give the task weights
    ``w1 = c * u1`` and ``w2 = c * (p * u1 + sqrt(1 - p**2) * u2)``, whose cosine
    similarity is the correlation p; inputs x are standard normal, and

        y_t = w_t . x + sum_{i=1..m} sin(alpha_i * (w_t . x) + beta_i) + eps_t,

    with eps_t ~ N(0, noise^2), drawn independently for each task. The paper's noise
    is N(0, 0.01), in the usual notation a variance of 0.01: hence the default
    standard deviation 0.1.
    The paper fixes neither c, m, nor the law of alpha_i and beta_i; they are
    parameters here.

    Parameters
    ----------
    n_samples : int, default=10000
    n_features : int, default=100
        Input dimension d.
    correlation : float in [-1, 1], default=0.5
        Cosine similarity p of the two tasks' weight vectors.
    scale : float, default=1.0
        Norm c of both weight vectors.
    n_sin : int, default=10
        Number m of sine terms.
    alpha_scale, beta_scale : float, default=1.0
        alpha_i and beta_i are drawn from N(0, alpha_scale^2) and N(0, beta_scale^2)
        once per data set and shared by both tasks, as in the paper.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise.
    random_state : int, numpy Generator or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, 2)

    Examples
    --------
    >>> from skmmoe.datasets import make_multitask_regression
    >>> X, Y = make_multitask_regression(1000, 20, correlation=0.9, random_state=0)
    >>> X.shape, Y.shape
    ((1000, 20), (1000, 2))
    """
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [-1, 1]; got {correlation}.")
    if n_features < 2:
        raise ValueError(f"n_features must be at least 2; got {n_features}.")
    if n_samples < 1 or n_sin < 0 or noise < 0 or scale <= 0:
        raise ValueError(
            "n_samples must be >= 1, n_sin >= 0, noise >= 0 and scale > 0."
        )
    rng = np.random.default_rng(random_state)
    # Two orthonormal vectors via QR of a random Gaussian matrix.
    q, _ = np.linalg.qr(rng.standard_normal((n_features, 2)))
    u1, u2 = q[:, 0], q[:, 1]
    w1 = scale * u1
    w2 = scale * (correlation * u1 + np.sqrt(1.0 - correlation**2) * u2)
    alpha = rng.normal(0.0, alpha_scale, n_sin)
    beta = rng.normal(0.0, beta_scale, n_sin)
    X = rng.standard_normal((n_samples, n_features))
    Y = np.empty((n_samples, 2))
    for t, w in enumerate((w1, w2)):
        z = X @ w
        Y[:, t] = (
            z
            + np.sin(np.outer(z, alpha) + beta).sum(axis=1)
            + rng.normal(0.0, noise, n_samples)
        )
    return X, Y


def make_mixed_multitask(
    n_samples: int = 30000,
    *,
    missing_rate: float = 0.05,
    random_state: int | np.random.Generator | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A mixed-type table with three related tasks of three kinds.

    The columns are the awkward kinds that real tables hold and gradient-boosted
    trees handle well: amounts that are zero for most rows, heavy-tailed amounts,
    small integers whose effect is not monotone, a number with a point mass
    (hours, mostly 40), a high-cardinality string column with Zipf-distributed
    values, low-cardinality strings, a ``category`` and a bool column, and missing
    values. The three tasks share latent effects of these columns, as related
    tasks do, and each adds its own.

    Parameters
    ----------
    n_samples : int, default=30000
    missing_rate : float in [0, 1), default=0.05
        Share of missing values in each of the columns ``score``, ``hours``,
        ``occupation`` and ``savings``.
    random_state : int, numpy Generator or None, default=None

    Returns
    -------
    X : DataFrame of shape (n_samples, 12)
        ``gains`` (0 for about 90% of rows, else log-normal), ``savings`` (0 for
        about 60%, else log-normal), ``income`` (Pareto, heavy tail), ``age``
        (integers 18 to 80), ``children`` (integers 0 to 6), ``rating`` (integers 1
        to 5), ``hours`` (40 for half the rows), ``score`` (normal) as numbers;
        ``city`` (strings, 2000 values), ``occupation`` (strings, 12 values),
        ``segment`` (category, 5 values), ``member`` (bool).
    Y : DataFrame of shape (n_samples, 3)
        ``churn`` (binary, 0/1), ``spend`` (regression), ``plan`` (multiclass,
        strings ``"basic"``, ``"plus"``, ``"pro"``, ``"team"``).

    Examples
    --------
    >>> from skmmoe.datasets import make_mixed_multitask
    >>> X, Y = make_mixed_multitask(1000, random_state=0)
    >>> X.shape, list(Y.columns)
    ((1000, 12), ['churn', 'spend', 'plan'])
    >>> round(float((X["gains"] == 0).mean()), 1)
    0.9
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1; got {n_samples}.")
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError(f"missing_rate must be in [0, 1); got {missing_rate}.")
    rng = np.random.default_rng(random_state)
    # The effects are drawn once per data set, before the rows, from random_state.
    effects = {
        "city": rng.normal(0.0, 1.0, (_N_CITIES, 2)),
        "occupation": rng.normal(0.0, 1.0, (_N_OCCUPATIONS, 2)),
        "segment": rng.normal(0.0, 1.0, (5, 2)),
        "rating": rng.normal(0.0, 1.0, 5),
        "children": rng.normal(0.0, 0.7, 7),
    }
    columns = _mixed_columns(rng, n_samples)
    Y = _mixed_tasks(rng, columns, effects)
    X = _mixed_frame(columns)
    for name in ("score", "hours", "savings", "occupation"):
        missing = rng.random(n_samples) < missing_rate
        if name == "occupation":
            X[name] = X[name].astype(object)
            X.loc[missing, name] = None
        else:
            X.loc[missing, name] = np.nan
    return X, Y


_N_CITIES, _N_OCCUPATIONS = 2000, 12


def _mixed_frame(columns: dict) -> pd.DataFrame:
    """The columns of :func:`make_mixed_multitask` as its DataFrame."""
    return pd.DataFrame(
        {
            **{k: columns[k] for k in ("gains", "savings", "income")},
            **{k: columns[k].astype(np.int64) for k in ("age", "children", "rating")},
            "hours": columns["hours"],
            "score": columns["score"],
            "city": np.array([f"city_{k:04d}" for k in range(_N_CITIES)])[
                columns["city"]
            ],
            "occupation": np.array(
                [f"occ_{k:02d}" for k in range(_N_OCCUPATIONS)], dtype=object
            )[columns["occupation"]],
            "segment": pd.Categorical.from_codes(
                columns["segment"], [f"seg_{k}" for k in "abcde"]
            ),
            "member": columns["member"],
        }
    )


def _mixed_columns(rng, n: int) -> dict:
    """The columns of :func:`make_mixed_multitask`, strings as codes."""
    gains = np.where(rng.random(n) < 0.1, np.round(rng.lognormal(8.0, 1.2, n), 0), 0.0)
    savings = np.where(
        rng.random(n) < 0.4, np.round(rng.lognormal(9.0, 1.5, n), 2), 0.0
    )
    income = np.round(15000.0 * (rng.pareto(2.0, n) + 1.0), 0)
    age = np.clip(np.round(rng.gamma(6.0, 7.0, n) + 10.0), 18, 80)
    children = np.minimum(rng.poisson(1.2, n), 6)
    rating = rng.integers(1, 6, n)
    hours = np.where(
        rng.random(n) < 0.5, 40.0, np.clip(np.round(rng.normal(38.0, 12.0, n)), 1, 99)
    )
    score = rng.normal(0.0, 1.0, n)
    # Zipf-like frequencies: a few large cities, a long tail of small ones.
    city_p = 1.0 / np.arange(1, _N_CITIES + 1) ** 1.1
    city = rng.choice(_N_CITIES, n, p=city_p / city_p.sum())
    occupation = rng.integers(0, _N_OCCUPATIONS, n)
    segment = rng.integers(0, 5, n)
    member = rng.random(n) < 0.3
    return dict(
        gains=gains,
        savings=savings,
        income=income,
        age=age,
        children=children,
        rating=rating,
        hours=hours,
        score=score,
        city=city,
        occupation=occupation,
        segment=segment,
        member=member,
    )


def _mixed_tasks(rng, c: dict, effects: dict) -> pd.DataFrame:
    """The three tasks of :func:`make_mixed_multitask` from its columns ``c``."""
    n = len(c["gains"])
    # Latent effects shared by the tasks: thresholds on the amounts, a peak in
    # age, per-value effects of the small integers and of every string column.
    shared = (
        1.2 * (c["gains"] > 0)
        + 0.8 * (c["gains"] > 15000)
        - 0.5 * np.log1p(c["savings"]) / 10.0
        + np.sin((c["age"] - 18.0) / 10.0)
        + effects["rating"][c["rating"] - 1]
        + 0.6 * effects["city"][c["city"], 0]
        + 0.7 * effects["occupation"][c["occupation"], 0]
        + 0.3 * c["score"] * (c["member"] - 0.5)
    )
    own = (
        0.8 * (c["hours"] > 45)
        - 0.6 * (c["hours"] == 40)
        + effects["children"][c["children"]]
        + 0.5 * effects["segment"][c["segment"], 1]
        + 0.6 * effects["city"][c["city"], 1]
        + 0.4 * np.log(c["income"] / 15000.0)
    )
    churn_logit = shared + 0.5 * own - 1.5
    churn = (rng.random(n) < 1.0 / (1.0 + np.exp(-churn_logit))).astype(np.int64)
    spend = (
        50.0 * np.log(c["income"] / 1000.0)
        + 20.0 * shared
        + 15.0 * own
        + 30.0 * (c["savings"] > 0)
        + rng.standard_t(3, n) * 40.0
    )
    plan_scores = np.column_stack(
        [
            np.zeros(n),
            0.8 * shared + 0.5 * c["member"],
            0.6 * own + 1.0 * (c["gains"] > 0) + 0.3 * np.log(c["income"] / 15000.0),
            0.5 * shared + 0.5 * own + 0.4 * (c["children"] >= 2) - 0.3,
        ]
    )
    plan = np.argmax(plan_scores + rng.gumbel(0.0, 1.0, plan_scores.shape), axis=1)
    return pd.DataFrame(
        {
            "churn": churn,
            "spend": spend,
            "plan": np.array(["basic", "plus", "pro", "team"], dtype=object)[plan],
        }
    )
