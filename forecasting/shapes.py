"""Seasonal shapes pooled over a group of series, for items with little history.

A new SKU (or a new SKU x dealer pair) has too few periods to estimate its own season,
but its category or region has one: garden parts peak in spring everywhere in a region.
:func:`pooled_profiles` estimates one multiplicative profile per group from the members
with at least two full seasons of history, and :class:`BorrowedShape` forecasts a short
series as its own deseasonalised recent level times its group's profile.

Profile of group ``g`` at cycle position ``j`` (positions come from the run's common
period grid, so members that started on different dates are aligned on the calendar):

``p_j = sum_{i in g} sum_{t: pos(t) = j} y_{i,t} / sum_{i in g} sum_{t: pos(t) = j} L_i``

with ``L_i`` the mean of series ``i`` over its last whole seasons (a volume-weighted
ratio-to-level estimator). The raw profile is smoothed circularly over ``w``
neighbouring positions and shrunk towards 1 by the positive-part James-Stein factor
``k = max(0, 1 - v / var(p))``, where ``v`` is the sampling variance of a smoothed index
estimated from the spread of the members' own ratios (a group of three noisy members
gets an almost flat profile). A group with fewer than ``min_members`` long members uses
the run-wide profile (key ``"*"``); the smoothing and shrinkage follow
:func:`forecasting.models.smoothing.seasonal_indices`.

In a grouped run the profiles serve long series too: the ``combo`` candidate then
adjusts each series by its group's profile at the series' own seasonal strength
(:class:`~forecasting.models.GroupSeasonCombination`).
"""

from __future__ import annotations

import numpy as np

from .models.base import SeriesModel, check_horizon
from .models.seasonality import profile_known_at, smooth_circular, smoothing_window

__all__ = ["pooled_profiles", "BorrowedShape", "ALL_GROUP"]

#: Key of the profile pooled over every series of the run.
ALL_GROUP = "*"


def pooled_profiles(
    series: list[np.ndarray],
    start_pos: np.ndarray,
    groups: np.ndarray,
    season_length: int,
    *,
    min_members: int = 3,
    window: int | None = None,
    end: int | None = None,
    min_seasons: int = 2,
) -> dict:
    """Multiplicative seasonal profile per group, on the common grid.

    Parameters
    ----------
    series : list of numpy.ndarray
        Demand per period of each series, units, each ending at the grid's last period.
    start_pos : numpy.ndarray
        Grid index of each series' first period.
    groups : numpy.ndarray
        Group label of each series (e.g. category or region); ``None`` entries belong to
        no group.
    season_length : int
        ``m``, periods per cycle (profiles are flat for ``m < 2``).
    min_members : int
        Fewest members with two full seasons for a group profile.
    window : int, optional
        Odd smoothing width, periods; default the odd number nearest ``m / 10``.
    end : int, optional
        Grid index of the first period not used: a profile as it was known before
        ``end`` (a backtest origin must not see later periods). Default: everything.
    min_seasons : int
        Whole seasons a member needs before ``end``.

    Returns
    -------
    dict
        ``{group: array of m factors (mean 1, dimensionless)}``, index ``j`` for grid
        positions ``p`` with ``p mod m == j``; always has :data:`ALL_GROUP` when any
        series qualifies. Empty for ``m < 2`` or when no series has two seasons.
    """
    m = int(season_length)
    if m < 2:
        return {}
    window = smoothing_window(window, m)
    sums: dict = {}
    for y, p0, g in zip(series, start_pos, groups):
        if end is not None:
            y = y[: max(0, int(end) - int(p0))]
        n = y.size
        if n < max(1, int(min_seasons)) * m:
            continue
        k = n // m
        tail = y[n - k * m:]
        level = float(tail.mean())
        if level <= 0:
            continue
        pos = (int(p0) + n - k * m + np.arange(k * m)) % m
        num = np.bincount(pos, weights=tail, minlength=m)
        den = np.bincount(pos, minlength=m) * level
        ratio = num / den
        for key in ((g, ALL_GROUP) if g is not None and g == g else (ALL_GROUP,)):
            acc = sums.setdefault(key, [np.zeros(m), np.zeros(m), [], 0])
            acc[0] += num
            acc[1] += den
            acc[2].append(ratio)
            acc[3] += 1
    out = {}
    for key, (num, den, ratios, count) in sums.items():
        if count < min_members:
            continue
        raw = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
        smooth = smooth_circular(raw, window)
        smooth = smooth / smooth.mean()
        spread = float(np.mean((smooth - 1.0) ** 2))
        member = np.asarray(ratios)
        # sampling variance of a smoothed pooled index: member spread / members / window
        noise = float(np.mean(np.var(member, axis=0))) / (count * window)
        shrink = max(0.0, 1.0 - noise / spread) if spread > 0 else 0.0
        out[key] = 1.0 + shrink * (smooth - 1.0)
    return out


