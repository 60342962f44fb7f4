"""VMI replenishment and inter-region transfers: one LP, rounded, replayed and explained.

:func:`plan_replenishment` is the chain: contract tables -> arrays
(:func:`optimization.lp_data.prepare_plan_data`) -> LP (:func:`optimization.lp_model.build_model`)
-> PuLP + HiGHS (:func:`optimization.lp_model.solve`, status checked) -> whole units with
a repair step (:func:`round_and_repair`) -> replay of the rounded plan
(:func:`replay_plan`) -> plan rows with reasons, projection, slacks and KPIs.

The projection, slacks and unit KPIs describe the *rounded* plan as it would play out
if the forecast came true, so every number a planner sees is consistent with the plan
rows; the objective and its cost parts are the LP's.
"""

from __future__ import annotations

import graphlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .decompose import GroupResult, solve_decomposed, solve_group
from .lp_data import PlanData, prepare_plan_data
from .lp_model import FALLBACK_STATUS, PenaltyWeights, PlanError

logger = logging.getLogger(__name__)

__all__ = ["PlanSettings", "PlanResult", "PlanError", "plan_replenishment", "round_and_repair", "replay_plan"]

PLAN_COLUMNS = ["sku", "origin", "destination", "ship_date", "arrival_date", "qty", "kind", "reason", "reason_code"]
PROJECTION_COLUMNS = [
    "sku", "location", "date", "demand", "arrivals", "shipments_out", "on_hand",
    "safety_stock", "min_qty", "max_qty", "shortage",
]
SLACK_COLUMNS = ["constraint", "sku", "location", "date", "amount"]
CAPACITY_COLUMNS = ["origin", "destination", "date", "capacity", "used", "shadow_price", "binding"]

_TOL = 1e-6
# Shortfalls smaller than this would print as "0 short": reasons treat them as none.
_SHOW = 0.05


@dataclass(frozen=True)
class PlanSettings:
    """Parameters of the replenishment LP.

    Parameters
    ----------
    horizon : int, default 13
        Periods planned, the first one being ``start``.
    freq : str, default "W-MON"
        Period grid (pandas offset alias).
    time_limit : float, default 60
        HiGHS time limit in seconds per model (each SKU group); a model without a
        feasible point by then gets the ship-nothing fallback
        (:func:`optimization.lp_model.fallback_solution`) and the status says so.
    threads : int or None
        HiGHS threads (None: HiGHS's default).
    stockout_cost_multiple : float, default 2.0
        Lost-sale penalty per unit as a multiple of unit_cost, where the item has no
        ``stockout_cost`` (the cheapest transport cost to the location is added).
    below_band_weight, terminal_band_weight, above_max_weight : float
        Band penalties per unit and period as multiples of the lost-sale penalty; see
        :class:`optimization.lp_model.PenaltyWeights`.
    dealer_holding_premium : float, default 0.1
        Extra holding cost at dealers (fraction of the holding cost): keeps stock at the DC
        until a dealer needs it (see ``PenaltyWeights.leaf_holding_premium``).
    supplier_band_weight : float, default 0.5
        A DC's band weights as a fraction of the smallest lost-sale penalty among the
        locations it supplies: its safety stock is released before a dealer falls below
        its own (see ``PenaltyWeights.supplier_band``; 1 = no priority).
    periods_per_year : float or None
        For the holding cost per period (unit_cost * holding_rate / periods_per_year);
        None infers it from ``freq`` (52 for weekly).
    round_quantities : bool, default True
        Round shipments to whole units (whole case packs, at least the MOQ) and repair
        (see :func:`round_and_repair`); False keeps the LP's continuous quantities.
    lot_sizing : bool, default True
        Honour the items' case_pack and moq (every shipment a whole number of packs and,
        when positive, at least the MOQ). False ships any whole number of units.
    exact_lots : bool, default False
        Model packs and MOQ exactly in a MILP instead of LP + rounding and repair.
        Slower (integer variables per shipment); meant for small networks and checks.
    service_reference_level : float or None, default 0.95
        Shortage cost by service class: a cell's lost-sale penalty is scaled by
        :func:`optimization.lp_data.service_class_factor` of its service level relative
        to this one; None charges every class the same.
    solver : {"highspy", "pulp"}, default "highspy"
        How the model reaches HiGHS (:func:`optimization.lp_model.solve`); same model,
        same solver, ``pulp`` builds the PuLP model first.
    group_size : int, default 25
        Plans with more SKUs are decomposed into SKU groups of about this size, solved
        separately and coordinated on shared lane capacities
        (:mod:`optimization.decompose`). Dual simplex time grows faster than linearly
        with the model, so many small groups solve faster than a few large ones
        (benchmarks/README.md, plan_scale).
    presolve : {"off", "on", "choose"}, default "off"
        HiGHS presolve of each model (``highspy`` path); on the small group models it
        costs more than it saves.
    workers : int, default 1
        Local processes for the groups (ignored when ``plan_replenishment`` gets an
        ``executor``).
    max_rounds : int, default 10
        Coordination rounds at most.
    gap_tol : float, default 2e-4
        Relative gap between the decomposed plan's cost and the lower bound at which
        coordination stops (0.02 %).
    min_qty_as : {"floor", "reorder_point"}, default "floor"
        What a location's ``min_qty`` (the warning line) asks of the plan. ``floor``: the
        band's lower end, end-of-period stock kept at or above it. ``reorder_point``: the
        inventory position at which the location reorders (the min of a min/max system,
        DESIGN.md glossary "below it: replenishment suggestion"); the stock it implies at
        the end of a period is ``min_qty`` less the mean forecast demand over the lead
        time into the location plus ``review_period`` (see
        :func:`optimization.lp_data.prepare_plan_data`).
    review_period : int, default 1
        Periods between two plans (R), for ``min_qty_as="reorder_point"``.
    vmi_moq : bool, default True
        Shipments into VMI dealers are at least the item's MOQ (True) or any whole number
        of case packs (False). The MOQ is a rule for a customer's own orders (the cost of
        taking an order line); under VMI there is no dealer order, the supplier decides
        each shipment and consolidates a dealer's SKUs in one delivery, so it may ship a
        slow item one case pack at a time (Waller, Johnson and Davis 1999, "Vendor-managed
        inventory in the retail supply chain", J. Business Logistics 20(1): smaller, more
        frequent replenishments are where VMI's inventory saving comes from). Lanes into
        DCs keep the MOQ either way.
    """

    horizon: int = 13
    freq: str = "W-MON"
    time_limit: float = 60.0
    threads: int | None = None
    stockout_cost_multiple: float = 2.0
    below_band_weight: float = 0.05
    terminal_band_weight: float = 0.5
    above_max_weight: float = 0.02
    dealer_holding_premium: float = 0.1
    supplier_band_weight: float = 0.5
    periods_per_year: float | None = None
    round_quantities: bool = True
    lot_sizing: bool = True
    exact_lots: bool = False
    service_reference_level: float | None = 0.95
    solver: str = "highspy"
    group_size: int = 25
    presolve: str = "off"
    workers: int = 1
    max_rounds: int = 10
    gap_tol: float = 2e-4
    min_qty_as: str = "floor"
    review_period: int = 1
    vmi_moq: bool = True

    @property
    def weights(self) -> PenaltyWeights:
        return PenaltyWeights(self.below_band_weight, self.terminal_band_weight, self.above_max_weight,
                              self.dealer_holding_premium, self.supplier_band_weight)


