"""Contract tables -> dense arrays for the replenishment LP (sku x location x period).

The planner works on numpy arrays indexed by named coordinates, linopy style:
``s`` = SKU, ``l`` = stocked location (DCs and VMI dealers), ``e`` = lane, ``t`` = period.
:func:`prepare_plan_data` does all the joining and checking once; the model builder
(:mod:`optimization.lp_model`) and the replay (:mod:`optimization.replenishment`) only
index arrays. :meth:`PlanData.subset` cuts the arrays to a group of SKUs, which is all a
decomposition by SKU group needs (SKUs couple only through lane capacities).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

logger = logging.getLogger(__name__)

__all__ = ["PlanData", "prepare_plan_data", "band_floor", "lot_size", "days_per_period", "periods_per_year", "period_grid",
           "period_index", "service_class_factor"]

_TRUE = {"true", "1", "yes", "y", "t"}


def days_per_period(freq: str) -> float:
    """Average length of one period of ``freq`` in days (7 for ``W-MON``, ~30.4 for ``MS``)."""
    grid = pd.date_range("2001-01-01", periods=53, freq=freq)
    return (grid[-1] - grid[0]).total_seconds() / 86400.0 / 52.0


def periods_per_year(freq: str) -> float:
    """Whole periods per year: 52 for weekly, 12 for monthly, 365 for daily.

    Holding cost per unit and period = unit_cost * holding_rate / periods_per_year
    (docs/architecture.md: ``/ 52`` for ``W-MON``).
    """
    return float(max(1, round(365.25 / days_per_period(freq))))


def period_grid(start: pd.Timestamp, horizon: int, freq: str) -> pd.DatetimeIndex:
    """The ``horizon`` period starts from ``start``; ``start`` must lie on the ``freq`` grid."""
    start = pd.Timestamp(start)
    if not to_offset(freq).is_on_offset(start):
        raise ValueError(f"start {start.date()} is not on the {freq} period grid")
    return pd.date_range(start, periods=horizon, freq=freq)


def period_index(dates: pd.DatetimeIndex, when) -> np.ndarray:
    """Index of the period of ``dates`` that contains each timestamp of ``when``.

    Timestamps before the first period map to 0 (overdue arrivals are expected at once);
    those after the last period start map to ``len(dates) - 1`` only if they fall inside
    the last period, otherwise to ``len(dates)`` (beyond the horizon).
    """
    when = pd.DatetimeIndex(pd.to_datetime(when))
    idx = dates.searchsorted(when, side="right") - 1
    idx = np.clip(idx, 0, None)
    if len(dates):
        end = dates[-1] + (dates[-1] - dates[-2] if len(dates) > 1 else pd.Timedelta(days=7))
        idx = np.where(when >= end, len(dates), idx)
    return idx.astype(int)


@dataclass
class PlanData:
    """Everything the LP and its replay need, as arrays.

    Attributes (units per period unless said otherwise)
    ----------
    skus : (S,) str
    locations : (L,) str
        Stocked locations: DCs, VMI dealers and any other non-plant location.
    kind, region : (L,) str
    sources : tuple of str
        Plants: unconstrained supply (only lane capacities limit them).
    dates : DatetimeIndex (T,)
        Period starts, the first one is the plan's ``start``.
    lane_origin, lane_destination : (E,) str
    lane_o : (E,) int
        Index of the origin in ``locations``, -1 for a plant.
    lane_d : (E,) int
        Index of the destination in ``locations``.
    lead : (E,) int
        Lead time in periods: shipped in t, available at the destination in t + lead.
    lane_cost : (E,) float
        Transport cost per unit (currency/unit).
    capacity : (E,) float
        Units per period summed over SKUs; ``inf`` when unlimited.
    demand, inbound : (S, L, T) float
        Forecast mean demand; in-transit arrivals (overdue ones in period 0).
    on_hand : (S, L) float
        Stock at the start of the first period.
    safety_stock, min_qty, max_qty : (S, L) float
        ``min_qty`` NaN and ``max_qty`` NaN when the location has no VMI band.
    lower, upper : (S, L) float
        The soft band the LP aims for: lower = max(safety_stock, min_qty), upper =
        max_qty (``inf`` when none); lower is capped at upper.
    unit_cost, holding : (S,) float
        Unit cost (currency/unit) and holding cost per unit and period.
    lost_sale : (S, L) float
        Penalty per unit of demand not met (currency/unit): the item's stockout_cost, else
        ``stockout_cost_multiple * unit_cost``, scaled by the service class of the cell
        (see :func:`service_class_factor`), plus the cheapest transport cost from a plant
        to the location, so that serving demand is never cheaper to skip than to ship.
    case_pack, moq : (S,) float
        Shipments are whole multiples of ``case_pack`` units and, when positive, at least
        ``moq`` units (1 and 0 when the items table has no such columns) on the lanes of
        ``moq_lane``.
    moq_lane : (E,) bool
        Lanes whose shipments honour the MOQ (default all); the others ship whole case
        packs only (``prepare_plan_data(vmi_moq=False)``: shipments into VMI dealers).
    service_level : (S, L) float
        Cycle service level target of the cell (NaN when none was given).
    """

    skus: np.ndarray
    locations: np.ndarray
    kind: np.ndarray
    region: np.ndarray
    sources: tuple
    dates: pd.DatetimeIndex
    freq: str
    lane_origin: np.ndarray
    lane_destination: np.ndarray
    lane_o: np.ndarray
    lane_d: np.ndarray
    lead: np.ndarray
    lane_cost: np.ndarray
    capacity: np.ndarray
    demand: np.ndarray
    inbound: np.ndarray
    on_hand: np.ndarray
    safety_stock: np.ndarray
    min_qty: np.ndarray
    max_qty: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    unit_cost: np.ndarray
    holding: np.ndarray
    lost_sale: np.ndarray
    case_pack: np.ndarray = None
    moq: np.ndarray = None
    service_level: np.ndarray = None
    moq_lane: np.ndarray = None

    def __post_init__(self):
        S, L = len(self.skus), len(self.locations)
        if self.moq_lane is None:
            self.moq_lane = np.ones(len(self.lane_o), dtype=bool)
        if self.case_pack is None:
            self.case_pack = np.ones(S)
        if self.moq is None:
            self.moq = np.zeros(S)
        if self.service_level is None:
            self.service_level = np.full((S, L), np.nan)

    @property
    def lot_size(self) -> np.ndarray:
        """(S,) smallest positive shipment: MOQ rounded up to whole case packs (units)."""
        return lot_size(self.case_pack, self.moq)

    @property
    def lane_lot_size(self) -> np.ndarray:
        """(S, E) smallest positive shipment per lane (units): :attr:`lot_size` on the
        lanes of ``moq_lane``, one case pack on the others."""
        return np.where(self.moq_lane[None, :], self.lot_size[:, None], self.case_pack[:, None])

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(S, L, E, T)."""
        return len(self.skus), len(self.locations), len(self.lane_o), len(self.dates)

    def subset(self, sku_index) -> "PlanData":
        """The same network restricted to SKUs ``sku_index`` (positions or boolean mask).

        Lane capacities are left whole; a decomposition passes each group its share of
        capacity when it builds the model (``build_model(..., capacity=...)``).
        """
        idx = np.arange(len(self.skus))[sku_index]
        changes = {name: getattr(self, name)[idx] for name in _PER_SKU}
        return dataclasses.replace(self, **changes)


