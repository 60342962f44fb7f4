"""STL decomposition forecasts.

STL (Cleveland, Cleveland, McRae and Terpenning 1990) splits the series into trend,
seasonal and remainder with loess, which lets the seasonal pattern change slowly over
time and (with ``robust=True``) resists outliers such as one-off promotions. The
forecast (Hyndman and Athanasopoulos, FPP3 section 5.7, "forecasting with
decomposition"): a non-seasonal model forecasts the seasonally adjusted series
``y_t - S_t`` and the last observed cycle of the seasonal component is added back
(seasonal naive on ``S``):

``f_{T+h} = g_{T+h} + S_{T+h-m(k+1)}``, ``k = floor((h-1)/m)``,

with ``g`` the forecast of the adjusted series by ``base`` (default: the AICc-selected
non-seasonal ETS, :class:`~forecasting.models.smoothing.AutoETS`). The decomposition is
statsmodels' ``STL`` (compiled).

Settings measured on M3 monthly (1,428 series, official test; sMAPE % / MASE): STL
of ``y`` with statsmodels' defaults (seasonal 7, robust) 17.19 / 0.978; of ``log y``
with the seasonality test 14.58 / 0.917; plus non-robust 14.45 / 0.909; plus seasonal
smoother 13 14.27 / 0.896. Additive STL of ``y`` fails on series whose seasonal swing
grows with the level, and a short seasonal smoother lets the last cycle, which is
extrapolated, follow noise.

The seasonal smoother's span (in cycles) is chosen per series (:func:`seasonal_span`),
because the last cycle of ``S`` is what the forecast carries forward and its noise
depends on the data, not on the frequency. A first pass with a 13-cycle window gives
the variances of the seasonal and remainder components; when the remainder is so noisy
against the season that ``n = K var(R) / var(S) > 13`` (``K = 20``), the season is
re-estimated with a window of ``n`` cycles (at most ``10 c + 1`` for ``c`` cycles: R's
``s.window = "periodic"``, the mean of each cycle position) and a local *constant*
(``seasonal_deg=0``): a local line extrapolated to the series' end doubles the
variance there. A loess estimate's variance is about ``kappa sigma^2 / n_s`` for
``n_s`` points (``kappa`` about 2 at the end), so this keeps the noise of the
carried-forward cycle near a tenth of the seasonal variance. A clear season that drifts (decades of monthly
retail) keeps the 13-cycle local line.

Measured (scratch runs outside the repo, the ``stl`` model alone, MASE): M3 monthly
0.896 -> 0.875; aus_retail 1.474 -> 1.476; simulated daily store demand (Poisson, mean
2-10 a day, a day-of-week profile, 1,000 days), squared error against the true mean
1.41 -> 0.44 (Theta 0.17, the AICc-selected ETS 0.20). Periodic seasons for every
series of at most 13 cycles were tried and not kept: STL alone improved as much on M3
(0.873), but the combination of ETS, Theta and STL lost (MASE 0.8396 -> 0.8431), its
members then erring alike; with the noise rule it gains (0.8396 -> 0.8366,
``benchmarks/forecast_m3.py``). A fixed window of degree 0 for the series of more
than 13 cycles was worse on aus_retail (13 cycles: 1.491; 51 cycles: 1.591).
"""

from __future__ import annotations

import numpy as np

from .base import SeriesModel

__all__ = ["STLForecaster", "seasonal_span"]

#: Seasonal smoother span (cycles) of the first pass, kept unless the remainder is too
#: noisy (see :func:`seasonal_span`).
LOCAL_SPAN = 13
#: ``K`` of :func:`seasonal_span`: the carried-forward cycle's noise variance is kept
#: near ``2 / K`` of the seasonal variance.
NOISE_FACTOR = 20.0


def seasonal_span(cycles: int, var_seasonal: float | None = None, var_remainder: float | None = None) -> tuple[int, int]:
    """Span (odd, in cycles) and degree of STL's seasonal smoother for one series.

    ``(13, 1)`` (a local line over 13 cycles) unless a first pass with it left a
    remainder so noisy that ``n = K var(R) / var(S) > 13``; then ``(min(n, 10 c + 1), 0)``,
    a local constant over ``n`` cycles, periodic when ``n`` reaches all ``c`` cycles
    (``K`` = :data:`NOISE_FACTOR`; see the module docstring for why).

    Parameters
    ----------
    cycles : int
        Whole seasonal cycles in the history.
    var_seasonal, var_remainder : float, optional
        Variances of the seasonal and remainder components of the first pass (units^2,
        or squared log units); without them, the first pass's ``(13, 1)``.

    Returns
    -------
    tuple of int
        ``(seasonal, seasonal_deg)`` for ``statsmodels.tsa.seasonal.STL``.

    Examples
    --------
    >>> seasonal_span(30)
    (13, 1)
    >>> seasonal_span(30, var_seasonal=4.0, var_remainder=1.0)
    (13, 1)
    >>> seasonal_span(140, var_seasonal=1.0, var_remainder=3.0)
    (61, 0)
    >>> seasonal_span(3, var_seasonal=1.0, var_remainder=3.0)
    (31, 0)
    """
    periodic = 10 * int(cycles) + 1
    if var_seasonal is None or var_remainder is None or not var_seasonal > 0:
        return LOCAL_SPAN, 1
    need = NOISE_FACTOR * float(var_remainder) / float(var_seasonal)
    if need <= LOCAL_SPAN:
        return LOCAL_SPAN, 1
    span = min(int(np.ceil(need)), periodic)
    return span | 1, 0


