"""Replenishment policies for the multi-echelon replay (:mod:`optimization.simulation`).

A policy is any object with a ``decide(state) -> Orders`` method (see :class:`Policy`).
Each period the simulator hands it a read-only :class:`~optimization.simulation.SimulationState`
(on-hand, in-transit, backorders, the demand each echelon has observed so far, the period
index) and executes the returned :class:`Orders`: dealer orders on their DC, DC orders on
the plant and, optionally, DC -> DC transfers.

This module holds the textbook bullwhip baselines, :class:`OrderUpToMovingAverage` and its
exponential-smoothing variant :class:`OrderUpToExponentialSmoothing`, the dealers' manual
min/max reorder rule :class:`MinMaxPolicy`, and the pure functions they are built from
(moving-average and exponential-smoothing forecasts, the spread of their errors, the
order-up-to level), so that later policies can reuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from scipy.stats import norm

if TYPE_CHECKING:  # pragma: no cover - types only, simulation imports this module
    from optimization.simulation import Network, SimulationState

__all__ = [
    "Orders",
    "Policy",
    "OrderUpToMovingAverage",
    "OrderUpToExponentialSmoothing",
    "MinMaxPolicy",
    "moving_average",
    "exponential_smoothing",
    "moving_average_error_sigma",
    "order_up_to_level",
]


@dataclass
class Orders:
    """What a policy decides in one period (units, >= 0).

    Attributes
    ----------
    dealer : numpy.ndarray, shape (n_skus, n_dealers)
        Units each dealer orders on its DC this period (under VMI: what the manufacturer
        decides to ship DC -> dealer).
    dc : numpy.ndarray, shape (n_skus, n_dcs)
        Units each DC orders on the plant this period (PLANT -> DC shipments).
    transfers : numpy.ndarray, shape (n_skus, n_dcs, n_dcs), optional
        ``transfers[s, i, j]`` units sent from DC ``i`` to DC ``j``; only along lanes the
        network has (others are rejected by the simulator). ``None``: no transfers.
    """

    dealer: np.ndarray
    dc: np.ndarray
    transfers: np.ndarray | None = None


class Policy(Protocol):
    """The interface the simulator calls once per period, before demand is served."""

    def decide(self, state: "SimulationState") -> Orders:  # pragma: no cover - protocol
        """Return this period's orders given the state at the start of the period."""
        ...


def moving_average(history: np.ndarray, p: int) -> np.ndarray:
    """Moving-average forecast of the next period from the last ``p`` observations.

    Parameters
    ----------
    history : numpy.ndarray, shape (..., n_periods)
        Observed demand per period (units), oldest first, along the last axis.
    p : int
        Window length (periods), the ``p`` of Chen et al. (2000). When fewer than ``p``
        periods exist, the mean of those available is used (0 when none).

    Returns
    -------
    numpy.ndarray, shape (...)
        Forecast of demand per period (units), ``mu_hat = (1/p) sum_{i=1..p} D_{t-i}``.
    """
    if p < 1:
        raise ValueError("p must be >= 1")
    n = history.shape[-1]
    if n == 0:
        return np.zeros(history.shape[:-1])
    return history[..., max(0, n - p) :].mean(axis=-1)


def moving_average_error_sigma(history: np.ndarray, p: int, window: int) -> np.ndarray:
    """Root mean square of the one-step errors of a moving-average forecast.

    The error of period ``s`` is ``e_s = D_s - mean(D_{s-p}, ..., D_{s-1})``; sigma is
    ``sqrt(mean(e_s^2))`` over the last ``window`` periods that have a full window behind
    them. The RMS rather than the standard deviation keeps any forecast bias in the
    spread, which is what a safety stock has to cover.

    Parameters
    ----------
    history : numpy.ndarray, shape (..., n_periods)
        Observed demand per period (units), oldest first.
    p : int
        Moving-average window (periods).
    window : int
        Number of most recent errors used (periods).

    Returns
    -------
    numpy.ndarray, shape (...)
        sigma of one-period forecast errors (units per period); 0 where fewer than
        ``p + 1`` observations exist.
    """
    n = history.shape[-1]
    n_err = min(window, n - p)
    if n_err < 1:
        return np.zeros(history.shape[:-1])
    x = history[..., n - n_err - p :]
    csum = np.cumsum(x, axis=-1)
    csum = np.concatenate([np.zeros(x.shape[:-1] + (1,)), csum], axis=-1)
    # forecast for position k (k = p .. p + n_err - 1) is the mean of x[k - p : k]
    fc = (csum[..., p : p + n_err] - csum[..., 0:n_err]) / p
    err = x[..., p:] - fc
    return np.sqrt(np.mean(err**2, axis=-1))


