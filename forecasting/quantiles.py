"""Forecast quantiles from rolling-origin backtest errors.

Method (empirical, distribution-free; the models themselves carry no error model):

1. Every series ``i`` has backtest errors ``e_{i,o,h} = y - f`` of its chosen model, by
   origin ``o`` and step ``h``. With a few origins there are only a handful of errors per
   step and series, far too few for a 95 % quantile. So the errors are standardised by a
   per-series scale and pooled across series and origins:
   ``z = e_{i,o,h} / s_i``.
2. The scale ``s_i`` (units per period) is the series' own mean absolute backtest error,
   shrunk towards a prior borrowed from similar series (same demand class):

   ``s_i = (n_i * MAE_i + n_0 * r_g * level_i) / (n_i + n_0)``

   where ``n_i`` is the number of own errors, ``level_i`` the series' mean demand per
   period, ``r_g`` the median of ``MAE_j / level_j`` over the series of the same class
   ``g`` with at least ``min_errors`` errors, and ``n_0`` the prior's weight in errors
   (default: one origin's worth, the horizon, because errors from one origin are
   strongly correlated). A series with few or no errors (a new SKU) therefore gets the
   typical relative error of its class at its own level. Series flagged ``short`` get
   ``s_i`` multiplied by ``short_widen`` (default 1.5): their model choice itself is
   uncertain, and the widening is a deliberate, documented judgement rather than an
   estimate.
3. For each class ``g`` and step ``h`` the empirical ``q``-quantile ``Z_{g,h}(q)`` of the
   pooled ``z`` is taken. When a pool has fewer than ``min_pool`` values it is widened,
   in this order: all classes at step ``h``; class ``g`` at all steps; everything.
4. ``Q_{i,h}(q) = clip(mean_{i,h} + s_i Z_{g,h}(q), 0, cap_i)``, then made monotone in
   ``q`` by a running maximum (clipping can otherwise tie or, with ``cap``, cross).

When no series has any backtest error at all (every series too short), the quantiles
fall back to a Poisson distribution with the forecast mean, the textbook model of count
demand without evidence of over-dispersion; this is flagged in the result.

Assumptions worth knowing: errors are treated as exchangeable across origins and across
series of a class once scaled; the chosen model's backtest errors are slightly
optimistic (it was chosen for having small errors), so coverage is checked in the test
suite on held-out simulated data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["quantile_column", "check_quantiles", "error_scales", "pooled_error_quantiles", "QuantileResult", "quantiles_from_errors"]


def quantile_column(q: float) -> str:
    """Column name of the ``q``-quantile in forecast tables.

    Parameters
    ----------
    q : float
        Quantile level in (0, 1).

    Returns
    -------
    str
        ``f"q{100*q:g}"``.

    Examples
    --------
    >>> quantile_column(0.9)
    'q90'
    >>> quantile_column(0.975)
    'q97.5'
    """
    q = float(q)
    if not 0 < q < 1:
        raise ValueError(f"quantile levels must be in (0, 1), got {q}")
    return f"q{100 * q:g}"


def check_quantiles(quantiles: ArrayLike) -> tuple[float, ...]:
    """Validate quantile levels and return them sorted and de-duplicated."""
    levels = sorted({float(q) for q in np.atleast_1d(np.asarray(quantiles, dtype=float))})
    if not levels:
        raise ValueError("at least one quantile level is required")
    for q in levels:
        quantile_column(q)
    names = [quantile_column(q) for q in levels]
    if len(set(names)) != len(names):
        raise ValueError(f"quantile levels {levels} give duplicate column names {names}")
    return tuple(levels)


def error_scales(
    mae: np.ndarray,
    n_errors: np.ndarray,
    level: np.ndarray,
    groups: np.ndarray,
    *,
    prior_weight: float,
    min_errors: int,
) -> np.ndarray:
    """Per-series error scale ``s_i``, own MAE shrunk towards the class prior.

    ``s_i = (n_i MAE_i + n_0 r_g level_i) / (n_i + n_0)``, see the module docstring.

    Parameters
    ----------
    mae : numpy.ndarray
        Own mean absolute backtest error per series, units per period (any value where
        ``n_errors == 0``).
    n_errors : numpy.ndarray
        Number of own backtest errors ``n_i``.
    level : numpy.ndarray
        Mean demand per period of each series, units.
    groups : numpy.ndarray
        Class label of each series (demand class).
    prior_weight : float
        ``n_0``, the prior's weight in errors.
    min_errors : int
        Fewest own errors for a series to inform the class prior ``r_g``.

    Returns
    -------
    numpy.ndarray
        ``s_i`` in units per period (0 for a series with no demand and no error).
    """
    mae = np.where(n_errors > 0, np.nan_to_num(mae), 0.0)
    informative = (n_errors >= min_errors) & (level > 0)
    ratio = np.full(mae.shape, np.nan)
    ratio[informative] = mae[informative] / level[informative]
    overall = float(np.median(ratio[informative])) if informative.any() else 1.0
    prior = np.full(mae.shape, overall)
    for g in np.unique(groups):
        members = (groups == g) & informative
        if members.any():
            prior[groups == g] = float(np.median(ratio[members]))
    n0 = float(prior_weight)
    return (n_errors * mae + n0 * prior * level) / (n_errors + n0)


def pooled_error_quantiles(
    z: np.ndarray,
    z_steps: np.ndarray,
    z_groups: np.ndarray,
    groups: ArrayLike,
    horizon: int,
    quantiles: tuple[float, ...],
    min_pool: int = 50,
) -> dict:
    """Empirical quantiles ``Z_{g,h}(q)`` of pooled standardised errors.

    Parameters
    ----------
    z : numpy.ndarray
        Standardised errors ``e / s_i`` (dimensionless).
    z_steps : numpy.ndarray
        Step ``h`` (1-based) of each error.
    z_groups : numpy.ndarray
        Class label of the series each error belongs to.
    groups : array-like
        Class labels to return quantiles for.
    horizon : int
        ``H``, steps.
    quantiles : tuple of float
        Quantile levels.
    min_pool : int
        Fewest errors a pool needs before it is widened (see module docstring).

    Returns
    -------
    dict
        ``{group: array of shape (H, len(quantiles))}``; ``{}`` when ``z`` is empty.
    """
    if z.size == 0:
        return {}
    qs = np.asarray(quantiles)
    out = {}
    everything = np.quantile(z, qs)
    by_step_all = {}
    for h in range(1, horizon + 1):
        sel = z[z_steps == h]
        by_step_all[h] = np.quantile(sel, qs) if sel.size >= min_pool else None
    for g in np.unique(np.asarray(groups)):
        in_group = z_groups == g
        group_all = np.quantile(z[in_group], qs) if in_group.sum() >= min_pool else None
        table = np.empty((horizon, qs.size))
        for h in range(1, horizon + 1):
            sel = z[in_group & (z_steps == h)]
            if sel.size >= min_pool:
                table[h - 1] = np.quantile(sel, qs)
            elif by_step_all[h] is not None:
                table[h - 1] = by_step_all[h]
            elif group_all is not None:
                table[h - 1] = group_all
            else:
                table[h - 1] = everything
        out[g] = table
    return out


@dataclass(frozen=True)
class QuantileResult:
    """Output of :func:`quantiles_from_errors`.

    Attributes
    ----------
    values : numpy.ndarray
        Shape (series, H, quantiles), units per period.
    scales : numpy.ndarray
        ``s_i`` per series, units per period.
    method : str
        ``"pooled_errors"`` or ``"poisson"`` (no backtest error anywhere).
    z_quantiles : dict
        ``{class: array (H, quantiles)}`` of pooled standardised error quantiles
        ``Z_{g,h}(q)``; empty for the Poisson fallback.
    """

    values: np.ndarray
    scales: np.ndarray
    method: str
    z_quantiles: dict


def quantiles_from_errors(
    means: np.ndarray,
    err_series: np.ndarray,
    err_steps: np.ndarray,
    errors: np.ndarray,
    level: np.ndarray,
    groups: np.ndarray,
    quantiles: tuple[float, ...],
    *,
    short: np.ndarray | None = None,
    cap: np.ndarray | None = None,
    prior_weight: float | None = None,
    min_errors: int | None = None,
    min_pool: int = 50,
    short_widen: float = 1.5,
) -> QuantileResult:
    """Demand quantiles = mean forecast + scaled pooled empirical error quantiles.

    See the module docstring for the method.

    Parameters
    ----------
    means : numpy.ndarray
        Mean forecasts, shape (series, H), units per period.
    err_series, err_steps, errors : numpy.ndarray
        Backtest errors in long form: series index (row of ``means``), step ``h``
        (1-based) and error ``actual - forecast`` (units per period).
    level : numpy.ndarray
        Mean demand per period of each series' history, units.
    groups : numpy.ndarray
        Class label per series (the demand class).
    quantiles : tuple of float
        Sorted quantile levels in (0, 1).
    short : numpy.ndarray of bool, optional
        Series with short history, whose scale is multiplied by ``short_widen``.
    cap : numpy.ndarray, optional
        Upper bound per series, units per period (``max_multiple`` x history maximum).
    prior_weight : float, optional
        ``n_0``; default ``H``.
    min_errors : int, optional
        Fewest errors for a series to inform the class prior; default ``2 H``.
    min_pool : int
        Fewest pooled errors per (class, step) before widening the pool.
    short_widen : float
        Scale multiplier for short series (>= 1).

    Returns
    -------
    QuantileResult
    """
    means = np.asarray(means, dtype=float)
    n_series, horizon = means.shape
    qs = check_quantiles(quantiles)
    groups = np.asarray(groups)
    err_series = np.asarray(err_series, dtype=int)
    err_steps = np.asarray(err_steps, dtype=int)
    errors = np.asarray(errors, dtype=float)
    n_err = np.bincount(err_series, minlength=n_series).astype(float)
    abs_sum = np.bincount(err_series, weights=np.abs(errors), minlength=n_series)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = np.where(n_err > 0, abs_sum / np.maximum(n_err, 1), 0.0)
    scales = error_scales(
        mae,
        n_err,
        np.asarray(level, dtype=float),
        groups,
        prior_weight=horizon if prior_weight is None else prior_weight,
        min_errors=2 * horizon if min_errors is None else min_errors,
    )
    if short is not None:
        scales = np.where(np.asarray(short, dtype=bool), scales * float(short_widen), scales)
    usable = scales[err_series] > 0
    z = errors[usable] / scales[err_series][usable]
    table = pooled_error_quantiles(z, err_steps[usable], groups[err_series][usable], groups, horizon, qs, min_pool)
    if table:
        z_q = np.stack([table[g] for g in groups]) if n_series else np.empty((0, horizon, len(qs)))
        values = means[:, :, None] + scales[:, None, None] * z_q
        method = "pooled_errors"
    else:
        values = stats.poisson.ppf(np.asarray(qs)[None, None, :], np.maximum(means, 0)[:, :, None])
        values = np.nan_to_num(values, nan=0.0)
        method = "poisson"
    values = np.maximum(values, 0.0)
    if cap is not None:
        values = np.minimum(values, np.asarray(cap, dtype=float)[:, None, None])
    values = np.maximum.accumulate(values, axis=2)
    return QuantileResult(values=values, scales=scales, method=method, z_quantiles=table)