class STLForecaster(SeriesModel):
    """Forecast the STL-adjusted series and add the last seasonal cycle back.

    Parameters
    ----------
    season_length : int
        ``m``, periods per cycle. With ``m < 2`` or fewer than ``2 m`` periods there is
        no decomposition and the base model forecasts ``y`` itself.
    base : str
        Name of the model for the adjusted series (fitted with ``season_length=1``).
    robust : bool
        Robust loess fitting (downweights outliers; twice the cost).
    seasonal : int, optional
        Length of the seasonal smoother (odd, >= 7), with statsmodels' degree 1;
        default: chosen per series by :func:`seasonal_span` (statsmodels: 7).
    log : bool
        Decompose and forecast ``log y`` for strictly positive series (Box-Cox with
        ``lambda = 0``): seasonal swings that grow with the level become additive; the
        back-transformed forecast is the median of a log-symmetric forecast distribution.
    test : bool
        Decompose only when the seasonality test
        (:func:`~forecasting.models.seasonality.is_seasonal`) finds a season.
    fixed : SeriesModel, optional
        Frozen base model; set by :meth:`frozen`.

    Attributes
    ----------
    seasonal_ : numpy.ndarray
        Seasonal component ``S_t`` of the history (empty without decomposition).
    base_ : SeriesModel
        Fitted base model.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(48)
    >>> y = 20 + 5 * np.sin(2 * np.pi * t / 12)
    >>> STLForecaster(season_length=12).fit(y).predict(3).round(1)
    array([20. , 22.5, 24.3])
    """

    name = "stl"
    min_length = 4

    def __init__(self, season_length: int = 12, base: str = "ets_auto", robust: bool = False,
                 seasonal: int | None = None, log: bool = True, test: bool = True,
                 fixed: SeriesModel | None = None):
        self.season_length = season_length
        self.base = base
        self.robust = robust
        self.seasonal = seasonal
        self.log = log
        self.test = test
        self.fixed = fixed

    def frozen(self) -> "STLForecaster":
        """Unfitted copy whose base model is the frozen copy of the fitted one."""
        params = self.get_params()
        params["fixed"] = self.base_.frozen()
        return STLForecaster(**params)

    def _fit(self, y: np.ndarray) -> None:
        from statsmodels.tsa.seasonal import STL

        from . import make_model

        from .seasonality import LONG_SEASON, is_seasonal

        m = int(self.season_length)
        self.logged_ = bool(self.log) and bool(np.all(y > 0))
        y = np.log(y) if self.logged_ else y
        # a long season is judged by its shrunk profile whatever ``test`` says, as in
        # deseasonalise (forecasting.models.seasonality)
        if m >= 2 and y.size >= 2 * m and ((not self.test and m <= LONG_SEASON) or is_seasonal(y, m)):
            robust = bool(self.robust)
            if self.seasonal:
                span, degree = int(self.seasonal), 1
                res = STL(y, period=m, seasonal=span, robust=robust).fit()
            else:
                res = STL(y, period=m, seasonal=LOCAL_SPAN, robust=robust).fit()
                span, degree = seasonal_span(y.size // m, float(np.var(res.seasonal)), float(np.var(res.resid)))
                if degree == 0:  # too noisy for a 13-cycle window: smooth over more cycles
                    res = STL(y, period=m, seasonal=span, seasonal_deg=degree, robust=robust).fit()
            self.span_, self.degree_ = span, degree
            self.seasonal_ = np.asarray(res.seasonal, dtype=float)
            # Strength of seasonality (Wang, Smith and Hyndman 2006; FPP3 section 4.3):
            # F_S = max(0, 1 - Var(R) / Var(S + R)), 0 = none, 1 = all of the detrended
            # variation is seasonal.
            resid = np.asarray(res.resid, dtype=float)
            total = float(np.var(self.seasonal_ + resid))
            self.strength_ = max(0.0, 1.0 - float(np.var(resid)) / total) if total > 0 else 0.0
        else:
            self.seasonal_ = np.empty(0)
            self.strength_ = 0.0
            self.span_, self.degree_ = None, None
        adjusted = y - self.seasonal_ if self.seasonal_.size else y
        # The adjusted series of low demand can dip below zero; models need >= 0 input.
        shift = max(0.0, -float(adjusted.min()))
        self.shift_ = shift
        if self.fixed is not None:
            import copy

            # the frozen base is an unfitted template: a fit only sets attributes ending
            # in ``_``, so a shallow copy is a fresh model (deepcopy cost ~0.1 ms a fit)
            base = copy.copy(self.fixed)
        else:
            base = make_model(self.base, 1)
        self.base_ = base.fit(adjusted + shift)

    def _fitted_params(self) -> dict:
        return {"decomposed": self.seasonal_.size > 0, "log": self.logged_,
                "seasonal_strength": self.strength_,
                "seasonal_window": self.span_, "seasonal_degree": self.degree_,
                "base": self.base_.name, "base_params": self.base_.fitted_params()}

    def _predict(self, h: int) -> np.ndarray:
        g = self.base_._predict(h) - self.shift_
        if self.seasonal_.size:
            m = int(self.season_length)
            last = self.seasonal_[-m:]
            g = g + last[np.arange(h) % m]
        return np.exp(np.minimum(g, 700.0)) if self.logged_ else g
