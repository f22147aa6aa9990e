"""Recommendation data for the tests of list-valued columns:
``from recsys_data import load_movielens_sample``.

``load_movielens_sample`` reads DeepCTR-Torch's ``examples/movielens_sample.txt``
(200 MovieLens-1M ratings with pipe-separated genres). The file is not in this
repository: the MovieLens-1M terms do not allow redistribution without
GroupLens' permission (see tests/data/README.md, which says where to get it).
Tests that need the real file skip without it; the loader itself is tested on a
few rows of the same format made up by the test.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

MOVIELENS_SAMPLE = Path(__file__).parent / "data" / "movielens_sample.txt"
# Every scalar feature is a code: IDs, the age group (1, 18, 25, ...), the
# occupation (0 to 20) and the zip code (a string, some with a leading zero).
_CATEGORICAL = ("user_id", "movie_id", "gender", "age", "occupation", "zip")


def load_movielens_sample(
    path: str | Path = MOVIELENS_SAMPLE,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """X and Y of the MovieLens sample at ``path``.

    Returns
    -------
    X : DataFrame of shape (n_ratings, 7)
        ``user_id``, ``movie_id``, ``gender``, ``age``, ``occupation``, ``zip``
        as ``category``; ``genres`` as an object column of lists of genre names
        (the file's ``Comedy|Drama`` split on ``|``).
    Y : DataFrame of shape (n_ratings, 2)
        ``liked`` (int64, 1 where the rating is 4 or 5) and ``rating`` (float64,
        1 to 5).
    """
    raw = pd.read_csv(path, dtype={"zip": str, "gender": str, "genres": str})
    X = pd.DataFrame({c: raw[c].astype("category") for c in _CATEGORICAL})
    X["genres"] = pd.Series(
        [g.split("|") for g in raw["genres"]], index=raw.index, dtype=object
    )
    Y = pd.DataFrame(
        {
            "liked": (raw["rating"] >= 4).astype("int64"),
            "rating": raw["rating"].astype("float64"),
        }
    )
    return X, Y