_PER_SKU = (
    "skus", "demand", "inbound", "on_hand", "safety_stock", "min_qty", "max_qty",
    "lower", "upper", "unit_cost", "holding", "lost_sale", "case_pack", "moq", "service_level",
)


def service_class_factor(service_level, reference: float | None = 0.95) -> np.ndarray:
    r"""Multiplier of the lost-sale penalty for a cell's service class.

    A cycle service level :math:`a` is what a newsvendor with critical ratio
    :math:`p / (p + h) = a` would choose (Snyder and Shen 2019, eq. (4.17)), so the
    shortage cost it implies is :math:`p = h\,a / (1 - a)`. Relative to a reference
    class :math:`a_0`, the penalty is scaled by

    .. math:: f(a) = \frac{a / (1 - a)}{a_0 / (1 - a_0)}

    (0.90 -> 0.47, 0.95 -> 1, 0.98 -> 2.58 with :math:`a_0` = 0.95). Missing levels and
    ``reference=None`` give 1.

    Parameters
    ----------
    service_level : array_like
        Cycle service levels in (0, 1), NaN where none.
    reference : float or None
        :math:`a_0` in (0, 1).

    Returns
    -------
    numpy.ndarray
        Dimensionless factors > 0.
    """
    a = np.asarray(service_level, dtype=float)
    if reference is None:
        return np.ones_like(a)
    if not 0 < reference < 1:
        raise ValueError("reference service level must be in (0, 1)")
    ok = np.isfinite(a) & (a > 0) & (a < 1)
    odds = np.where(ok, a / np.where(ok, 1 - a, 1.0), reference / (1 - reference))
    return odds / (reference / (1 - reference))


