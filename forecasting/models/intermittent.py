"""Croston-type models for intermittent demand.

Croston (1972) smooths the non-zero demand sizes ``z`` and the intervals ``p`` between
them separately with simple exponential smoothing (same alpha), updating only in periods
with demand, and forecasts the demand rate ``z / p``. Syntetos and Boylan (2005) showed
that this is biased upwards and proposed the SBA correction factor ``1 - alpha / 2``:
``f = (1 - alpha/2) z_T / p_T``. The forecast is flat over the horizon. Neither has a
stochastic model, so quantiles come from the orchestrator's backtest errors
(:mod:`forecasting.quantiles`), not from the model.

Initialisation: ``z_0`` = first non-zero demand, ``p_0`` = periods up to and including
it (the interval from the start of the series).

The open interval (obsolescence). Croston's interval only changes when a demand comes,
so an item that sold once and then never again keeps the rate of its last update for
ever: a new SKU whose history starts with its first sale (``p_0 = 1``) and then stays at
zero is forecast at ``(1 - alpha/2) z_0`` per period however long the silence. The zero
run since the last demand is an interval that has not closed yet, and it is already
``k = T - t_last`` periods long (``T`` the first forecast period, ``t_last`` the last
period with demand): when the next demand comes, Croston's update will make the interval
at least ``p_T + alpha (k - p_T)``. With ``open_interval`` (the default) the forecast
uses that bound,

``p_T' = p_T + alpha max(0, k - p_T)``, ``f = (1 - alpha/2) z_T / p_T'`` (SBA),

so it is Croston's (SBA's) while the silence is no longer than the usual interval and
decays hyperbolically in ``k`` after it, as the obsolescence-aware Hyperbolic-Exponential
Smoothing of Prestwich, Tarim, Rossi and Hnich (2014, "Forecasting intermittent demand
by hyperbolic-exponential smoothing", IJF 30(4); arXiv:1307.6102) does; TSB (below) decays exponentially
instead. ``open_interval=False`` gives the textbook method.

Croston-type forecasts are flat, which throws away a stable season that intermittent
demand often has: store-item demand by day of week, a shop closed on Sundays.
:class:`SeasonalSBA` runs SBA on the seasonally adjusted series and puts a shrunk
multiplicative profile back on (forecasting with decomposition, Hyndman and
Athanasopoulos, FPP3 section 5.7, with SBA as the model of the adjusted series); where
the profile is indistinguishable from noise it shrinks to flat and the model is SBA.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from .base import SeriesModel, check_horizon

#: Default SES grid of :func:`ses_level`: 0.05, 0.10, ..., 0.95.
SES_GRID = np.arange(0.05, 0.96, 0.05)

__all__ = ["Croston", "SBA", "SeasonalSBA", "TSB", "ADIDA", "croston_components", "ses_level",
           "multiplicative_profile", "sba_alpha", "SBA_ALPHA_GRID"]


def croston_components(y: np.ndarray, alpha: float, open_interval: bool = True) -> tuple[float, float]:
    """Smoothed non-zero size ``z_T`` (units) and interval ``p_T`` (periods) after ``y``.

    Parameters
    ----------
    y : numpy.ndarray
        Demand per period, units.
    alpha : float
        Smoothing constant in (0, 1], applied to both sizes and intervals.
    open_interval : bool
        Count the zero run after the last demand as an interval of at least its length:
        ``p_T' = p_T + alpha max(0, (T - t_last) - p_T)`` (module docstring).

    Returns
    -------
    tuple of float
        ``(z_T, p_T)``; ``(0.0, inf)`` when ``y`` has no demand.

    Examples
    --------
    One sale of 2 units in the first period, then nine without: Croston keeps the
    interval of 1 it started with; the open interval of 10 periods moves it to
    ``1 + 0.5 (10 - 1) = 5.5``.

    >>> y = np.array([2.0] + [0.0] * 9)
    >>> croston_components(y, 0.5, open_interval=False), croston_components(y, 0.5)
    ((2.0, 1.0), (2.0, 5.5))
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    # compiled: the recursion runs at every backtest origin of every intermittent series
    z, p = np.empty(1), np.empty(1)
    y = np.ascontiguousarray(y, dtype=float)
    _kernels.croston_states(y, np.array([y.size]), float(alpha), bool(open_interval), z, p)
    return float(z[0]), float(p[0])