@dataclass
class PlanResult:
    """Outcome of :func:`plan_replenishment`.

    Attributes
    ----------
    plan : DataFrame
        sku, origin, destination, ship_date, arrival_date, qty (whole units), kind
        (``replenishment`` or ``transfer``), reason. Positive quantities only.
    projection : DataFrame
        sku, location, date, demand, arrivals, shipments_out, on_hand (end of period),
        safety_stock, min_qty, max_qty, shortage (lost sales), for every DC / dealer x SKU
        the plan covers, replaying the rounded plan against the forecast mean.
    slacks : DataFrame
        constraint (``lost_sales``, ``below_min``, ``below_safety_stock``, ``above_max``),
        sku, location, date, amount (units): which soft rule the plan relaxes, where, how much.
    capacity : DataFrame
        origin, destination, date, capacity, used, shadow_price for capacitated lanes;
        shadow_price is what one more unit of capacity would save in the LP (currency/unit).
    status : str
        ``optimal``, ``time limit with feasible solution``, ``feasible (decomposition gap
        ...)``, ``feasible, time limit: k of G SKU groups ... (fallback)`` or ``empty``.
    sol_status : int
        PuLP solution status (1 optimal, 2 feasible).
    objective : float
        LP objective (currency), penalties included.
    kpis : dict
        Flat figures for tracking (see :func:`plan_replenishment`).
    """

    plan: pd.DataFrame
    projection: pd.DataFrame
    slacks: pd.DataFrame
    status: str
    sol_status: int
    objective: float
    kpis: dict
    capacity: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CAPACITY_COLUMNS))


