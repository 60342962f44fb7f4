"""Baseline models: naive, seasonal naive and moving average.

They are the benchmarks every other model must beat in the backtest, the fallback when a
fitted model fails, and the honest choice for new items with little history.
"""

from __future__ import annotations

import numpy as np

from .base import SeriesModel, check_horizon

__all__ = ["Naive", "SeasonalNaive", "MovingAverage"]


class Naive(SeriesModel):
    """Last value carried forward: ``f_{T+h} = y_T``.

    Examples
    --------
    >>> Naive().fit([3, 5, 4]).predict(2)
    array([4., 4.])
    """

    name = "naive"

    def _fit(self, y: np.ndarray) -> None:
        self.last_ = float(y[-1])

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self.last_)

    def _fitted_params(self) -> dict:
        return {"level": self.last_}


class SeasonalNaive(SeriesModel):
    """Value of the same period one season earlier: ``f_{T+h} = y_{T+h-m(k+1)}``,
    ``k = floor((h-1)/m)`` (Hyndman and Athanasopoulos, FPP3 §5.2).

    Parameters
    ----------
    season_length : int
        Season length ``m``, periods (52 for weekly data with yearly seasonality).

    Examples
    --------
    >>> SeasonalNaive(season_length=3).fit([1, 2, 3, 4, 5, 6]).predict(4)
    array([4., 5., 6., 4.])
    """

    name = "seasonal_naive"

    def __init__(self, season_length: int = 52):
        self.season_length = season_length

    def _fit(self, y: np.ndarray) -> None:
        m = int(self.season_length)
        if m < 1:
            raise ValueError(f"season_length must be >= 1, got {m}")
        if y.size < m:
            raise ValueError(f"seasonal naive needs one full season ({m} periods), got {y.size}")
        self.last_season_ = y[-m:].copy()

    def _predict(self, h: int) -> np.ndarray:
        m = self.last_season_.size
        return self.last_season_[np.arange(h) % m]

    def forecast_origins(self, y, origins, h: int) -> list[tuple]:
        """:meth:`SeriesModel.forecast_origins` without a fit per origin: the forecast
        from origin ``o`` is ``y[o - m : o]`` repeated."""
        m = int(self.season_length)
        arr = self._checked_prefix(y, origins)
        if arr is None or m < 1 or int(min(origins)) < m:
            return super().forecast_origins(y, origins, h)
        cyc = np.arange(check_horizon(h)) % m
        return [(arr[int(o) - m : int(o)][cyc], None) for o in origins]

    def _fitted_params(self) -> dict:
        # The last season itself is the forecast (in the forecasts table); its mean and
        # season length summarise it without m numbers per series.
        return {"season_length": self.last_season_.size, "level": float(self.last_season_.mean())}


class MovingAverage(SeriesModel):
    """Mean of the last ``window`` periods, flat over the horizon.

    ``f_{T+h} = (1/p) sum_{i=0}^{p-1} y_{T-i}`` with ``p = min(window, T)``; this is the
    forecast of the order-up-to baseline in Chen et al. (2000).

    Parameters
    ----------
    window : int
        Number of periods averaged, ``p``. Shorter histories use all their periods.

    Examples
    --------
    >>> MovingAverage(window=2).fit([1, 2, 3, 5]).predict(3)
    array([4., 4., 4.])
    """

    name = "moving_average"

    def __init__(self, window: int = 8):
        self.window = window

    def _fit(self, y: np.ndarray) -> None:
        if int(self.window) < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        self.level_ = float(np.mean(y[-int(self.window):]))

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self.level_)

    def forecast_origins(self, y, origins, h: int) -> list[tuple]:
        """:meth:`SeriesModel.forecast_origins` without a fit per origin: the mean of
        ``y[o - p : o]`` from each origin ``o``."""
        w = int(self.window)
        arr = self._checked_prefix(y, origins)
        if arr is None or w < 1:
            return super().forecast_origins(y, origins, h)
        h = check_horizon(h)
        # (sum / count is numpy's mean, bit for bit)
        return [(np.full(h, arr[max(int(o) - w, 0) : int(o)].sum() / min(w, int(o))), None) for o in origins]

    def _fitted_params(self) -> dict:
        return {"window": min(int(self.window), self.n_obs_), "level": self.level_}
