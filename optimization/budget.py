r"""Budget-aware safety stock: spend a money budget or a space cap where it buys the most service.

With normal demand over the protection period, :math:`N(\mu_i, \sigma_i^2)` for key
:math:`i` (SKU x location), safety stock :math:`x_i = z_i \sigma_i` leaves an expected
shortage per cycle of :math:`\sigma_i G(x_i / \sigma_i)` units, :math:`G` the standard
normal loss function (Snyder and Shen 2019, eq. (C.9); DESIGN.md, fill rate). The
allocation problem is

.. math::
    \min_{x}\ \sum_i w_i\,\sigma_i\,G(x_i/\sigma_i)
    \quad \text{s.t.} \quad \sum_i c_i x_i \le B,\quad \sum_i v_i x_i \le V,
    \quad 0 \le x_i \le z_{\max}\sigma_i

with :math:`c_i` the unit cost (money budget :math:`B`), :math:`v_i` the space per unit
(space cap :math:`V`, in units when :math:`v_i = 1`) and :math:`w_i` the weight of a unit
short. With :math:`w_i = 1/R_i` (shortage per period) the objective is the total expected
shortage per period, so minimising it maximises the demand-weighted fill rate
:math:`1 - \sum_i \text{shortage}_i / \sum_i \text{demand}_i`. The objective is convex
(:math:`G'' = \phi > 0`), as in the exchange curves of Silver, Pyke and Peterson (1998,
*Inventory Management and Production Planning and Scheduling*, ch. 7): at the optimum the marginal
shortage reduction per unit of money,

.. math:: -\frac{w_i\,\sigma_i\,\partial G(x_i/\sigma_i) / \partial x_i}{c_i}
          = \frac{w_i\,(1 - \Phi(z_i))}{c_i},

is the same (the budget's shadow price :math:`\lambda`) for every key strictly inside its
bounds (KKT conditions; :math:`G'(z) = -(1 - \Phi(z))`).

The LP (PuLP, solved by HiGHS) replaces each convex :math:`\sigma_i G(x_i/\sigma_i)` by
the maximum of its tangent lines at breakpoints :math:`z_k` (an outer approximation, exact
at the breakpoints; error at most :math:`\sigma_i \max_k \phi(z_k)\Delta_k^2 / 8`):

.. math:: t_i \ge \sigma_i G(z_k) - (1 - \Phi(z_k))\,(x_i - \sigma_i z_k) \quad \forall k.

The solver's status is checked; the reported shortages use the exact :math:`G`.

**Aggregate fill rate (the dual problem).** Given instead a target :math:`f` for the
demand-weighted fill rate, the least stock that reaches it solves

.. math::
    \min_{x}\ \sum_i c_i x_i
    \quad \text{s.t.} \quad \sum_i \frac{\sigma_i G(x_i/\sigma_i)}{R_i}
    \le (1 - f) \sum_i d_i, \quad 0 \le x_i \le z_{\max}\sigma_i

with :math:`d_i` the mean demand per period, :math:`R_i` the periods per replenishment
cycle (so :math:`\sigma_i G / R_i` is the expected shortage per period) and :math:`c_i`
the unit cost, or 1 to minimise units (Silver, Pyke and Peterson 1998, ch. 7, the
exchange curve of total safety stock against total expected shortage). The same tangent
cuts stand for :math:`G`. At the optimum, with :math:`\mu` the multiplier of the fill
constraint, :math:`c_i = \mu\,(1 - \Phi(z_i)) / R_i` for every key strictly inside its
bounds: the shortage per period avoided by one more unit of money is the same
(:math:`1/\mu`) everywhere. Per-item targets (:math:`\sigma_i G(z_i) = (1-f) R_i d_i`
for every :math:`i`) reach the same aggregate fill at a higher cost unless this marginal
ratio happens to be equal across keys.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp
from scipy import stats

from optimization.lp_model import _silence_highs_banner

logger = logging.getLogger(__name__)

__all__ = ["BudgetError", "BudgetResult", "allocate_safety_stock", "continuous_allocation", "continuous_fill_allocation"]


class BudgetError(RuntimeError):
    """The allocation LP has no usable solution (the solver's status says why)."""


@dataclass
class BudgetResult:
    """Safety stock allocated under a budget.

    Attributes
    ----------
    allocation : pandas.DataFrame
        One row per input row: sku, location, safety_stock (units), z (safety factor),
        expected_shortage (units per cycle, exact :math:`\\sigma G(z)`), service_level
        (:math:`\\Phi(z)`, the implied cycle service level), marginal_value
        (:math:`w (1 - \\Phi(z)) / c`, shortage per cycle avoided per extra unit of money),
        value (:math:`c x`, money) and space (:math:`v x`).
    status : str
        PuLP's status word (``"Optimal"``).
    sol_status : int
        PuLP's solution status (1 = optimal solution found).
    objective : float
        LP objective: weighted expected shortage under the tangent-line approximation.
    budget_used, space_used : float
        :math:`\\sum c_i x_i` (money) and :math:`\\sum v_i x_i`.
    budget_shadow_price, space_shadow_price : float
        Weighted shortage per cycle saved by one more unit of money / space (>= 0; 0 when
        the constraint is slack or absent).
    seconds : float
        Build plus solve time.
    fill_rate, fill_rate_achieved : float
        Aggregate-fill mode only (else NaN): the target :math:`f` and the demand-weighted
        fill rate :math:`1 - \sum_i \sigma_i G(z_i) / R_i / \sum_i d_i` of the allocation
        under the exact :math:`G`.
    fill_shadow_price : float
        Aggregate-fill mode: money saved per extra unit of expected shortage per period
        allowed (the multiplier :math:`\mu`, >= 0); 0 otherwise.
    """

    allocation: pd.DataFrame
    status: str
    sol_status: int
    objective: float
    budget_used: float
    space_used: float
    budget_shadow_price: float = 0.0
    space_shadow_price: float = 0.0
    seconds: float = 0.0
    fill_rate: float = float("nan")
    fill_rate_achieved: float = float("nan")
    fill_shadow_price: float = 0.0
    breakpoints: np.ndarray = field(default_factory=lambda: np.array([]))


def _loss(z):
    return stats.norm.pdf(z) - z * stats.norm.sf(z)


def _inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in ("sku", "location", "sigma_protection", "unit_cost") if c not in frame.columns]
    if missing:
        raise ValueError(f"allocation input lacks column(s) {missing}")
    sigma = pd.to_numeric(frame["sigma_protection"], errors="coerce").to_numpy(float)
    cost = pd.to_numeric(frame["unit_cost"], errors="coerce").to_numpy(float)
    vol = pd.to_numeric(frame["unit_space"], errors="coerce").to_numpy(float) if "unit_space" in frame else np.ones(len(frame))
    w = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(float) if "weight" in frame else np.ones(len(frame))
    for name, arr, positive in (("sigma_protection", sigma, False), ("unit_cost", cost, True),
                                ("unit_space", vol, True), ("weight", w, False)):
        bad = ~np.isfinite(arr) | (arr <= 0 if positive else arr < 0)
        if bad.any():
            rule = "> 0" if positive else ">= 0"
            raise ValueError(f"{name} must be a number {rule}; {int(bad.sum())} bad rows")
    return sigma, cost, vol, w