def plan_replenishment(
    forecasts: pd.DataFrame,
    safety_stock: pd.DataFrame | None,
    inventory: pd.DataFrame,
    inbound: pd.DataFrame | None,
    lanes: pd.DataFrame,
    locations: pd.DataFrame,
    items: pd.DataFrame,
    start,
    settings: PlanSettings = PlanSettings(),
    *,
    skus=None,
    executor=None,
) -> PlanResult:
    """Plan VMI shipments DC -> dealer, plant -> DC replenishment and DC <-> DC transfers.

    One LP (PuLP, solved by HiGHS) over ``settings.horizon`` periods from ``start``
    minimises holding cost (unit_cost * holding_rate / 52 per unit-week), transport
    cost per unit on each lane, lost sales and penalties for leaving each dealer's band
    [max(safety_stock, min_qty), max_qty]; the model is in :mod:`optimization.lp_model`.
    Hard constraints: shipments only along configured lanes, shipped in t and available
    in t + lead_time, stock never negative (a DC never ships more than it has, counting
    on-hand at ``start`` and inbound arrivals), lane capacities in units per period summed
    over SKUs. Plants are unconstrained unless a lane capacity says otherwise. Everything
    else is soft (lost sales, below band, above max), so a plan always comes back; the
    slacks say what was relaxed.

    End of horizon: nothing values stock left after the last period, so an LP would run
    stock down; the below-band penalty (heavier in the last period,
    ``terminal_band_weight``) keeps stock at safety stock through the end instead.

    Quantities are rounded to whole units (nearest), then repaired so that lane
    capacities hold and no location ships more than it has (:func:`round_and_repair`).
    Case packs and MOQ are not applied yet.

    Parameters
    ----------
    forecasts : DataFrame
        sku, location, date, mean (units per period); rows at dealers (or any stocked
        location) are demand.
    safety_stock : DataFrame or None
        sku, location, safety_stock (units), e.g. from
        :func:`optimization.safety_stock.compute_safety_stock`; DC rows are honoured too.
    inventory : DataFrame
        sku, location, on_hand, optional min_qty, max_qty (units).
    inbound : DataFrame or None
        sku, location, arrival_date, qty: in transit; overdue arrivals count in the first period.
    lanes : DataFrame
        origin, destination, lead_time (periods), cost_per_unit, optional capacity
        (units per period).
    locations : DataFrame
        location, kind (plant, dc, dealer), region, parent, vmi. Non-VMI dealers are not planned.
    items : DataFrame
        sku, unit_cost, holding_rate (per year), optional stockout_cost (per unit).
    start : date
        First period planned (on the ``freq`` grid).
    settings : PlanSettings
    skus : iterable of str, optional
        Plan only these SKUs (with the full lane capacities).
    executor : object with ``submit``, optional
        Runs the SKU groups of a decomposed plan (e.g. a ``dask.distributed.Client``);
        default local processes (``settings.workers``).

    Returns
    -------
    PlanResult
        ``kpis`` holds objective, holding_cost, dealer_holding_premium, transport_cost, lost_sales_cost,
        below_band_cost, above_max_cost (LP, currency); total_shipped, units_short,
        n_band_violations, n_plan_rows, n_transfers, n_binding_capacities (rounded plan);
        prepare_seconds, build_seconds, solve_seconds (summed over every model solved, all
        coordination rounds), n_variables, n_constraints, n_skus.

    Raises
    ------
    PlanError
        The solver proved a model infeasible (cannot happen with valid inputs, since
        every rule that might conflict is soft). A time limit never raises: the group
        gets the ship-nothing fallback and ``status`` / ``kpis["n_fallback_groups"]`` say so.
    ValueError
        Inputs the model cannot represent (see :func:`~optimization.lp_data.prepare_plan_data`).
    """
    t0 = time.perf_counter()
    data = prepare_plan_data(
        forecasts, safety_stock, inventory, inbound, lanes, locations, items, start,
        horizon=settings.horizon, freq=settings.freq, periods_year=settings.periods_per_year,
        stockout_cost_multiple=settings.stockout_cost_multiple, skus=skus,
        service_reference_level=settings.service_reference_level, lot_sizing=settings.lot_sizing,
        min_qty_as=settings.min_qty_as, review_period=settings.review_period, vmi_moq=settings.vmi_moq,
    )
    t1 = time.perf_counter()
    S, L, E, T = data.shape
    if S == 0 or L == 0:
        logger.info("nothing to plan: %d SKUs, %d stocked locations", S, L)
        return _empty_result(t1 - t0)
    solved = solve_network(data, settings, executor=executor)

    x = solved.x
    qty = round_and_repair(data, x) if settings.round_quantities else replay_plan(data, x, repair=False)[0]
    _, rep = replay_plan(data, qty, repair=False)

    plan = _plan_rows(data, qty, rep, x)
    projection = _projection(data, rep, solved.active)
    slacks = _slacks(projection)
    capacity = _capacity_table(data, solved, qty)
    kpis = _kpis(data, solved, qty, rep, plan, slacks, capacity)
    kpis["prepare_seconds"] = t1 - t0
    kpis["total_seconds"] = time.perf_counter() - t0
    logger.info(
        "plan %s: %d rows, %.0f units shipped, %.0f units short, %d band violations",
        solved.status, len(plan), kpis["total_shipped"], kpis["units_short"], kpis["n_band_violations"],
    )
    return PlanResult(plan=plan, projection=projection, slacks=slacks, status=solved.status,
                      sol_status=solved.sol_status, objective=solved.objective, kpis=kpis, capacity=capacity)


@dataclass
class NetworkSolution:
    """The LP solution of the whole network, from one model or from SKU groups."""

    x: np.ndarray  # (S, E, T)
    active: np.ndarray  # (S, L, T)
    capacity_row: np.ndarray  # (E, T) bool
    shadow_price: np.ndarray  # (E, T) >= 0
    parts: dict
    objective: float
    status: str
    sol_status: int
    info: dict


