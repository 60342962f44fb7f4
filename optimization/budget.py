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

__all__ = ["BudgetError", "BudgetResult", "allocate_safety_stock", "continuous_allocation"]


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


def allocate_safety_stock(
    frame: pd.DataFrame,
    *,
    budget: float | None = None,
    space: float | None = None,
    z_max: float = 4.0,
    breakpoints: int = 41,
    time_limit: float = 120.0,
) -> BudgetResult:
    r"""Allocate safety stock within a money budget and/or a space cap (see the module docstring).

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
    z_max : float, default 4.0
        Upper bound of the safety factor (beyond it the shortage is negligible).
    breakpoints : int, default 41
        Tangent points :math:`z_k`, evenly spaced on :math:`[0, z_{\max}]`.
    time_limit : float, default 120
        Solver time limit, seconds.

    Returns
    -------
    BudgetResult

    Raises
    ------
    BudgetError
        The solver did not return an optimal solution.

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
    if budget is None and space is None:
        raise ValueError("give a budget, a space cap, or both")
    for name, v in (("budget", budget), ("space", space)):
        if v is not None and not (np.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a number >= 0, got {v}")
    if not z_max > 0 or breakpoints < 2:
        raise ValueError("z_max must be > 0 and breakpoints >= 2")
    t0 = time.perf_counter()
    sigma, cost, vol, w = _inputs(frame)
    zk = np.linspace(0.0, z_max, breakpoints)
    gk, sk = _loss(zk), stats.norm.sf(zk)  # G(z_k) and -G'(z_k)
    active = np.flatnonzero((sigma > 0) & (w > 0))

    prob = pulp.LpProblem("safety_stock_budget", pulp.LpMinimize)
    x = [pulp.LpVariable(f"x_{i}", lowBound=0.0, upBound=float(z_max * sigma[i])) for i in active]
    t = [pulp.LpVariable(f"t_{i}", lowBound=0.0) for i in active]
    prob += pulp.lpSum(float(w[i]) * t[j] for j, i in enumerate(active))
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

    _silence_highs_banner()
    solver = pulp.HiGHS(msg=False, timeLimit=time_limit)
    prob.solve(solver)
    status = pulp.LpStatus[prob.status]
    if prob.sol_status != pulp.LpSolutionOptimal or status != "Optimal":
        raise BudgetError(f"safety-stock budget LP: status {status}, solution status {pulp.LpSolution[prob.sol_status]}")

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
