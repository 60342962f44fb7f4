"""ARIMA on the seasonally adjusted series, order by AICc, estimated by Hannan-Rissanen.

The forecast, for a series ``y`` with season length ``m``:

1. **Seasonal adjustment.** When the 90 % autocorrelation test at lag ``m`` finds a season,
   ``y`` is adjusted by classical decomposition
   (:func:`~forecasting.models.seasonality.deseasonalise`; multiplicative for strictly
   positive series, additive otherwise), as in the Theta method; the indices are put
   back on the forecasts. This replaces seasonal ARIMA terms: ``(P, D, Q)_m`` needs
   several seasons per parameter and a multiplicative-lag likelihood, which is what
   makes statsmodels' SARIMAX cost 0.5 to 2 s per fit.
2. **Differencing** ``d`` in 0..``max_d``: the KPSS test (Kwiatkowski, Phillips, Schmidt
   and Shin 1992; statsmodels' ``kpss`` with a level-stationary null and
   ``trunc(4 (n/100)^(1/4))`` Newey-West lags) at 5 %, repeated on the differenced
   series, as R's ``forecast::ndiffs`` does for ``auto.arima`` (Hyndman and Khandakar
   2008).
3. **Orders** ``p <= max_p``, ``q <= max_q`` (2 and 2) and, for ``d <= 1``, a constant
   (the mean for ``d = 0``, which a demand series always has, so it is always kept;
   a drift for ``d = 1``, kept when AICc prefers it) are chosen by the smallest
   ``AICc = -2 log L + 2k + 2k(k+1)/(n' - k - 1)``, ``k = p + q + constant + 1`` (the
   variance), with the conditional Gaussian log likelihood
   ``-2 log L = n' (log(2 pi sigma^2) + 1)``, ``sigma^2`` the mean squared conditional
   (CSS) residual over the same ``n'`` periods for every order (R's ``auto.arima`` with
   ``approximation=TRUE`` also selects on CSS).
4. **Estimation** by the Hannan-Rissanen procedure (Hannan and Rissanen 1982; Brockwell
   and Davis 2016, section 5.1.4): a long autoregression (order
   ``max(floor(log(n)^2), 2 max(p, q))``, Gomez and Maravall 2001) fitted by
   Yule-Walker (statsmodels' ``yule_walker``) estimates the innovations; each ARMA order
   is then one least squares regression of ``w_t`` on ``w_{t-1..t-p}`` and the estimated
   innovations ``e_{t-1..t-q}``. The long autoregression is shared by every order of the
   grid, so the whole grid costs about as much as one statsmodels call. This is the
   estimator of statsmodels' ``statsmodels.tsa.arima.estimators.hannan_rissanen`` with
   ``unbiased=False`` (the tests check the two agree); estimates that are not
   stationary or not invertible are rejected, as there.
5. **Forecast**: the ARMA recursion with future innovations set to zero, integrated
   ``d`` times, reseasonalised.

Optionally (``refine="innovations_mle"`` or ``"statespace"``) the chosen order is
re-estimated by exact maximum likelihood with ``statsmodels.tsa.arima.model.ARIMA``,
starting from the Hannan-Rissanen estimates; a refinement that does not converge keeps
the Hannan-Rissanen estimates.

Why not statsmodels' ``ARIMA.fit`` for every order? Measured on this project's 2-core
machine (shared, load 1 to 3; a 130-period series, mean ms per fit): ``statespace``
320 to 1,380, ``innovations_mle`` 60 to 380, ``hannan_rissanen`` through ``ARIMA.fit``
(which builds a full results object with a Kalman filter likelihood) 24 to 87; the raw
``hannan_rissanen`` estimator 0.8 (AR) to 3 (ARMA); this module's whole 9-order grid
(shared long autoregression) about 2 to 4 ms. A grid of nine orders per series, two
fits per series (backtest and final), for thousands of series nightly only fits the
budget with the last.

Does it pay? Not as a default (``benchmarks/README.md``, "ARIMA: measured"; one run
each, ``--no-global``, shared 2-core machine at load 7 to 10):

=============================================  ===============  ===============
candidates for smooth / erratic demand          M3 sMAPE / MASE  aus_retail MASE
=============================================  ===============  ===============
default (``combo``, ``theta``)                  13.41 / 0.839    1.246
default + ``arima`` as a challenger             13.50 / 0.844    1.234
``arima`` as a 4th member of ``combo``          13.50 / 0.839    1.275
``arima`` alone                                 14.87 / 0.880    1.516
=============================================  ===============  ===============

(published M3 automatic ARIMA: sMAPE 14.80.) Model CPU per series (fit, forecast and
the backtest's frozen refit, one process): 6.1 ms, against 18.0 ms for ``combo`` and
0.9 ms for ``theta``, so a challenger ``arima`` adds about a third of the model time
for a gain on aus_retail and a loss on M3. It stays registered (``arima``) and
selectable through ``candidates=``: on demand with short-memory autocorrelation (e.g.
AR-like replenishment orders rather than consumer sales) it is the natural model.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .base import SeriesModel
from .seasonality import deseasonalise, reseasonalise

__all__ = ["ARIMA", "ndiffs", "hannan_rissanen_grid"]


def ndiffs(x: np.ndarray, max_d: int = 2, alpha: float = 0.05) -> int:
    """Number of differences that make ``x`` level-stationary by the KPSS test.

    ``x`` is differenced while the KPSS statistic (null: stationary around a level)
    exceeds its ``alpha`` critical value (0.463 at 5 %, Kwiatkowski et al. 1992, table
    1), at most ``max_d`` times; a constant (differenced) series is stationary.

    Parameters
    ----------
    x : numpy.ndarray
        Series, units per period.
    max_d : int
        Most differences.
    alpha : float
        Test level: 0.01, 0.025, 0.05 or 0.1.

    Returns
    -------
    int
        ``d`` in ``0 .. max_d``.
    """
    from statsmodels.tsa.stattools import kpss

    key = {0.01: "1%", 0.025: "2.5%", 0.05: "5%", 0.1: "10%"}[alpha]
    d = 0
    while d < max_d:
        if x.size < 4 or np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())):
            break
        lags = max(1, min(int(4 * (x.size / 100.0) ** 0.25), x.size - 2))
        with warnings.catch_warnings():
            # kpss warns when the statistic is outside its p-value table; only the
            # statistic and the critical value are used here.
            warnings.simplefilter("ignore")
            stat, _, _, crit = kpss(x, regression="c", nlags=lags)
        if not stat > crit[key]:
            break
        x = np.diff(x)
        d += 1
    return d


def _stable(coefs: np.ndarray, sign: float) -> bool:
    """Roots of ``1 + sign (c_1 z + ... + c_k z^k)`` all outside the unit circle."""
    if coefs.size == 0:
        return True
    poly = np.r_[1.0, sign * coefs]
    roots = np.roots(poly[::-1])
    return bool(np.all(np.abs(roots) > 1.0 + 1e-6))


def _css_residuals(z: np.ndarray, ar: np.ndarray, ma: np.ndarray) -> np.ndarray:
    """Conditional residuals ``a_t = z_t - sum phi_i z_{t-i} - sum theta_j a_{t-j}`` for
    ``t >= p``, with ``a_t = 0`` before (CSS conditioning)."""
    from scipy.signal import lfilter

    p = ar.size
    u = z[p:] - (sum(ar[i] * z[p - 1 - i : z.size - 1 - i] for i in range(p)) if p else 0.0)
    if ma.size:
        u = lfilter([1.0], np.r_[1.0, ma], u)
    return np.r_[np.zeros(p), u]


def hannan_rissanen_grid(
    w: np.ndarray, max_p: int = 2, max_q: int = 2, initial_ar_order: int | None = None
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Hannan-Rissanen estimates of every ARMA(p, q), ``p <= max_p``, ``q <= max_q``.

    Parameters
    ----------
    w : numpy.ndarray
        Zero-mean, stationary series.
    max_p, max_q : int
        Largest orders.
    initial_ar_order : int, optional
        Order ``k`` of the long autoregression; default
        ``max(floor(log(n)^2), 2 max(max_p, max_q))`` (Gomez and Maravall 2001, as
        statsmodels), reduced so that at least ``n/2`` periods remain for step 2.

    Returns
    -------
    dict
        ``(p, q) -> (phi, theta)`` for the orders whose estimates are stationary and
        invertible; ``(0, 0)`` is always present.
    """
    from statsmodels.regression.linear_model import yule_walker

    n = w.size
    out: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {(0, 0): (np.empty(0), np.empty(0))}
    k = initial_ar_order or max(int(np.floor(np.log(n) ** 2)), 2 * max(max_p, max_q))
    k = min(k, (n - max_q - max_p) // 2 - 1)
    for p in range(1, max_p + 1):
        # Pure AR: least squares on the lags (conditional sum of squares).
        if n - p <= p + 2:
            break
        X = np.column_stack([w[p - i - 1 : n - i - 1] for i in range(p)])
        phi, *_ = np.linalg.lstsq(X, w[p:], rcond=None)
        if _stable(phi, -1.0):
            out[(p, 0)] = (phi, np.empty(0))
    if max_q < 1 or k < 1:
        return out
    if np.var(w) <= 0:
        return out
    long_ar, _ = yule_walker(w, order=k, method="mle", result_object=False)
    X = np.column_stack([w[k - i - 1 : n - i - 1] for i in range(k)])
    e = np.r_[np.zeros(k), w[k:] - X @ long_ar]
    for q in range(1, max_q + 1):
        for p in range(0, max_p + 1):
            start = k + q  # as statsmodels: the first period with q lagged innovations (k >= p)
            if n - start <= p + q + 2:
                continue
            cols = [w[start - i - 1 : n - i - 1] for i in range(p)] + [e[start - j - 1 : n - j - 1] for j in range(q)]
            coef, *_ = np.linalg.lstsq(np.column_stack(cols), w[start:], rcond=None)
            phi, theta = coef[:p], coef[p:]
            if _stable(phi, -1.0) and _stable(theta, 1.0):
                out[(p, q)] = (phi, theta)
    return out


class ARIMA(SeriesModel):
    """Non-seasonal ARIMA(p, d, q) on the seasonally adjusted series (see the module
    docstring for the method and its cost).

    Model of the adjusted series ``x`` (``w = (1 - B)^d x``, ``mu`` the constant):
    ``phi(B) (w_t - mu) = theta(B) a_t`` with ``phi(B) = 1 - phi_1 B - ... - phi_p B^p``
    and ``theta(B) = 1 + theta_1 B + ... + theta_q B^q`` (statsmodels' sign convention).

    Parameters
    ----------
    season_length : int
        ``m``, periods per cycle; 1 = no seasonal adjustment.
    max_p, max_q : int
        Largest AR and MA orders of the grid.
    max_d : int
        Most differences.
    refine : str, optional
        ``"innovations_mle"`` or ``"statespace"``: re-estimate the chosen order by exact
        maximum likelihood with statsmodels' ``ARIMA`` (10 to 300 times the cost).
    fixed : dict, optional
        Fixed ``order`` ``(p, d, q)``, ``ar``, ``ma`` and ``constant`` (bool); only the
        constant's value and the seasonal indices are re-estimated. Set by :meth:`frozen`.

    Attributes
    ----------
    order_ : tuple of int
        ``(p, d, q)``.
    ar_, ma_ : numpy.ndarray
        ``phi_1..phi_p`` and ``theta_1..theta_q``.
    mu_ : float
        Mean (``d = 0``) or drift per period (``d = 1``) of ``w``, units per period; 0
        without constant.
    sigma2_ : float
        Innovation variance, (units per period)^2.
    aicc_ : dict
        ``"p,d,q[+c]"`` -> AICc of every order tried.
    seasonal_ : numpy.ndarray
        Seasonal indices used (empty when the series is not seasonal).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.empty(300); y[0] = 50.0
    >>> for t in range(1, 300):
    ...     y[t] = 50.0 + 0.5 * (y[t - 1] - 50.0) + rng.normal()
    >>> model = ARIMA(season_length=1).fit(y)
    >>> model.order_, round(float(model.ar_[0]), 1)
    ((1, 0, 0), 0.5)
    """

    name = "arima"
    min_length = 4

    def __init__(self, season_length: int = 12, max_p: int = 2, max_q: int = 2, max_d: int = 2,
                 refine: str | None = None, fixed: dict | None = None):
        self.season_length = season_length
        self.max_p = max_p
        self.max_q = max_q
        self.max_d = max_d
        self.refine = refine
        self.fixed = fixed

    def frozen(self) -> "ARIMA":
        """Unfitted copy with the order and the ARMA coefficients fixed."""
        params = self.get_params()
        params["fixed"] = {"order": self.order_, "ar": self.ar_.tolist(), "ma": self.ma_.tolist(),
                           "constant": self.constant_}
        return ARIMA(**params)

    def _fit(self, y: np.ndarray) -> None:
        m = max(int(self.season_length), 1)
        x, self.seasonal_, self.mult_ = deseasonalise(y, m)
        self.aicc_ = {}
        if self.fixed:
            p, d, q = (int(v) for v in self.fixed["order"])
            w = np.diff(x, d) if d else x
            if w.size < max(p, q) + 2:
                raise ValueError(f"ARIMA{(p, d, q)} needs more than {w.size} differenced periods")
            ar, ma = np.asarray(self.fixed["ar"], dtype=float), np.asarray(self.fixed["ma"], dtype=float)
            const = bool(self.fixed["constant"])
            mu = float(w.mean()) if const else 0.0
            resid = _css_residuals(w - mu, ar, ma)
            sigma2 = float(np.mean(resid[p:] ** 2))
        else:
            d = ndiffs(x, int(self.max_d))
            w = np.diff(x, d) if d else x
            (p, q, const, ar, ma, mu, sigma2) = self._select(w, d)
            resid = _css_residuals(w - mu, ar, ma)
            if self.refine:
                ar, ma = self._refine(w, p, q, ar, ma, mu, sigma2)
                resid = _css_residuals(w - mu, ar, ma)
                sigma2 = float(np.mean(resid[p:] ** 2))
        if not (np.all(np.isfinite(ar)) and np.all(np.isfinite(ma)) and np.isfinite(mu) and np.isfinite(sigma2)):
            raise ValueError("ARIMA estimates are not finite")
        self.order_ = (p, d, q)
        self.ar_, self.ma_, self.mu_, self.constant_ = ar, ma, mu, const
        self.sigma2_ = sigma2
        self.x_, self.w_, self.resid_ = x, w, resid

    def _select(self, w: np.ndarray, d: int):
        n = w.size
        if n < 3:
            raise ValueError(f"ARIMA needs at least 3 periods after {d} difference(s), got {n}")
        max_p = max(0, min(int(self.max_p), (n - 3) // 3))
        max_q = max(0, min(int(self.max_q), (n - 3) // 3))
        constants = [True] if d == 0 else ([False, True] if d == 1 else [False])
        best = None
        for const in constants:
            mu = float(w.mean()) if const else 0.0
            z = w - mu
            if np.ptp(z) <= 1e-12 * max(1.0, float(np.abs(w).max())):
                # Nothing left to model (a constant, or a straight line after d = 1).
                fits = {(0, 0): (np.empty(0), np.empty(0))}
            else:
                fits = hannan_rissanen_grid(z, max_p, max_q)
            cond = max(max_p, 1)  # same conditioning sample for every order
            n_eff = n - cond
            for (p, q), (ar, ma) in fits.items():
                resid = _css_residuals(z, ar, ma)[cond:]
                sigma2 = float(np.mean(resid**2))
                k = p + q + int(const) + 1
                sigma2_floor = max(sigma2, 1e-12 * max(1.0, float(np.var(w))))
                lik = n_eff * (math.log(2 * math.pi * sigma2_floor) + 1.0)
                aicc = lik + 2 * k + (2.0 * k * (k + 1) / (n_eff - k - 1) if n_eff - k - 1 > 0 else math.inf)
                self.aicc_[f"{p},{d},{q}{'+c' if const else ''}"] = float(aicc)
                if best is None or aicc < best[0]:
                    best = (aicc, p, q, const, ar, ma, mu, sigma2)
        if best is None or not np.isfinite(best[0]):
            # Too short for any small-sample AICc: the plain (drifting) level.
            const = d <= 1
            mu = float(w.mean()) if const else 0.0
            return 0, 0, const, np.empty(0), np.empty(0), mu, float(np.var(w))
        return best[1:]

    def _refine(self, w, p, q, ar, ma, mu, sigma2):
        """Exact ML of the ARMA coefficients of ``w - mu`` (the constant stays the sample
        mean); the Hannan-Rissanen estimates stand when the refinement fails."""
        from statsmodels.tools.sm_exceptions import ConvergenceWarning
        from statsmodels.tsa.arima.model import ARIMA as _SMARIMA

        if p + q == 0:
            return ar, ma
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", ConvergenceWarning)
                warnings.simplefilter("ignore", UserWarning)
                start = np.r_[ar, ma, max(sigma2, 1e-8)]  # param_names order: ar, ma, sigma2
                if self.refine == "innovations_mle":
                    # The estimator itself: ARIMA.fit(method="innovations_mle") does not
                    # accept start_params in statsmodels 0.14/0.15 (passes "transformed").
                    from statsmodels.tsa.arima.estimators.innovations import innovations_mle

                    est, _ = innovations_mle(w - mu, order=(p, 0, q), demean=False, start_params=start)
                    params = np.r_[est.ar_params, est.ma_params]
                elif self.refine == "statespace":
                    res = _SMARIMA(w - mu, order=(p, 0, q), trend="n").fit(start_params=start, method="statespace")
                    params = np.asarray(res.params, dtype=float)
                else:
                    raise ValueError(f"refine must be None, 'innovations_mle' or 'statespace', got {self.refine!r}")
        except (ConvergenceWarning, np.linalg.LinAlgError):
            return ar, ma
        new_ar, new_ma = params[:p], params[p : p + q]
        if not (np.all(np.isfinite(params)) and _stable(new_ar, -1.0) and _stable(new_ma, 1.0)):
            return ar, ma
        return new_ar, new_ma

    def _predict(self, h: int) -> np.ndarray:
        p, d, q = self.order_
        z = list(self.w_ - self.mu_)
        a = list(self.resid_)
        for _ in range(h):
            v = sum(self.ar_[i] * z[-1 - i] for i in range(p)) + sum(self.ma_[j] * a[-1 - j] for j in range(q))
            z.append(v)
            a.append(0.0)
        f = np.asarray(z[-h:]) + self.mu_
        # Integrate: undo each difference from the last observed values of that level.
        levels = [self.x_]
        for _ in range(d - 1):
            levels.append(np.diff(levels[-1]))
        for lev in reversed(levels[:d]):
            f = lev[-1] + np.cumsum(f)
        return reseasonalise(f, self.n_obs_, self.seasonal_, self.mult_)

    def _fitted_params(self) -> dict:
        p, d, q = self.order_
        out = {"order": [p, d, q], "ar": self.ar_, "ma": self.ma_,
               ("mean" if d == 0 else "drift"): self.mu_ if self.constant_ else None,
               "sigma2": self.sigma2_, "seasonal": self.seasonal_.size > 0}
        if self.seasonal_.size:
            out["multiplicative"] = bool(self.mult_)
        if self.refine:
            out["refine"] = self.refine
        return out
