"""Replenishment policies for the multi-echelon replay (:mod:`optimization.simulation`).

A policy is any object with a ``decide(state) -> Orders`` method (see :class:`Policy`).
Each period the simulator hands it a read-only :class:`~optimization.simulation.SimulationState`
(on-hand, in-transit, backorders, the demand each echelon has observed so far, the period
index) and executes the returned :class:`Orders`: dealer orders on their DC, DC orders on
the plant and, optionally, DC -> DC transfers.

This module holds the textbook bullwhip baseline, :class:`OrderUpToMovingAverage`, and the
pure functions it is built from (moving-average forecast, the spread of its errors, the
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
    "moving_average",
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


class OrderUpToMovingAverage:
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

    Two deliberate differences from Chen et al.: orders are truncated at zero (a dealer
    cannot return stock), whereas their analysis allows negative orders; truncation
    slightly lowers the order variance when demand falls sharply. And their lead time
    ``L`` is the whole protection period of an order placed at the end of a period; in
    this simulator's timing (orders placed at the start of period t, before its demand,
    arrive at the start of t + L) that is ``L + R``. So for i.i.d. demand, constant
    safety stock and no truncation the dealer's ratio is exactly
    ``Var(q)/Var(D) = 1 + 2(L+R)/p + 2(L+R)^2/p^2``, Chen's lower bound with their
    ``L = L + R``; the moving sigma only adds variance.

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
    ):
        self.ma_periods = ma_periods
        self.service_level = service_level
        self.dc_service_level = dc_service_level
        self.review_period = review_period
        self.sigma_periods = sigma_periods

    def _check(self) -> None:
        if self.ma_periods < 1:
            raise ValueError("ma_periods must be >= 1")
        if self.review_period < 1:
            raise ValueError("review_period must be >= 1")

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
            ``dealer_level``, ``dc_level`` (``S``, units) and ``dealer_mean``,
            ``dc_mean`` (``mu_hat``, units per period).
        """
        self._check()
        p = self.ma_periods
        window = self.sigma_periods or p
        out = {}
        for name, hist, lead, level in (
            ("dealer", dealer_history, network.dealer_lead, self.service_level),
            ("dc", dc_history, network.dc_lead, self.dc_service_level),
        ):
            mean = moving_average(hist, p)
            sigma = moving_average_error_sigma(hist, p, window)
            protection = lead[None, :] + self.review_period
            out[f"{name}_mean"] = mean
            out[f"{name}_level"] = order_up_to_level(mean, sigma, protection, level)
        return out

    def decide(self, state: "SimulationState") -> Orders:
        """Orders of period ``state.t``: ``max(0, S_t - IP_t)`` at every location."""
        net = state.network
        if state.step % self.review_period:
            return Orders(
                dealer=np.zeros((net.n_skus, net.n_dealers)),
                dc=np.zeros((net.n_skus, net.n_dcs)),
            )
        lv = self.levels(net, state.dealer_demand, state.dc_demand)
        dealer = np.maximum(0.0, lv["dealer_level"] - state.dealer_position)
        dc = np.maximum(0.0, lv["dc_level"] - state.dc_position)
        return Orders(dealer=dealer, dc=dc)
