"""The Theta method: standard (theta = 2) and optimised theta.

Assimakopoulos and Nikolopoulos (2000), the M3 winner, as formulated by Fiorucci,
Pellegrini, Louzada, Petropoulos and Koehler (2016), "Models for optimising the theta
method and their relationship to state space models", IJF 32(4):

1. If the series is seasonal (90 % autocorrelation test at lag ``m``,
   :func:`~forecasting.models.seasonality.seasonality_test`; under four cycles also a
   shrunk profile that is not zero, :func:`~forecasting.models.seasonality.is_seasonal`),
   it is seasonally adjusted by
   classical multiplicative decomposition (additive for series with zeros). Seasons
   longer than :data:`~forecasting.models.seasonality.LONG_SEASON` periods (52 weeks)
   subtract the shrunk additive profile instead
   (:func:`~forecasting.models.seasonality.deseasonalise`).
2. ``A + B t`` is the least squares line through the adjusted series ``x_t``
   (``t = 0 .. n-1``). The theta line ``Z_t = theta x_t + (1 - theta)(A + B t)`` is
   smoothed by simple exponential smoothing (``alpha``, initial level ``l_0``).
3. Forecast: ``f_{n+h} = (1 - 1/theta)(A + B (n - 1 + h)) + (1/theta) l_n``, then
   reseasonalised. With ``theta = 2`` this is the standard Theta method (the mean of the
   extrapolated line and SES on the theta line); Hyndman and Billah (2003) showed it is
   SES with drift ``B/2``.

``alpha`` and ``l_0`` (and ``theta`` in [1, 10] for the optimised variant, "OTM") minimise
the in-sample one-step squared error of ``x``. The optimiser is Nelder-Mead compiled with
numba (:mod:`forecasting.models._kernels`).
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from .base import SeriesModel, check_horizon, line_fit
from .seasonality import LONG_SEASON, SEASONALITY_Z, SHORT_CYCLES, deseasonalise, reseasonalise, smoothing_window

__all__ = ["Theta", "OptimisedTheta", "theta_forecast"]


def theta_forecast(x: np.ndarray, h: int, alpha: float, l0: float, theta: float = 2.0,
                   line: tuple[float, float] | None = None) -> np.ndarray:
    """Theta forecast of a (seasonally adjusted) series with fixed parameters.

    Parameters
    ----------
    x : numpy.ndarray
        Series, units per period.
    h : int
        Horizon, periods.
    alpha : float
        SES smoothing constant in (0, 1).
    l0 : float
        Initial SES level on the theta line, units per period.
    theta : float
        Theta coefficient (>= 1; 2 = standard Theta).
    line : tuple of float, optional
        ``(B, A)``, the least squares line through ``x`` when the caller has it.

    Returns
    -------
    numpy.ndarray
        ``f_{n+h} = (1 - 1/theta)(A + B (n-1+h)) + l_n / theta``, ``h`` values.
    """
    n = x.size
    b, a = _line(x) if line is None else line
    _, lev = _kernels.theta_sse(x, alpha, theta, l0, a, b)
    t = n - 1 + np.arange(1, h + 1)
    return (1.0 - 1.0 / theta) * (a + b * t) + lev / theta


def _line(x: np.ndarray) -> tuple[float, float]:
    if x.size < 2:
        return 0.0, float(x[0])
    return line_fit(x)


class Theta(SeriesModel):
    """Standard Theta method (theta = 2) with seasonal adjustment.

    Parameters
    ----------
    season_length : int
        ``m``, periods per cycle; 1 = no seasonal adjustment.
    theta : float
        Weight of the theta line (2 = the M3 method).
    fixed : dict, optional
        Fixed ``alpha`` (and ``theta``, ``l0``); set by :meth:`frozen`.

    Attributes
    ----------
    alpha_, theta_, l0_ : float
        Estimated smoothing constant, theta and initial level.
    seasonal_ : numpy.ndarray
        Seasonal indices used (empty when the series is not seasonal).

    Examples
    --------
    >>> Theta(season_length=1).fit([10., 12., 11., 13., 12., 14.]).predict(2).round(2)
    array([13.1 , 13.41])
    """

    name = "theta"
    min_length = 3
    _optimise_theta = False

    def __init__(self, season_length: int = 12, theta: float = 2.0, fixed: dict | None = None):
        self.season_length = season_length
        self.theta = theta
        self.fixed = fixed

    def frozen(self) -> "Theta":
        """Unfitted copy with ``alpha`` and ``theta`` fixed at the fitted values."""
        params = self.get_params()
        # Backtest windows all start at period 0, so the starting level stays valid.
        params["fixed"] = {"alpha": self.alpha_, "theta": self.theta_, "l0": self.l0_}
        return type(self)(**params)

    def _fit(self, y: np.ndarray) -> None:
        x, self.seasonal_, self.mult_ = deseasonalise(y, max(int(self.season_length), 1))
        b, a = _line(x)
        if self.fixed:
            self.alpha_ = float(self.fixed["alpha"])
            self.theta_ = float(self.fixed.get("theta", self.theta))
            self.l0_ = float(self.fixed.get("l0", x[0]))
        else:
            fit_theta = self._optimise_theta
            x0 = np.array([0.5, float(x[0]), float(self.theta)])
            scale = float(np.std(x)) or 1.0
            step = np.array([0.2, 0.2 * scale, 0.5])
            best, _ = _kernels.nelder_mead_theta(x0, step, x, a, b, fit_theta, 600, 1e-8)
            self.alpha_ = float(np.clip(best[0], 1e-4, 0.9999))
            self.l0_ = float(best[1])
            self.theta_ = float(best[2]) if fit_theta else float(self.theta)
        self.x_ = x
        self.slope_ = b
        self.line_ = (b, a)

    def _fitted_params(self) -> dict:
        # Drift per period of the forecast: (1 - 1/theta) B, i.e. B/2 for the standard
        # method (Hyndman and Billah 2003: SES with drift), on the adjusted series.
        return {"theta": self.theta_, "alpha": self.alpha_, "l0": self.l0_,
                "drift": (1.0 - 1.0 / self.theta_) * self.slope_,
                "seasonal": self.seasonal_.size > 0,
                "multiplicative": bool(self.mult_) if self.seasonal_.size else None}

    def _predict(self, h: int) -> np.ndarray:
        f = theta_forecast(self.x_, h, self.alpha_, self.l0_, self.theta_, self.line_)
        return reseasonalise(f, self.n_obs_, self.seasonal_, self.mult_)

    def forecast_origins(self, y, origins, h: int) -> list[tuple]:
        """:meth:`SeriesModel.forecast_origins` of a frozen model in one compiled call
        (:func:`~forecasting.models._kernels.theta_origins`): the seasonal adjustment of
        each window, the line and the filter with the fixed parameters."""
        arr = self._checked_prefix(y, origins)
        fixed = self.fixed or {}
        if arr is None or "alpha" not in fixed or "l0" not in fixed:
            return super().forecast_origins(y, origins, h)
        h = check_horizon(h)
        m = max(int(self.season_length), 1)
        o = np.asarray(origins, dtype=np.int64)
        out = np.empty((o.size, h))
        ok = np.zeros(o.size, dtype=np.bool_)
        _kernels.theta_origins(arr, o, h, m, float(fixed["alpha"]), float(fixed.get("theta", self.theta)),
                               float(fixed["l0"]), SEASONALITY_Z, LONG_SEASON, SHORT_CYCLES, smoothing_window(None, m),
                               out, ok)
        return [(out[k], None) if ok[k] else super(Theta, self).forecast_origins(arr, [int(o[k])], h)[0]
                for k in range(o.size)]


class OptimisedTheta(Theta):
    """Optimised Theta method (OTM, Fiorucci et al. 2016): ``theta`` in [1, 10] estimated
    jointly with ``alpha`` and ``l0`` by in-sample one-step squared error.

    Parameters
    ----------
    season_length : int
        ``m``, periods per cycle.
    theta : float
        Starting value of the theta search.
    fixed : dict, optional
        Fixed ``alpha`` and ``theta``; set by :meth:`frozen`.
    """

    name = "theta_opt"
    _optimise_theta = True
