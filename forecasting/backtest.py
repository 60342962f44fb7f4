"""Rolling-origin backtest of one model on one series.

Origins (cut-offs) are placed so that the last one leaves exactly ``H`` periods of
actuals: ``o_k = n - H - k * step`` for ``k = 0 .. windows-1`` (``n`` periods, the model
is fitted on ``y[:o_k]`` and forecasts ``y[o_k : o_k + H]``). For short series the
origins are moved forward to leave at least ``min_train`` training periods, and the test
window is then shorter than ``H`` (partial steps); duplicates are dropped. This is the
evaluation scheme of Tashman (2000), "Out-of-sample tests of forecasting accuracy".
"""

from __future__ import annotations

import numpy as np

__all__ = ["rolling_origins", "check_forecast", "UnstableForecast"]


class UnstableForecast(ValueError):
    """A model returned NaN/inf, or values beyond the explosion cap."""


def rolling_origins(n: int, horizon: int, windows: int, step: int, min_train: int = 3) -> list[int]:
    """Cut-off indices of a rolling-origin backtest, oldest first.

    Parameters
    ----------
    n : int
        Series length, periods.
    horizon : int
        ``H``, periods forecast from each origin.
    windows : int
        Number of origins wanted.
    step : int
        Periods between consecutive origins.
    min_train : int
        Fewest training periods before the first origin.

    Returns
    -------
    list of int
        Origins ``o`` with ``min_train <= o < n``; training data is ``y[:o]``. Empty
        when ``n <= min_train``.

    Examples
    --------
    >>> rolling_origins(156, 13, 3, 4)
    [135, 139, 143]
    >>> rolling_origins(10, 13, 3, 4)
    [3]
    """
    if n <= min_train:
        return []
    origins = {max(min_train, n - horizon - k * step) for k in range(max(int(windows), 0))}
    return sorted(o for o in origins if o < n)


def check_forecast(values: np.ndarray, h: int, cap: float) -> np.ndarray:
    """Guardrail: validate raw model output and return it clipped to ``[0, cap]``.

    Parameters
    ----------
    values : numpy.ndarray
        Raw forecasts from a model, units per period.
    h : int
        Expected length.
    cap : float
        Largest plausible value, units per period (``max_multiple`` x history maximum).

    Returns
    -------
    numpy.ndarray
        Forecasts clipped at zero (negative values are a normal artefact of additive
        models on low demand) and at ``cap``.

    Raises
    ------
    UnstableForecast
        Wrong length, NaN/inf, or a value above ``cap`` (beyond a rounding tolerance):
        an exploding fit is replaced by a fallback model rather than silently clipped.
    """
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != h:
        raise UnstableForecast(f"returned {arr.size} values for horizon {h}")
    if not np.all(np.isfinite(arr)):
        raise UnstableForecast("non-finite forecast (NaN or inf)")
    tolerance = 1e-6 * max(cap, 1.0)
    if np.any(arr > cap + tolerance):
        raise UnstableForecast(f"forecast {float(arr.max()):.4g} above cap {cap:.4g} (explosion)")
    return np.clip(arr, 0.0, cap)