def solve_network(data: PlanData, settings: PlanSettings, *, executor=None) -> NetworkSolution:
    """Solve the plan LP of ``data``: one model, or SKU groups when there are more than
    ``settings.group_size`` SKUs (:func:`optimization.decompose.solve_decomposed`).

    Raises :class:`PlanError` when a model has no feasible solution.
    """
    S, L, E, T = data.shape
    if S <= settings.group_size:
        res = solve_group(data, settings.weights, time_limit=settings.time_limit, threads=settings.threads,
                          exact_lots=settings.exact_lots, backend=settings.solver, presolve=settings.presolve)
        groups, info = [res], {"n_groups": 1, "coordination_rounds": 0, "decomposition_gap": 0.0}
        shadow = -res.capacity_dual
        objective, status = res.objective, res.status
    else:
        workers = settings.workers if settings.workers else 1
        dec = solve_decomposed(
            data, settings.weights, group_size=settings.group_size, workers=workers, executor=executor,
            time_limit=settings.time_limit, threads=1 if (workers > 1 or executor is not None) else settings.threads,
            exact_lots=settings.exact_lots, backend=settings.solver, presolve=settings.presolve,
            max_rounds=settings.max_rounds,
            gap_tol=settings.gap_tol, time_budget=settings.time_limit,
        )
        groups, shadow, objective = dec.groups, dec.shadow_price, dec.objective
        info = {"n_groups": len(groups), "coordination_rounds": dec.rounds, "decomposition_gap": dec.gap,
                "lower_bound": dec.lower_bound, "decomposition_seconds": dec.seconds,
                # every solve of every round, not only the groups of the plan returned
                "build_seconds": dec.build_seconds, "solve_seconds": dec.solve_seconds}
        status = "optimal" if all(g.status == "optimal" for g in groups) else "time limit with feasible solution"
        if dec.gap > settings.gap_tol:
            status = f"feasible (decomposition gap {dec.gap:.1e})"
    n_fallback = sum(g.status == FALLBACK_STATUS for g in groups)
    if n_fallback:
        # A plan still comes back; the status and KPIs say how much of it is not optimised.
        status = (f"feasible, time limit: {n_fallback} of {len(groups)} SKU groups found no feasible point "
                  f"within {settings.time_limit:g} s and ship nothing (fallback)")
        logger.warning("plan: %s", status)
    info["n_fallback_groups"] = n_fallback
    info["n_time_limited_groups"] = sum(g.status != "optimal" for g in groups)
    x = np.zeros((S, E, T))
    active = np.zeros((S, L, T), bool)
    for g in groups:
        x[g.sku_index] = g.x
        active[g.sku_index] = g.active
    parts = {k: float(sum(g.parts[k] for g in groups)) for k in groups[0].parts}
    info.update(
        build_seconds=float(info.get("build_seconds", sum(g.build_seconds for g in groups))),
        solve_seconds=float(info.get("solve_seconds", sum(g.solve_seconds for g in groups))),
        n_variables=int(sum(g.n_variables for g in groups)),
        n_constraints=int(sum(g.n_constraints for g in groups)),
    )
    cap_row = np.logical_or.reduce([g.capacity_row for g in groups])
    return NetworkSolution(x=x, active=active, capacity_row=cap_row, shadow_price=np.clip(shadow, 0.0, None),
                           parts=parts, objective=objective, status=status,
                           sol_status=1 if status == "optimal" else 2, info=info)


# --------------------------------------------------------------------------------------
# Rounding, repair and replay
# --------------------------------------------------------------------------------------


def round_and_repair(data: PlanData, x: np.ndarray) -> np.ndarray:
    """Whole-lot shipments that keep every hard constraint of the LP.

    A lot is the item's case pack :math:`k_s`; a positive shipment is at least
    :math:`m_s` = MOQ rounded up to whole packs on the lanes that honour it, else one pack
    (``PlanData.lane_lot_size``; 1 and 1 without
    lot sizing).

    1. Cumulative rounding up per SKU and lane (after netting, at every supplier, the
       extra outflow its rounded-up outgoing lots cause against its LP stock, see
       ``_net_rounding_at_suppliers``): in each period where what the LP has
       shipped so far exceeds what was already shipped by at least half a unit, ship
       that owed amount rounded up to whole packs, at least one lot; else nothing. So
       the rounded plan never ships later than the LP (cumulative shipments stay at or
       above the LP's, to half a unit) and at most one lot more over the horizon. The
       plan is re-run every period and only its first period is executed: rounding a
       slow item's small first-period need to the nearest lot would round it away at
       every re-plan until backorders reach half a lot, while rounding up ships a lot
       when the LP first needs stock there, like an (s, Q) policy with Q = the lot.
       Nothing ships in a period whose arrival would fall outside the horizon.
    2. Lane capacity: where rounding pushed a lane-period over its capacity, take packs
       back from the SKUs rounded up the most (a shipment cut below its MOQ goes to 0).
    3. Stock: replay the plan period by period; where a location would ship more than
       it has, cut its outgoing shipments of that SKU and period the same way.

    Only reductions happen after step 1, and each is checked against the rule it
    repairs, so the result keeps lanes, capacities, stock and lots.

    Parameters
    ----------
    data : PlanData
    x : (S, E, T) array
        LP shipments (units).

    Returns
    -------
    (S, E, T) array of whole units, multiples of the case pack, 0 or >= the MOQ.
    """
    S, L, E, T = data.shape
    x = np.clip(x, 0.0, None)
    q = _round_up_cumulative(data, x)
    if (data.lane_lot_size > 1).any():
        x = _net_rounding_at_suppliers(data, x, q)
        q = _round_up_cumulative(data, x)
    lane_lot = data.lane_lot_size
    for e in np.flatnonzero(np.isfinite(data.capacity)):
        limit = np.floor(data.capacity[e] + 1e-9)
        for t in range(T):
            excess = q[:, e, t].sum() - limit
            if excess <= 0:
                continue
            _take_back(q[:, e, t], x[:, e, t], excess, data.case_pack, lane_lot[:, e])
    q, _ = replay_plan(data, q, repair=True, reference=x)
    return q


def _round_up_cumulative(data: PlanData, x: np.ndarray) -> np.ndarray:
    """Step 1 of :func:`round_and_repair`: cumulative rounding up to whole lots, per lane."""
    S, L, E, T = data.shape
    pack = data.case_pack[:, None]
    lot = data.lane_lot_size
    can_ship = (np.arange(T)[None, :] + data.lead[:, None]) < T  # (E, T)
    q = np.zeros_like(x)
    shipped = np.zeros((S, E))
    cum = np.cumsum(x, axis=2)
    for t in range(T):
        owed = cum[:, :, t] - shipped
        n = np.maximum(np.ceil(owed / pack - 1e-9) * pack, lot)
        n = np.where(owed >= 0.5 - 1e-9, n, 0.0)
        n = np.where(can_ship[None, :, t], np.maximum(n, 0.0), 0.0)
        q[:, :, t] = n
        shipped += n
    return q


