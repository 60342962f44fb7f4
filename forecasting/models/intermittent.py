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
"""

from __future__ import annotations

import numpy as np

from .base import SeriesModel

__all__ = ["Croston", "SBA", "croston_components"]


def croston_components(y: np.ndarray, alpha: float) -> tuple[float, float]:
    """Smoothed non-zero size ``z_T`` (units) and interval ``p_T`` (periods) after ``y``.

    Parameters
    ----------
    y : numpy.ndarray
        Demand per period, units.
    alpha : float
        Smoothing constant in (0, 1], applied to both sizes and intervals.

    Returns
    -------
    tuple of float
        ``(z_T, p_T)``; ``(0.0, inf)`` when ``y`` has no demand.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    idx = np.flatnonzero(y > 0)
    if idx.size == 0:
        return 0.0, float("inf")
    z = float(y[idx[0]])
    p = float(idx[0] + 1)
    for prev, cur in zip(idx[:-1], idx[1:]):
        z += alpha * (float(y[cur]) - z)
        p += alpha * (float(cur - prev) - p)
    return z, p


class Croston(SeriesModel):
    """Croston's method, ``f = z_T / p_T`` (Croston 1972).

    Parameters
    ----------
    alpha : float
        Smoothing constant for sizes and intervals (0.1 is the common default in the
        intermittent-demand literature, e.g. Syntetos and Boylan 2005).

    Examples
    --------
    Sizes 4 then 2, intervals 2 then 3: ``z = 4 + 0.5 (2 - 4) = 3``,
    ``p = 2 + 0.5 (3 - 2) = 2.5``, ``f = 3 / 2.5``.

    >>> Croston(alpha=0.5).fit([0, 4, 0, 0, 2]).predict(2)
    array([1.2, 1.2])
    """

    name = "croston"

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha

    def _fit(self, y: np.ndarray) -> None:
        self.size_, self.interval_ = croston_components(y, float(self.alpha))
        self.rate_ = 0.0 if self.size_ == 0 else self._factor() * self.size_ / self.interval_

    def _factor(self) -> float:
        return 1.0

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self.rate_)


class SBA(Croston):
    """Syntetos-Boylan approximation, ``f = (1 - alpha/2) z_T / p_T``
    (Syntetos and Boylan 2005).

    Parameters
    ----------
    alpha : float
        Smoothing constant for sizes and intervals.

    Examples
    --------
    >>> SBA(alpha=0.5).fit([0, 4, 0, 0, 2]).predict(2)
    array([0.9, 0.9])
    """

    name = "sba"

    def _factor(self) -> float:
        return 1.0 - float(self.alpha) / 2.0