#: Smoothing constants :func:`sba_alpha` chooses from.
SBA_ALPHA_GRID = np.array([0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3])


def sba_alpha(x: np.ndarray, grid: np.ndarray | None = None, open_interval: bool = True) -> float:
    """SBA smoothing constant with the least in-sample one-step squared error.

    For each ``alpha`` of the grid, the one-step SBA forecasts
    ``f_t = (1 - alpha/2) z_{t-1} / p_{t-1}`` of every period ``t`` of the last two
    thirds of ``x`` (the first third lets the recursion forget its start) are compared
    with ``x_t``; the ``alpha`` of the smallest ``sum (x_t - f_t)^2`` wins (the first
    on ties). A level that moves needs a larger ``alpha``, noise around a steady rate a
    smaller one; a fixed 0.1 cannot serve both (Kourentzes 2014, "On intermittent
    demand model optimisation and selection", IJPE 156, on optimising Croston-type
    constants per series).

    Parameters
    ----------
    x : numpy.ndarray
        Demand per period, units (no NaN, not negative).
    grid : numpy.ndarray, optional
        Candidate constants in (0, 1]; default :data:`SBA_ALPHA_GRID`.
    open_interval : bool
        One-step forecasts with the open interval, as the model that uses the constant
        (:func:`croston_components`).

    Returns
    -------
    float
        ``alpha``; 0.1 when ``x`` has fewer than 6 periods or no demand before its last
        two thirds.

    Examples
    --------
    A steady rate of one unit every other period wants a long memory:

    >>> sba_alpha(np.array([0.0, 2.0] * 40))
    0.02
    """
    grid = SBA_ALPHA_GRID if grid is None else np.asarray(grid, dtype=float)
    x = np.ascontiguousarray(x, dtype=float)
    start = x.size // 3
    if x.size < 6 or not np.any(x[:start] > 0):
        return 0.1
    origins = np.arange(start, x.size, dtype=np.int64)
    z, p = np.empty(origins.size), np.empty(origins.size)
    best, best_sse = 0.1, np.inf
    for alpha in grid:
        _kernels.croston_states(x, origins, float(alpha), bool(open_interval), z, p)
        f = SBA(alpha=float(alpha))._factor() * np.where(z > 0, z / p, 0.0)  # SBA's own bias factor
        sse = float(np.sum((x[start:] - f) ** 2))
        if sse < best_sse:
            best, best_sse = float(alpha), sse
    return best


class Croston(SeriesModel):
    """Croston's method, ``f = z_T / p_T`` (Croston 1972).

    Parameters
    ----------
    alpha : float
        Smoothing constant for sizes and intervals (0.1 is the common default in the
        intermittent-demand literature, e.g. Syntetos and Boylan 2005).
    open_interval : bool
        Let the zero run after the last demand lengthen the interval (module docstring);
        ``False`` is the textbook method.

    Examples
    --------
    Sizes 4 then 2, intervals 2 then 3: ``z = 4 + 0.5 (2 - 4) = 3``,
    ``p = 2 + 0.5 (3 - 2) = 2.5``, ``f = 3 / 2.5``.

    >>> Croston(alpha=0.5).fit([0, 4, 0, 0, 2]).predict(2)
    array([1.2, 1.2])

    Five more periods without demand: the open interval of 6 periods exceeds 2.5, so
    ``p' = 2.5 + 0.5 (6 - 2.5) = 4.25`` and ``f = 3 / 4.25``.

    >>> Croston(alpha=0.5).fit([0, 4, 0, 0, 2, 0, 0, 0, 0, 0]).predict(1).round(4)
    array([0.7059])
    """

    name = "croston"

    def __init__(self, alpha: float = 0.1, open_interval: bool = True):
        self.alpha = alpha
        self.open_interval = open_interval

    def _fit(self, y: np.ndarray) -> None:
        self.size_, self.interval_ = croston_components(y, float(self.alpha), bool(self.open_interval))
        self.rate_ = 0.0 if self.size_ == 0 else self._factor() * self.size_ / self.interval_

    def _factor(self) -> float:
        return 1.0

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self.rate_)

    def forecast_origins(self, y, origins, h: int) -> list[tuple]:
        """:meth:`SeriesModel.forecast_origins` in one pass of the recursion: the
        states of a prefix ``y[:o]`` are those met on the way through ``y``."""
        arr = self._checked_prefix(y, origins)
        alpha = float(self.alpha)
        if arr is None or not 0 < alpha <= 1:
            return super().forecast_origins(y, origins, h)
        h = check_horizon(h)
        o = np.asarray(origins, dtype=np.int64)
        z, p = np.empty(o.size), np.empty(o.size)
        _kernels.croston_states(arr, o, alpha, bool(self.open_interval), z, p)
        factor = self._factor()
        return [(np.full(h, 0.0 if zk == 0 else factor * zk / pk), None) for zk, pk in zip(z, p)]

    def _fitted_params(self) -> dict:
        # alpha is configured, not estimated; logged so the table is self-contained.
        return {"alpha": float(self.alpha), "size": self.size_, "interval": self.interval_,
                "open_interval": bool(self.open_interval), "factor": self._factor(), "rate": self.rate_}