class BorrowedShape(SeriesModel):
    """Recent deseasonalised level times a borrowed seasonal profile.

    ``f_{T+h} = L p_{(T+h) mod m}`` with ``L = sum_{t > T - w} y_t / sum_{t > T - w}
    p_{t mod m}`` (the ratio estimator of the level over the last ``w`` periods, so that
    a launch during the season peak is not mistaken for a high base level).

    Parameters
    ----------
    profile : numpy.ndarray
        ``m`` multiplicative factors (dimensionless, mean 1), index 0 belonging to the
        series' first period (rotate a grid profile by the series' start position); or
        a ``(k, m)`` stack of profiles known at different times, with ``known_from``.
    window : int
        ``w``, periods of the level estimate.
    known_from : sequence of int, optional
        For a stack: row ``j`` was estimated from periods before the series' period
        ``known_from[j]``, so a fit on ``n`` periods uses the last row with
        ``known_from[j] <= n`` (a backtest origin sees the profile of its time, never a
        later one); a fit before the first raises ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> profile = np.array([0.5, 1.5])
    >>> BorrowedShape(profile, window=4).fit([1, 3, 1, 3]).predict(3)
    array([1., 3., 1.])
    """

    name = "seasonal_shape"

    def __init__(self, profile: np.ndarray, window: int = 8, known_from=None):
        self.profile = profile
        self.window = window
        self.known_from = known_from

    def _profile_for(self, n: int) -> np.ndarray:
        return profile_known_at(self.profile, self.known_from, n)

    def _fit(self, y: np.ndarray) -> None:
        prof = np.maximum(self._profile_for(y.size), 1e-3)
        m = prof.size
        w = min(int(self.window), y.size)
        pos = np.arange(y.size - w, y.size) % m
        self.level_ = float(y[-w:].sum() / prof[pos].sum())
        self.profile_ = prof

    def _predict(self, h: int) -> np.ndarray:
        pos = (self.n_obs_ + np.arange(h)) % self.profile_.size
        return self.level_ * self.profile_[pos]

    def forecast_origins(self, y, origins, h: int) -> list[tuple]:
        """:meth:`SeriesModel.forecast_origins` without a fit per origin: the level of
        each window ``y[:o]`` against the profile known at ``o``."""
        arr = self._checked_prefix(y, origins)
        if arr is None:
            return super().forecast_origins(y, origins, h)
        steps = np.arange(check_horizon(h))
        out = []
        for o in (int(o) for o in origins):
            try:
                prof = np.maximum(self._profile_for(o), 1e-3)
            except ValueError:  # no profile known yet: the fit's own error, per origin
                out.extend(super().forecast_origins(arr, [o], h))
                continue
            m = prof.size
            w = min(int(self.window), o)
            level = float(arr[o - w : o].sum() / prof[np.arange(o - w, o) % m].sum())
            out.append((np.maximum(level * prof[(o + steps) % m], 0.0), None))
        return out

    def __repr__(self) -> str:
        return f"BorrowedShape(m={np.size(self.profile)}, window={self.window})"
