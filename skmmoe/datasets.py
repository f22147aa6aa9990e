"""Datasets: the UCI Census-Income (KDD) data, the MMoE paper's synthetic tasks and a
synthetic recommendation log with list-valued columns."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "CENSUS_COLUMNS",
    "load_census_income",
    "make_mixed_multitask",
    "make_multitask_regression",
    "make_recsys_multitask",
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


_RECSYS_FACTORS = 8
_DEVICES = ("mobile", "desktop", "tablet")
_LIST_FORMATS = ("python", "arrow")


def make_recsys_multitask(
    n_samples: int = 10_000,
    *,
    n_users: int = 1_000,
    n_items: int = 500,
    n_genres: int = 20,
    max_recent: int = 10,
    missing_rate: float = 0.02,
    list_format: str = "python",
    return_truth: bool = False,
    random_state: int | np.random.Generator | None = None,
) -> (
    tuple[pd.DataFrame, pd.DataFrame] | tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
):
    """A recommendation log with list-valued columns and a known ground truth.

    Each row is one impression: a user was shown an item, in a context, after
    having seen some items recently. Users and items are latent factor vectors of
    dimension 8. An item's factor is the mean of its genres' factors plus an
    item-specific part, so that its genres tell about a rare item what its ID
    cannot. The recent items are drawn for each row, not for each user, and their
    mean factor, the session interest ``s``, is therefore known from the list
    column ``recent_items`` only. With ``<., .>`` the dot product, ``u`` the
    user's factor, ``v`` the item's and ``b_user``, ``b_item``, ``q_item``
    per-user and per-item effects::

        click logit      = -2.25 + <u, v> + 4.5 <s, v> + b_user + b_item
                           + device + 0.3 cos(2 pi (hour - 21) / 24)
                           - 0.3 log(price / 10)
        conversion logit = -1.3 + 0.6 <u, v> + 3 <s, v> + q_item + device'
                           - 0.8 log(price / 10)
        log(watch_time)  = 3 + 0.4 <u, v> + 1.5 <s, v> + 0.5 b_item + device''
                           + 0.2 [hour >= 20 or hour < 2] + N(0, 0.6^2)

    ``click`` is drawn for every row; ``conversion`` only for the clicked rows
    (a conversion follows a click), and is missing elsewhere; ``watch_time``, the
    seconds the impression held the user's attention, for every row. Items and
    users are drawn with Zipf-like popularity (exponents 1.0 and 0.8), their IDs
    shuffled so that an ID's size says nothing about its popularity; the device,
    hour and price are drawn independently of the user and item, the price around
    the item's own base price. At the defaults about 20% of rows are clicked and
    about 38% of clicks convert.

    Parameters
    ----------
    n_samples : int, default=10_000
    n_users : int, default=1_000
        Size of the user ID space: IDs 1 to ``n_users``.
    n_items : int, default=500
        Size of the item ID space: IDs 1 to ``n_items``, shared by ``item_id`` and
        the elements of ``recent_items``.
    n_genres : int, default=20
        Number of genres, at least 3; each item has 1 to 3 distinct genres.
    max_recent : int, default=10
        Most items in a row's ``recent_items``; its length is uniform in
        ``0..max_recent``.
    missing_rate : float in [0, 1), default=0.02
        Share of rows whose ``recent_items`` is missing (``None``, or null in the
        Arrow format) rather than empty; their session interest is 0, as for an
        empty list.
    list_format : {"python", "arrow"}, default="python"
        ``"python"``: the list columns are object columns of Python lists.
        ``"arrow"``: they are ``pd.ArrowDtype(pa.list_(...))`` columns built from
        flat arrays without a Python object per row (needs pyarrow); use it for
        millions of rows.
    return_truth : bool, default=False
        Also return the true probabilities and expectations of each row.
    random_state : int, numpy Generator or None, default=None

    Returns
    -------
    X : DataFrame of shape (n_samples, 7)
        ``user_id`` and ``item_id`` (``category`` dtype whose categories are the
        int64 IDs 1 to ``n_users`` and 1 to ``n_items``: a value is a Python int,
        equal to the same item's element in ``recent_items``); ``item_genres``
        (list of genre names ``"genre_00"``..., 1 to 3, fixed for each item);
        ``recent_items`` (list of int64 item IDs, 0 to ``max_recent`` of them,
        sometimes missing); ``device`` (``category``: mobile, desktop, tablet);
        ``hour`` (int64, 0 to 23); ``price`` (float64).
    Y : DataFrame of shape (n_samples, 3)
        ``click`` (int64, 0/1); ``conversion`` (nullable ``Int64``, 0/1 where
        ``click == 1``, ``pd.NA`` elsewhere: a missing label, which masks the row
        out of that task); ``watch_time`` (float64 > 0, seconds).
    truth : DataFrame of shape (n_samples, 4)
        Only when ``return_truth=True``. ``click``: P(click); ``conversion``:
        P(conversion | click); ``watch_time``: E[watch_time]; ``click_session``:
        the term ``4.5 <s, v>`` of the click logit, which only the list columns
        carry (subtract it from the logit to get the best prediction without
        ``recent_items``).

    Examples
    --------
    >>> from skmmoe.datasets import make_recsys_multitask
    >>> X, Y, truth = make_recsys_multitask(1000, return_truth=True, random_state=0)
    >>> list(X.columns)
    ['user_id', 'item_id', 'item_genres', 'recent_items', 'device', 'hour', 'price']
    >>> list(Y.columns), list(truth.columns)
    (['click', 'conversion', 'watch_time'], ['click', 'conversion', 'watch_time', \
'click_session'])
    >>> bool(Y["conversion"].isna().eq(Y["click"] == 0).all())
    True
    >>> X_arrow, _ = make_recsys_multitask(1000, list_format="arrow", random_state=0)
    >>> str(X_arrow["recent_items"].dtype)
    'list<item: int64>[pyarrow]'
    """
    _check_recsys_params(
        n_samples, n_users, n_items, n_genres, max_recent, missing_rate, list_format
    )
    rng = np.random.default_rng(random_state)
    items = _recsys_items(rng, n_items, n_genres)
    rows = _recsys_rows(rng, n_samples, n_users, items, max_recent, missing_rate)
    Y, truth = _recsys_outcomes(rng, rows, items)
    X = _recsys_frame(rows, items, n_users, n_genres, list_format)
    if return_truth:
        return X, Y, truth
    return X, Y


def _check_recsys_params(
    n_samples, n_users, n_items, n_genres, max_recent, missing_rate, list_format
) -> None:
    for name, value, low in (
        ("n_samples", n_samples, 1),
        ("n_users", n_users, 1),
        ("n_items", n_items, 1),
        ("n_genres", n_genres, 3),
        ("max_recent", max_recent, 0),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an int; got {value!r}.")
        if value < low:
            raise ValueError(f"{name} must be >= {low}; got {value}.")
    # The list offsets are int32, as pa.list_ has them.
    if n_samples * max_recent >= 2**31:
        raise ValueError(
            "n_samples * max_recent must be below 2**31 (the offsets of an Arrow "
            f"list); got {n_samples} * {max_recent}."
        )
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError(f"missing_rate must be in [0, 1); got {missing_rate}.")
    if list_format not in _LIST_FORMATS:
        raise ValueError(
            f"list_format must be 'python' or 'arrow'; got {list_format!r}."
        )


def _zipf_sampler(rng, n: int, exponent: float):
    """A function drawing codes in 0..n-1 with Zipf-like weights, ranks shuffled.

    The rank is the integer part of a continuous power law of density
    proportional to x**-exponent on [1, n + 1), drawn by inverting its CDF: as
    fast for 10 million codes as for 10 (a search in the discrete CDF is not).
    """
    code_of_rank = rng.permutation(n)

    def draw(size: int) -> np.ndarray:
        u = rng.random(size)
        if exponent == 1.0:
            x = np.exp(u * np.log(n + 1.0))
        else:
            e = 1.0 - exponent
            x = (1.0 + u * ((n + 1.0) ** e - 1.0)) ** (1.0 / e)
        return code_of_rank[np.clip(x.astype(np.int64) - 1, 0, n - 1)]

    return draw


def _recsys_items(rng, n_items: int, n_genres: int) -> dict:
    """The items of :func:`make_recsys_multitask`: genres, factors, effects."""
    k = _RECSYS_FACTORS
    genre_factors = rng.standard_normal((n_genres, k)) / np.sqrt(k)
    # Three distinct genres per item (the 2nd and 3rd skip the ones before), of
    # which the first 1, 2 or 3 are the item's.
    first = rng.integers(0, n_genres, n_items)
    second = rng.integers(0, n_genres - 1, n_items)
    second += second >= first
    third = rng.integers(0, n_genres - 2, n_items)
    low, high = np.minimum(first, second), np.maximum(first, second)
    third += third >= low
    third += third >= high
    slots = np.column_stack([first, second, third])
    n_item_genres = rng.choice(3, n_items, p=[0.4, 0.4, 0.2]) + 1
    has = np.arange(3) < n_item_genres[:, None]
    factors = np.zeros((n_items, k))
    for j in range(3):
        factors += has[:, j, None] * genre_factors[slots[:, j]]
    factors /= n_item_genres[:, None]
    factors += 0.5 * rng.standard_normal((n_items, k)) / np.sqrt(k)
    # One contiguous row per factor: the gathers by item read one factor at a time.
    factors = np.ascontiguousarray(factors.T)
    return dict(
        genres=slots[has],  # flat, item after item
        genre_offsets=np.concatenate([[0], np.cumsum(n_item_genres)]),
        factors=factors,
        bias=rng.normal(0.0, 0.5, n_items),
        quality=rng.normal(0.0, 0.5, n_items),
        base_price=np.round(rng.lognormal(np.log(10.0), 0.8, n_items), 2),
        draw=_zipf_sampler(rng, n_items, 1.0),
    )


def _recsys_rows(
    rng, n: int, n_users: int, items: dict, max_recent: int, missing_rate: float
) -> dict:
    """The rows of :func:`make_recsys_multitask`, IDs as codes (ID - 1)."""
    user = _zipf_sampler(rng, n_users, 0.8)(n)
    item = items["draw"](n)
    length = rng.integers(0, max_recent + 1, n)
    missing = rng.random(n) < missing_rate
    length[missing] = 0
    recent_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=recent_offsets[1:])
    recent = items["draw"](int(recent_offsets[-1]))
    # A diurnal profile: few impressions at night, most in the evening.
    hour_p = 1.0 + 0.8 * np.cos(2 * np.pi * (np.arange(24) - 20) / 24)
    return dict(
        user=user,
        item=item,
        recent=recent,
        recent_offsets=recent_offsets,
        recent_missing=missing,
        device=rng.choice(3, n, p=[0.6, 0.3, 0.1]),
        hour=rng.choice(24, n, p=hour_p / hour_p.sum()),
        price=np.round(items["base_price"][item] * rng.uniform(0.8, 1.2, n), 2),
    )


def _recsys_affinities(rng, rows: dict, items: dict) -> tuple[np.ndarray, ...]:
    """<u, v>, <s, v> and the user effect per row; the users' factors are drawn
    for the users that occur only, so that 10 million users cost nothing."""
    n, k = len(rows["item"]), _RECSYS_FACTORS
    users, user_row = np.unique(rows["user"], return_inverse=True)
    user_factors = rng.standard_normal((k, len(users)))
    user_bias = rng.normal(0.0, 0.5, len(users))[user_row]
    length = np.diff(rows["recent_offsets"])
    owner = np.repeat(np.arange(n), length)
    v, recent = items["factors"], rows["recent"]
    uv, sv = np.zeros(n), np.zeros(n)
    # One factor at a time: no (n, k) temporaries at millions of rows.
    for d in range(k):
        v_row = v[d][rows["item"]]
        uv += user_factors[d][user_row] * v_row
        sv += np.bincount(owner, weights=v[d][recent], minlength=n) * v_row
    sv /= np.maximum(length, 1)
    return uv, sv, user_bias


def _recsys_outcomes(rng, rows: dict, items: dict) -> tuple[pd.DataFrame, ...]:
    """Labels and ground truth of :func:`make_recsys_multitask`."""
    n = len(rows["item"])
    uv, sv, user_bias = _recsys_affinities(rng, rows, items)
    item, device, hour = rows["item"], rows["device"], rows["hour"]
    log_price = np.log(rows["price"] / 10.0)
    session = 4.5 * sv
    click_logit = (
        -2.25
        + 1.0 * uv
        + session
        + user_bias
        + items["bias"][item]
        + np.array([0.2, 0.0, -0.2])[device]
        + 0.3 * np.cos(2 * np.pi * (hour - 21) / 24)
        - 0.3 * log_price
    )
    conversion_logit = (
        -1.3
        + 0.6 * uv
        + 3.0 * sv
        + items["quality"][item]
        + np.array([-0.3, 0.3, 0.0])[device]
        - 0.8 * log_price
    )
    log_watch = (
        3.0
        + 0.4 * uv
        + 1.5 * sv
        + 0.5 * items["bias"][item]
        + np.array([-0.2, 0.3, 0.1])[device]
        + 0.2 * ((hour >= 20) | (hour < 2))
    )
    p_click = 1.0 / (1.0 + np.exp(-click_logit))
    p_conversion = 1.0 / (1.0 + np.exp(-conversion_logit))
    click = (rng.random(n) < p_click).astype(np.int64)
    converted = (rng.random(n) < p_conversion).astype(np.int64)
    Y = pd.DataFrame(
        {
            "click": click,
            "conversion": pd.array(converted, dtype="Int64"),
            "watch_time": np.exp(log_watch + rng.normal(0.0, 0.6, n)),
        }
    )
    Y.loc[click == 0, "conversion"] = pd.NA
    truth = pd.DataFrame(
        {
            "click": p_click,
            "conversion": p_conversion,
            "watch_time": np.exp(log_watch + 0.6**2 / 2),
            "click_session": session,
        }
    )
    return Y, truth


def _take_lists(
    offsets: np.ndarray, values: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The lists ``index`` of a list array given by its offsets and flat values,
    as offsets and flat values again (Arrow's ``take``, in numpy)."""
    length = np.diff(offsets)[index]
    new_offsets = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(length, out=new_offsets[1:])
    # Each element's position in its list, plus where its list starts in values.
    starts = np.repeat(offsets[index] - new_offsets[:-1], length)
    return new_offsets, values[starts + np.arange(new_offsets[-1])]


def _list_column(
    offsets: np.ndarray,
    values: np.ndarray,
    list_format: str,
    *,
    missing: np.ndarray | None = None,
    names: list[str] | None = None,
) -> pd.Series:
    """A list column: Arrow-backed from the flat values, or Python lists. With
    ``names``, the values are codes of these names."""
    if list_format == "arrow":
        import pyarrow as pa

        flat = pa.array(values)
        if names is not None:
            flat = pa.array(names, pa.string()).take(flat)
        array = pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()),
            flat,
            mask=None if missing is None else pa.array(missing),
        )
        return pd.Series(array, dtype=pd.ArrowDtype(array.type))
    if names is not None:
        values = np.array(names, dtype=object)[values]
    flat = values.tolist()
    lists = [flat[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    column = pd.Series(lists, dtype=object)
    if missing is not None:
        column[missing] = None
    return column


def _recsys_frame(
    rows: dict, items: dict, n_users: int, n_genres: int, list_format: str
) -> pd.DataFrame:
    """X of :func:`make_recsys_multitask` from its rows' codes."""
    n_items = items["factors"].shape[1]
    item = rows["item"]
    genre_offsets, genres = _take_lists(items["genre_offsets"], items["genres"], item)
    return pd.DataFrame(
        {
            "user_id": pd.Categorical.from_codes(
                rows["user"], dtype=pd.CategoricalDtype(pd.RangeIndex(1, n_users + 1))
            ),
            "item_id": pd.Categorical.from_codes(
                item, dtype=pd.CategoricalDtype(pd.RangeIndex(1, n_items + 1))
            ),
            "item_genres": _list_column(
                genre_offsets,
                genres,
                list_format,
                names=[f"genre_{g:02d}" for g in range(n_genres)],
            ),
            "recent_items": _list_column(
                rows["recent_offsets"],
                rows["recent"] + 1,
                list_format,
                missing=rows["recent_missing"],
            ),
            "device": pd.Categorical.from_codes(rows["device"], list(_DEVICES)),
            "hour": rows["hour"].astype(np.int64),
            "price": rows["price"],
        }
    )