class SBA(Croston):
    """Syntetos-Boylan approximation, ``f = (1 - alpha/2) z_T / p_T``
    (Syntetos and Boylan 2005).

    Parameters
    ----------
    alpha : float
        Smoothing constant for sizes and intervals.
    open_interval : bool
        As :class:`Croston`.

    Examples
    --------
    >>> SBA(alpha=0.5).fit([0, 4, 0, 0, 2]).predict(2)
    array([0.9, 0.9])
    """

    name = "sba"

    def _factor(self) -> float:
        return 1.0 - float(self.alpha) / 2.0


def multiplicative_profile(y: np.ndarray, season_length: int) -> np.ndarray:
    """Shrunk multiplicative seasonal indices of a demand series, mean 1 over a cycle.

    ``S_j = max(0, 1 + s_j / ybar)``, renormalised to mean 1, where ``s_j`` are the
    additive indices of :func:`~forecasting.models.smoothing.seasonal_indices` (linear
    trend plus one dummy per cycle position by least squares, smoothed across
    neighbouring positions, shrunk towards no season by the positive-part James-Stein
    factor) and ``ybar`` is the mean demand per period. A profile that the data cannot
    tell from noise therefore comes out flat (all 1). The shrinkage is one factor for
    the whole profile, so at low volume a closed day keeps a small factor (about 0.15
    for a shop selling 0.75 a day over 60 weeks); shrinking each position by its own
    sampling variance (normal empirical Bayes with variance proportional to the mean)
    would send it to 0 but estimated the profiles of simulated daily demand no better
    (``benchmarks/forecast_daily.py`` data, squared error of the held-out profile
    0.0169 against 0.0161; scratch, outside the repo).

    Parameters
    ----------
    y : numpy.ndarray
        Demand per period, units.
    season_length : int
        ``m``, periods per cycle.

    Returns
    -------
    numpy.ndarray
        ``m`` dimensionless factors; factor ``j`` belongs to the periods ``t`` with
        ``t mod m == j`` (``t = 0`` the first period of ``y``). All 1 when ``m < 2``,
        ``n < 2 m`` or the series has no demand.

    Examples
    --------
    A shop closed every third day, with a constant demand of 3 on the other two:

    >>> multiplicative_profile(np.array([3.0, 3.0, 0.0] * 8), 3).round(3).tolist()
    [1.5, 1.5, 0.0]
    """
    from .smoothing import seasonal_indices

    m = int(season_length)
    y = np.asarray(y, dtype=float)
    level = float(y.mean()) if y.size else 0.0
    if m < 2 or y.size < 2 * m or level <= 0:
        return np.ones(max(m, 1))
    factors = np.maximum(1.0 + seasonal_indices(y, m) / level, 0.0)
    mean = float(factors.mean())
    return factors / mean if mean > 0 else np.ones(m)