def lot_size(case_pack, moq):
    """Smallest positive shipment (units): the MOQ rounded up to whole case packs, at least a pack.

    ``max(k, k * ceil(m / k))`` with ``k`` the case pack (>= 1) and ``m`` the MOQ (0 for
    none); arrays or pandas Series, element-wise.
    """
    return np.maximum(case_pack, np.ceil(moq / case_pack - 1e-9) * case_pack)


def band_floor(min_qty, protection_demand=None, min_qty_as: str = "floor") -> np.ndarray:
    r"""End-of-period stock the band's lower end stands for (units), from ``min_qty``.

    ``min_qty_as="floor"``: min_qty itself. ``"reorder_point"``: min_qty is the inventory
    position that triggers a replenishment, so the end-of-period stock it stands for is
    :math:`(\text{min\_qty} - \sum_{k<L+R} \hat d_k)^+`, ``protection_demand`` the
    mean demand over lead time plus review period (Silver, Pyke and Peterson 1998,
    Section 7.4). A missing min_qty counts as 0. The plan's band lower end is
    :math:`\min(\max(SS, \text{floor}), \text{max\_qty})`
    (:func:`prepare_plan_data`).
    """
    floor = np.nan_to_num(np.asarray(min_qty, dtype=float), nan=0.0)
    if min_qty_as == "reorder_point":
        floor = np.clip(floor - np.asarray(protection_demand, dtype=float), 0.0, None)
    return floor


def _as_bool(values: pd.Series) -> pd.Series:
    if values.dtype == bool:
        return values
    return values.map(lambda v: v if isinstance(v, (bool, np.bool_)) else str(v).strip().lower() in _TRUE).astype(bool)


def _num(frame: pd.DataFrame, col: str, default=np.nan) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(default, index=frame.index, dtype=float)
    return pd.to_numeric(frame[col], errors="coerce").astype(float)