def _fill_inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Demand per period d_i and the weight 1 / R_i of the aggregate-fill mode."""
    missing = [c for c in ("demand", "cycle_periods") if c not in frame.columns]
    if missing:
        raise ValueError(f"fill-rate allocation input lacks column(s) {missing}")
    d = pd.to_numeric(frame["demand"], errors="coerce").to_numpy(float)
    r = pd.to_numeric(frame["cycle_periods"], errors="coerce").to_numpy(float)
    if (~np.isfinite(d) | (d < 0)).any():
        raise ValueError("demand must be a number >= 0")
    if (~np.isfinite(r) | (r <= 0)).any():
        raise ValueError("cycle_periods must be a number > 0")
    # A key without demand has no fill rate to protect: weight 0 leaves it at x = 0.
    return d, np.where(d > 0, 1.0 / r, 0.0)


def allocate_safety_stock(
    frame: pd.DataFrame,
    *,
    budget: float | None = None,
    space: float | None = None,
    fill_rate: float | None = None,
    z_max: float = 4.0,
    breakpoints: int = 41,
    time_limit: float = 120.0,
    cut_rounds: int = 10,
) -> BudgetResult:
    r"""Allocate safety stock within a money budget and/or a space cap, or the least stock for an aggregate fill rate.

    See the module docstring for both problems.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per SKU x location: sku, location, sigma_protection (:math:`\sigma_i`,
        units over the protection period), unit_cost (:math:`c_i`, money per unit, > 0);
        optional unit_space (:math:`v_i`, space per unit, > 0; default 1 = units) and
        weight (:math:`w_i` >= 0, importance of a unit short per cycle; default 1; use
        :math:`1/R_i` to count shortage per period).
    budget : float, optional
        :math:`B`, money available for safety stock (>= 0).
    space : float, optional
        :math:`V`, space available for safety stock (units or volume, >= 0).
    fill_rate : float, optional
        :math:`f` in (0, 1): minimise :math:`\sum_i c_i x_i` subject to a demand-weighted
        fill rate of at least :math:`f` (not combined with ``budget`` or ``space``; pass
        ``unit_cost = 1`` to minimise units). The frame then needs demand (:math:`d_i`,
        mean units per period, >= 0) and cycle_periods (:math:`R_i` > 0, periods per
        replenishment cycle, e.g. :math:`\max(R, \text{lot}/d_i)`); weight is ignored
        (the shortage per period is :math:`\sigma_i G / R_i`).
    z_max : float, default 4.0
        Upper bound of the safety factor (beyond it the shortage is negligible).
    breakpoints : int, default 41
        Tangent points :math:`z_k`, evenly spaced on :math:`[0, z_{\max}]`.
    time_limit : float, default 120
        Solver time limit, seconds (per solve).
    cut_rounds : int, default 10
        Aggregate-fill mode: at most this many re-solves, each adding the tangent at
        every key's current :math:`z` (Kelley's cutting planes), until the allocation
        meets :math:`f` within :math:`10^{-6}` under the exact :math:`G`.

    Returns
    -------
    BudgetResult

    Raises
    ------
    BudgetError
        The solver did not return an optimal solution (with ``fill_rate``: also when
        :math:`f` is out of reach at :math:`z_{\max}`, status ``Infeasible``).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"sku": ["a", "b"], "location": "D", "sigma_protection": [10.0, 10.0],
    ...                   "unit_cost": [1.0, 4.0]})
    >>> res = allocate_safety_stock(f, budget=20.0)
    >>> res.status, round(res.budget_used, 6)
    ('Optimal', 20.0)
    >>> bool(res.allocation.loc[0, "safety_stock"] > res.allocation.loc[1, "safety_stock"])
    True
    """
    if fill_rate is not None:
        if budget is not None or space is not None:
            raise ValueError("fill_rate is not combined with a budget or a space cap")
        if not 0 < fill_rate < 1:
            raise ValueError(f"fill_rate must be in (0, 1), got {fill_rate}")
    elif budget is None and space is None:
        raise ValueError("give a budget, a space cap, or both (or a fill_rate)")
    for name, v in (("budget", budget), ("space", space)):
        if v is not None and not (np.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a number >= 0, got {v}")
    if not z_max > 0 or breakpoints < 2:
        raise ValueError("z_max must be > 0 and breakpoints >= 2")
    t0 = time.perf_counter()
    sigma, cost, vol, w = _inputs(frame)
    demand = None
    if fill_rate is not None:
        demand, w = _fill_inputs(frame)  # w = 1 / R_i: shortage per period
    zk = np.linspace(0.0, z_max, breakpoints)
    gk, sk = _loss(zk), stats.norm.sf(zk)  # G(z_k) and -G'(z_k)
    active = np.flatnonzero((sigma > 0) & (w > 0))

    prob = pulp.LpProblem("safety_stock_budget", pulp.LpMinimize)
    x = [pulp.LpVariable(f"x_{i}", lowBound=0.0, upBound=float(z_max * sigma[i])) for i in active]
    t = [pulp.LpVariable(f"t_{i}", lowBound=0.0) for i in active]
    if fill_rate is None:
        prob += pulp.lpSum(float(w[i]) * t[j] for j, i in enumerate(active))
    else:
        prob += pulp.lpSum(float(cost[i]) * x[j] for j, i in enumerate(active))
    for j, i in enumerate(active):
        s = float(sigma[i])
        for k in range(breakpoints):
            # t >= s G(z_k) - (1 - Phi(z_k)) (x - s z_k), in units short per cycle.
            prob += t[j] + float(sk[k]) * x[j] >= s * float(gk[k] + sk[k] * zk[k])
    rows = {}
    if budget is not None:
        rows["budget"] = pulp.lpSum(float(cost[i]) * x[j] for j, i in enumerate(active)) <= float(budget)
        prob += rows["budget"], "budget"
    if space is not None:
        rows["space"] = pulp.lpSum(float(vol[i]) * x[j] for j, i in enumerate(active)) <= float(space)
        prob += rows["space"], "space"
    if fill_rate is not None:
        allowed = (1.0 - fill_rate) * float(demand.sum())
        prob += pulp.lpSum(float(w[i]) * t[j] for j, i in enumerate(active)) <= allowed, "fill"

    _silence_highs_banner()
    solver = pulp.HiGHS(msg=False, timeLimit=time_limit)
    def solve():
        prob.solve(solver)
        status = pulp.LpStatus[prob.status]
        if prob.sol_status != pulp.LpSolutionOptimal or status != "Optimal":
            raise BudgetError(f"safety-stock budget LP: status {status}, solution status {pulp.LpSolution[prob.sol_status]}")
        return status

    status = solve()
    if fill_rate is not None and len(active):
        # The tangent cuts under-estimate G between breakpoints, so the LP's stock falls a
        # little short of f under the exact G. Kelley's cutting planes: add each key's
        # tangent at its current z and re-solve until the exact shortage meets the allowance.
        sig_a, w_a = sigma[active], w[active]
        for _ in range(cut_rounds):
            z_now = np.clip(np.array([v.varValue or 0.0 for v in x]) / sig_a, 0.0, z_max)
            # within 1e-6 of f: finer than any demand history can tell
            if float(np.sum(w_a * sig_a * _loss(z_now))) <= allowed + 1e-6 * float(demand.sum()):
                break
            g_now, s_now = _loss(z_now), stats.norm.sf(z_now)
            for j in range(len(active)):
                prob += t[j] + float(s_now[j]) * x[j] >= float(sig_a[j] * (g_now[j] + s_now[j] * z_now[j]))
            status = solve()

    alloc = np.zeros(len(frame))
    alloc[active] = [v.varValue or 0.0 for v in x]
    alloc = np.clip(alloc, 0.0, z_max * sigma)
    z = np.divide(alloc, sigma, out=np.zeros(len(frame)), where=sigma > 0)
    exact = np.where(sigma > 0, sigma * _loss(z), 0.0)
    out = pd.DataFrame({
        "sku": frame["sku"].to_numpy(),
        "location": frame["location"].to_numpy(),
        "safety_stock": alloc,
        "z": z,
        "expected_shortage": exact,
        "service_level": np.where(sigma > 0, stats.norm.cdf(z), 1.0),
        "marginal_value": w * stats.norm.sf(z) / cost,
        "value": cost * alloc,
        "space": vol * alloc,
    })

    def dual(name):
        c = prob.constraints.get(name)
        # A <= row of a minimisation has pi <= 0; report the saving per unit (>= 0).
        return float(abs(c.pi)) if c is not None and c.pi is not None else 0.0

    res = BudgetResult(
        allocation=out, status=status, sol_status=int(prob.sol_status), objective=float(pulp.value(prob.objective) or 0.0),
        budget_used=float(out["value"].sum()), space_used=float(out["space"].sum()),
        budget_shadow_price=dual("budget"), space_shadow_price=dual("space"),
        seconds=time.perf_counter() - t0, breakpoints=zk,
    )
    if fill_rate is not None:
        total = float(demand.sum())
        short = float(np.sum(w * exact))
        res.fill_rate = float(fill_rate)
        res.fill_rate_achieved = 1.0 - short / total if total > 0 else 1.0
        res.fill_shadow_price = dual("fill")
        logger.info("aggregate fill %.4f (target %.4f): %d keys, cost %.2f, %.1f s",
                    res.fill_rate_achieved, fill_rate, len(active), res.budget_used, res.seconds)
        return res
    logger.info("safety-stock budget: %d keys, value %.2f of %s, space %.2f of %s, lambda %.3g, %.1f s",
                len(active), res.budget_used, budget, res.space_used, space, res.budget_shadow_price, res.seconds)
    return res


def continuous_allocation(frame: pd.DataFrame, budget: float, z_max: float = 4.0) -> tuple[np.ndarray, float]:
    r"""Exact optimum of the money-budget problem (no space cap) from its KKT conditions.

    For a multiplier :math:`\lambda \ge 0`, each key's stationarity condition
    :math:`w_i (1 - \Phi(z_i)) = \lambda c_i` gives
    :math:`z_i(\lambda) = \Phi^{-1}(1 - \lambda c_i / w_i)` clipped to :math:`[0, z_{\max}]`;
    spend is decreasing in :math:`\lambda`, so bisection finds the :math:`\lambda` that
    spends :math:`B` (or :math:`\lambda = 0` when :math:`z_{\max}` everywhere fits).
    The reference the LP is tested against.

    Parameters
    ----------
    frame : pandas.DataFrame
        As for :func:`allocate_safety_stock`.
    budget : float
        :math:`B` (money).
    z_max : float
        Upper bound of :math:`z`.

    Returns
    -------
    (numpy.ndarray, float)
        Safety stock per row (units) and :math:`\lambda`.
    """
    sigma, cost, _, w = _inputs(frame)
    live = (sigma > 0) & (w > 0)

    def alloc(lam):
        p = np.clip(1.0 - lam * cost / np.where(w > 0, w, 1.0), 0.0, 1.0)
        z = np.clip(stats.norm.ppf(p), 0.0, z_max)
        return np.where(live, z * sigma, 0.0)

    if float(np.sum(cost * alloc(0.0))) <= budget:
        return alloc(0.0), 0.0
    lo, hi = 0.0, float(np.max(w[live] / cost[live])) if live.any() else 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.sum(cost * alloc(mid)) > budget:
            lo = mid
        else:
            hi = mid
    return alloc(hi), hi


def continuous_fill_allocation(frame: pd.DataFrame, fill_rate: float, z_max: float = 4.0) -> tuple[np.ndarray, float]:
    r"""Exact optimum of the aggregate-fill problem (exact :math:`G`) from its KKT conditions.

    For a multiplier :math:`\mu > 0`, stationarity :math:`c_i = \mu (1 - \Phi(z_i)) / R_i`
    gives :math:`z_i(\mu) = \Phi^{-1}(1 - c_i R_i / \mu)` clipped to :math:`[0, z_{\max}]`;
    the expected shortage per period :math:`\sum_i \sigma_i G(z_i) / R_i` decreases in
    :math:`\mu`, so bisection (on :math:`\log\mu`) finds the :math:`\mu` at which it equals
    :math:`(1 - f) \sum_i d_i` (module docstring; Silver, Pyke and Peterson 1998, ch. 7).
    The reference the LP of :func:`allocate_safety_stock` is tested against.

    Parameters
    ----------
    frame : pandas.DataFrame
        As for :func:`allocate_safety_stock` with ``fill_rate``.
    fill_rate : float
        :math:`f` in (0, 1).
    z_max : float
        Upper bound of :math:`z`.

    Returns
    -------
    (numpy.ndarray, float)
        Safety stock per row (units) and :math:`\mu` (0 when :math:`x = 0` already
        reaches :math:`f`).

    Raises
    ------
    ValueError
        :math:`f` is out of reach even at :math:`z_{\max}` everywhere.
    """
    sigma, cost, _, _ = _inputs(frame)
    demand, w = _fill_inputs(frame)
    live = (sigma > 0) & (w > 0)
    allowed = (1.0 - fill_rate) * float(demand.sum())

    def alloc(mu):
        p = np.clip(1.0 - np.divide(cost, w * mu, out=np.full(len(sigma), np.inf), where=live), 0.0, 1.0)
        z = np.clip(stats.norm.ppf(p), 0.0, z_max)
        return np.where(live, z * sigma, 0.0)

    def shortage(x):
        z = np.divide(x, sigma, out=np.zeros(len(sigma)), where=sigma > 0)
        return float(np.sum(np.where(live, w * sigma * _loss(z), 0.0)))

    if shortage(np.zeros(len(sigma))) <= allowed:
        return np.zeros(len(sigma)), 0.0
    if shortage(np.where(live, z_max * sigma, 0.0)) > allowed:
        raise ValueError(f"aggregate fill rate {fill_rate} is out of reach at z_max = {z_max}")
    lo, hi = np.log(np.min(cost[live] / w[live])), np.log(np.max(cost[live] / w[live]) / stats.norm.sf(z_max)) + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if shortage(alloc(np.exp(mid))) > allowed:
            lo = mid
        else:
            hi = mid
    return alloc(np.exp(hi)), float(np.exp(hi))