def order_up_to_level(
    mean: np.ndarray,
    sigma: np.ndarray,
    protection: np.ndarray | int,
    service_level: np.ndarray | float,
) -> np.ndarray:
    """Order-up-to level of the textbook periodic-review policy.

    ``S = (L + R) * mu_hat + z_a * sigma * sqrt(L + R)``, with ``z_a`` the standard normal
    a-quantile. The ``sqrt(L + R)`` scaling assumes independent one-period errors; that is
    the classic textbook baseline (e.g. Silver, Pyke and Thomas 2017, ch. 6; Chen et al.
    2000), not what supplyplan itself does (it sums backtest errors over the horizon, see
    DESIGN.md).

    Parameters
    ----------
    mean : numpy.ndarray
        Forecast demand per period, ``mu_hat`` (units per period).
    sigma : numpy.ndarray
        sigma of one-period forecast errors (units per period).
    protection : int or numpy.ndarray
        Protection period ``L + R`` (periods), broadcastable to ``mean``.
    service_level : float or numpy.ndarray
        Cycle service level ``a`` in (0, 1), broadcastable to ``mean``.

    Returns
    -------
    numpy.ndarray
        Order-up-to level ``S`` (units).
    """
    z = norm.ppf(np.asarray(service_level, dtype=float))
    protection = np.asarray(protection, dtype=float)
    return protection * mean + z * sigma * np.sqrt(protection)


