r"""The replenishment/transfer LP in matrix form, its PuLP model and the HiGHS solve.

Formulation (indices s SKU, l stocked location, e lane o(e) -> d(e) with lead
:math:`\ell_e`, t period; all quantities in units per period):

.. math::

    \min \sum h_s I_{slt} + \sum c_e x_{set} + \sum \pi_{sl} u_{slt}
         + \sum w^-_{slt} b_{slt} + \sum w^+_{sl} a_{slt}

subject to the stock balance (order of events in a period: arrivals, departures,
demand)

.. math::

    I_{slt} = I_{sl,t-1} + r_{slt} + \sum_{e: d(e)=l} x_{se,t-\ell_e}
              - \sum_{e: o(e)=l} x_{set} - (D_{slt} - u_{slt}), \quad I_{sl,-1} = I^0_{sl}

with :math:`I \ge 0` (a DC never ships more than it has), :math:`0 \le u \le D` (lost
sales), lane capacities :math:`\sum_s x_{set} \le C_e`, and the soft band
:math:`I - a \le \text{upper}`, :math:`I + b \ge \text{lower}`.

The band is modelled without rows: stock is split into segments
:math:`I = I^{low} + I^{mid} + I^{high}` with :math:`0 \le I^{low} \le \text{lower}`,
:math:`0 \le I^{mid} \le \text{upper} - \text{lower}`, :math:`I^{high} \ge 0`; the
shortfall below the band is :math:`b = \text{lower} - I^{low}` (objective
:math:`-w^- I^{low}` plus a constant) and the excess :math:`a = I^{high}`. The cost of
stock is then convex piecewise linear, so the LP fills the low segment first; this
removes two rows per cell and keeps the model small.

Plants are unconstrained sources. A shipment is only modelled when it arrives inside
the horizon (:math:`t + \ell_e \le T - 1`).

Lot sizing (exact switch, ``build_model(..., exact_lots=True)``): for SKUs with a case
pack :math:`k_s > 1` or an MOQ :math:`m_s > 1`, each shipment is
:math:`x = k_s n` with integer :math:`n \ge 0`, and :math:`m_s y \le x \le M y` with
binary :math:`y` (ship at least the MOQ or nothing), a MILP. By default the LP ignores
lots and :func:`optimization.replenishment.round_and_repair` imposes them.

Two ways to the same HiGHS solve (:func:`solve`): ``backend="highspy"`` passes the
column-wise matrix straight to ``highspy.Highs.passModel`` (numpy arrays, no Python
object per variable), ``backend="pulp"`` builds the PuLP model the issue names and lets
PuLP call HiGHS. Both give HiGHS the same columns and rows in the same order; the direct
path exists because building PuLP's per-variable Python objects is most of the time at
network scale (thousands of SKUs), not because the model differs.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import pulp
from scipy import sparse

from .lp_data import PlanData

logger = logging.getLogger(__name__)

__all__ = ["LinearProgram", "PenaltyWeights", "build_model", "to_pulp", "solve", "Solution", "PlanError",
           "SolverTimeLimit", "fallback_solution", "FALLBACK_STATUS"]

#: Status of a model whose solve hit the time limit before HiGHS found a feasible point,
#: answered with :func:`fallback_solution` (ship nothing, serve from stock, rest lost).
FALLBACK_STATUS = "time limit, fallback plan"


class PlanError(RuntimeError):
    """The solver returned no usable (feasible) plan."""


class SolverTimeLimit(PlanError):
    """HiGHS stopped at the time limit before it found a feasible point.

    ``solve_seconds`` and ``pulp_build_seconds`` say how long the attempt took.
    """

    def __init__(self, message: str, solve_seconds: float = 0.0, pulp_build_seconds: float = 0.0):
        super().__init__(message)
        self.solve_seconds = solve_seconds
        self.pulp_build_seconds = pulp_build_seconds


@dataclass(frozen=True)
class PenaltyWeights:
    """Soft-constraint penalties as multiples of the lost-sale penalty :math:`\\pi_{sl}`.

    Parameters
    ----------
    below_band : float
        :math:`w^-` per unit below the band's lower end per period (default 0.05: 13
        periods below cost 0.65 of a lost sale, so meeting demand comes first).
    terminal_band : float
        :math:`w^-` in the last period. Stock below safety stock at the end of the horizon
        is exposed to the periods after it; the heavier weight stops the LP from running
        stock down at the end.
    above_max : float
        :math:`w^+` per unit above max_qty per period.
    leaf_holding_premium : float
        Extra holding cost at locations that supply no one (dealers), as a fraction of
        :math:`h_s`. Stock at a dealer can no longer serve another region, so a planner
        keeps it upstream until it is needed (postponement); without the premium,
        shipping early and late would cost the same and the plan would be arbitrary.
    supplier_band : float
        A supplying location's (a DC's) band weights :math:`w^-` and terminal weight are
        this fraction of the smallest lost-sale penalty among itself and the locations
        it ships to, so that its safety stock is released before a customer falls
        below its own band (1 = no priority).
    """

    below_band: float = 0.05
    terminal_band: float = 0.5
    above_max: float = 0.02
    leaf_holding_premium: float = 0.1
    supplier_band: float = 0.5


@dataclass
class LinearProgram:
    """An LP in coordinate form plus the maps from variables back to (s, l/e, t).

    Column maps hold the column number or -1 where no variable exists.
    """

    lb: np.ndarray
    ub: np.ndarray
    cost: np.ndarray
    hold: np.ndarray  # holding part of each column's cost (premium included)
    constant: float
    row: np.ndarray
    col: np.ndarray
    val: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    x_col: np.ndarray  # (S, E, T)
    low_col: np.ndarray  # (S, L, T)
    mid_col: np.ndarray
    high_col: np.ndarray
    lost_col: np.ndarray
    balance_row: np.ndarray  # (S, L, T)
    capacity_row: np.ndarray  # (E, T)
    capacity: np.ndarray  # (E,) used in the model
    build_seconds: float = 0.0
    integrality: np.ndarray | None = None  # (n,) 1 for integer columns (exact lots), else None

    @property
    def n_variables(self) -> int:
        return len(self.lb)

    @property
    def n_constraints(self) -> int:
        return len(self.row_lo)


def _number(mask: np.ndarray, start: int) -> tuple[np.ndarray, int]:
    """Column numbers start, start+1, ... for the True cells of ``mask`` (C order), -1 elsewhere."""
    out = np.full(mask.shape, -1, dtype=np.int64)
    n = int(mask.sum())
    out[mask] = np.arange(start, start + n)
    return out, start + n


def build_model(
    data: PlanData,
    weights: PenaltyWeights = PenaltyWeights(),
    capacity: np.ndarray | None = None,
    *,
    exact_lots: bool = False,
    capacity_price: np.ndarray | None = None,
) -> LinearProgram:
    """Build the LP of the module docstring for all SKUs of ``data``.

    Parameters
    ----------
    data : PlanData
        Possibly a SKU subset (:meth:`PlanData.subset`).
    weights : PenaltyWeights
    capacity : (E,) array, optional
        Lane capacities (units per period) to use instead of ``data.capacity``, e.g. a
        SKU group's share in a decomposition; an (E, T) array gives one per period.
    exact_lots : bool
        Add the case-pack / MOQ integer model (a MILP; see the module docstring).
    capacity_price : (E, T) array, optional
        Price per unit of lane use added to the transport cost (Lagrangian coordination).

    Returns
    -------
    LinearProgram
    """
    t0 = time.perf_counter()
    S, L, E, T = data.shape
    cap = data.capacity if capacity is None else np.asarray(capacity, float)
    cap_et = np.broadcast_to(cap[:, None], (E, T)) if cap.ndim == 1 else cap
    has_out = np.zeros(L, bool)
    has_out[data.lane_o[data.lane_o >= 0]] = True
    total_demand = data.demand.sum(axis=2)
    # Cells that can hold stock at all; a leaf with nothing to do gets no variables.
    needs = (data.on_hand > 0) | (data.inbound.sum(axis=2) > 0) | (total_demand > 0) | (data.lower > 0)
    active = needs | has_out[None, :]
    # Shipping into a leaf only helps if it has demand or a band to fill.
    useful = (total_demand > 0) | (data.lower > 0) | has_out[None, :]

    tt = np.arange(T)
    x_mask = np.zeros((S, E, T), bool)
    for e in range(E):
        ok_s = useful[:, data.lane_d[e]] & active[:, data.lane_d[e]]
        if data.lane_o[e] >= 0:
            ok_s &= active[:, data.lane_o[e]]
        x_mask[:, e, :] = ok_s[:, None] & (tt + data.lead[e] < T)[None, :]

    cell = np.broadcast_to(active[:, :, None], (S, L, T))
    low_mask = cell & (data.lower > 0)[:, :, None]
    mid_mask = cell & (data.upper > data.lower)[:, :, None]
    high_mask = cell & np.isfinite(data.upper)[:, :, None]
    lost_mask = cell & (data.demand > 0)

    n = 0
    x_col, n = _number(x_mask, n)
    low_col, n = _number(low_mask, n)
    mid_col, n = _number(mid_mask, n)
    high_col, n = _number(high_mask, n)
    lost_col, n = _number(lost_mask, n)

    lb = np.zeros(n)
    ub = np.full(n, np.inf)
    cost = np.zeros(n)
    hold_col = np.zeros(n)
    premium = np.where(has_out, 1.0, 1.0 + weights.leaf_holding_premium)
    hold = np.broadcast_to(data.holding[:, None, None] * premium[None, :, None], (S, L, T))
    # A supplier's band yields to its customers' bands: its safety stock is there to
    # refill them, so a unit it holds below its band costs less than a unit a dealer it
    # supplies is missing below its own (else the plan hoards at the DC while a dealer runs
    # down: the 52-week replay lost 1.8 points of dealer fill when DC targets went up).
    band_base = data.lost_sale.copy()
    if weights.supplier_band < 1.0:
        customer_min = np.full((S, L), np.inf)
        for e in range(E):
            o = data.lane_o[e]
            if o >= 0:
                customer_min[:, o] = np.minimum(customer_min[:, o], data.lost_sale[:, data.lane_d[e]])
        supplier = np.isfinite(customer_min)
        band_base = np.where(supplier, weights.supplier_band * np.minimum(band_base, customer_min), band_base)
    w_below = np.broadcast_to((weights.below_band * band_base)[:, :, None], (S, L, T)).copy()
    w_below[:, :, -1] = weights.terminal_band * band_base
    lower3 = np.broadcast_to(data.lower[:, :, None], (S, L, T))
    upper3 = np.broadcast_to(data.upper[:, :, None], (S, L, T))

    cost[x_col[x_mask]] = np.broadcast_to(data.lane_cost[None, :, None], (S, E, T))[x_mask]
    if capacity_price is not None:
        cost[x_col[x_mask]] += np.broadcast_to(np.asarray(capacity_price, float)[None, :, :], (S, E, T))[x_mask]
    for mask, col in ((low_mask, low_col), (mid_mask, mid_col), (high_mask, high_col)):
        hold_col[col[mask]] = hold[mask]
    cost[low_col[low_mask]] = hold[low_mask] - w_below[low_mask]
    ub[low_col[low_mask]] = lower3[low_mask]
    constant = float((w_below * lower3)[low_mask].sum())
    cost[mid_col[mid_mask]] = hold[mid_mask]
    ub[mid_col[mid_mask]] = (upper3 - lower3)[mid_mask]
    cost[high_col[high_mask]] = hold[high_mask] + np.broadcast_to((weights.above_max * data.lost_sale)[:, :, None], (S, L, T))[high_mask]
    cost[lost_col[lost_mask]] = np.broadcast_to(data.lost_sale[:, :, None], (S, L, T))[lost_mask]
    ub[lost_col[lost_mask]] = data.demand[lost_mask]

    # Balance rows: stock_t - stock_{t-1} - arrivals_t + departures_t - lost_t = inbound_t - D_t (+ I0 at t=0)
    balance_row, n_rows = _number(cell.copy(), 0)
    rows, cols, vals = [], [], []

    def add(r, c, v):
        keep = (r >= 0) & (c >= 0)
        rows.append(r[keep])
        cols.append(c[keep])
        vals.append(np.full(int(keep.sum()), v, dtype=float))

    for seg in (low_col, mid_col, high_col):
        add(balance_row, seg, 1.0)
        add(balance_row[:, :, 1:], seg[:, :, :-1], -1.0)
    add(balance_row, lost_col, -1.0)
    for e in range(E):
        s_i, t_i = np.nonzero(x_mask[:, e, :])
        xc = x_col[s_i, e, t_i]
        add(balance_row[s_i, data.lane_d[e], t_i + data.lead[e]], xc, -1.0)
        if data.lane_o[e] >= 0:
            add(balance_row[s_i, data.lane_o[e], t_i], xc, 1.0)
    rhs = data.inbound - data.demand
    rhs[:, :, 0] += data.on_hand
    row_lo = list(rhs[cell])
    row_hi = list(rhs[cell])

    capacity_row = np.full((E, T), -1, dtype=np.int64)
    for e in np.flatnonzero(np.isfinite(cap_et).any(axis=1)):
        for t in range(T):
            xc = x_col[:, e, t]
            xc = xc[xc >= 0]
            if len(xc) == 0 or not np.isfinite(cap_et[e, t]):
                continue
            capacity_row[e, t] = n_rows
            rows.append(np.full(len(xc), n_rows, dtype=np.int64))
            cols.append(xc)
            vals.append(np.ones(len(xc)))
            row_lo.append(-np.inf)
            row_hi.append(float(cap_et[e, t]))
            n_rows += 1

    integrality = None
    lot = data.lane_lot_size  # (S, E)
    lots = (data.case_pack[:, None] > 1) | (lot > 1)
    if exact_lots and lots.any():
        # x = pack * n, lot * y <= x <= M * y per shipment of a SKU with lots.
        s_i, e_i, t_i = np.nonzero(x_mask & lots[:, :, None])
        xc = x_col[s_i, e_i, t_i]
        k = len(xc)
        big = data.demand.sum(axis=(1, 2)) + data.lower.sum(axis=1) + data.on_hand.sum(axis=1) \
            + data.inbound.sum(axis=(1, 2))
        big = np.ceil(big / data.case_pack + 1) * data.case_pack + data.lot_size
        m_e = np.minimum(big[s_i], np.floor(cap_et[e_i, t_i] + 1e-9))
        n_col = np.arange(n, n + k)
        y_col = np.arange(n + k, n + 2 * k)
        n += 2 * k
        lb = np.concatenate([lb, np.zeros(2 * k)])
        ub = np.concatenate([ub, np.floor(m_e / data.case_pack[s_i] + 1e-9), np.ones(k)])
        cost = np.concatenate([cost, np.zeros(2 * k)])
        hold_col = np.concatenate([hold_col, np.zeros(2 * k)])
        integrality = np.zeros(n, dtype=np.int8)
        integrality[n_col] = 1
        integrality[y_col] = 1
        r_pack = np.arange(n_rows, n_rows + k)
        r_min = r_pack + k
        r_max = r_pack + 2 * k
        n_rows += 3 * k
        for r, c, v in ((r_pack, xc, 1.0), (r_pack, n_col, -data.case_pack[s_i]), (r_min, xc, 1.0),
                        (r_min, y_col, -lot[s_i, e_i]), (r_max, xc, 1.0), (r_max, y_col, -m_e)):
            rows.append(r)
            cols.append(c)
            vals.append(np.broadcast_to(np.asarray(v, float), (k,)).copy())
        row_lo += [0.0] * k + [0.0] * k + [-np.inf] * k
        row_hi += [0.0] * k + [np.inf] * k + [0.0] * k

    lp = LinearProgram(
        lb=lb,
        ub=ub,
        cost=cost,
        hold=hold_col,
        constant=constant,
        row=np.concatenate(rows) if rows else np.zeros(0, np.int64),
        col=np.concatenate(cols) if cols else np.zeros(0, np.int64),
        val=np.concatenate(vals) if vals else np.zeros(0),
        row_lo=np.asarray(row_lo, float),
        row_hi=np.asarray(row_hi, float),
        x_col=x_col,
        low_col=low_col,
        mid_col=mid_col,
        high_col=high_col,
        lost_col=lost_col,
        balance_row=balance_row,
        capacity_row=capacity_row,
        capacity=cap,
        integrality=integrality,
    )
    lp.build_seconds = time.perf_counter() - t0
    return lp


def to_pulp(lp: LinearProgram, name: str = "replenishment") -> tuple[pulp.LpProblem, list, list]:
    """The PuLP problem of a :class:`LinearProgram`, its variables and constraints in order.

    Names are zero-padded numbers so that PuLP's name-sorted variable order equals the
    column order (HiGHS then sees the same model on every run: a deterministic plan).
    """
    prob = pulp.LpProblem(name, pulp.LpMinimize)
    width = max(7, len(str(lp.n_variables)))
    cats = ["Integer" if i else "Continuous" for i in lp.integrality] if lp.integrality is not None else None
    variables = [
        prob.add_variable(f"v{j:0{width}d}", float(lo), None if hi == np.inf else float(hi),
                          cats[j] if cats is not None else "Continuous")
        for j, (lo, hi) in enumerate(zip(lp.lb.tolist(), lp.ub.tolist()))
    ]
    var_arr = np.empty(len(variables), dtype=object)
    var_arr[:] = variables
    nz = np.flatnonzero(lp.cost)
    prob.setObjective(pulp.LpAffineExpression(zip(var_arr[nz].tolist(), lp.cost[nz].tolist()), constant=lp.constant))

    order = np.argsort(lp.row, kind="stable")
    r_sorted, c_sorted, v_sorted = lp.row[order], lp.col[order], lp.val[order]
    bounds = np.searchsorted(r_sorted, np.arange(lp.n_constraints + 1))
    rwidth = max(7, len(str(lp.n_constraints)))
    constraints = []
    for i in range(lp.n_constraints):
        a, b = bounds[i], bounds[i + 1]
        expr = pulp.LpAffineExpression(zip(var_arr[c_sorted[a:b]].tolist(), v_sorted[a:b].tolist()))
        lo, hi = lp.row_lo[i], lp.row_hi[i]
        if lo == hi:
            sense, rhs = pulp.LpConstraintEQ, lo
        elif np.isfinite(hi):
            sense, rhs = pulp.LpConstraintLE, hi
        else:
            sense, rhs = pulp.LpConstraintGE, lo
        constraint = pulp.LpConstraint(expr, sense, rhs=float(rhs))
        prob.addConstraint(constraint, f"c{i:0{rwidth}d}")
        constraints.append(constraint)
    # Every column sits in a balance row, so PuLP passes all of them to the solver.
    return prob, variables, constraints


_BANNER_SILENCED = False


def _silence_highs_banner() -> None:
    """Create the process's first ``highspy.Highs`` with stdout muted.

    HiGHS prints its copyright banner from C++ when the first instance is made, before
    PuLP can set ``output_flag``; that line would break the nightly progress display and
    plain log output. Later instances are silent.
    """
    global _BANNER_SILENCED
    if _BANNER_SILENCED:
        return
    _BANNER_SILENCED = True
    try:
        import highspy
    except ImportError:  # PuLP reports the missing solver itself
        return
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        highspy.Highs()
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _reset_highs_scheduler() -> None:
    """Let a new ``threads`` value take effect.

    HiGHS keeps one global task scheduler per process, sized by the first solve; a later
    solve asking for another thread count fails with model status 'Not Set'
    (jump-dev/HiGHS.jl#130). Resetting it before each solve with explicit threads avoids that.
    """
    try:
        import highspy

        highspy.Highs.resetGlobalScheduler(True)
    except (ImportError, AttributeError):  # older highspy: nothing to reset
        pass


@dataclass
class Solution:
    """Column values and solver status of one solve."""

    values: np.ndarray
    duals: np.ndarray  # row duals (HiGHS sign convention: d objective / d rhs)
    objective: float
    status: str
    sol_status: int
    pulp_status: str
    solve_seconds: float
    pulp_build_seconds: float
    basis: tuple | None = None  # (column status, row status) int8 arrays of the optimal basis (highspy LP)


def solve(
    lp: LinearProgram,
    *,
    time_limit: float | None = 60.0,
    threads: int | None = None,
    backend: str = "highspy",
    presolve: str = "choose",
    basis: tuple | None = None,
) -> Solution:
    """Solve ``lp`` with HiGHS and check the status.

    Parameters
    ----------
    lp : LinearProgram
    time_limit : float or None
        Seconds.
    threads : int or None
        HiGHS threads (None: HiGHS's default).
    backend : {"highspy", "pulp"}
        ``highspy`` passes the matrix to HiGHS directly; ``pulp`` builds the PuLP model
        first (see the module docstring). Same model, same solver.
    presolve : {"choose", "on", "off"}
        HiGHS presolve, passed on both paths so both give the same vertex. On the plan's
        small SKU-group LPs presolve costs more than it saves (benchmarks/README.md).
    basis : (col_status, row_status) arrays, optional
        A starting basis (``Solution.basis`` of an earlier solve of a model with the same
        columns and rows, e.g. the same SKU group with other capacity shares): the dual
        simplex then starts from it instead of from scratch (``highspy`` path only).

    Returns
    -------
    Solution
        ``status`` is ``"optimal"`` or ``"time limit with feasible solution"``; anything
        else raises :class:`PlanError` with the solver's own words: infeasible or
        unbounded, or :class:`SolverTimeLimit` when the time limit hit before a feasible
        point (the caller may answer that with :func:`fallback_solution`).
    """
    if presolve not in ("choose", "on", "off"):
        raise ValueError(f"presolve must be 'choose', 'on' or 'off', got {presolve!r}")
    if backend == "pulp":
        return _solve_pulp(lp, time_limit=time_limit, threads=threads, presolve=presolve)
    if backend != "highspy":
        raise ValueError(f"backend must be 'highspy' or 'pulp', got {backend!r}")
    return _solve_highspy(lp, time_limit=time_limit, threads=threads, presolve=presolve, basis=basis)


def _status_or_raise(model_status: str, primal_feasible: bool, time_limit, mip: bool, seconds=(0.0, 0.0)) -> str:
    low = model_status.lower()
    if low == "optimal" and primal_feasible:
        return "optimal"
    if primal_feasible and ("time limit" in low or "iteration limit" in low or "interrupt" in low):
        return "time limit with feasible solution"
    if "time limit" in low:
        raise SolverTimeLimit(
            f"the replenishment {'MILP' if mip else 'LP'} has no feasible solution yet: HiGHS stopped at the "
            f"time limit ({time_limit} s) before finding one; raise the time limit", *seconds
        )
    raise PlanError(f"the replenishment {'MILP' if mip else 'LP'} has no feasible solution: HiGHS {model_status!r}")


def _solve_highspy(lp: LinearProgram, *, time_limit: float | None, threads: int | None,
                   presolve: str = "choose", basis: tuple | None = None) -> Solution:
    import highspy

    t0 = time.perf_counter()
    _silence_highs_banner()
    if threads is not None:
        _reset_highs_scheduler()
    inf = highspy.kHighsInf
    mat = sparse.csc_matrix((lp.val, (lp.row, lp.col)), shape=(lp.n_constraints, lp.n_variables))
    mat.sum_duplicates()
    mat.sort_indices()
    model = highspy.HighsLp()
    model.num_col_ = lp.n_variables
    model.num_row_ = lp.n_constraints
    model.col_cost_ = lp.cost
    model.col_lower_ = lp.lb
    model.col_upper_ = np.where(np.isfinite(lp.ub), lp.ub, inf)
    model.row_lower_ = np.where(np.isfinite(lp.row_lo), lp.row_lo, -inf)
    model.row_upper_ = np.where(np.isfinite(lp.row_hi), lp.row_hi, inf)
    model.offset_ = lp.constant
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = mat.indptr.astype(np.int32)
    model.a_matrix_.index_ = mat.indices.astype(np.int32)
    model.a_matrix_.value_ = mat.data
    if lp.integrality is not None:
        model.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                              for i in lp.integrality]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    h.setOptionValue("presolve", presolve)
    h.passModel(model)
    mip = lp.integrality is not None
    if basis is not None and not mip and len(basis[0]) == lp.n_variables and len(basis[1]) == lp.n_constraints:
        lut = [highspy.HighsBasisStatus(i) for i in range(6)]  # one enum object per status, not per entry
        start = highspy.HighsBasis()
        start.col_status = [lut[v] for v in np.asarray(basis[0]).tolist()]
        start.row_status = [lut[v] for v in np.asarray(basis[1]).tolist()]
        start.valid = True
        h.setBasis(start)
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    model_status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    primal_feasible = int(info.primal_solution_status) == 2
    status = _status_or_raise(model_status, primal_feasible, time_limit, mip, (t2 - t1, t1 - t0))
    sol = h.getSolution()
    values = np.asarray(sol.col_value, dtype=float)
    duals = np.asarray(sol.row_dual, dtype=float) if (sol.dual_valid and not mip) else np.zeros(lp.n_constraints)
    objective = float(lp.cost @ values + lp.constant)
    logger.info("%s %s: %d variables, %d rows, objective %.2f, %.2fs", "MILP" if mip else "LP", status,
                lp.n_variables, lp.n_constraints, objective, t2 - t1)
    end_basis = None
    if not mip:
        b = h.getBasis()
        if b.valid:
            end_basis = (np.fromiter((v.value for v in b.col_status), np.int8, lp.n_variables),
                         np.fromiter((v.value for v in b.row_status), np.int8, lp.n_constraints))
    return Solution(values=values, duals=duals, objective=objective, status=status,
                    sol_status=1 if status == "optimal" else 2, pulp_status="",
                    solve_seconds=t2 - t1, pulp_build_seconds=t1 - t0, basis=end_basis)


def _solve_pulp(lp: LinearProgram, *, time_limit: float | None, threads: int | None,
                presolve: str = "choose") -> Solution:
    """Solve ``lp`` with HiGHS through PuLP and check the status."""
    t0 = time.perf_counter()
    prob, variables, constraints = to_pulp(lp)
    t1 = time.perf_counter()
    _silence_highs_banner()
    if threads is not None:
        _reset_highs_scheduler()
    solver = pulp.HiGHS(msg=False, timeLimit=time_limit, threads=threads, presolve=presolve)
    prob.solve(solver)
    t2 = time.perf_counter()
    sol_status = int(prob.sol_status)
    pulp_status = pulp.LpStatus.get(prob.status, str(prob.status))
    highs = getattr(prob, "solverModel", None)
    model_status = ""
    primal_feasible = sol_status == pulp.LpSolutionOptimal
    if highs is not None:
        model_status = highs.modelStatusToString(highs.getModelStatus())
        info = highs.getInfo()
        # 2 == kSolutionStatusFeasible: a time-limited simplex may stop on an infeasible point.
        primal_feasible = int(info.primal_solution_status) == 2
    if sol_status == pulp.LpSolutionOptimal and primal_feasible:
        status = "optimal"
    elif sol_status == pulp.LpSolutionIntegerFeasible and primal_feasible:
        status = "time limit with feasible solution" if "time" in model_status.lower() else f"feasible ({model_status})"
    elif "time limit" in model_status.lower():
        raise SolverTimeLimit(
            f"the replenishment LP has no feasible solution yet: HiGHS stopped at the time limit "
            f"({time_limit} s) before finding one; raise the time limit", t2 - t1, t1 - t0
        )
    else:
        raise PlanError(
            f"the replenishment LP has no feasible solution: PuLP status {pulp_status!r}, "
            f"solution status {pulp.LpSolution.get(sol_status, sol_status)!r}, HiGHS {model_status!r}"
        )
    values = np.array([v.varValue if v.varValue is not None else 0.0 for v in variables], dtype=float)
    duals = np.array([c.pi if c.pi is not None else 0.0 for c in constraints], dtype=float)
    objective = float(lp.cost @ values + lp.constant)
    logger.info("LP %s: %d variables, %d rows, objective %.2f, %.2fs", status, lp.n_variables, lp.n_constraints, objective, t2 - t1)
    return Solution(
        values=values,
        duals=duals,
        objective=objective,
        status=status,
        sol_status=sol_status,
        pulp_status=pulp_status,
        solve_seconds=t2 - t1,
        pulp_build_seconds=t1 - t0,
    )


def fallback_solution(data: PlanData, lp: LinearProgram, *, solve_seconds: float = 0.0,
                      pulp_build_seconds: float = 0.0) -> Solution:
    r"""A feasible point of ``lp`` that needs no solver: ship nothing, serve from stock.

    With every shipment :math:`x = 0` the balance of each cell becomes
    :math:`I_t = I_{t-1} + r_t - D_t + u_t`; taking :math:`I_t = \max(0, I_{t-1} + r_t - D_t)`
    and lost sales :math:`u_t = D_t - \min(D_t, I_{t-1} + r_t) \in [0, D_t]` satisfies
    it, :math:`I \ge 0`, :math:`0 \le u \le D` and every capacity row (and, with exact
    lots, :math:`n = y = 0`). Stock is split over the band segments low first, as the LP
    would. Used when HiGHS hits its time limit before any feasible point, so that a night
    still gets a plan (its cost says how poor it is; the status says why).

    Parameters
    ----------
    data : PlanData
        The data ``lp`` was built from.
    lp : LinearProgram

    Returns
    -------
    Solution
        ``status`` :data:`FALLBACK_STATUS`, row duals 0.
    """
    S, L, E, T = data.shape
    v = np.zeros(lp.n_variables)
    stock = data.on_hand.astype(float).copy()
    for t in range(T):
        avail = stock + data.inbound[:, :, t]
        served = np.minimum(data.demand[:, :, t], avail)
        lost = data.demand[:, :, t] - served
        stock = avail - served
        cols = lp.lost_col[:, :, t]
        m = cols >= 0
        v[cols[m]] = lost[m]
        rest = stock.copy()
        for col, room in ((lp.low_col[:, :, t], data.lower), (lp.mid_col[:, :, t], data.upper - data.lower),
                          (lp.high_col[:, :, t], np.full((S, L), np.inf))):
            m = col >= 0
            part = np.where(m, np.minimum(rest, room), 0.0)
            v[col[m]] = part[m]
            rest = rest - part
    objective = float(lp.cost @ v + lp.constant)
    logger.warning("LP hit the time limit without a feasible point: fallback plan (ship nothing), objective %.2f",
                   objective)
    return Solution(values=v, duals=np.zeros(lp.n_constraints), objective=objective, status=FALLBACK_STATUS,
                    sol_status=2, pulp_status="", solve_seconds=solve_seconds, pulp_build_seconds=pulp_build_seconds)
