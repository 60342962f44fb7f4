"""Oracle bound of the bullwhip benchmark: order-up-to with the TRUE demand distribution.

What is the least dealer stock that reaches a dealer fill rate, on the same demand,
lead times, lot rules and replay window as the policies, if the forecaster were
perfect, i.e. knew the generator's mean and variance of every week's demand? The
answer shows whether the benchmark's target (e.g. fill >= 0.98 with no more stock than
the baseline) is reachable at all, and how far a policy is from it.

The oracle policy
    Every period ``t`` each dealer orders up to ``S = F^{-1}(alpha)`` with ``F`` the
    demand of its protection period ``t .. t + L`` (``L`` the DC -> dealer lead time,
    review period 1): a gamma distribution matched to the summed true mean ``M`` and
    variance ``V`` of those ``L + 1`` periods (shape ``M^2 / V``, scale ``V / M``;
    ``S = M`` when ``V = 0``). Demand rows are independent given their means, so ``M``
    and ``V`` add. The order ``S - position`` is rounded by the simulator's lot rules
    (:func:`optimization.simulation.round_to_lots`: whole case packs, at least the lot).
One common quantile ``alpha`` for every SKU and dealer
    For an aggregate unit fill rate with backorders, minimising ``sum_i S_i`` subject
    to ``sum_i ESC_i(S_i) <= (1 - beta) sum_i D_i`` (``ESC`` the expected shortage per
    cycle) has the Lagrange condition ``1 = lambda (1 - F_i(S_i))`` for every ``i``: the
    optimum has one critical ratio for all items (lots and the discrete demand are
    ignored by this argument). With lots it is not the least stock: a cell served in
    lots gets part of its protection from the lot, and :class:`LotAwareOracle`, whose
    levels come from the lot-sized fill model, reaches the same fill with less (seed 0
    of the demo: 0.91 x the baseline's dealer stock against 0.97 x). ``alpha`` is
    found by bisection so that the measured dealer fill hits the target.
The simulation
    The real simulator, :func:`optimization.simulation.simulate`, so that fill rate and
    average on hand are measured by :func:`optimization.simulation.bullwhip_metrics`
    exactly as for the policies (arrivals at the start of a period, older backorders
    served first, on hand at the end of a period). DC supply is made unlimited: the DCs
    start with :data:`UNLIMITED` units of every SKU and never order, and the run checks
    that no dealer order was ever rationed. So the figure is a lower bound on the dealer
    stock of any policy whose DCs can run short.
Window
    The oracle starts ``lead_in`` periods (default 26) before the replay window from
    its own steady state (:func:`optimization.simulation.steady_state_start` at its own
    levels), not from the baseline's start stock the policies share, and is measured
    over exactly the policies' periods (the replay window after its warm-up).
A policy's own targets
    :meth:`OracleProblem.run_levels` replays the order-up-to levels a policy planned
    (the VMI plan's ``order_up_to`` of every period) under the same conditions: what
    the targets are worth when executed as a plain order-up-to with unlimited DC
    supply. Between the oracle, the targets and the policy's own replay, a policy's
    excess stock splits into what its targets cost (forecasts, safety stock,
    allocation) and what their execution costs (the LP, the DCs' stock, the dealers'
    min/max band).
VMI with perfect forecasts
    :class:`TrueMeanVmiPolicy` is supplyplan's VMI policy with the generator's true means
    as its forecasts (and actual minus true mean as its backtest errors), everything
    else as committed: what the plan, the LP and the DCs make of a perfect forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.special import gammaincinv

from optimization.policies import Orders
from optimization.simulation import Network, bullwhip_metrics, simulate, steady_state_start
from pipelines.backtest import VmiPolicy

__all__ = ["OracleProblem", "LotAwareOracle", "LevelOrderUpTo", "TrueDistributionOrderUpTo", "TrueMeanVmiPolicy", "protection_quantile",
           "shortfall_below_levels",
           "UNLIMITED"]

#: Stock of every SKU at every DC in the oracle's runs (units): far above anything the
#: dealers can order, and small enough that integer arithmetic on it stays exact in
#: float64 (< 2^53).
UNLIMITED = 1e12


def protection_quantile(mean: np.ndarray, var: np.ndarray, alpha) -> np.ndarray:
    r"""Quantile of a gamma distribution matched to a mean and a variance.

    :math:`S = \theta\,P^{-1}(k, \alpha)` with shape :math:`k = M^2 / V`, scale
    :math:`\theta = V / M` and :math:`P^{-1}` the inverse regularised lower incomplete
    gamma function (``scipy.special.gammaincinv``); :math:`S = M` where :math:`V = 0`
    (no uncertainty), 0 where :math:`M = 0`.

    Parameters
    ----------
    mean : numpy.ndarray
        Mean demand of the protection period (units), >= 0.
    var : numpy.ndarray
        Its variance (units^2), >= 0, same shape.
    alpha : float or numpy.ndarray
        Quantile level in (0, 1), broadcast against ``mean``.

    Returns
    -------
    numpy.ndarray
        Order-up-to level (units), same shape as ``mean``.
    """
    mean = np.asarray(mean, dtype=float)
    var = np.asarray(var, dtype=float)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), mean.shape)
    if ((alpha <= 0) | (alpha >= 1)).any():
        raise ValueError("alpha must lie strictly between 0 and 1")
    out = np.where(mean > 0, mean, 0.0)
    random = (mean > 0) & (var > 0)
    k = mean[random] ** 2 / var[random]
    out[random] = gammaincinv(k, alpha[random]) * var[random] / mean[random]
    return out


def shortfall_below_levels(records: dict, levels: np.ndarray, network: Network, lot_size: np.ndarray | None,
                           warmup: int, lost_sales: bool = False) -> dict:
    r"""How often a replay left its dealers below the levels it planned, and whether the DC was why.

    The dealer's inventory position after the period's shipments is rebuilt from the
    replay's records (:data:`optimization.simulation.RECORDS`): net stock at the end of
    period :math:`t` plus the period's demand (its sales, with lost sales) plus what is
    still in transit, the shipments of the last :math:`L` periods including :math:`t`,

    .. math:: IP_t = I_t - B_t + D_t + \sum_{k=0}^{L-1} q_{t-k},

    and set against the planned level :math:`S_t`. A plain order-up-to with enough DC
    stock never ends a period below its level by more than half a unit (whole-unit
    orders); a plan that does is not executing its own targets. The DC is taken as the
    cause when it ended the period with less than one of the SKU's lots (the least it can
    ship). Stock the DC still owes the dealer is not counted as in transit: a VMI plan
    ships only what its DC holds.

    Parameters
    ----------
    records : dict of str -> numpy.ndarray
        ``SimulationResult.records`` (arrays of shape (n_periods, n_skus, n_locations)).
    levels : numpy.ndarray, shape (n_skus, n_dealers, n_periods)
        Planned level of every dealer cell and replayed period (units; NaN or <= 0: none
        planned), e.g. ``BacktestReplay.targets["vmi"]["band_order_up_to"]``.
    network : Network
    lot_size : numpy.ndarray of shape (n_skus,), optional
        Smallest shipment per SKU (units); None: one unit.
    warmup : int
        Leading periods left out, as in the replay's metrics.
    lost_sales : bool
        The replay's ``backtest.lost_sales``.

    Returns
    -------
    dict
        ``share`` (of planned dealer-periods ending the shipments more than half a unit
        below the level), ``units_per_period`` (the shortfall summed over those, per
        measured period, units), ``dc_short_share`` (of those, the share whose DC held
        less than one lot at the end of the period).
    """
    ship = records["dealer_received"]
    n_t = ship.shape[0]
    lead = np.asarray(network.dealer_lead, dtype=int)
    in_transit = np.zeros_like(ship)
    for k in range(int(lead.max(initial=0))):
        earlier = np.zeros_like(ship)
        earlier[k:] = ship[: n_t - k]
        in_transit += np.where(k < lead[None, None, :], earlier, 0.0)
    used = records["dealer_served"] if lost_sales else records["dealer_demand"]
    position = records["dealer_on_hand"] - records["dealer_backorders"] + used + in_transit
    target = np.moveaxis(np.asarray(levels, dtype=float), 2, 0)[:n_t]
    window = slice(int(warmup), n_t)
    gap = np.nan_to_num(target[window], nan=0.0) - position[window]
    planned = np.isfinite(target[window]) & (target[window] > 0)
    below = planned & (gap > 0.5)
    lot = np.ones(ship.shape[1]) if lot_size is None else np.maximum(np.asarray(lot_size, dtype=float), 1.0)
    dc_left = records["dc_on_hand"][window][:, :, np.asarray(network.dealer_dc, dtype=int)]
    starved = below & (dc_left < lot[None, :, None])
    periods = max(n_t - int(warmup), 1)
    return {
        "share": float(below.sum() / max(planned.sum(), 1)),
        "units_per_period": float(gap[below].sum() / periods),
        "dc_short_share": float(starved.sum() / max(below.sum(), 1)),
    }


class LevelOrderUpTo:
    """Order-up-to at every dealer with given levels, DCs (unlimited) ordering nothing.

    Parameters
    ----------
    network : Network
    levels : numpy.ndarray, shape (n_skus, n_dealers, n_periods)
        Order-up-to level of each dealer cell in each period of the data (units): every
        period each dealer orders ``max(level - position, 0)``, rounded by the simulator's
        lot rules.
    """

    def __init__(self, network: Network, levels: np.ndarray):
        levels = np.asarray(levels, dtype=float)
        if levels.ndim != 3 or levels.shape[:2] != (network.n_skus, network.n_dealers):
            raise ValueError("levels need shape (n_skus, n_dealers, n_periods)")
        if not np.isfinite(levels).all():
            raise ValueError("levels must be finite")
        self.levels = levels
        self.network = network

    def decide(self, state) -> Orders:
        """Dealers order ``max(S_t - position, 0)``; DCs (unlimited) order nothing."""
        net = self.network
        dealer = np.maximum(self.levels[:, :, state.t] - state.dealer_position, 0.0)
        return Orders(dealer, np.zeros((net.n_skus, net.n_dcs)), None)


class TrueDistributionOrderUpTo(LevelOrderUpTo):
    """Order-up-to at every dealer with the true demand distribution of its protection period.

    Parameters
    ----------
    network : Network
    mean, var : numpy.ndarray, shape (n_skus, n_dealers, n_periods)
        True mean (units per period) and variance (units^2) of each period's demand.
    alpha : float or numpy.ndarray of shape (n_skus, n_dealers)
        Quantile level of the protection-period demand (see :func:`protection_quantile`).

    Notes
    -----
    The levels of every period are computed once, at construction: with review period
    1 the protection period of an order placed in ``t`` is ``t .. t + L`` (the order
    arrives at the start of ``t + L``, the next one at ``t + 1 + L``). Near the end of
    the data the window is cut at the last period; only orders that arrive after the
    last period are affected, so no measured figure is.
    """

    def __init__(self, network: Network, mean: np.ndarray, var: np.ndarray, alpha):
        mean = np.asarray(mean, dtype=float)
        var = np.asarray(var, dtype=float)
        n_s, n_d, n_t = mean.shape
        if var.shape != mean.shape or (n_s, n_d) != (network.n_skus, network.n_dealers):
            raise ValueError("mean and var need shape (n_skus, n_dealers, n_periods)")
        zero = np.zeros((n_s, n_d, 1))
        cum_m = np.concatenate([zero, np.cumsum(mean, axis=2)], axis=2)
        cum_v = np.concatenate([zero, np.cumsum(var, axis=2)], axis=2)
        t = np.arange(n_t)
        hi = np.minimum(t[None, :] + network.dealer_lead[:, None] + 1, n_t)  # (n_d, n_t)
        d = np.arange(n_d)[:, None]
        window_m = cum_m[:, d, hi] - cum_m[:, d, t[None, :]]
        window_v = cum_v[:, d, hi] - cum_v[:, d, t[None, :]]
        alpha = np.asarray(alpha, dtype=float)
        if alpha.ndim == 2:
            alpha = alpha[:, :, None]
        super().__init__(network, protection_quantile(window_m, np.maximum(window_v, 0.0), alpha))


@dataclass
class OracleProblem:
    """A replay window with the true demand distribution, for the oracle bound.

    Attributes
    ----------
    network : Network
    demand : numpy.ndarray, shape (n_skus, n_dealers, n_periods)
        Realised consumer demand (units).
    mean, var : numpy.ndarray, same shape
        True mean (units) and variance (units^2) of each period's demand.
    start : int
        First period of the policies' replay window.
    warmup : int
        Periods of the window the policies' metrics leave out.
    case_pack, lot_size : numpy.ndarray of shape (n_skus,), optional
        Lot rules (units), as in :func:`optimization.simulation.simulate`; None: any quantity.
    lost_sales : bool
        Unserved demand is lost instead of backordered (as the replay's setting).
    lead_in : int
        Periods the oracle runs before ``start`` from its own steady state (cut to the
        history available).
    """

    network: Network
    demand: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    start: int
    warmup: int
    case_pack: np.ndarray | None = None
    lot_size: np.ndarray | None = None
    lost_sales: bool = False
    lead_in: int = 26

    @classmethod
    def from_setup(cls, setup, truth: pd.DataFrame, warmup: int, lost_sales: bool = False,
                   order_lots: bool = True, lead_in: int = 26) -> "OracleProblem":
        """The window of a :class:`pipelines.backtest.BacktestSetup` with the demand truth.

        Parameters
        ----------
        setup : pipelines.backtest.BacktestSetup
            The replay's network, demand cube, window start and lot rules.
        truth : pandas.DataFrame
            ``sku, location, date, mean, var`` per demand row
            (:func:`pipelines.demo_data.generate_demo_data` with ``truth=True``); cells
            without a row have mean and variance 0, like their demand.
        warmup : int
            The replay's warm-up (``BacktestReplay.warmup``).
        lost_sales, order_lots : bool
            The replay's ``backtest.lost_sales`` and ``backtest.order_lots``.
        lead_in : int
            See the class attributes.
        """
        net = setup.network
        n_hist = setup.n_periods
        rows, s_i, d_i, t_i = setup.dealer_cells(truth)
        if pd.isna(s_i).any() or (t_i < 0).any():
            raise ValueError("truth rows outside the replay's SKUs or periods")
        mean = np.zeros((net.n_skus, net.n_dealers, n_hist))
        var = np.zeros_like(mean)
        np.add.at(mean, (s_i.astype(int), d_i, t_i), rows["mean"].to_numpy(float))
        np.add.at(var, (s_i.astype(int), d_i, t_i), rows["var"].to_numpy(float))
        lots = dict(case_pack=setup.case_pack, lot_size=setup.lot_size) if order_lots else {}
        return cls(net, setup.demand, mean, var, setup.start, warmup, lost_sales=lost_sales, lead_in=lead_in, **lots)

    def run(self, alpha) -> dict:
        """Replay the oracle at quantile ``alpha`` and measure it like the policies.

        Returns
        -------
        dict
            ``alpha``, and from the dealer row of
            :func:`optimization.simulation.bullwhip_metrics` over the policies' measured
            periods: ``fill_rate``, ``cycle_service_level``, ``avg_on_hand`` (units),
            ``avg_backorders`` (units).

        Raises
        ------
        RuntimeError
            A DC ran short (the bound would not be one with unlimited DC supply).
        """
        policy = TrueDistributionOrderUpTo(self.network, self.mean, self.var, alpha)
        return {"alpha": float(np.mean(alpha)), **self._replay(policy)}

    def run_levels(self, targets: np.ndarray) -> dict:
        """Replay given order-up-to levels of the window under the oracle's conditions.

        What a policy's own targets are worth, apart from how it executes them: the
        levels a policy planned for each period of the window (e.g. the VMI plan's
        ``order_up_to``, :attr:`pipelines.backtest.BacktestReplay.targets`) are replayed
        as a plain order-up-to with unlimited DC supply and the same lot rules, lead-in
        and measured periods as :meth:`run`. Set against the oracle's frontier at the
        same fill, the result says whether the targets themselves (forecasts, safety
        stock, allocation) or their execution (the LP, the DCs' stock, the dealers'
        bands) cost the stock.

        Parameters
        ----------
        targets : numpy.ndarray, shape (n_skus, n_dealers, n_window)
            Level of each dealer cell in each period of the replay window (units),
            window period 0 = ``start``; NaN (no target: no forecast, or a dealer the
            policy does not plan) counts as 0, no stock. The lead-in before the window
            holds the first period's levels, so that the window starts near the
            targets' own steady state.

        Returns
        -------
        dict
            As :meth:`run`, without ``alpha``.
        """
        targets = np.nan_to_num(np.asarray(targets, dtype=float), nan=0.0)
        n_s, n_d, n_t = self.mean.shape
        if targets.ndim != 3 or targets.shape[:2] != (n_s, n_d) or targets.shape[2] > n_t - self.start:
            raise ValueError(f"targets need shape ({n_s}, {n_d}, <= {n_t - self.start})")
        levels = np.zeros((n_s, n_d, n_t))
        levels[:, :, : self.start] = targets[:, :, :1]
        levels[:, :, self.start : self.start + targets.shape[2]] = targets
        levels[:, :, self.start + targets.shape[2] :] = targets[:, :, -1:]
        return self._replay(LevelOrderUpTo(self.network, levels))

    def _replay(self, policy: LevelOrderUpTo) -> dict:
        net = self.network
        begin = max(self.start - int(self.lead_in), 0)
        # steady state at the policy's own levels: a full pipeline of true mean flow
        initial = steady_state_start(
            net,
            policy.levels[:, :, begin],
            np.full((net.n_skus, net.n_dcs), UNLIMITED),
            self.mean[:, :, begin],
            np.zeros((net.n_skus, net.n_dcs)),
        )
        # whole units, as every later position is (integer demand, whole lots)
        initial.dealer_on_hand = np.ceil(initial.dealer_on_hand - 1e-9)
        initial.dealer_in_transit = np.rint(initial.dealer_in_transit)
        result = simulate(net, self.demand, policy, begin, initial=initial, lost_sales=self.lost_sales,
                          case_pack=self.case_pack, lot_size=self.lot_size)
        rec = result.records
        if rec["dc_backorders"].max(initial=0.0) > 0 or rec["dc_on_hand"].min(initial=UNLIMITED) <= 0:
            raise RuntimeError("a DC ran short in the oracle's run: raise UNLIMITED")
        table = bullwhip_metrics(result, warmup=self.start - begin + self.warmup)
        row = table.set_index("echelon").loc["dealer"]
        return {
            "fill_rate": float(row["fill_rate"]),
            "cycle_service_level": float(row["cycle_service_level"]),
            "avg_on_hand": float(row["avg_on_hand"]),
            "avg_backorders": float(row["avg_backorders"]),
        }

    def lot_aware(self, points: int = 41, span: float = 6.0) -> "LotAwareOracle":
        """The oracle with levels from the lot-sized fill model (:class:`LotAwareOracle`)."""
        return LotAwareOracle(self, points=points, span=span)

    def frontier(self, alphas=(0.8, 0.9, 0.95, 0.97, 0.98, 0.99)) -> pd.DataFrame:
        """:meth:`run` at several common quantiles: one row per ``alpha``."""
        return pd.DataFrame([self.run(a) for a in alphas])

    def for_fill(self, target: float = 0.98, lo: float = 0.5, hi: float = 0.9999, tol: float = 1e-4) -> dict:
        """The smallest common quantile whose dealer fill reaches ``target``, by bisection.

        Fill rises with ``alpha`` (higher levels, more stock); with discrete demand and
        lots it is a step function, so the answer is the end of the final bracket whose
        fill is at least the target: its stock is what that fill costs at a resolution of
        ``tol`` in ``alpha``.

        Parameters
        ----------
        target : float
            Dealer fill rate to reach, in (0, 1).
        lo, hi : float
            Bracket of ``alpha``.
        tol : float
            Width of the final bracket.

        Returns
        -------
        dict
            As :meth:`run` at the found ``alpha``, plus ``target`` and ``runs`` (number
            of replays). ``fill_rate`` is below the target only if even ``hi`` misses it.
        """
        if not 0 < target < 1:
            raise ValueError("target must lie strictly between 0 and 1")
        return _bisect_fill(self.run, target, lo, hi, tol, check_low=True)


def _bisect_fill(run, target: float, lo: float, hi: float, tol: float, check_low: bool = False) -> dict:
    """The smallest parameter in [lo, hi] whose replay ``run(x)`` reaches ``target`` fill, by bisection.

    Fill rises with the parameter; with discrete demand and lots it is a step function,
    so the answer is the end of the final bracket whose fill is at least the target.
    Returns the replay there plus ``target`` and ``runs``; its fill is below the target
    only if even ``hi`` misses it. ``check_low``: return ``lo`` itself when it already
    reaches the target.
    """
    best, runs = run(hi), 1
    if best["fill_rate"] < target:
        return {**best, "target": target, "runs": runs}
    if check_low:
        low = run(lo)
        runs += 1
        if low["fill_rate"] >= target:
            return {**low, "target": target, "runs": runs}
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        res = run(mid)
        runs += 1
        if res["fill_rate"] >= target:
            hi, best = mid, res
        else:
            lo = mid
    return {**best, "target": target, "runs": runs}


class LotAwareOracle:
    r"""Oracle levels from the fill model of a lot-sized order-up-to, with the true distribution.

    One common quantile is the least stock for a fill rate only when lots are ignored
    (see the module docstring). A dealer served in lots gets part of its protection from
    the lot: its inventory position after ordering lies anywhere in the lot above the
    level. :mod:`optimization.fill_model` gives the shortage per period of every cell
    and period, :math:`ES(S) = E_U[G_{L+1}(S+U) - G_L(S+U)]`, here with the generator's
    true mean and variance (gamma). Each cell-period then takes the level where one more
    unit avoids :math:`1/\lambda` units short, :math:`ES'(S) = -1/\lambda` (the
    Lagrangian of least total level for a total shortage), and :math:`\lambda` is
    bisected so that the *simulated* dealer fill reaches the target. Levels are at least
    the mean of the protection period (no negative safety stock), as in the plan.

    The levels of every cell-period come from a grid of ``points`` levels between the
    mean and ``span`` standard deviations above it, evaluated once; each bisection step
    costs one replay.
    """

    def __init__(self, problem: OracleProblem, points: int = 41, span: float = 6.0):
        from optimization.fill_model import ProtectionPair, overshoot_range

        self.problem = problem
        net = problem.network
        n_s, n_d, n_t = problem.mean.shape
        self.begin = max(problem.start - int(problem.lead_in), 0)
        zero = np.zeros((n_s, n_d, 1))
        cum_m = np.concatenate([zero, np.cumsum(problem.mean, axis=2)], axis=2)
        cum_v = np.concatenate([zero, np.cumsum(problem.var, axis=2)], axis=2)
        t = np.arange(self.begin, n_t)
        d = np.arange(n_d)[:, None]
        lead = net.dealer_lead.astype(int)[:, None]

        def window(cum, k):
            hi = np.minimum(t[None, :] + lead + k, n_t)
            return cum[:, d, hi] - cum[:, d, t[None, :]]

        m_p, v_p = window(cum_m, 1), np.maximum(window(cum_v, 1), 0.0)
        m_l, v_l = window(cum_m, 0), np.maximum(window(cum_v, 0), 0.0)
        shape = m_p.shape
        per_period = problem.mean[:, :, self.begin:]
        lot = np.broadcast_to(problem.lot_size[:, None, None], shape) if problem.lot_size is not None else None
        pack = np.broadcast_to(problem.case_pack[:, None, None], shape) if problem.case_pack is not None else None
        q = overshoot_range(per_period.ravel(), np.ones(per_period.size),
                            None if lot is None else lot.ravel(), None if pack is None else pack.ravel())
        sd_p = np.sqrt(v_p).ravel()
        pair = ProtectionPair(np.full(sd_p.size, "gamma", dtype=object), m_p.ravel(), sd_p, m_l.ravel(),
                              np.sqrt(v_l).ravel(), q, np.ones(sd_p.size))
        n = sd_p.size
        top = np.maximum(span * sd_p, 1.0)
        self.x = top[:, None] * np.linspace(0.0, 1.0, points)[None, :]
        short = np.empty((n, points))
        for j in range(points):  # one grid column at a time: memory stays at a few vectors
            short[:, j] = pair.shortage(m_p.ravel() + self.x[:, j])
        short = np.minimum.accumulate(short, axis=1)
        self.slope = np.diff(short, axis=1) / np.diff(self.x, axis=1)
        self.mean_p = m_p
        self.shape = shape
        self.points = points

    def levels(self, log_lam: float) -> np.ndarray:
        """Level of every cell and period (units, shape of the problem's demand) at multiplier ``lambda``."""
        steep = self.slope < -np.exp(-log_lam)
        last = self.points - 2 - np.argmax(steep[:, ::-1], axis=1)
        k = np.where(steep.any(axis=1), last + 1, 0)
        level = self.mean_p + self.x[np.arange(len(k)), k].reshape(self.shape)
        out = np.zeros(self.problem.mean.shape)
        out[:, :, self.begin:] = level
        out[:, :, : self.begin] = level[:, :, :1]
        return out

    def run(self, log_lam: float) -> dict:
        """Replay at multiplier ``lambda`` (as :meth:`OracleProblem.run`, with ``log_lambda``)."""
        return {"log_lambda": log_lam, **self.problem._replay(LevelOrderUpTo(self.problem.network, self.levels(log_lam)))}

    def for_fill(self, target: float = 0.98, lo: float = -2.0, hi: float = 16.0, tol: float = 0.01) -> dict:
        """The smallest multiplier whose simulated dealer fill reaches ``target``, by bisection.

        Returns
        -------
        dict
            As :meth:`run` at the found multiplier, plus ``target`` and ``runs``;
            ``fill_rate`` is below the target only if even ``hi`` misses it.
        """
        return _bisect_fill(self.run, target, lo, hi, tol)


class TrueMeanVmiPolicy(VmiPolicy):
    """supplyplan's VMI replay policy fed with the generator's true means.

    The forecaster is replaced, nothing else: every period the forecast rows are the true
    weekly means of the demand truth (with :func:`protection_quantile` of each week's true
    mean and variance as ``q50``, ``q90`` and ``q95``), and the backtest errors are actual
    demand minus true mean, laid out as the forecaster's rolling-origin backtest would be
    (``forecast.backtest_windows`` origins ``forecast.backtest_step`` periods apart,
    ``forecast.horizon`` steps each, the newest window ending the period before the plan
    date, so nothing of the plan's own period is seen). Safety stock, allocation, LP,
    rounding and simulator are the committed ones. The truth ends with the data: near the
    end of the replay the plan sees fewer forecast periods than its horizon.

    Parameters
    ----------
    setup, dataset, settings, fallback, progress
        As :class:`pipelines.backtest.VmiPolicy`.
    truth : pandas.DataFrame
        ``sku, location, date, mean, var`` per demand row
        (:func:`pipelines.demo_data.generate_demo_data` with ``truth=True``).

    Notes
    -----
    Pass ``functools.partial(TrueMeanVmiPolicy, truth=truth)`` as ``vmi_factory`` to
    :func:`pipelines.backtest.replay_policies`.
    """

    def __init__(self, setup, dataset, settings, fallback, progress=None, *, truth: pd.DataFrame):
        super().__init__(setup, dataset, settings, fallback, progress=progress)
        frames = []
        for frame, cols in ((truth, ["mean", "var"]), (dataset.demand, ["qty"])):
            frame = frame[["sku", "location", "date", *cols]].copy()
            frame["sku"] = frame["sku"].astype(str)
            frame["location"] = frame["location"].astype(str)
            frame["date"] = pd.to_datetime(frame["date"])
            frames.append(frame)
        position = pd.Series(np.arange(len(setup.dates)), index=setup.dates)
        self._truth = frames[0].assign(pos=frames[0]["date"].map(position))
        self._actual = self._truth.merge(frames[1], on=["sku", "location", "date"], how="inner")

    def _refresh_forecast(self, state, full: bool = True) -> None:
        fc_opts = self.settings.forecast
        bt = self.settings.backtest
        h = int(fc_opts.horizon)
        span = max(h, self.settings.plan.horizon) + min(bt.refresh_every, bt.forecast_every) - 1
        step = int(fc_opts.backtest_step or max(1, h // 3))
        t = state.t
        truth, actual = self._truth, self._actual
        fut = truth.loc[(truth["pos"] >= t) & (truth["pos"] < t + span)].copy()
        fut["model"] = "truth"
        mean, var = fut["mean"].to_numpy(float), fut["var"].to_numpy(float)
        for q in (0.5, 0.9, 0.95):
            fut[f"q{int(round(q * 100))}"] = protection_quantile(mean, var, q)
        parts = []
        for j in range(int(fc_opts.backtest_windows)):
            origin = t - 1 - h - step * j  # last training period of the window
            if origin < 0:
                break
            rows = actual.loc[(actual["pos"] > origin) & (actual["pos"] <= origin + h)]
            parts.append(pd.DataFrame({
                "sku": rows["sku"], "location": rows["location"], "origin": self.setup.dates[origin],
                "step": (rows["pos"] - origin).astype(int), "error": rows["qty"] - rows["mean"],
                "date": rows["date"], "actual": rows["qty"], "forecast": rows["mean"],
            }))
        errors = pd.concat(parts, ignore_index=True) if parts else None
        columns = ["sku", "location", "date", "mean", "q50", "q90", "q95", "model"]
        self._forecast = SimpleNamespace(forecasts=fut[columns].reset_index(drop=True), errors=errors,
                                         selection=fut[["sku", "location"]].drop_duplicates())
