"""Point and quantile accuracy metrics.

All functions take plain array-likes of equal length (one forecast per period) and
return a float. Quantities are in units per period; every metric except WAPE and bias is
in the units stated in its docstring. A zero denominator gives ``nan`` (the metric is
undefined), never an exception, so that callers can aggregate with ``nanmean``.

The formulas are those fixed in DESIGN.md ("Formulas to honour"):

- MASE (Hyndman and Koehler 2006): ``mean|e_t| / mean|y_t - y_{t-m}|``, the denominator
  over the training data, ``m`` the season length, ``m = 1`` when the training series is
  shorter than ``m + 1``.
- RMSSE (M5 competition, Makridakis, Spiliotis and Assimakopoulos 2022):
  ``sqrt(mean(e_t^2) / mean((y_t - y_{t-1})^2))``, the denominator over the training data
  with first differences.
- WAPE: ``sum|e_t| / sum|y_t|``.
- Bias: ``sum(f_t - y_t) / sum(y_t)`` (positive = over-forecast).
- Pinball loss for quantile level ``q`` (Koenker and Bassett 1978):
  ``mean(max(q (y_t - f_t), (q - 1)(y_t - f_t)))``.

Here ``e_t = y_t - f_t`` (actual minus forecast).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["mase", "rmsse", "wape", "bias", "pinball_loss", "mase_scale", "rmsse_scale"]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    f = np.asarray(y_pred, dtype=float).ravel()
    if y.shape != f.shape:
        raise ValueError(f"y_true has {y.size} values but y_pred has {f.size}")
    if y.size == 0:
        raise ValueError("metrics need at least one period")
    return y, f


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def mase_scale(y_train: ArrayLike, season_length: int = 1) -> float:
    """In-sample MAE of the seasonal naive forecast, the MASE denominator.

    Parameters
    ----------
    y_train : array-like
        Training series, units per period.
    season_length : int
        Season length ``m`` in periods. Falls back to ``m = 1`` when the training series
        has fewer than ``m + 1`` values (DESIGN.md).

    Returns
    -------
    float
        ``mean|y_t - y_{t-m}|`` in units per period; ``nan`` when fewer than two values.
    """
    y = np.asarray(y_train, dtype=float).ravel()
    m = int(season_length) if y.size > season_length else 1
    if y.size <= m:
        return float("nan")
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def rmsse_scale(y_train: ArrayLike) -> float:
    """In-sample mean squared first difference, the RMSSE denominator.

    Parameters
    ----------
    y_train : array-like
        Training series, units per period.

    Returns
    -------
    float
        ``mean((y_t - y_{t-1})^2)`` in squared units; ``nan`` when fewer than two values.
    """
    y = np.asarray(y_train, dtype=float).ravel()
    if y.size < 2:
        return float("nan")
    return float(np.mean(np.diff(y) ** 2))


def mase(y_true: ArrayLike, y_pred: ArrayLike, y_train: ArrayLike, season_length: int = 1) -> float:
    """Mean absolute scaled error.

    ``MASE = mean|y_t - f_t| / mean|y_s - y_{s-m}|`` with the denominator over the
    training data ``y_s`` and ``m`` the season length (``m = 1`` when the training series
    is shorter than ``m + 1``). Hyndman and Koehler (2006), DESIGN.md.

    Parameters
    ----------
    y_true, y_pred : array-like
        Actuals and forecasts over the evaluation periods, units per period.
    y_train : array-like
        Training series the forecast was made from, units per period.
    season_length : int
        Season length ``m``, periods.

    Returns
    -------
    float
        Dimensionless; 1 means as good as the in-sample seasonal naive forecast.
        ``nan`` when the denominator is zero.

    Examples
    --------
    >>> mase([3, 5], [4, 4], y_train=[1, 2, 4, 7])
    0.5
    """
    y, f = _pair(y_true, y_pred)
    scale = mase_scale(y_train, season_length)
    return _ratio(float(np.mean(np.abs(y - f))), scale)


def rmsse(y_true: ArrayLike, y_pred: ArrayLike, y_train: ArrayLike) -> float:
    """Root mean squared scaled error.

    ``RMSSE = sqrt(mean((y_t - f_t)^2) / mean((y_s - y_{s-1})^2))`` with the denominator
    over the training data (first differences), as in the M5 competition; DESIGN.md.

    Parameters
    ----------
    y_true, y_pred : array-like
        Actuals and forecasts, units per period.
    y_train : array-like
        Training series, units per period.

    Returns
    -------
    float
        Dimensionless; ``nan`` when the denominator is zero.

    Examples
    --------
    >>> rmsse([3, 5], [4, 4], y_train=[1, 3, 1, 3])
    0.5
    """
    y, f = _pair(y_true, y_pred)
    scale = rmsse_scale(y_train)
    if not scale > 0:
        return float("nan")
    return float(np.sqrt(np.mean((y - f) ** 2) / scale))


def wape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Weighted absolute percentage error, ``sum|y_t - f_t| / sum|y_t|`` (DESIGN.md).

    Parameters
    ----------
    y_true, y_pred : array-like
        Actuals and forecasts, units per period.

    Returns
    -------
    float
        A fraction (0.2 = 20 %); ``nan`` when all actuals are zero.

    Examples
    --------
    >>> wape([10, 0, 10], [8, 1, 13])
    0.3
    """
    y, f = _pair(y_true, y_pred)
    return _ratio(float(np.sum(np.abs(y - f))), float(np.sum(np.abs(y))))


def bias(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Relative forecast bias, ``sum(f_t - y_t) / sum(y_t)`` (DESIGN.md).

    Parameters
    ----------
    y_true, y_pred : array-like
        Actuals and forecasts, units per period.

    Returns
    -------
    float
        A fraction; positive when the forecast is too high. ``nan`` when the actuals sum
        to zero.

    Examples
    --------
    >>> bias([10, 10], [12, 13])
    0.25
    """
    y, f = _pair(y_true, y_pred)
    return _ratio(float(np.sum(f - y)), float(np.sum(y)))


def pinball_loss(y_true: ArrayLike, y_pred: ArrayLike, quantile: float) -> float:
    """Mean pinball (quantile) loss of a forecast of the ``quantile``-level quantile.

    ``L_q = mean(max(q (y_t - f_t), (q - 1)(y_t - f_t)))``, Koenker and Bassett (1978).

    Parameters
    ----------
    y_true : array-like
        Actuals, units per period.
    y_pred : array-like
        Forecast quantiles, units per period.
    quantile : float
        Quantile level ``q`` in (0, 1).

    Returns
    -------
    float
        Units per period.

    Examples
    --------
    >>> pinball_loss([10, 10], [8, 13], quantile=0.9)
    1.05
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    y, f = _pair(y_true, y_pred)
    d = y - f
    return float(np.mean(np.maximum(quantile * d, (quantile - 1) * d)))