def exponential_smoothing(history: np.ndarray, alpha: float, init_periods: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Simple exponential smoothing forecast of the next period, and its one-step errors.

    ``F_{s+1} = F_s + alpha (D_s - F_s)`` (Brown 1959), started at the mean of the first
    ``init_periods`` observations, ``F_1 = mean(D_1..D_k)``.

    Parameters
    ----------
    history : numpy.ndarray, shape (..., n_periods)
        Observed demand per period (units), oldest first, along the last axis.
    alpha : float
        Smoothing constant in (0, 1], the ``alpha`` of Chen, Ryan and Simchi-Levi (2000).
    init_periods : int
        Observations averaged for the starting level (periods).

    Returns
    -------
    forecast : numpy.ndarray, shape (...)
        ``F_{n+1}``, forecast of demand per period after the last observation (units per
        period); 0 where there is no history.
    errors : numpy.ndarray, shape (..., n_periods)
        One-step errors ``D_s - F_s`` (units); the first ``init_periods`` are NaN (they
        were used to start the level).
    """
    if not 0 < alpha <= 1:
        raise ValueError("alpha must be in (0, 1]")
    n = history.shape[-1]
    errors = np.full(history.shape, np.nan)
    if n == 0:
        return np.zeros(history.shape[:-1]), errors
    k = min(max(int(init_periods), 1), n)
    level = history[..., :k].mean(axis=-1)
    for s in range(k, n):
        err = history[..., s] - level
        errors[..., s] = err
        level = level + alpha * err
    return level, errors


class _OrderUpTo:
    """Shared machinery of the decentralised order-up-to baselines.

    Subclasses provide ``_estimate(name, history, network) -> (mu_hat, sigma)`` for the
    echelon ``name`` ("dealer" or "dc"); this class turns them into order-up-to levels
    and orders.
    """

    def __init__(
        self,
        service_level: float | np.ndarray = 0.95,
        dc_service_level: float | np.ndarray = 0.95,
        review_period: int = 1,
        sigma_periods: int | None = None,
        negative_orders: bool = False,
        fixed_sigma: bool = False,
    ):
        self.service_level = service_level
        self.dc_service_level = dc_service_level
        self.review_period = review_period
        self.sigma_periods = sigma_periods
        self.negative_orders = negative_orders
        self.fixed_sigma = fixed_sigma
        self._sigma_frozen: dict[str, np.ndarray] = {}

    def _check(self) -> None:
        if self.review_period < 1:
            raise ValueError("review_period must be >= 1")

    def _estimate(self, name: str, history: np.ndarray, network: "Network") -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget state kept between periods (frozen sigma, smoothing levels)."""
        self._sigma_frozen = {}

    def levels(
        self, network: "Network", dealer_history: np.ndarray, dc_history: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Order-up-to levels and forecasts from demand observed so far.

        Parameters
        ----------
        network : Network
            Lead times (periods) per dealer and per DC.
        dealer_history : numpy.ndarray, shape (n_skus, n_dealers, n_periods)
            Consumer demand observed by the dealers (units per period).
        dc_history : numpy.ndarray, shape (n_skus, n_dcs, n_periods)
            Demand observed by the DCs: their dealers' orders (units per period).

        Returns
        -------
        dict
            ``dealer_level``, ``dc_level`` (``S``, units), ``dealer_mean``, ``dc_mean``
            (``mu_hat``, units per period) and ``dealer_sigma``, ``dc_sigma`` (units per
            period).
        """
        self._check()
        out = {}
        for name, hist, lead, level in (
            ("dealer", dealer_history, network.dealer_lead, self.service_level),
            ("dc", dc_history, network.dc_lead, self.dc_service_level),
        ):
            mean, sigma = self._estimate(name, hist, network)
            if self.fixed_sigma:
                sigma = self._sigma_frozen.setdefault(name, sigma)
            protection = lead[None, :] + self.review_period
            out[f"{name}_mean"] = mean
            out[f"{name}_sigma"] = sigma
            out[f"{name}_level"] = order_up_to_level(mean, sigma, protection, level)
        return out

    def decide(self, state: "SimulationState") -> Orders:
        """Orders of period ``state.t``: ``max(0, S_t - IP_t)`` at every location.

        With ``negative_orders`` the orders are ``S_t - IP_t`` unclipped (Chen et al.'s
        setting; the simulator must then be run with ``allow_returns=True``).
        """
        net = state.network
        if state.step % self.review_period:
            return Orders(
                dealer=np.zeros((net.n_skus, net.n_dealers)),
                dc=np.zeros((net.n_skus, net.n_dcs)),
            )
        lv = self.levels(net, state.dealer_demand, state.dc_demand)
        dealer = lv["dealer_level"] - state.dealer_position
        dc = lv["dc_level"] - state.dc_position
        if not self.negative_orders:
            dealer, dc = np.maximum(0.0, dealer), np.maximum(0.0, dc)
        return Orders(dealer=dealer, dc=dc)


class OrderUpToMovingAverage(_OrderUpTo):
    """The bullwhip baseline: every echelon orders for itself, order-up-to on a moving average.

    Each period (every ``review_period`` periods) each dealer and each DC sets

    ``S_t = (L + R) * mu_hat_t + z_a * sigma_t * sqrt(L + R)``,
    ``order_t = max(0, S_t - IP_t)``,

    where ``mu_hat_t`` is the moving average of the last ``p`` periods of the demand the
    location itself observes, ``sigma_t`` the RMS of that moving average's one-period
    errors over the last ``sigma_periods`` periods, ``L`` the lead time of the lane into
    the location and ``IP_t`` its inventory position (on hand + in transit + ordered but
    not yet shipped by the supplier - backorders). Dealers observe consumer demand; DCs
    observe only the orders their dealers place on them, not consumer demand: there is
    no information sharing, which is what produces the bullwhip effect (Lee, Padmanabhan
    and Whang 1997). This is the textbook baseline (Chen, Drezner, Ryan and Simchi-Levi
    2000, "Quantifying the bullwhip effect in a simple supply chain", Management Science
    46(3)), with ``z * sigma * sqrt(L + R)`` as the safety stock.

    By default it differs from Chen et al. in two ways: orders are truncated at zero (a
    dealer cannot return stock), whereas their analysis allows negative orders; and sigma
    is re-estimated every period, which adds variance. ``negative_orders=True,
    fixed_sigma=True`` gives their exact setting. Their lead time ``L`` is the whole
    protection period of an order placed at the end of a period; in this simulator's
    timing (orders placed at the start of period t, before its demand, arrive at the
    start of t + L) that is ``L + R``. So in the exact setting, for i.i.d. demand, the
    dealer's ratio is ``Var(q)/Var(D) = 1 + 2L'/p + 2L'^2/p^2`` with ``L' = L + R``, and
    for AR(1) demand with correlation ``rho`` the extra term is multiplied by
    ``1 - rho^p``: from ``q_t = (1 + L'/p) D_{t-1} - (L'/p) D_{t-1-p}``.

    Parameters
    ----------
    ma_periods : int
        Moving-average window ``p`` (periods).
    service_level : float or array-like
        Dealers' cycle service level ``a`` (z = Phi^-1(a)); scalar or shape
        (n_skus, n_dealers).
    dc_service_level : float or array-like, optional
        DCs' cycle service level; scalar or shape (n_skus, n_dcs). Default: 0.95.
    review_period : int
        Review period ``R`` (periods): orders are placed in periods ``t`` with
        ``t % R == 0``.
    sigma_periods : int, optional
        Number of recent errors used for sigma; default ``ma_periods`` (the same window,
        as in Chen et al. 2000).
    negative_orders : bool
        Do not truncate orders at zero (Chen et al.'s setting; run the simulator with
        ``allow_returns=True``).
    fixed_sigma : bool
        Estimate sigma once, at the first decision, and keep it (constant safety stock,
        Chen et al.'s setting).

    Examples
    --------
    >>> from optimization.policies import OrderUpToMovingAverage
    >>> policy = OrderUpToMovingAverage(ma_periods=8, service_level=0.95)
    >>> policy.ma_periods
    8
    """

    def __init__(
        self,
        ma_periods: int = 8,
        service_level: float | np.ndarray = 0.95,
        dc_service_level: float | np.ndarray = 0.95,
        review_period: int = 1,
        sigma_periods: int | None = None,
        negative_orders: bool = False,
        fixed_sigma: bool = False,
    ):
        super().__init__(service_level, dc_service_level, review_period, sigma_periods, negative_orders, fixed_sigma)
        self.ma_periods = ma_periods

    def _check(self) -> None:
        super()._check()
        if self.ma_periods < 1:
            raise ValueError("ma_periods must be >= 1")

    def _estimate(self, name, history, network):
        p = self.ma_periods
        mean = moving_average(history, p)
        if self.fixed_sigma and name in self._sigma_frozen:
            return mean, self._sigma_frozen[name]
        return mean, moving_average_error_sigma(history, p, self.sigma_periods or p)


class OrderUpToExponentialSmoothing(_OrderUpTo):
    """The bullwhip baseline with an exponential-smoothing forecast instead of a moving average.

    As :class:`OrderUpToMovingAverage` with ``mu_hat_t = F_t``, the simple exponential
    smoothing forecast (:func:`exponential_smoothing`), and ``sigma_t`` the RMS of its
    last ``sigma_periods`` one-step errors. In Chen et al.'s setting
    (``negative_orders=True, fixed_sigma=True``) and i.i.d. demand the ratio is
    ``Var(q)/Var(D) = 1 + 2 L' alpha + 2 L'^2 alpha^2 / (2 - alpha)`` with
    ``L' = L + R`` (Chen, Ryan and Simchi-Levi 2000, "The impact of exponential smoothing
    forecasts on the bullwhip effect", Naval Research Logistics 47(4); DESIGN.md).

    The smoothed level is updated incrementally from one period to the next (the
    simulator calls ``decide`` once per period), so a long replay costs O(1) per period.

    Parameters
    ----------
    alpha : float
        Smoothing constant in (0, 1].
    service_level, dc_service_level, review_period, negative_orders, fixed_sigma
        As in :class:`OrderUpToMovingAverage`.
    sigma_periods : int, optional
        Number of recent one-step errors for sigma; default ``round(2 / alpha - 1)``,
        the average age of the data in an exponential smoothing forecast (at least 2).
    init_periods : int
        Observations averaged for the starting level (periods).

    Examples
    --------
    >>> from optimization.policies import OrderUpToExponentialSmoothing
    >>> OrderUpToExponentialSmoothing(alpha=0.2).alpha
    0.2
    """

    def __init__(
        self,
        alpha: float = 0.2,
        service_level: float | np.ndarray = 0.95,
        dc_service_level: float | np.ndarray = 0.95,
        review_period: int = 1,
        sigma_periods: int | None = None,
        negative_orders: bool = False,
        fixed_sigma: bool = False,
        init_periods: int = 4,
    ):
        super().__init__(service_level, dc_service_level, review_period, sigma_periods, negative_orders, fixed_sigma)
        self.alpha = alpha
        self.init_periods = init_periods
        self._cache: dict[str, tuple] = {}

    def reset(self) -> None:
        super().reset()
        self._cache = {}

    def _check(self) -> None:
        super()._check()
        if not 0 < self.alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")

    def _window(self) -> int:
        return int(self.sigma_periods or max(2, round(2.0 / self.alpha - 1.0)))

    def _estimate(self, name, history, network):
        n = history.shape[-1]
        window = self._window()
        cached = self._cache.get(name)
        # Reuse the level of the previous period when this is the same history one period
        # on (checked on the last observation used), else start over from the history.
        if (
            cached is not None
            and cached[0] == n - 1
            and n >= 2
            and cached[3].shape == history.shape[:-1]
            and np.array_equal(cached[3], history[..., n - 2])
        ):
            _, level, errs, _ = cached
            err = history[..., n - 1] - level
            level = level + self.alpha * err
            errs = np.concatenate([errs[..., 1:], err[..., None]], axis=-1) if errs.shape[-1] >= window else np.concatenate([errs, err[..., None]], axis=-1)
        else:
            level, all_errs = exponential_smoothing(history, self.alpha, self.init_periods)
            k = min(max(int(self.init_periods), 1), n) if n else 0
            errs = all_errs[..., k:][..., -window:] if n > k else np.zeros(history.shape[:-1] + (0,))
        last = history[..., n - 1].copy() if n else np.zeros(history.shape[:-1])
        self._cache[name] = (n, level, errs, last)
        sigma = np.sqrt(np.mean(errs**2, axis=-1)) if errs.shape[-1] else np.zeros(history.shape[:-1])
        return level, sigma


class MinMaxPolicy:
    """The dealers' manual reorder rule: a periodic-review (s, S) policy on their VMI band.

    Every ``review_period`` periods each dealer compares its inventory position ``IP``
    (on hand + in transit + owed by the DC - backorders) with its warning line
    ``s = min_qty``; at or below it, it orders up to its upper limit ``S = max_qty``:

    ``order = S - IP if IP <= s else 0``  (Silver, Pyke and Thomas 2017, sec. 7.6).

    Dealers whose band is missing (NaN) order like the ``upstream`` policy. DCs are not
    part of the dealers' habit: they order for themselves with ``upstream`` (default an
    :class:`OrderUpToMovingAverage` on their dealers' orders), sharing no information,
    as in the bullwhip baseline.

    Parameters
    ----------
    min_qty, max_qty : numpy.ndarray, shape (n_skus, n_dealers)
        Reorder point ``s`` and order-up-to level ``S`` (units).
    upstream : policy, optional
        An order-up-to baseline for the DCs (and dealers without a band).
    review_period : int
        Review period ``R`` (periods).

    Examples
    --------
    >>> import numpy as np
    >>> from optimization.policies import MinMaxPolicy
    >>> MinMaxPolicy(np.array([[2.0]]), np.array([[6.0]])).review_period
    1
    """

    def __init__(self, min_qty: np.ndarray, max_qty: np.ndarray, upstream: _OrderUpTo | None = None, review_period: int = 1):
        self.min_qty = min_qty
        self.max_qty = max_qty
        self.upstream = upstream if upstream is not None else OrderUpToMovingAverage(review_period=review_period)
        self.review_period = review_period

    def decide(self, state: "SimulationState") -> Orders:
        """Orders of period ``state.t``: (s, S) at the dealers, the upstream policy at the DCs."""
        net = state.network
        own = self.upstream.decide(state)
        s = np.asarray(self.min_qty, dtype=float)
        big_s = np.asarray(self.max_qty, dtype=float)
        if s.shape != (net.n_skus, net.n_dealers) or big_s.shape != s.shape:
            raise ValueError("min_qty and max_qty must have shape (n_skus, n_dealers)")
        if state.step % self.review_period:
            return Orders(dealer=np.zeros((net.n_skus, net.n_dealers)), dc=own.dc)
        band = np.isfinite(s) & np.isfinite(big_s)
        ip = state.dealer_position
        with np.errstate(invalid="ignore"):
            reorder = band & (ip <= s)
            dealer = np.where(reorder, np.maximum(big_s - ip, 0.0), 0.0)
        dealer = np.where(band, dealer, own.dealer)
        return Orders(dealer=dealer, dc=own.dc)