def _net_rounding_at_suppliers(data: PlanData, x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """LP shipments plus what a supplier needs for its rounded-up outgoing lots.

    Rounding a location's outgoing shipments up to whole lots takes more out of it, and
    earlier, than the LP planned. Where its LP stock (the LP's end-of-period projection)
    cannot absorb that extra outflow, the extra is ordered on its inbound lane with the
    shortest lead time (from a plant where there is one), one lead time before it is needed (period 0 when that is already
    late): MRP netting of the rounded requirements (Orlicky's gross-to-net explosion) at
    the supplier, so that a DC holding less than its dealers' next lots is replenished
    instead of having those lots cut to nothing by the stock repair at every re-plan.

    Returns the adjusted (S, E, T) LP shipments (only inbound lanes of suppliers change).
    """
    S, L, E, T = data.shape
    extra = q - x
    _, lp = replay_plan(data, x)
    add = np.zeros_like(x)
    for l in range(L):
        out = np.flatnonzero(data.lane_o == l)
        into = np.flatnonzero(data.lane_d == l)
        if not len(out) or not len(into):
            continue
        cum_extra = np.cumsum(extra[:, out, :].sum(axis=1), axis=1)  # (S, T)
        short = np.maximum.accumulate(np.clip(cum_extra - lp["on_hand"][:, l, :], 0.0, None), axis=1)
        if not (short > 0.5).any():
            continue
        # from a source (the plant) when there is a lane from one: a transfer from a
        # sister DC depends on stock that DC may not have
        source = into[data.lane_o[into] < 0]
        pool = source if len(source) else into
        e = pool[np.argmin(data.lead[pool])]
        step = np.diff(short, axis=1, prepend=0.0)
        for t in np.flatnonzero((step > 1e-9).any(axis=0)):
            dep = max(t - int(data.lead[e]), 0)
            add[:, e, dep] += step[:, t]
    return x + add


def _take_back(q_slice: np.ndarray, x_slice: np.ndarray, amount: float, step=1.0, lot=1.0) -> None:
    """Reduce ``q_slice`` (in place) by at least ``amount`` units, most rounded-up entries first.

    Each entry goes down by whole ``step`` units (its case pack); one that falls below its
    ``lot`` (MOQ) goes to 0.
    """
    step = np.broadcast_to(np.asarray(step, float), q_slice.shape)
    lot = np.broadcast_to(np.asarray(lot, float), q_slice.shape)
    order = np.lexsort((-q_slice, -(q_slice - x_slice)))
    left = amount
    while left > 1e-9:
        progressed = False
        for i in order:
            if left <= 1e-9:
                break
            if q_slice[i] > 0:
                new = q_slice[i] - step[i]
                if new < lot[i] - 1e-9:
                    new = 0.0
                left -= q_slice[i] - new
                q_slice[i] = new
                progressed = True
        if not progressed:
            break


def _location_order(data: PlanData) -> list[int]:
    """Stocked locations in an order where every same-period (lead 0) supplier comes first."""
    graph = graphlib.TopologicalSorter({l: set() for l in range(len(data.locations))})
    for o, d, lead in zip(data.lane_o, data.lane_d, data.lead):
        if o >= 0 and lead == 0:
            graph.add(int(d), int(o))
    try:
        return list(graph.static_order())
    except graphlib.CycleError:
        logger.warning("lead-time-0 lanes form a cycle; the replay treats them in location order")
        return list(range(len(data.locations)))


def replay_plan(data: PlanData, qty: np.ndarray, *, repair: bool = False, reference: np.ndarray | None = None):
    """Play shipments ``qty`` (S, E, T) forward against the forecast demand.

    In each period and location: stock + inbound + arrivals is available; outgoing
    shipments leave; demand is served from what is left, the rest is lost. With
    ``repair``, outgoing shipments that exceed what is available are cut to it (whole
    units; entries that ``reference`` shows were rounded up most go first).

    Returns
    -------
    qty : (S, E, T) array
        The (repaired) shipments.
    replay : dict of (S, L, T) arrays
        arrivals (inbound + shipments arriving), shipments_out, on_hand (end of period),
        sales, shortage.
    """
    S, L, E, T = data.shape
    qty = qty.copy()
    ref = qty if reference is None else reference
    out_lanes = [np.flatnonzero(data.lane_o == l) for l in range(L)]
    in_lanes = [np.flatnonzero(data.lane_d == l) for l in range(L)]
    order = _location_order(data)
    lane_lot = data.lane_lot_size
    arrivals = np.zeros((S, L, T))
    shipped = np.zeros((S, L, T))
    on_hand = np.zeros((S, L, T))
    sales = np.zeros((S, L, T))
    stock = data.on_hand.astype(float).copy()
    for t in range(T):
        for l in order:
            arr = data.inbound[:, l, t].copy()
            for e in in_lanes[l]:
                dep = t - data.lead[e]
                if dep >= 0:
                    arr += qty[:, e, dep]
            avail = stock[:, l] + arr
            lanes_out = out_lanes[l]
            out = qty[:, lanes_out, t].sum(axis=1) if len(lanes_out) else np.zeros(S)
            if repair and len(lanes_out):
                whole = np.all(qty == np.round(qty))
                limit = np.floor(avail + 1e-9) if whole else avail
                for s in np.flatnonzero(out > limit + 1e-9):
                    row = qty[s, lanes_out, t]
                    if whole:
                        _take_back(row, ref[s, lanes_out, t], np.ceil(out[s] - limit[s] - 1e-9),
                                   data.case_pack[s], lane_lot[s, lanes_out])
                    else:
                        row = row * (max(limit[s], 0.0) / out[s])
                    qty[s, lanes_out, t] = row
                out = qty[:, lanes_out, t].sum(axis=1)
            sold = np.clip(np.minimum(data.demand[:, l, t], avail - out), 0.0, None)
            stock[:, l] = avail - out - sold
            arrivals[:, l, t] = arr
            shipped[:, l, t] = out
            sales[:, l, t] = sold
            on_hand[:, l, t] = stock[:, l]
    return qty, {
        "arrivals": arrivals,
        "shipments_out": shipped,
        "on_hand": on_hand,
        "sales": sales,
        "shortage": data.demand - sales,
    }


# --------------------------------------------------------------------------------------
# Output tables
# --------------------------------------------------------------------------------------


def _n(v: float) -> str:
    """A quantity as a planner reads it: whole units, one decimal when it is not whole, no '-0'."""
    if abs(v - np.round(v)) < 0.05:
        r = int(np.round(v))
        return str(r if r != 0 else 0)
    return f"{v:.1f}"


#: Reason codes of plan rows (``reason_code``, ``;``-separated when several apply).
REASON_CODES = {
    "cover_forecast": "ships forecast demand the destination could not serve from stock",
    "below_min": "projected stock below the warning line min_qty",
    "rebuild_safety_stock": "projected stock below safety stock",
    "dc_replenishment": "DC stock for the dealers' shipments",
    "transfer_surplus": "stock moved from a location with surplus",
    "capacity_limited": "the lane is at capacity in that period",
    "lot_rounding": "quantity rounded to whole case packs / the MOQ",
}


def _plan_rows(data: PlanData, qty: np.ndarray, rep: dict, x: np.ndarray | None = None) -> pd.DataFrame:
    S, L, E, T = data.shape
    s_i, e_i, t_i = np.nonzero(qty > _TOL)
    if len(s_i) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PLAN_COLUMNS}).astype(
            {"qty": float, "ship_date": "datetime64[ns]", "arrival_date": "datetime64[ns]"})
    q = qty[s_i, e_i, t_i]
    a_i = t_i + data.lead[e_i]
    d_i = data.lane_d[e_i]
    o_i = data.lane_o[e_i]
    # Arrivals fall inside the horizon by construction; the longer grid is only a guard.
    grid = pd.date_range(data.dates[0], periods=T + int(data.lead.max(initial=0)) + 1, freq=data.freq)
    ship_date = grid[t_i]
    arrival_date = grid[a_i]
    dest_kind = data.kind[d_i]
    orig_kind = np.where(o_i >= 0, data.kind[np.maximum(o_i, 0)], "plant")
    kind = np.where((o_i >= 0) & (orig_kind == dest_kind), "transfer", "replenishment")

    onh = rep["on_hand"][s_i, d_i, a_i]
    short = rep["shortage"][s_i, d_i, a_i]
    without = onh - short - q  # end-of-period stock at the destination without this shipment
    has_out = np.zeros(L, bool)
    has_out[data.lane_o[data.lane_o >= 0]] = True
    # Lead time from a plant into each location, to say when a transfer beats replenishment.
    plant_lead = np.full(L, np.inf)
    for o, d, ld in zip(data.lane_o, data.lane_d, data.lead):
        if o < 0:
            plant_lead[d] = min(plant_lead[d], ld)
    used = qty.sum(axis=0)  # (E, T)
    cum_out = np.cumsum(rep["shipments_out"][:, :, ::-1], axis=2)[:, :, ::-1]  # from t to the end
    demand_ahead = np.cumsum(data.demand[:, :, ::-1], axis=2)[:, :, ::-1]

    reasons, codes = _reasons(data, s_i, e_i, t_i, a_i, d_i, o_i, q, kind, without, rep, used, cum_out,
                              demand_ahead, has_out, plant_lead, grid, x)

    plan = pd.DataFrame(
        {
            "sku": data.skus[s_i],
            "origin": data.lane_origin[e_i],
            "destination": data.lane_destination[e_i],
            "ship_date": ship_date,
            "arrival_date": arrival_date,
            "qty": q,
            "kind": kind,
            "reason": reasons,
            "reason_code": codes,
        }
    )
    if np.all(q == np.round(q)):
        plan["qty"] = plan["qty"].astype(np.int64)
    return plan.sort_values(["ship_date", "origin", "destination", "sku"], kind="mergesort").reset_index(drop=True)


