r"""Solve the replenishment LP by SKU groups, in parallel, coordinated on shared capacities.

SKUs interact only through lane capacities :math:`\sum_s x_{set} \le C_{et}`; every other
row of the model (:mod:`optimization.lp_model`) belongs to one SKU. With SKU groups
:math:`g` and :math:`X_g` the polyhedron of group g's own rows, the single model is

.. math:: \min \sum_g c_g^\top x_g \quad \text{s.t.} \quad x_g \in X_g,\;
          \sum_g A_g x_g \le C

(:math:`A_g x_g` = the group's use of each capacitated lane-period). Price coordination
by Dantzig-Wolfe decomposition (Dantzig and Wolfe 1960, "Decomposition principle for
linear programs", *Operations Research* 8):

0. Solve every group alone with the whole capacity. If their total use fits, this *is*
   the single model's optimum (one round, no coordination). Otherwise the sum is a
   lower bound.
1. Give each group a share of each capacitated cell proportional to its use (scaled
   to fit) and solve again: plans that fit together, the first columns of the master.
2. Master LP: choose convex weights :math:`\lambda_{gj}` of each group's plans so far,
   minimising their cost subject to :math:`\sum_{g,j} \lambda_{gj} A_g x_{gj} \le C`.
   The combination is a feasible plan of the whole network (each :math:`X_g` is
   convex), so the master's optimum is an upper bound; its capacity duals are prices
   :math:`\pi \ge 0` per unit of lane use.
3. Pricing: each group solves its model with :math:`\pi` added to the transport cost.
   :math:`\sum_g \min_{x_g \in X_g} (c_g + A_g^\top\pi)^\top x_g - \pi^\top C` is a
   lower bound (Lagrangian relaxation); the new plans join the master. Repeat 2-3
   until (upper - lower) / upper <= ``gap_tol`` or ``max_rounds``.

The plan returned is the master's combination; the gap bounds its distance from the
single-model optimum, and the final prices :math:`\pi` are the shadow prices of the
network's capacities. Groups that touch no capacitated lane are solved once.

Groups run in local processes (:class:`concurrent.futures.ProcessPoolExecutor`) or on
any executor with ``submit(fn, *args) -> future`` (e.g. a ``dask.distributed.Client``).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from .lp_data import PlanData
from .lp_model import (FALLBACK_STATUS, LinearProgram, PenaltyWeights, Solution, SolverTimeLimit, build_model,
                       fallback_solution, solve)

logger = logging.getLogger(__name__)

__all__ = ["GroupResult", "DecomposedSolution", "solve_group", "summarize", "sku_groups", "solve_decomposed"]


@dataclass
class GroupResult:
    """What the plan needs from one solved model (a SKU group or the whole network).

    Arrays are indexed by the group's own SKUs (``sku_index`` maps them back).
    """

    sku_index: np.ndarray
    x: np.ndarray  # (S_g, E, T) shipments
    stock: np.ndarray  # (S_g, L, T) end-of-period stock in the LP
    active: np.ndarray  # (S_g, L, T) cells modelled
    parts: dict  # cost parts (currency)
    objective: float
    capacity_dual: np.ndarray  # (E, T), <= 0 (d objective / d capacity), 0 where no row
    capacity_row: np.ndarray  # (E, T) bool: the model had a capacity row
    usage: np.ndarray  # (E, T) units shipped per lane-period by the group
    status: str
    build_seconds: float
    solve_seconds: float
    n_variables: int
    n_constraints: int
    basis: tuple | None = None  # final simplex basis, to warm-start the group's next solve


def summarize(data: PlanData, lp: LinearProgram, sol: Solution, sku_index=None) -> GroupResult:
    """Cut a solved model down to the arrays and cost parts the plan is built from."""
    S, L, E, T = data.shape
    v = sol.values
    x = np.zeros((S, E, T))
    m = lp.x_col >= 0
    x[m] = np.clip(v[lp.x_col[m]], 0.0, None)
    stock = np.zeros((S, L, T))
    for col in (lp.low_col, lp.mid_col, lp.high_col):
        m = col >= 0
        stock[m] += v[col[m]]

    def total(col: np.ndarray, weight: np.ndarray) -> float:
        m = col >= 0
        return float((weight[col[m]] * v[col[m]]).sum()) if m.any() else 0.0

    holding = float((data.holding[:, None, None] * stock).sum())
    with_premium = sum(total(c, lp.hold) for c in (lp.low_col, lp.mid_col, lp.high_col))
    parts = {
        "holding_cost": holding,
        "dealer_holding_premium": with_premium - holding,
        # Transport at the lanes' own cost (a coordination price is not a cost).
        "transport_cost": float((data.lane_cost[None, :, None] * x).sum()),
        "lost_sales_cost": total(lp.lost_col, lp.cost),
        "below_band_cost": lp.constant - total(lp.low_col, lp.hold - lp.cost),
        "above_max_cost": total(lp.high_col, lp.cost - lp.hold),
    }
    objective = float(sum(parts.values()))
    has_row = lp.capacity_row >= 0
    dual = np.zeros((E, T))
    dual[has_row] = np.minimum(sol.duals[lp.capacity_row[has_row]], 0.0)
    return GroupResult(
        sku_index=np.arange(S) if sku_index is None else np.asarray(sku_index),
        x=x, stock=stock, active=lp.balance_row >= 0, parts=parts, objective=objective,
        capacity_dual=dual, capacity_row=has_row, usage=x.sum(axis=0), status=sol.status,
        build_seconds=lp.build_seconds + sol.pulp_build_seconds, solve_seconds=sol.solve_seconds,
        n_variables=lp.n_variables, n_constraints=lp.n_constraints, basis=sol.basis,
    )


def solve_group(
    data: PlanData,
    weights: PenaltyWeights,
    capacity: np.ndarray | None = None,
    *,
    sku_index=None,
    time_limit: float | None = 60.0,
    threads: int | None = None,
    exact_lots: bool = False,
    backend: str = "highspy",
    capacity_price: np.ndarray | None = None,
    presolve: str = "choose",
    basis: tuple | None = None,
) -> GroupResult:
    """Build, solve and summarise one model (runs in a worker process).

    A solve that reaches ``time_limit`` before HiGHS has any feasible point does not fail:
    the group gets :func:`optimization.lp_model.fallback_solution` (ship nothing) and
    status :data:`optimization.lp_model.FALLBACK_STATUS`, so a night always has a plan and
    says which groups it could not optimise.

    Parameters
    ----------
    data : PlanData
        The group's SKUs (:meth:`PlanData.subset`).
    capacity : (E,) or (E, T) array, optional
        The group's capacity share (units per period); default the lanes' capacity.
    capacity_price : (E, T) array, optional
        Coordination price per unit of lane use (currency/unit); it steers the solve
        but is not part of the reported cost.
    basis : tuple, optional
        Warm start: ``GroupResult.basis`` of this group's previous solve (same rows and
        columns, other capacity shares).
    """
    lp = build_model(data, weights, capacity, exact_lots=exact_lots, capacity_price=capacity_price)
    try:
        sol = solve(lp, time_limit=time_limit, threads=threads, backend=backend, presolve=presolve, basis=basis)
    except SolverTimeLimit as err:
        sol = fallback_solution(data, lp, solve_seconds=err.solve_seconds, pulp_build_seconds=err.pulp_build_seconds)
    return summarize(data, lp, sol, sku_index)


def sku_groups(data: PlanData, group_size: int) -> list[np.ndarray]:
    """Split SKUs into groups of about ``group_size``, balanced by model size.

    SKUs are dealt round-robin in decreasing order of the number of cells they stock
    (deterministic: ties by name), so every group gets a similar share of big and small
    SKUs and the parallel solves take similar times.
    """
    S = len(data.skus)
    n_groups = max(1, int(np.ceil(S / max(1, group_size))))
    size = ((data.demand.sum(axis=2) > 0) | (data.lower > 0) | (data.on_hand > 0)).sum(axis=1)
    order = np.lexsort((np.arange(S), -size))
    return [np.sort(order[g::n_groups]) for g in range(n_groups)]


@dataclass
class DecomposedSolution:
    """The best feasible combination of group solutions and its certificate."""

    groups: list  # GroupResult per group (of the best round)
    objective: float  # upper bound: cost of the plan returned
    lower_bound: float
    gap: float  # (objective - lower_bound) / max(1, |objective|)
    rounds: int
    shares: np.ndarray | None  # (G, E, T) capacity shares of the plan returned, None when uncoupled
    shadow_price: np.ndarray  # (E, T) >= 0, from the master (or the uncoupled duals)
    seconds: float
    history: list = field(default_factory=list)  # (round, upper, lower) per round
    build_seconds: float = 0.0  # summed over every group solve of every round
    solve_seconds: float = 0.0


def _default_executor(workers: int) -> Executor:
    # forkserver: workers start from a clean process, not a fork of a parent that may
    # hold HiGHS's scheduler threads.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def _run_all(executor, tasks: list[tuple]) -> list[GroupResult]:
    if executor is None:
        return [solve_group(*args, **kw) for args, kw in tasks]
    futures = [executor.submit(_call, args, kw) for args, kw in tasks]
    return [f.result() for f in futures]


def _call(args, kw):
    return solve_group(*args, **kw)


def solve_decomposed(
    data: PlanData,
    weights: PenaltyWeights = PenaltyWeights(),
    *,
    group_size: int = 500,
    groups: list | None = None,
    workers: int = 1,
    executor=None,
    time_limit: float | None = 60.0,
    threads: int | None = 1,
    exact_lots: bool = False,
    backend: str = "highspy",
    presolve: str = "choose",
    max_rounds: int = 10,
    gap_tol: float = 2e-4,
    time_budget: float | None = None,
    smoothing: float = 0.5,
) -> DecomposedSolution:
    """Solve ``data`` by SKU groups with price coordination (module docstring).

    Parameters
    ----------
    group_size : int
        SKUs per group when ``groups`` is not given (:func:`sku_groups`).
    groups : list of index arrays, optional
        Explicit SKU groups (positions into ``data.skus``), disjoint and covering all.
    workers : int
        Local worker processes (1: solve in this process). Ignored with ``executor``.
    executor : object with ``submit``, optional
        E.g. a ``dask.distributed.Client``; the caller owns it.
    time_limit, threads, exact_lots, backend, presolve
        Per group solve (see :func:`optimization.lp_model.solve`). With ``exact_lots``
        the groups are MILPs and the coordination is a heuristic (the combination of
        integer plans is not integer); the rounding step restores whole lots.
    max_rounds : int
        Pricing rounds after the first feasible combination.
    gap_tol : float
        Stop when (upper - lower) / upper <= gap_tol.
    time_budget : float, optional
        Seconds after which no new round starts (the best plan so far is returned).
    smoothing : float
        Weight of the best-bound prices in the next trial prices (Wentges 1997,
        "Weighted Dantzig-Wolfe decomposition", *Int. Trans. Oper. Res.* 4), in [0, 1).

    Returns
    -------
    DecomposedSolution
    """
    t0 = time.perf_counter()
    groups = sku_groups(data, group_size) if groups is None else [np.asarray(g) for g in groups]
    covered = np.sort(np.concatenate(groups)) if groups else np.zeros(0, int)
    if not np.array_equal(covered, np.arange(len(data.skus))):
        raise ValueError("groups must partition the SKUs")
    S, L, E, T = data.shape
    subsets = [data.subset(g) for g in groups]
    kw = dict(time_limit=time_limit, threads=threads, exact_lots=exact_lots, backend=backend, presolve=presolve)
    own = None
    if executor is None and workers > 1 and len(groups) > 1:
        own = executor = _default_executor(min(workers, len(groups)))
    try:
        tasks = [((sub, weights, None), dict(kw, sku_index=g)) for sub, g in zip(subsets, groups)]
        relaxed = _run_all(executor, tasks)
        spent = [sum(r.build_seconds for r in relaxed), sum(r.solve_seconds for r in relaxed)]
        cap = np.broadcast_to(data.capacity[:, None], (E, T))
        finite = np.isfinite(cap)
        use0 = np.stack([r.usage for r in relaxed])  # (G, E, T)
        # Only an optimal group's cost is a bound; a time-limited or fallback one is not,
        # and 0 is (every cost part is >= 0).
        floor_all = np.array([r.objective if r.status == "optimal" else 0.0 for r in relaxed])
        total0 = float(sum(r.objective for r in relaxed))
        lower = float(floor_all.sum())
        over = finite & (use0.sum(axis=0) > cap + 1e-7)
        history = [(0, np.nan, lower)]
        if not over.any():
            logger.info("decomposition: %d groups, shared capacities not exceeded; optimal in one round", len(groups))
            return DecomposedSolution(relaxed, total0, lower, (total0 - lower) / max(1.0, abs(total0)), 0, None,
                                      np.zeros((E, T)), time.perf_counter() - t0, history, *spent)

        # Every capacitated cell a group can use is coordinated; groups without one keep round 0.
        cells = finite & np.logical_or.reduce([r.capacity_row for r in relaxed])
        coupled = [g for g, r in enumerate(relaxed) if (r.capacity_row & cells).any()]
        fixed = float(sum(r.objective for g, r in enumerate(relaxed) if g not in coupled))
        k_e, k_t = np.nonzero(cells)
        G = len(coupled)
        C = cap[k_e, k_t]
        u0 = use0[coupled][:, k_e, k_t]
        tot = u0.sum(axis=0)
        share = np.where(tot > C, u0 * (C / np.where(tot > 0, tot, 1.0)), u0 + (C - tot) / G)
        results = list(relaxed)
        cuts: list = []  # (group, f, mu, share)
        best_obj, best, best_share = np.inf, None, None
        floor = floor_all[coupled]
        radius = np.maximum(1.0, 0.25 * C)
        rounds = 0
        # Each round changes only the capacity rows' right-hand sides, so every group's
        # last basis stays dual feasible: the dual simplex restarts from it.
        warm = [relaxed[g].basis for g in coupled]
        while True:
            rounds += 1
            tasks = []
            for i, g in enumerate(coupled):
                c_g = np.array(cap, float)
                c_g[k_e, k_t] = np.maximum(share[i], 0.0)
                tasks.append(((subsets[g], weights, c_g), dict(kw, sku_index=groups[g], basis=warm[i])))
            res = _run_all(executor, tasks)
            warm = [r.basis if r.basis is not None else w for r, w in zip(res, warm)]
            spent[0] += sum(r.build_seconds for r in res)
            spent[1] += sum(r.solve_seconds for r in res)
            upper = fixed + float(sum(r.objective for r in res))
            for i, r in enumerate(res):
                if r.status == "optimal":  # a supporting plane only at an optimum
                    cuts.append((i, r.objective, r.capacity_dual[k_e, k_t], share[i].copy()))
            if upper < best_obj - 1e-9 * abs(best_obj if np.isfinite(best_obj) else 1.0):
                if best is not None:
                    radius = radius * 2.0
                best_obj, best, best_share = upper, res, share.copy()
            else:
                radius = radius * 0.5
            cut_bound, _, _ = _cut_master(cuts, floor, C, G, None, None)
            lower = max(lower, fixed + cut_bound)
            gap = (best_obj - lower) / max(1.0, abs(best_obj))
            history.append((rounds, upper, lower))
            logger.info("decomposition round %d: upper %.2f, best %.2f, lower %.2f, gap %.2e", rounds, upper, best_obj, lower, gap)
            if gap <= gap_tol or rounds >= max_rounds:
                break
            if time_budget is not None and time.perf_counter() - t0 > time_budget:
                logger.info("decomposition: time budget of %.0f s reached after %d rounds", time_budget, rounds)
                break
            _, share, price = _cut_master(cuts, floor, C, G, best_share, radius)
        for i, g in enumerate(coupled):
            results[g] = best[i]
        _, _, price = _cut_master(cuts, floor, C, G, None, None)
        shadow = np.zeros((E, T))
        shadow[k_e, k_t] = price
        shares = np.zeros((len(groups), E, T))
        for i, g in enumerate(coupled):
            shares[g][k_e, k_t] = best_share[i]
        gap = (best_obj - lower) / max(1.0, abs(best_obj))
        return DecomposedSolution(results, best_obj, lower, gap, rounds, shares, shadow,
                                  time.perf_counter() - t0, history, *spent)
    finally:
        if own is not None:
            own.shutdown()


def _cut_master(cuts, floor: np.ndarray, C: np.ndarray, G: int, center, radius):
    """Cutting-plane master over capacity shares, optionally inside a box around ``center``.

    min sum_g theta_g  s.t.  theta_g >= f_gr + mu_gr (s_g - s_gr) for every cut,
    theta_g >= f_g(C) (``floor``), sum_g s_g <= C, 0 <= s_g <= C and, with a center,
    |s_g - center_g| <= radius (box-step trust region, Marsten, Hogan and Blankenship
    1975, "The boxstep method for large-scale optimization", *Operations Research* 23).

    Returns (bound, shares (G, K), capacity prices >= 0 (K,)). Without the box the
    optimum is a lower bound on the coordinated problem (each f_g is convex, cuts are
    its supporting planes).
    """
    from scipy import sparse

    K = len(C)
    n = G * K + G
    c = np.zeros(n)
    c[G * K:] = 1.0
    rows, cols, vals, rhs = [], [], [], []
    for r, (g, f, mu, s) in enumerate(cuts):
        nz = np.flatnonzero(mu)
        rows += [r] * (len(nz) + 1)
        cols += list(g * K + nz) + [G * K + g]
        vals += list(mu[nz]) + [-1.0]
        rhs.append(float(mu @ s - f))
    a_cut = sparse.csr_matrix((np.asarray(vals, float), (np.asarray(rows, int), np.asarray(cols, int))),
                              shape=(len(cuts), n))
    a_cap = sparse.csr_matrix((np.ones(G * K), (np.tile(np.arange(K), G), np.arange(G * K))), shape=(K, n))
    a_ub = sparse.vstack([a_cut, a_cap]).tocsr()
    b_ub = np.concatenate([np.asarray(rhs, float), C])
    lo = np.zeros(G * K)
    hi = np.tile(C, G)
    if center is not None:
        lo = np.maximum(lo, center.ravel() - np.tile(radius, G))
        hi = np.minimum(hi, center.ravel() + np.tile(radius, G))
    bounds = list(zip(lo.tolist(), hi.tolist())) + [(float(f), None) for f in floor]
    res = optimize.linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"decomposition master LP failed: {res.message}")
    share = res.x[: G * K].reshape(G, K)
    price = np.clip(-res.ineqlin.marginals[len(cuts):], 0.0, None)
    return float(res.fun), share, price


def _combine(cols: list[GroupResult], lam: np.ndarray) -> GroupResult:
    """The convex combination sum_j lam_j * plan_j of one group's plans."""
    lam = lam / lam.sum()
    keep = [(w, r) for w, r in zip(lam, cols) if w > 1e-12]
    first = keep[0][1]
    return GroupResult(
        sku_index=first.sku_index,
        x=sum(w * r.x for w, r in keep),
        stock=sum(w * r.stock for w, r in keep),
        active=np.logical_or.reduce([r.active for _, r in keep]),
        parts={k: float(sum(w * r.parts[k] for w, r in keep)) for k in first.parts},
        objective=float(sum(w * r.objective for w, r in keep)),
        capacity_dual=first.capacity_dual,
        capacity_row=np.logical_or.reduce([r.capacity_row for r in cols]),
        usage=sum(w * r.usage for w, r in keep),
        status="optimal" if all(r.status == "optimal" for _, r in keep) else (
            FALLBACK_STATUS if any(r.status == FALLBACK_STATUS for _, r in keep) else "time limit with feasible solution"),
        build_seconds=float(sum(r.build_seconds for r in cols)),
        solve_seconds=float(sum(r.solve_seconds for r in cols)),
        n_variables=max(r.n_variables for r in cols),
        n_constraints=max(r.n_constraints for r in cols),
    )