class SeasonalSBA(SeriesModel):
    """SBA on the seasonally adjusted series, times a shrunk multiplicative season.

    1. ``S = multiplicative_profile(y, m)`` (:func:`multiplicative_profile`: mean 1 over a
       cycle, flat when the season is not distinguishable from noise).
    2. ``x_t = y_t / S_{t mod m}``: demand in units of an average period, over the
       periods whose factor is at least ``floor``. The others (a closed day) say
       nothing about the rate and are left out, not counted as periods without demand.
    3. SBA on ``x`` (:class:`SBA`): rate ``r = (1 - alpha/2) z_T / p_T``, with ``alpha``
       estimated on ``x`` by :func:`sba_alpha` unless given.
    4. ``f_{T+h} = r S_{(T+h-1) mod m}``.

    Deseasonalising before smoothing, rather than scaling SBA's flat forecast of the raw
    series, keeps the level free of the phase the history ends in (a smoothed level
    that ends on a busy Saturday would otherwise carry it into the whole horizon).
    On daily store-item demand with a day-of-week profile this is what the flat
    Croston-type forecasts miss (see the module docstring); on a weekly dealer series
    the 52 indices are mostly shrunk to flat and the forecast is SBA's.

    Parameters
    ----------
    season_length : int
        ``m``, periods per cycle; 1 (or fewer than ``2 m`` periods) gives plain SBA.
    alpha : float, optional
        SBA's smoothing constant for sizes and intervals; default: estimated per series
        (:func:`sba_alpha`, least in-sample one-step squared error on the adjusted
        series). On simulated daily demand (``benchmarks/forecast_daily.py``, squared
        distance from the true mean as a share of the noise) the fixed 0.1 of plain SBA
        gave the intermittent class 0.038 and the lumpy one 0.054, the estimated
        constant 0.024 and 0.021 (all classes 0.042 -> 0.038, AutoETS 0.038).
    floor : float
        Smallest factor of a period kept in step 2 (dimensionless): dividing by a
        factor near zero (a closed day that once sold) would blow up the adjusted
        series.
    open_interval : bool
        As :class:`Croston`, on the adjusted series: the open zero run counts the
        periods kept in step 2 (a closed day is not a day without demand).

    Attributes
    ----------
    profile_ : numpy.ndarray
        ``S``, ``m`` factors, phase as in :func:`multiplicative_profile` (``t = 0`` the
        first period of the fitted history); in :meth:`fitted_params` as ``profile``, or
        as its ``profile_range`` (min, max) for more than 53 factors.
    rate_ : float
        ``r``, units per average period.
    alpha_ : float
        ``alpha`` used (given or estimated).

    Examples
    --------
    Demand only on the first two days of every three: the forecast keeps the closed day.

    >>> SeasonalSBA(season_length=3, alpha=0.5).fit([3, 3, 0] * 8).predict(3).round(3).tolist()
    [2.25, 2.25, 0.0]
    """

    name = "sba_seasonal"

    def __init__(self, season_length: int = 1, alpha: float | None = None, floor: float = 0.1,
                 open_interval: bool = True, _profile: np.ndarray | None = None):
        self.season_length = season_length
        self.alpha = alpha
        self.floor = floor
        self.open_interval = open_interval
        self._profile = _profile

    def frozen(self) -> "SeasonalSBA":
        """Unfitted copy that keeps this fit's profile and ``alpha`` (the backtest's later
        origins only re-run SBA on the series adjusted by it)."""
        return type(self)(**{**self.get_params(), "alpha": self.alpha_}, _profile=self.profile_)

    def _adjusted(self, y: np.ndarray, profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` over the periods whose factor is at least ``floor``, and the number of
        such periods in each prefix ``y[:k]`` (``k = 0 .. n``)."""
        factor = profile[np.arange(y.size) % profile.size]
        keep = factor >= float(self.floor)
        return y[keep] / factor[keep], np.concatenate([[0], np.cumsum(keep)])

    def _fit(self, y: np.ndarray) -> None:
        m = max(int(self.season_length), 1)
        profile = self._profile if self._profile is not None else multiplicative_profile(y, m)
        self.profile_ = np.asarray(profile, dtype=float)
        x, _ = self._adjusted(y, self.profile_)
        open_interval = bool(self.open_interval)
        self.alpha_ = float(self.alpha) if self.alpha is not None else sba_alpha(x, open_interval=open_interval)
        self.rate_ = float(SBA(alpha=self.alpha_, open_interval=open_interval).fit(x).rate_) if x.size else 0.0

    def _predict(self, h: int) -> np.ndarray:
        m = self.profile_.size
        return self.rate_ * self.profile_[np.arange(self.n_obs_, self.n_obs_ + h) % m]

    def forecast_origins(self, y, origins, h: int) -> list[tuple]:
        """:meth:`SeriesModel.forecast_origins` of a frozen model in one compiled SBA pass
        over the series adjusted by the fixed profile."""
        arr = self._checked_prefix(y, origins)
        if arr is None or self._profile is None or self.alpha is None:
            return super().forecast_origins(y, origins, h)
        alpha, floor = float(self.alpha), float(self.floor)
        if not 0 < alpha <= 1 or not floor > 0:
            return super().forecast_origins(y, origins, h)
        h = check_horizon(h)
        profile = np.asarray(self._profile, dtype=float)
        m = profile.size
        x, kept = self._adjusted(arr, profile)
        inner = kept[np.asarray(origins, dtype=np.int64)]
        if x.size == 0 or inner.min() < 1 or np.any(np.diff(inner) <= 0):
            return super().forecast_origins(y, origins, h)
        rates = SBA(alpha=alpha, open_interval=bool(self.open_interval)).forecast_origins(x, inner, h)
        return [(f * profile[np.arange(int(o), int(o) + h) % m], err) if f is not None else (f, err)
                for (f, err), o in zip(rates, origins)]

    def _fitted_params(self) -> dict:
        # the whole profile up to weekly data's 52 factors; a daily year's 365 would not
        # fit a readable cell, so only its range
        profile = [round(float(v), 4) for v in self.profile_]
        out = {"alpha": self.alpha_, "alpha_estimated": self.alpha is None, "rate": self.rate_,
               "open_interval": bool(self.open_interval)}
        if len(profile) <= 53:
            out["profile"] = profile
        else:
            out["profile_range"] = [min(profile), max(profile)]
        return out


class TSB(SeriesModel):
    """Teunter-Syntetos-Babai method, ``f = p_T z_T`` (Teunter, Syntetos and Babai 2011).

    Unlike Croston, the demand *probability* ``p`` is updated every period, so the
    forecast decays towards zero while no demand occurs (obsolescence):

    - demand in period ``t`` (``y_t > 0``): ``p <- p + beta (1 - p)``,
      ``z <- z + alpha (y_t - z)``;
    - no demand: ``p <- p + beta (0 - p)``, ``z`` unchanged.

    Initialisation: ``z_0`` = first non-zero demand, ``p_0`` = share of periods with
    demand in the history; the updates then run over every period.

    Parameters
    ----------
    alpha : float
        Smoothing constant of the demand size ``z`` (0.1 by default).
    beta : float
        Smoothing constant of the demand probability ``p`` (0.1 by default; TSB advise a
        small value, as for ``alpha``).

    Examples
    --------
    ``y = [0, 4, 0, 0]``, ``alpha = beta = 0.5``: ``z_0 = 4``, ``p_0 = 1/4``; t=0 no demand
    ``p = 0.125``; t=1 demand ``p = 0.5625``, ``z = 4``; t=2 ``p = 0.28125``; t=3
    ``p = 0.140625``; ``f = 0.140625 * 4 = 0.5625``.

    >>> TSB(alpha=0.5, beta=0.5).fit([0, 4, 0, 0]).predict(2)
    array([0.5625, 0.5625])
    """

    name = "tsb"

    def __init__(self, alpha: float = 0.1, beta: float = 0.1):
        self.alpha = alpha
        self.beta = beta

    def _fit(self, y: np.ndarray) -> None:
        a, b = float(self.alpha), float(self.beta)
        if not (0 < a <= 1 and 0 < b <= 1):
            raise ValueError(f"alpha and beta must be in (0, 1], got {a}, {b}")
        p, z = _kernels.tsb_states(y, y.size, a, b)
        self.probability_, self.size_ = p, z
        self.rate_ = p * z

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self.rate_)

    def forecast_origins(self, y, origins, h: int) -> list[tuple]:
        """:meth:`SeriesModel.forecast_origins` without a Python fit per origin (the
        starting probability is the prefix's share of periods with demand, so every
        origin runs its own recursion, compiled)."""
        arr = self._checked_prefix(y, origins)
        a, b = float(self.alpha), float(self.beta)
        if arr is None or not (0 < a <= 1 and 0 < b <= 1):
            return super().forecast_origins(y, origins, h)
        h = check_horizon(h)
        out = []
        for o in origins:
            p, z = _kernels.tsb_states(arr, int(o), a, b)
            out.append((np.full(h, p * z), None))
        return out

    def _fitted_params(self) -> dict:
        return {"alpha": float(self.alpha), "beta": float(self.beta), "size": self.size_,
                "probability": self.probability_, "rate": self.rate_}


def ses_level(x: np.ndarray, alphas: np.ndarray | None = None) -> tuple[float, float]:
    """Simple exponential smoothing, alpha chosen on a grid by in-sample one-step SSE.

    ``l_t = l_{t-1} + alpha (x_t - l_{t-1})``, ``l_0 = x_0``; the one-step forecast of
    ``x_t`` is ``l_{t-1}``. All grid values are run at once (vectorised).

    Parameters
    ----------
    x : numpy.ndarray
        Series, units per period.
    alphas : numpy.ndarray, optional
        Grid of smoothing constants; default 0.05, 0.10, ..., 0.95.

    Returns
    -------
    tuple of float
        ``(l_T, alpha)``: final level and chosen smoothing constant.
    """
    grid = SES_GRID if alphas is None else np.asarray(alphas, dtype=float)
    level, alpha = _kernels.ses_grid(np.ascontiguousarray(x, dtype=float), grid)
    return float(level), float(alpha)


class ADIDA(SeriesModel):
    """Aggregate-disaggregate intermittent demand approach (Nikolopoulos, Syntetos,
    Boylan, Petropoulos and Assimakopoulos 2011).

    1. Sum the history into non-overlapping buckets of ``k`` periods, counted back from
       the last period (an incomplete oldest bucket is dropped). Aggregation over the
       mean inter-demand interval removes most zeros, which is where SES works well.
    2. Forecast the bucket totals by simple exponential smoothing (:func:`ses_level`).
    3. Disaggregate equally: ``f_{T+h} = L / k`` for every future period.

    Parameters
    ----------
    bucket : int, optional
        ``k``, periods per bucket. Default: the mean interval between demands (ADI,
        rounded, at least 1), the choice of Petropoulos and Kourentzes (2015).

    Attributes
    ----------
    bucket_ : int
        ``k`` used.
    alpha_ : float
        SES constant chosen on the bucket totals.

    Examples
    --------
    Buckets of 2 from the end: ``[0+4, 0+2] = [4, 2]``; SES with ``l_0 = 4`` and any
    ``alpha``: ``l = 4 + alpha (2 - 4)``; the grid prefers ``alpha = 0.05`` (the
    smallest SSE is for every alpha the same here, 4, so the first is kept),
    ``l = 3.9`` and ``f = 3.9 / 2``.

    >>> ADIDA(bucket=2).fit([0, 4, 0, 2]).predict(2)
    array([1.95, 1.95])
    """

    name = "adida"
    min_length = 2

    def __init__(self, bucket: int | None = None):
        self.bucket = bucket

    def _bucket(self) -> int:
        # 0 = the mean inter-demand interval of the data (chosen in the kernel)
        if self.bucket is None:
            return 0
        if int(self.bucket) < 1:
            raise ValueError(f"bucket must be >= 1, got {self.bucket}")
        return int(self.bucket)

    def _fit(self, y: np.ndarray) -> None:
        k, alpha, rate = _kernels.adida_fit(y, y.size, self._bucket(), SES_GRID)
        self.bucket_, self.alpha_, self.rate_ = int(k), float(alpha), float(rate)

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self.rate_)

    def forecast_origins(self, y, origins, h: int) -> list[tuple]:
        """:meth:`SeriesModel.forecast_origins` with the compiled fit per origin."""
        arr = self._checked_prefix(y, origins)
        try:
            bucket = self._bucket()
        except ValueError:  # the fit's own error, per origin
            arr = None
        if arr is None:
            return super().forecast_origins(y, origins, h)
        h = check_horizon(h)
        return [(np.full(h, _kernels.adida_fit(arr, int(o), bucket, SES_GRID)[2]), None) for o in origins]

    def _fitted_params(self) -> dict:
        return {"bucket": self.bucket_, "alpha": self.alpha_, "rate": self.rate_}