def _n_vec(v) -> np.ndarray:
    """:func:`_n` of every element (object array of str)."""
    v = np.asarray(v, dtype=float)
    r = np.round(v)
    whole = np.abs(v - r) < 0.05
    out = np.empty(v.shape, dtype=object)
    if whole.any():
        out[whole] = r[whole].astype(np.int64).astype(str).astype(object)
    if (~whole).any():
        out[~whole] = [f"{f:.1f}" for f in v[~whole].tolist()]
    return out


class _Num:
    """A quantity column in a reason template, formatted by :func:`_n` only where used."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=float)


def _fill(out: np.ndarray, mask: np.ndarray, *parts) -> None:
    """``out[mask]`` = the concatenation of ``parts`` (str, per-row arrays, :class:`_Num`)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return
    acc = None
    for part in parts:
        if isinstance(part, str):
            piece = part
        elif isinstance(part, _Num):
            piece = _n_vec(part.values[idx])
        else:
            piece = np.asarray(part, dtype=object)[idx]
        acc = piece if acc is None else acc + piece
    out[idx] = acc


def _reasons(data, s_i, e_i, t_i, a_i, d_i, o_i, q, kind, without, rep, used, cum_out, demand_ahead, has_out,
             plant_lead, grid, x):
    """Reason text and ``;``-joined codes of every plan row, built column-wise.

    String operations on arrays, one template per case, instead of one f-string per row:
    a 5,000-SKU plan has ~400k rows. The wording is what a planner reads row by row.
    """
    n = len(q)
    text = np.empty(n, dtype=object)
    code = np.empty(n, dtype=object)
    dname = data.locations[d_i].astype(object)
    week = "week of " + np.asarray(grid.strftime("%Y-%m-%d"), dtype=object)[a_i]
    lower = data.lower[s_i, d_i]
    ss = data.safety_stock[s_i, d_i]
    mn = data.min_qty[s_i, d_i]
    p = without
    short = p < -_SHOW
    below = ~short & (p < lower - _TOL)
    tr = kind == "transfer"
    dc = ~tr & has_out[d_i]
    leaf = ~tr & ~dc

    # Transfers: what the destination would lack without it, and what the origin keeps.
    o = np.maximum(o_i, 0)
    oname = data.locations[o].astype(object)
    keeps = _Num(rep["on_hand"][s_i, o, t_i])
    pl = plant_lead[d_i]
    sooner = np.isfinite(pl) & (pl > data.lead[e_i])
    pl = np.where(np.isfinite(pl), pl, 0.0)
    head = ("transfer of surplus from ", oname, " (keeps ", keeps, "): ")
    for need, m in (((dname, " would run short by ", _Num(-p)), tr & short),
                    ((dname, " would fall to ", _Num(p), ", below its safety stock ", _Num(lower)), tr & below)):
        _fill(text, m & ~sooner, *head, *need, " in the ", week)
        _fill(text, m & sooner, *head, *need, " in the ", week, ", sooner than plant replenishment (", _Num(pl),
              " periods)")
    # In band at arrival: the LP moves stock that would otherwise sit at the origin instead
    # of bringing new stock, for the destination's later shipments.
    _fill(text, tr & ~short & ~below, *head, "uses stock held there instead of new supply for ", dname,
          "'s shipments of ", _Num(cum_out[s_i, d_i, a_i]), " from the ", week)
    code[tr] = "transfer_surplus"
    code[tr & below] = "transfer_surplus;rebuild_safety_stock"
    code[tr & short] = "transfer_surplus;cover_forecast"

    # Into a DC: the dealers' shipments it feeds, or its own safety stock.
    _fill(text, dc & short, "DC replenishment for dealer demand: ", dname, " ships ",
          _Num(rep["shipments_out"][s_i, d_i, a_i]), " in the ", week, " and would lack ", _Num(-p), " without it")
    _fill(text, dc & below, "rebuild DC safety stock: ", dname, " would hold ", _Num(p), " < safety stock ",
          _Num(lower), " in the ", week)
    _fill(text, dc & ~short & ~below, "DC replenishment for dealer demand: ", dname, " ships ",
          _Num(cum_out[s_i, d_i, a_i]), " to dealers from the ", week)
    code[dc] = "dc_replenishment"
    code[dc & below] = "dc_replenishment;rebuild_safety_stock"

    # Into a dealer: stockout, warning line, safety stock, or the forecast ahead.
    has_min = np.isfinite(mn)
    b_min = leaf & ~short & has_min & (p < np.where(has_min, mn, 0.0) - _TOL)
    b_ss = leaf & ~short & ~b_min & below
    rest = (q > -p + 0.5) & (lower > _TOL)
    which = np.where(has_min & (np.where(has_min, mn, 0.0) >= ss), "min", "safety stock").astype(object)
    stockout = ("cover forecast demand: ", _Num(data.demand[s_i, d_i, a_i]), " forecast in the ", week,
                ", stock would run out (", _Num(-p), " short)")
    _fill(text, leaf & short & ~rest, *stockout)
    _fill(text, leaf & short & rest, *stockout, "; the rest rebuilds ", which, " ", _Num(lower))
    _fill(text, b_min, "below warning line: projected ", _Num(p), " < min ", _Num(mn), " in the ", week)
    _fill(text, b_ss, "rebuild safety stock: projected ", _Num(p), " < safety stock ", _Num(ss), " in the ", week)
    _fill(text, leaf & ~short & ~b_min & ~b_ss, "cover forecast demand: ", _Num(demand_ahead[s_i, d_i, a_i]),
          " forecast from the ", week, " to the horizon")
    code[leaf] = "cover_forecast"
    code[b_min] = "below_min"
    code[b_ss] = "rebuild_safety_stock"

    cap = data.capacity[e_i]
    at_cap = np.isfinite(cap) & (used[e_i, t_i] >= np.where(np.isfinite(cap), cap, 0.0) - 0.5)
    _fill(text, at_cap, text, "; lane ", data.lane_origin[e_i].astype(object), "->", dname, " at capacity (",
          _Num(np.where(np.isfinite(cap), cap, 0.0)), " per period)")
    _fill(code, at_cap, code, ";capacity_limited")
    lane_lot = data.lane_lot_size
    lots = (data.case_pack[:, None] > 1) | (lane_lot > 1)
    if x is not None and lots.any():
        xv = x[s_i, e_i, t_i]
        m = lots[s_i, e_i] & (np.abs(q - xv) >= 0.5)
        pack, lot = data.case_pack[s_i], lane_lot[s_i, e_i]
        for moq_too in (False, True):
            rule = ("case pack ", _Num(pack), ", MOQ ", _Num(data.moq[s_i])) if moq_too else ("case pack ", _Num(pack))
            _fill(text, m & ((lot > pack) == moq_too), text, "; ", _Num(q), " = whole lots (", *rule,
                  ") for an optimal ", _Num(xv))
        _fill(code, m, code, ";lot_rounding")
    return text.tolist(), code.tolist()

