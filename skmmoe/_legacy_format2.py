"""Reading model files of format 2 (written by skmmoe before format 3), so that
they still load and can be saved again in the current format.

Format 2 kept the network's state dict in ``weights.pt`` and the optimizer's
state in ``optimizer.pt``, both written by ``torch.save`` and read with
``torch.load(weights_only=True)``, and the built-in preprocessor's learned values
in ``model.json``, from which the preprocessor is rebuilt here: fitted on a small
frame made to reproduce the saved columns and missing-value pattern, then given the
saved values. The code is the reader of format 2 as it was, moved out of
``_features.py`` and ``_persistence.py``; only :func:`skmmoe.load` uses it.
``_persistence.py`` reads the container (checksums, bounds, format version) for
both formats.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import torch

from ._features import (
    BINS,
    CATEGORICAL,
    IMPUTE,
    NUMERIC,
    NUMERIC_BINS,
    PLE,
    SCALE,
    FeatureColumn,
    FeatureEncoder,
    make_default_preprocessor,
)

__all__ = ["FORMAT_VERSION", "member_bounds", "read"]

FORMAT_VERSION = 2
WEIGHTS = "weights.pt"
OPTIMIZER = "optimizer.pt"  # only after partial_fit: the optimizer's state


def member_bounds(weights_bound: int) -> dict[str, tuple[int, bool]]:
    """Format 2's tensor members: name -> (most bytes load reads, required)."""
    # Adam keeps two moments per weight.
    return {WEIGHTS: (weights_bound, True), OPTIMIZER: (2 * weights_bound, False)}


def read(
    meta: dict, members: dict[str, bytes]
) -> tuple[dict, FeatureEncoder, dict | None]:
    """The network's state dict, the feature encoder and the optimizer state (or
    None) of a format-2 file, from its ``model.json`` and its members' bytes."""
    params = meta["params"]
    encoder = _feature_encoder_from_json(
        meta["features"],
        feature_names=meta["feature_names_in"],
        numeric_encoding=params["numeric_encoding"],
        n_bins=params["n_bins"],
    )
    optimizer = members.get(OPTIMIZER)
    return (
        _load_tensors(WEIGHTS, members[WEIGHTS]),
        encoder,
        None if optimizer is None else _load_tensors(OPTIMIZER, optimizer),
    )


def _load_tensors(name: str, data: bytes):
    """``torch.load(weights_only=True)`` of a member's bytes, on the CPU. Bytes that
    match their checksum can still be anything (the checksums are for damage, not
    for authorship): whatever torch's reader raises on them becomes a
    ValueError."""
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # torch's unpickler raises many kinds on bad bytes
        raise ValueError(
            f"{name} holds no readable tensors ({type(exc).__name__}: {exc})"
        ) from exc


def _feature_encoder_from_json(
    spec: dict, *, feature_names, numeric_encoding: str, n_bins: int
) -> FeatureEncoder:
    """Rebuild an encoder saved by format 2's ``FeatureEncoder.to_json``: the
    built-in preprocessor is fitted on a small frame made to reproduce the saved
    columns and missing-value pattern, then given the saved values."""
    preprocessor = _preprocessor_from_json(
        spec, feature_names, numeric_encoding, n_bins
    )
    columns = [FeatureColumn(**c) for c in spec["feature_columns"]]
    names_out = list(preprocessor.get_feature_names_out())
    return FeatureEncoder(
        preprocessor=preprocessor,
        sparse_positions=np.asarray(
            [names_out.index(c.name) for c in columns if c.kind == "sparse"],
            dtype=np.intp,
        ),
        dense_positions=np.asarray(
            [names_out.index(c.name) for c in columns if c.kind == "dense"],
            dtype=np.intp,
        ),
        feature_columns=columns,
        numeric_input=bool(spec["numeric_input"]),
    )


# Where each numeric pipeline's bin edges are saved: the piecewise-linear encoding
# also bins the missing indicators, so with "+embedding" the two hold different ones.
_BIN_EDGES_KEYS = {NUMERIC: "bin_edges", NUMERIC_BINS: "embedding_bin_edges"}


def _design_frame(spec: dict, feature_names) -> tuple:
    """A two-row X with the saved columns' kinds and missing-value pattern, and
    the categorical mask."""
    n_features, cat, num = spec["n_features"], spec["categorical"], spec["numeric"]
    n_rows = 2
    columns: list = [None] * n_features
    for pos in cat["positions"]:
        # The saved categories are set after fitting; any strings do here.
        columns[pos] = np.asarray(["a"] * n_rows, dtype=object)
    if num is not None:
        for j, pos in enumerate(num["positions"]):
            values = np.zeros(n_rows)
            if j in num.get("indicator_features", []):
                values[0] = np.nan
            columns[pos] = values
    cat_mask = np.zeros(n_features, dtype=bool)
    cat_mask[cat["positions"]] = True
    if feature_names is not None:
        return pd.DataFrame(dict(zip(feature_names, columns))), cat_mask
    design = np.empty((n_rows, n_features), dtype=object)
    for pos, values in enumerate(columns):
        design[:, pos] = values
    if not cat_mask.any():
        design = design.astype(np.float64)
    return design, cat_mask


def _preprocessor_from_json(spec, feature_names, numeric_encoding, n_bins):
    design, cat_mask = _design_frame(spec, feature_names)
    ct = make_default_preprocessor(
        cat_mask, list(range(spec["n_features"])), numeric_encoding, n_bins
    )
    ct.fit(design)
    num = spec["numeric"]
    for name, pipe, _ in ct.transformers_:
        if name == CATEGORICAL:
            pipe.set_categories(spec["categorical"]["categories"])
            continue
        steps = pipe.named_steps
        if IMPUTE in steps:
            dtype = num.get("statistics_dtype", "float32")
            steps[IMPUTE].statistics_ = np.asarray(num["statistics"], dtype=dtype)
        if SCALE in steps:
            scaler = steps[SCALE]
            dtype = num.get("scale_dtype", "float32")
            scaler.mean_ = np.asarray(num["mean"], dtype=dtype)
            scaler.scale_ = np.asarray(num["scale"], dtype=dtype)
            scaler.var_ = np.asarray(num["var"], dtype=dtype)
            scaler.n_samples_seen_ = num["n_samples_seen"]
        for key in (BINS, PLE):
            if key in steps:
                steps[key].set_bin_edges(num[_BIN_EDGES_KEYS[name]])
    return ct