def prepare_plan_data(
    forecasts: pd.DataFrame,
    safety_stock: pd.DataFrame | None,
    inventory: pd.DataFrame,
    inbound: pd.DataFrame | None,
    lanes: pd.DataFrame,
    locations: pd.DataFrame,
    items: pd.DataFrame,
    start,
    *,
    horizon: int = 13,
    freq: str = "W-MON",
    periods_year: float | None = None,
    stockout_cost_multiple: float = 2.0,
    skus=None,
    service_reference_level: float | None = None,
    lot_sizing: bool = True,
    min_qty_as: str = "floor",
    review_period: int = 1,
    vmi_moq: bool = True,
) -> PlanData:
    r"""Join the contract tables into :class:`PlanData`.

    Parameters are the tables of :func:`optimization.replenishment.plan_replenishment`;
    see there. ``service_reference_level`` scales each cell's lost-sale penalty by its
    service class (:func:`service_class_factor`; None: no scaling); the cell's service level
    is the safety-stock table's ``fill_rate`` target where it has one (the critical ratio
    :math:`p / (p + h) = \beta`), else its ``service_level``, else the inventory row's.
    ``lot_sizing=False`` ignores case_pack and moq; ``vmi_moq=False`` keeps the MOQ off the
    lanes into VMI dealers (whole case packs only there; see
    :class:`optimization.replenishment.PlanSettings`).

    The band's lower end is :math:`\max(SS, m)` with :math:`m` the inventory's
    ``min_qty``: with ``min_qty_as="floor"`` :math:`m` = min_qty; with
    ``"reorder_point"`` min_qty is the inventory position that triggers a replenishment,
    and the end-of-period stock it stands for is
    :math:`m = (\text{min\_qty} - \sum_{k<L+R} \hat d_k)^+`, the mean forecast demand
    over the lead time :math:`L` of the fastest lane into the location plus the review
    period :math:`R` subtracted (reorder point = lead-time-plus-review demand + safety
    stock, Silver, Pyke and Peterson 1998, Section 7.4). With lot sizing, a location that
    supplies locations with forecast demand of a SKU has a lower end of at least one lot of
    it (MOQ rounded up to whole packs): a shipment is a whole lot, so a supplier holding less
    cannot ship at all. Non-VMI dealers are left out (they order for themselves), and so are lanes
    into them or into a plant. Raises ``ValueError`` on inputs the LP cannot represent
    (unknown lane endpoints, duplicate lanes, negative or NaN stock or forecasts, SKUs
    without an items row).
    """
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    dates = period_grid(start, horizon, freq)
    T = len(dates)

    locs = locations.copy()
    locs["kind"] = locs["kind"].astype(str).str.lower()
    vmi = _as_bool(locs["vmi"]) if "vmi" in locs.columns else pd.Series(True, index=locs.index)
    region = locs["region"].astype(str) if "region" in locs.columns else pd.Series("", index=locs.index)
    is_source = locs["kind"] == "plant"
    stocked_mask = ~is_source & ~((locs["kind"] == "dealer") & ~vmi)
    kind_rank = locs["kind"].map({"dc": 0, "dealer": 1}).fillna(2)
    order = pd.DataFrame({"rank": kind_rank, "loc": locs["location"].astype(str)})[stocked_mask]
    order = order.sort_values(["rank", "loc"], kind="mergesort")
    loc_names = order["loc"].to_numpy(dtype=object)
    loc_pos = {name: i for i, name in enumerate(loc_names)}
    kind_of = dict(zip(locs["location"].astype(str), locs["kind"]))
    region_of = dict(zip(locs["location"].astype(str), region))
    sources = tuple(sorted(locs.loc[is_source, "location"].astype(str)))
    known = set(kind_of)

    # Lanes ------------------------------------------------------------------------------
    ln = lanes.copy()
    ln["origin"] = ln["origin"].astype(str)
    ln["destination"] = ln["destination"].astype(str)
    unknown = ln.loc[~ln["origin"].isin(known) | ~ln["destination"].isin(known), ["origin", "destination"]]
    if len(unknown):
        raise ValueError(f"lanes from or to unknown locations: {unknown.to_dict('records')[:5]}")
    if ln.duplicated(["origin", "destination"]).any():
        raise ValueError("lanes has duplicate origin x destination rows")
    keep = ln["destination"].isin(loc_pos) & (ln["origin"].isin(loc_pos) | ln["origin"].isin(sources))
    keep &= ln["origin"] != ln["destination"]
    if (~keep).any():
        logger.info("plan ignores %d lanes into plants or non-VMI dealers", int((~keep).sum()))
    ln = ln.loc[keep].sort_values(["origin", "destination"], kind="mergesort").reset_index(drop=True)
    lead = _num(ln, "lead_time")
    if lead.isna().any() or (lead < 0).any() or (lead != np.round(lead)).any():
        raise ValueError("lane lead_time must be a whole number of periods >= 0")
    cost = _num(ln, "cost_per_unit", 0.0).fillna(0.0)
    if (cost < 0).any():
        raise ValueError("lane cost_per_unit must be >= 0")
    cap = _num(ln, "capacity").fillna(np.inf)
    if (cap < 0).any():
        raise ValueError("lane capacity must be >= 0")
    lane_o = np.array([loc_pos.get(o, -1) for o in ln["origin"]], dtype=int)
    lane_d = np.array([loc_pos[d] for d in ln["destination"]], dtype=int)
    # Under VMI the supplier decides what a dealer receives: the MOQ, a rule for a
    # customer's own orders, is kept off those lanes when vmi_moq is False.
    moq_lane = np.array([vmi_moq or kind_of[d] != "dealer" for d in ln["destination"]], dtype=bool)

    # SKUs ---------------------------------------------------------------------------------
    fc = forecasts.loc[forecasts["location"].astype(str).isin(loc_pos)].copy()
    inv = inventory.loc[inventory["location"].astype(str).isin(loc_pos)].copy()
    inb = (inbound if inbound is not None else pd.DataFrame(columns=["sku", "location", "arrival_date", "qty"])).copy()
    inb = inb.loc[inb["location"].astype(str).isin(loc_pos)]
    ss = safety_stock if safety_stock is not None else pd.DataFrame(columns=["sku", "location", "safety_stock"])
    ss = ss.loc[ss["location"].astype(str).isin(loc_pos)]
    candidates = set(fc["sku"].astype(str)) | set(inv["sku"].astype(str)) | set(inb["sku"].astype(str)) | set(ss["sku"].astype(str))
    if skus is not None:
        candidates &= {str(s) for s in skus}
    it = items.copy()
    it["sku"] = it["sku"].astype(str)
    if it["sku"].duplicated().any():
        raise ValueError("items has duplicate sku rows")
    missing = sorted(candidates - set(it["sku"]))
    if missing:
        raise ValueError(f"{len(missing)} SKUs have no items row, e.g. {missing[:5]}")
    sku_names = np.array(sorted(candidates), dtype=object)
    sku_pos = {s: i for i, s in enumerate(sku_names)}
    S, L = len(sku_names), len(loc_names)

    it = it.set_index("sku").reindex(sku_names)
    unit_cost = _num(it, "unit_cost").to_numpy(float)
    holding_rate = _num(it, "holding_rate").to_numpy(float)
    if np.isnan(unit_cost).any() or (unit_cost < 0).any() or np.isnan(holding_rate).any() or (holding_rate < 0).any():
        raise ValueError("items need unit_cost >= 0 and holding_rate >= 0 for every planned SKU")
    ppy = periods_year if periods_year is not None else periods_per_year(freq)
    holding = unit_cost * holding_rate / ppy
    stockout = _num(it, "stockout_cost").to_numpy(float)
    stockout = np.where(np.isfinite(stockout), stockout, stockout_cost_multiple * unit_cost)

    def cell_index(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = frame["sku"].astype(str).map(sku_pos)
        loc = frame["location"].astype(str).map(loc_pos)
        ok = s.notna().to_numpy() & loc.notna().to_numpy()
        return s.to_numpy()[ok].astype(int), loc.to_numpy()[ok].astype(int), ok

    # Demand ------------------------------------------------------------------------------
    demand = np.zeros((S, L, T))
    if len(fc):
        mean = _num(fc, "mean")
        if mean.isna().any() or (mean < 0).any():
            raise ValueError("forecast mean must be >= 0 and not NaN")
        t = pd.Index(dates).get_indexer(pd.to_datetime(fc["date"]))
        s_i, l_i, ok = cell_index(fc)
        t = t[ok]
        m = mean.to_numpy()[ok]
        inside = t >= 0
        np.add.at(demand, (s_i[inside], l_i[inside], t[inside]), m[inside])

    # Inbound -----------------------------------------------------------------------------
    arrivals = np.zeros((S, L, T))
    if len(inb):
        qty = _num(inb, "qty")
        if qty.isna().any() or (qty < 0).any():
            raise ValueError("inbound qty must be >= 0")
        s_i, l_i, ok = cell_index(inb)
        t = period_index(dates, inb["arrival_date"])[ok]
        q = qty.to_numpy()[ok]
        inside = t < T
        np.add.at(arrivals, (s_i[inside], l_i[inside], t[inside]), q[inside])

    # Inventory and band ------------------------------------------------------------------
    on_hand = np.zeros((S, L))
    min_qty = np.full((S, L), np.nan)
    max_qty = np.full((S, L), np.nan)
    if len(inv):
        if inv.duplicated(["sku", "location"]).any():
            raise ValueError("inventory has duplicate sku x location rows")
        oh = _num(inv, "on_hand")
        if oh.isna().any() or (oh < 0).any():
            raise ValueError("inventory on_hand must be >= 0 and not NaN")
        s_i, l_i, ok = cell_index(inv)
        on_hand[s_i, l_i] = oh.to_numpy()[ok]
        min_qty[s_i, l_i] = _num(inv, "min_qty").to_numpy()[ok]
        max_qty[s_i, l_i] = _num(inv, "max_qty").to_numpy()[ok]
    safety = np.zeros((S, L))
    service = np.full((S, L), np.nan)
    if len(inv) and "service_level" in inv.columns:
        s_i, l_i, ok = cell_index(inv)
        service[s_i, l_i] = _num(inv, "service_level").to_numpy()[ok]
    if len(ss):
        s_i, l_i, ok = cell_index(ss)
        safety[s_i, l_i] = np.nan_to_num(_num(ss, "safety_stock").to_numpy()[ok].clip(min=0))
        if "service_level" in ss.columns:
            lvl = _num(ss, "service_level").to_numpy()[ok]
            if "fill_rate" in ss.columns:
                # A fill-rate row's target is the fill rate; its service_level is only the
                # CSL its stock happens to imply (low when a lot covers many periods), and
                # pricing shortages by that would tell the LP to let the target slip.
                beta = _num(ss, "fill_rate").to_numpy()[ok]
                lvl = np.where(np.isfinite(beta), beta, lvl)
            service[s_i, l_i] = np.where(np.isfinite(lvl), lvl, service[s_i, l_i])
    if min_qty_as not in ("floor", "reorder_point"):
        raise ValueError("min_qty_as must be 'floor' or 'reorder_point'")
    if review_period < 0:
        raise ValueError("review_period must be >= 0")
    protection_demand = None
    if min_qty_as == "reorder_point":
        lead_in = np.full(L, 0, dtype=int)
        for l in range(L):
            into = lead.to_numpy()[lane_d == l]
            lead_in[l] = int(into.min()) if len(into) else 0
        cover = np.cumsum(demand, axis=2)
        k = np.clip(lead_in + int(review_period), 1, T) - 1  # periods 0 .. L+R-1
        protection_demand = cover[:, np.arange(L), k] if T else np.zeros((S, L))
    floor = band_floor(min_qty, protection_demand, min_qty_as)
    upper = np.where(np.isfinite(max_qty), max_qty, np.inf)
    lower = np.maximum(safety, floor)

    case_pack = np.ones(S)
    moq = np.zeros(S)
    if lot_sizing:
        pack = _num(it, "case_pack").to_numpy(float)
        case_pack = np.where(np.isfinite(pack) & (pack >= 1), np.round(pack), 1.0)
        m = _num(it, "moq").to_numpy(float)
        moq = np.where(np.isfinite(m) & (m > 0), m, 0.0)
        # A location can only ship a whole lot when it holds one. Without this floor the
        # continuous LP sees a DC with less than a lot as stocked enough for its dealers'
        # next weeks and never replenishes it, while the lot rounding cuts every shipment
        # out of it to nothing (round_and_repair, step 3): its dealers' backorders grow
        # week after week (the VMI replay's largest source of short units). A supplier of
        # locations with forecast demand keeps at least one lot of the SKU, the reorder
        # point of an (s, Q) echelon whose customers order in lots of Q.
        lot = lot_size(case_pack, moq)
        reserve = np.zeros((S, L))  # the largest lot a location ships to a customer with demand
        need = demand.sum(axis=2) > 0
        for o, d, with_moq in zip(lane_o, lane_d, moq_lane):
            if o >= 0:
                reserve[:, o] = np.where(need[:, d], np.maximum(reserve[:, o], lot if with_moq else case_pack),
                                         reserve[:, o])
        lower = np.where(reserve > 1, np.maximum(lower, reserve), lower)
    capped = lower > upper
    if capped.any():
        logger.info("safety stock above max_qty for %d sku x location; the band's lower end is capped at max", int(capped.sum()))
    lower = np.minimum(lower, upper)

    # Cheapest transport cost from a plant to each location (Bellman-Ford; lanes are few).
    route = np.full(L, np.inf)
    for _ in range(L + 1):
        before = route.copy()
        for o, d, c in zip(lane_o, lane_d, cost.to_numpy()):
            reach = 0.0 if o < 0 else route[o]
            route[d] = min(route[d], reach + c)
        if np.array_equal(before, route):
            break
    route = np.where(np.isfinite(route), route, 0.0)
    lost_sale = stockout[:, None] * service_class_factor(service, service_reference_level) + route[None, :]

    return PlanData(
        skus=sku_names,
        locations=loc_names,
        kind=np.array([kind_of[n] for n in loc_names], dtype=object),
        region=np.array([region_of[n] for n in loc_names], dtype=object),
        sources=sources,
        dates=dates,
        freq=freq,
        lane_origin=ln["origin"].to_numpy(dtype=object),
        lane_destination=ln["destination"].to_numpy(dtype=object),
        lane_o=lane_o,
        lane_d=lane_d,
        lead=lead.to_numpy().astype(int),
        lane_cost=cost.to_numpy(float),
        capacity=cap.to_numpy(float),
        demand=demand,
        inbound=arrivals,
        on_hand=on_hand,
        safety_stock=safety,
        min_qty=min_qty,
        max_qty=max_qty,
        lower=lower,
        upper=upper,
        unit_cost=unit_cost,
        holding=holding,
        lost_sale=lost_sale,
        case_pack=case_pack,
        moq=moq,
        service_level=service,
        moq_lane=moq_lane,
    )