def _projection(data: PlanData, rep: dict, active: np.ndarray) -> pd.DataFrame:
    S, L, E, T = data.shape
    s_i, l_i, t_i = np.nonzero(active)
    return pd.DataFrame(
        {
            "sku": data.skus[s_i],
            "location": data.locations[l_i],
            "date": data.dates[t_i],
            "demand": data.demand[s_i, l_i, t_i],
            "arrivals": rep["arrivals"][s_i, l_i, t_i],
            "shipments_out": rep["shipments_out"][s_i, l_i, t_i],
            "on_hand": np.clip(rep["on_hand"][s_i, l_i, t_i], 0.0, None),
            "safety_stock": data.safety_stock[s_i, l_i],
            "min_qty": data.min_qty[s_i, l_i],
            "max_qty": data.max_qty[s_i, l_i],
            "shortage": np.clip(rep["shortage"][s_i, l_i, t_i], 0.0, None),
        }
    )


def _slacks(proj: pd.DataFrame) -> pd.DataFrame:
    tol = 1e-6
    on = proj["on_hand"]
    below_min = proj["min_qty"].notna() & (on < proj["min_qty"] - tol)
    below_ss = ~below_min & (on < proj["safety_stock"] - tol)
    above = proj["max_qty"].notna() & (on > proj["max_qty"] + tol)
    parts = [
        ("lost_sales", proj["shortage"] > tol, proj["shortage"]),
        ("below_min", below_min, proj["min_qty"] - on),
        ("below_safety_stock", below_ss, proj["safety_stock"] - on),
        ("above_max", above, on - proj["max_qty"]),
    ]
    frames = [
        pd.DataFrame({"constraint": name, "sku": proj.loc[m, "sku"], "location": proj.loc[m, "location"],
                      "date": proj.loc[m, "date"], "amount": amount[m]})
        for name, m, amount in parts
    ]
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["constraint", "location", "sku", "date"], kind="mergesort").reset_index(drop=True)


