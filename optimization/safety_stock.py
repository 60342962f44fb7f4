"""Safety stock and the closed-form inventory formulas behind it.

Pure functions first (standard normal loss, newsvendor, fill-rate safety factor), then
:func:`compute_safety_stock`, which turns a forecast table and the forecaster's
rolling-origin backtest errors into safety stock, reorder point and order-up-to level
per SKU x location.

Symbols follow Snyder and Shen, *Fundamentals of Supply Chain Theory* (2nd ed., 2019),
as stockpyl does: ``h`` holding cost per unit left over, ``p`` shortage (stockout) cost per
unit short, ``mu`` / ``sigma`` mean and standard deviation of demand, ``z`` safety factor,
``L`` lead time, ``R`` review period (both in periods).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy import optimize, stats

logger = logging.getLogger(__name__)

__all__ = [
    "standard_normal_loss",
    "newsvendor_quantity",
    "newsvendor_cost",
    "fill_rate_safety_factor",
    "compute_safety_stock",
    "METHODS",
]

#: ``method`` values of :func:`compute_safety_stock`, best first.
METHODS = ("errors_summed", "errors_independent", "quantiles", "poisson", "no_data")


# --------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------


def standard_normal_loss(z):
    r"""Standard normal loss function :math:`G(z)`.

    .. math:: G(z) = E[(Z - z)^+] = \phi(z) - z\,(1 - \Phi(z))

    for :math:`Z \sim N(0, 1)` (Snyder and Shen 2019, eq. (C.9)). With demand over the
    protection period :math:`N(\mu, \sigma^2)` and order-up-to level
    :math:`S = \mu + z\sigma`, the expected shortage per cycle is :math:`\sigma G(z)`
    units (DESIGN.md, fill rate).

    Parameters
    ----------
    z : float or array_like
        Safety factor (dimensionless, standard deviations above the mean).

    Returns
    -------
    float or numpy.ndarray
        :math:`G(z)` (dimensionless, >= 0).

    Examples
    --------
    >>> round(standard_normal_loss(0.0), 6)
    0.398942
    """
    z_arr = np.asarray(z, dtype=float)
    out = stats.norm.pdf(z_arr) - z_arr * stats.norm.sf(z_arr)
    return float(out) if np.ndim(out) == 0 else out


def newsvendor_quantity(mean: float, sd: float, h: float, p: float) -> float:
    r"""Optimal newsvendor order quantity for normally distributed demand.

    .. math:: S^* = \mu + \sigma\,\Phi^{-1}\!\left(\frac{p}{p + h}\right)

    (critical ratio :math:`p/(p+h)`; Snyder and Shen 2019, Section 4.3, eq. (4.17)).

    Parameters
    ----------
    mean : float
        :math:`\mu`, mean demand (units per period).
    sd : float
        :math:`\sigma`, standard deviation of demand (units), >= 0.
    h : float
        Holding (overage) cost per unit left over at the end of the period (currency/unit), > 0.
    p : float
        Stockout (underage) cost per unit of unmet demand (currency/unit), > 0.

    Returns
    -------
    float
        :math:`S^*` in units.

    Examples
    --------
    Snyder and Shen (2019), Example 4.3:

    >>> round(newsvendor_quantity(50, 8, h=0.18, p=0.70), 2)
    56.6
    """
    _check_costs(h, p, sd)
    return float(mean + sd * stats.norm.ppf(p / (p + h)))


def newsvendor_cost(order_quantity: float, mean: float, sd: float, h: float, p: float) -> float:
    r"""Expected newsvendor cost of ordering ``order_quantity`` under normal demand.

    .. math:: g(S) = h\,E[(S - D)^+] + p\,E[(D - S)^+]
              = h\,(S - \mu) + (h + p)\,\sigma\,G\!\left(\frac{S - \mu}{\sigma}\right)

    At :math:`S^*` this equals :math:`(h + p)\,\sigma\,\phi(z^*)` (Snyder and Shen 2019,
    eq. (4.20)).

    Parameters
    ----------
    order_quantity : float
        :math:`S`, units stocked at the start of the period.
    mean, sd : float
        :math:`\mu`, :math:`\sigma` of demand (units).
    h, p : float
        Holding and stockout cost per unit (currency/unit).

    Returns
    -------
    float
        Expected cost per period (currency).

    Examples
    --------
    >>> s = newsvendor_quantity(50, 8, h=0.18, p=0.70)
    >>> round(newsvendor_cost(s, 50, 8, h=0.18, p=0.70), 2)
    2.0
    """
    _check_costs(h, p, sd)
    if sd == 0:
        return float(h * max(order_quantity - mean, 0.0) + p * max(mean - order_quantity, 0.0))
    z = (order_quantity - mean) / sd
    return float(h * (order_quantity - mean) + (h + p) * sd * standard_normal_loss(z))


def fill_rate_safety_factor(fill_rate: float, cycle_demand: float, sigma: float) -> float:
    r"""Safety factor :math:`z` that achieves a target fill rate (type-2 service level).

    Solves :math:`\sigma\,G(z) = (1 - \beta)\,Q` for :math:`z`, where :math:`Q` is the
    expected demand per replenishment cycle and :math:`\sigma G(z)` the expected shortage
    per cycle (DESIGN.md; Snyder and Shen 2019, Section 4.3.2, eq. (4.41)). :math:`G` is
    strictly decreasing, so the root is unique.

    Parameters
    ----------
    fill_rate : float
        :math:`\beta`, target share of demand met from stock, in (0, 1).
    cycle_demand : float
        :math:`Q`, expected demand between two replenishments (units), e.g. mean demand
        per period times the review period R.
    sigma : float
        :math:`\sigma_{L+R}`, standard deviation of demand over the protection period (units).

    Returns
    -------
    float
        :math:`z` (may be negative when a low fill rate is asked for a noisy item);
        ``-inf`` when ``sigma`` is 0 (no safety stock needed).

    Examples
    --------
    >>> z = fill_rate_safety_factor(0.99, cycle_demand=100, sigma=30)
    >>> round(30 * standard_normal_loss(z), 6)
    1.0
    """
    if not 0 < fill_rate < 1:
        raise ValueError(f"fill_rate must be in (0, 1), got {fill_rate}")
    if cycle_demand < 0 or sigma < 0:
        raise ValueError("cycle_demand and sigma must be >= 0")
    if sigma == 0:
        return -math.inf
    target = (1.0 - fill_rate) * cycle_demand / sigma
    if target <= 0:
        return math.inf
    # G(z) ~ -z for very negative z and ~ phi(z)/z^2 for large z: bracket widely.
    return float(optimize.brentq(lambda z: standard_normal_loss(z) - target, -50.0, 40.0, xtol=1e-12))


def _check_costs(h: float, p: float, sd: float) -> None:
    if h <= 0 or p <= 0:
        raise ValueError(f"h and p must be > 0, got h={h}, p={p}")
    if sd < 0:
        raise ValueError(f"sd must be >= 0, got {sd}")


# --------------------------------------------------------------------------------------
# Safety stock from forecasts and backtest errors
# --------------------------------------------------------------------------------------

_KEY = ["sku", "location"]


def compute_safety_stock(
    forecasts: pd.DataFrame,
    errors: pd.DataFrame | None,
    policy: pd.DataFrame,
    *,
    min_origins: int = 5,
    min_step_observations: int = 3,
    default_service_level: float = 0.95,
    start: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    r"""Safety stock, reorder point and order-up-to level per SKU x location.

    For a cycle service level :math:`a` over the protection period :math:`P = L + R`
    (lead time plus review period, in periods), safety stock is the :math:`a`-quantile
    of demand over :math:`P` minus its mean (DESIGN.md, "Formulas to honour"). Under
    normal forecast errors this is

    .. math:: SS = z_a\,\sigma_P, \qquad z_a = \Phi^{-1}(a),

    clipped at 0 (a service level below 50 % gives no negative safety stock), and

    .. math::
        \text{reorder\_point} = \sum_{k=1}^{L} \hat d_k + SS, \qquad
        \text{order\_up\_to} = \sum_{k=1}^{P} \hat d_k + SS

    with :math:`\hat d_k` the forecast mean of the k-th period from ``start``.

    :math:`\sigma_P` is estimated by the first method that has enough data (``method``):

    ``errors_summed``
        From the rolling-origin backtest: per origin, the forecast errors of steps
        1..P are summed, :math:`E_P = \sum_{k=1}^P e_k`; :math:`\sigma_P` is the root mean
        square of :math:`E_P` over origins that have all P steps (at least
        ``min_origins`` of them). This keeps the autocorrelation of multi-step errors
        (a level error repeats every step), which :math:`\sigma\sqrt{P}` would ignore.
        Root mean square about zero rather than the standard deviation, so a forecast
        bias widens the protection instead of being dropped.
    ``errors_independent``
        Too few complete origins: :math:`\sigma_P = \sqrt{\sum_{k=1}^{P} \mathrm{MSE}_k}`
        from the per-step mean squared errors (each step needs
        ``min_step_observations``; steps beyond the backtest's last step reuse the last
        step's MSE). Assumes independent errors across steps, so it understates
        :math:`\sigma_P` when errors are positively autocorrelated.
    ``quantiles``
        No usable errors: per period :math:`\sigma_k = (q_{hi,k} - q_{50,k}) / z_{hi}`
        from the forecast's quantile columns (``q90`` preferred, else the highest
        quantile above 50), then :math:`\sigma_P = \sqrt{\sum_{k=1}^P \sigma_k^2}`
        (independence across periods, as above).
    ``poisson``
        Neither errors nor a quantile spread: :math:`\sigma_P = \sqrt{\sum_k \hat d_k}`,
        the Poisson standard deviation of a count demand with that mean.
    ``no_data``
        No forecast for the key: everything 0.

    Parameters
    ----------
    forecasts : pandas.DataFrame
        sku, location, date, mean (units per period) and optional quantile columns
        ``q50``, ``q90`` ... (DESIGN.md forecasts contract).
    errors : pandas.DataFrame or None
        sku, location, origin, step, error (units; error = actual - forecast) from the
        forecaster's rolling-origin backtest; ``step`` = 1 is the first period after the
        origin.
    policy : pandas.DataFrame
        sku, location, lead_time (L, periods), review_period (R, periods), service_level
        (cycle service level a in (0, 1); NaN uses ``default_service_level``). One row
        per key. Non-integer ``L + R`` is rounded up to whole periods.
    min_origins : int, default 5
        Complete origins needed for ``errors_summed``.
    min_step_observations : int, default 3
        Errors needed per step for ``errors_independent``.
    default_service_level : float, default 0.95
        Used where the policy's service level is missing.
    start : timestamp, optional
        First period of the protection window; forecasts before it are ignored. Default:
        each key's first forecast date.

    Returns
    -------
    pandas.DataFrame
        One row per policy row: sku, location, safety_stock, reorder_point, order_up_to
        (units), service_level, sigma_protection (:math:`\sigma_P`, units),
        protection_periods (P), method, n_origins (complete backtest origins),
        mean_lead_time_demand, mean_protection_demand (units).

    Examples
    --------
    >>> import pandas as pd
    >>> fc = pd.DataFrame({"sku": "A", "location": "D1",
    ...                    "date": pd.date_range("2024-01-01", periods=4, freq="W-MON"),
    ...                    "mean": 10.0, "q50": 10.0, "q90": 10 + 1.2815515655446004 * 3})
    >>> pol = pd.DataFrame({"sku": ["A"], "location": ["D1"], "lead_time": [1],
    ...                     "review_period": [1], "service_level": [0.95]})
    >>> ss = compute_safety_stock(fc, None, pol)
    >>> ss.loc[0, "method"], round(float(ss.loc[0, "sigma_protection"]), 4)
    ('quantiles', 4.2426)
    """
    _require(policy, ["sku", "location", "lead_time", "review_period"], "policy")
    _require(forecasts, ["sku", "location", "date", "mean"], "forecasts")
    if min_origins < 2:
        raise ValueError("min_origins must be >= 2")
    pol = policy.copy()
    if pol.duplicated(_KEY).any():
        raise ValueError("policy has duplicate sku x location rows")
    if "service_level" not in pol:
        pol["service_level"] = np.nan
    pol["service_level"] = pd.to_numeric(pol["service_level"], errors="coerce").fillna(default_service_level)
    bad = ~pol["service_level"].between(0, 1, inclusive="neither")
    if bad.any():
        raise ValueError(f"service_level must be in (0, 1); bad rows: {pol.loc[bad, _KEY].to_dict('records')[:5]}")
    lead = pd.to_numeric(pol["lead_time"], errors="coerce")
    review = pd.to_numeric(pol["review_period"], errors="coerce")
    if lead.isna().any() or review.isna().any() or (lead < 0).any() or (review < 0).any():
        raise ValueError("lead_time and review_period must be numbers >= 0")
    pol["lead_time"] = lead.astype(float)
    pol["protection_periods"] = np.ceil(lead + review - 1e-9).astype(int)
    pol["_L"] = np.ceil(lead - 1e-9).astype(int)
    pol = pol.reset_index(drop=True)

    fc = forecasts.copy()
    fc["date"] = pd.to_datetime(fc["date"])
    if start is not None:
        fc = fc.loc[fc["date"] >= pd.Timestamp(start)]
    fc = fc.sort_values(_KEY + ["date"], kind="mergesort")
    fc["_k"] = fc.groupby(_KEY, sort=False).cumcount() + 1  # period number 1, 2, ...

    mean_l = _sum_first_periods(fc, pol, "_L", "mean")
    mean_p = _sum_first_periods(fc, pol, "protection_periods", "mean")
    has_fc = pol.set_index(_KEY).index.isin(fc.set_index(_KEY).index)

    sigma = np.full(len(pol), np.nan)
    method = np.full(len(pol), "no_data", dtype=object)
    n_origins = np.zeros(len(pol), dtype=int)

    if errors is not None and len(errors):
        _require(errors, ["sku", "location", "origin", "step", "error"], "errors")
        s_sum, n_sum = _sigma_summed(errors, pol)
        n_origins = n_sum
        ok = (n_sum >= min_origins) & np.isfinite(s_sum)
        sigma[ok], method[ok] = s_sum[ok], "errors_summed"
        s_ind = _sigma_independent(errors, pol, min_step_observations)
        ok = np.isnan(sigma) & np.isfinite(s_ind)
        sigma[ok], method[ok] = s_ind[ok], "errors_independent"

    qcol, zq = _spread_column(fc)
    if qcol is not None:
        fc["_var"] = ((fc[qcol] - fc["q50"]).clip(lower=0) / zq) ** 2
        var_q = _sum_first_periods(fc, pol, "protection_periods", "_var")
        spread_ok = _sum_first_periods(fc, pol, "protection_periods", "_var", reduce="count") > 0
        ok = np.isnan(sigma) & has_fc & spread_ok & (var_q > 0)
        sigma[ok], method[ok] = np.sqrt(var_q[ok]), "quantiles"

    ok = np.isnan(sigma) & has_fc
    sigma[ok], method[ok] = np.sqrt(np.clip(mean_p[ok], 0, None)), "poisson"
    sigma[np.isnan(sigma)] = 0.0

    z = stats.norm.ppf(pol["service_level"].to_numpy(float))
    safety = np.clip(z * sigma, 0.0, None)
    counts = pd.Series(method).value_counts().to_dict()
    logger.info("safety stock for %d keys; methods %s", len(pol), counts)

    return pd.DataFrame(
        {
            "sku": pol["sku"],
            "location": pol["location"],
            "safety_stock": safety,
            "reorder_point": mean_l + safety,
            "order_up_to": mean_p + safety,
            "service_level": pol["service_level"],
            "sigma_protection": sigma,
            "protection_periods": pol["protection_periods"],
            "method": method.astype(str),
            "n_origins": n_origins,
            "mean_lead_time_demand": mean_l,
            "mean_protection_demand": mean_p,
        }
    )


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}")


def _sum_first_periods(fc: pd.DataFrame, pol: pd.DataFrame, periods_col: str, value: str, reduce: str = "sum") -> np.ndarray:
    """Per policy row, the sum of ``value`` over that key's first ``pol[periods_col]`` periods.

    A key whose forecast is shorter than the window is extrapolated at its average per
    period (the window must be covered, or the reorder point would be too low).
    """
    out = np.zeros(len(pol))
    if fc.empty:
        return out
    for n in np.unique(pol[periods_col]):
        rows = np.flatnonzero(pol[periods_col].to_numpy() == n)
        if n == 0:
            continue
        part = fc.loc[fc["_k"] <= n].groupby(_KEY, sort=False)[value]
        if reduce == "count":
            agg = part.count()
        else:
            total, count = part.sum(), part.count()
            agg = total * (n / count.where(count > 0))
        keys = pd.MultiIndex.from_frame(pol.loc[rows, _KEY])
        out[rows] = agg.reindex(keys).fillna(0.0).to_numpy(float)
    return out


def _wide_errors(errors: pd.DataFrame) -> pd.DataFrame:
    err = errors[["sku", "location", "origin", "step", "error"]].copy()
    err["step"] = err["step"].astype(int)
    # One error per (key, origin, step); a duplicate would double count a step.
    err = err.groupby(["sku", "location", "origin", "step"], sort=True)["error"].mean()
    return err.unstack("step")


def _sigma_summed(errors: pd.DataFrame, pol: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """RMS over origins of errors summed over steps 1..P, and the number of complete origins."""
    wide = _wide_errors(errors)
    sigma = np.full(len(pol), np.nan)
    n = np.zeros(len(pol), dtype=int)
    for p in np.unique(pol["protection_periods"]):
        rows = np.flatnonzero(pol["protection_periods"].to_numpy() == p)
        steps = list(range(1, p + 1))
        if p == 0 or not set(steps) <= set(wide.columns):
            continue
        block = wide[steps]
        complete = block.notna().all(axis=1)
        summed = block.loc[complete].sum(axis=1)
        grouped = (summed**2).groupby(level=["sku", "location"])
        stats_ = pd.DataFrame({"ms": grouped.mean(), "n": grouped.count()})
        keys = pd.MultiIndex.from_frame(pol.loc[rows, _KEY])
        got = stats_.reindex(keys)
        sigma[rows] = np.sqrt(got["ms"].to_numpy(float))
        n[rows] = got["n"].fillna(0).to_numpy(int)
    return sigma, n


def _sigma_independent(errors: pd.DataFrame, pol: pd.DataFrame, min_obs: int) -> np.ndarray:
    """sqrt(sum_k MSE_k) over steps 1..P, assuming independent errors across steps."""
    err = errors[["sku", "location", "step", "error"]].copy()
    err["step"] = err["step"].astype(int)
    g = (err.assign(sq=err["error"] ** 2)).groupby(["sku", "location", "step"])["sq"]
    mse = g.mean().where(g.count() >= min_obs).unstack("step").sort_index(axis=1)
    sigma = np.full(len(pol), np.nan)
    if mse.empty or 1 not in mse.columns:
        return sigma
    max_step = int(mse.columns.max())
    mse = mse.reindex(columns=range(1, max_step + 1))
    usable = mse[1].notna()
    # Steps the backtest did not reach (or lacked data for) reuse the last known MSE.
    filled = mse.ffill(axis=1)
    cum = filled.cumsum(axis=1)
    for p in np.unique(pol["protection_periods"]):
        rows = np.flatnonzero(pol["protection_periods"].to_numpy() == p)
        if p == 0:
            sigma[rows] = 0.0
            continue
        if p <= max_step:
            total = cum[p]
        else:
            total = cum[max_step] + (p - max_step) * filled[max_step]
        keys = pd.MultiIndex.from_frame(pol.loc[rows, _KEY])
        vals = total.where(usable).reindex(keys).to_numpy(float)
        sigma[rows] = np.sqrt(vals)
    return sigma


def _spread_column(fc: pd.DataFrame) -> tuple[str | None, float]:
    """The upper quantile column used for the quantile fallback and its z value."""
    if "q50" not in fc.columns:
        return None, float("nan")
    levels = {}
    for col in fc.columns:
        if isinstance(col, str) and col.startswith("q") and col != "q50":
            try:
                level = float(col[1:]) / 100.0
            except ValueError:
                continue
            if 0.5 < level < 1:
                levels[col] = level
    if not levels:
        return None, float("nan")
    col = "q90" if "q90" in levels else max(levels, key=levels.get)
    return col, float(stats.norm.ppf(levels[col]))