def _capacity_table(data: PlanData, solved: NetworkSolution, qty: np.ndarray) -> pd.DataFrame:
    e_i, t_i = np.nonzero(solved.capacity_row)
    if len(e_i) == 0:
        return pd.DataFrame(columns=CAPACITY_COLUMNS)
    used = qty.sum(axis=0)[e_i, t_i]
    cap = data.capacity[e_i]
    return pd.DataFrame(
        {
            "origin": data.lane_origin[e_i],
            "destination": data.lane_destination[e_i],
            "date": data.dates[t_i],
            "capacity": cap,
            "used": used,
            # HiGHS dual of a <= row in a minimisation is d(objective)/d(rhs) <= 0; the
            # table shows what one more unit would save (>= 0).
            "shadow_price": solved.shadow_price[e_i, t_i],
            "binding": (used >= cap - 0.5) | (solved.shadow_price[e_i, t_i] > 1e-9),
        }
    )


def _kpis(data, solved: NetworkSolution, qty, rep, plan, slacks, capacity) -> dict:
    band_rows = slacks["constraint"].isin(["below_min", "below_safety_stock", "above_max"])
    binding = int(capacity["binding"].sum()) if len(capacity) else 0
    out = {"objective": solved.objective}
    out.update(solved.parts)
    out.update({
        "total_shipped": float(qty.sum()),
        "units_short": float(np.clip(rep["shortage"], 0, None).sum()),
        "n_band_violations": int(band_rows.sum()),
        "n_plan_rows": int(len(plan)),
        "n_transfers": int((plan["kind"] == "transfer").sum()) if len(plan) else 0,
        "n_binding_capacities": binding,
        "n_skus": data.shape[0],
        "sol_status": solved.sol_status,
    })
    for name in ("lost_sales", "below_min", "below_safety_stock", "above_max"):
        m = slacks["constraint"] == name
        out[f"slack_{name}_units"] = float(slacks.loc[m, "amount"].sum())
        out[f"slack_{name}_count"] = int(m.sum())
    out.update({k: float(v) for k, v in solved.info.items()})
    return out


def _empty_result(prepare_seconds: float) -> PlanResult:
    plan = pd.DataFrame({c: pd.Series(dtype=object) for c in PLAN_COLUMNS})
    proj = pd.DataFrame({c: pd.Series(dtype=object) for c in PROJECTION_COLUMNS})
    slacks = pd.DataFrame({c: pd.Series(dtype=object) for c in SLACK_COLUMNS})
    kpis = {k: 0.0 for k in ("objective", "holding_cost", "transport_cost", "lost_sales_cost", "below_band_cost",
                             "above_max_cost", "total_shipped", "units_short", "n_band_violations", "n_plan_rows",
                             "n_transfers", "n_binding_capacities", "build_seconds", "solve_seconds",
                             "n_variables", "n_constraints", "n_skus")}
    kpis["prepare_seconds"] = prepare_seconds
    return PlanResult(plan=plan, projection=proj, slacks=slacks, status="empty", sol_status=0, objective=0.0, kpis=kpis)
