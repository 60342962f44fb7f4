"""Multi-echelon replay (plant -> DCs -> dealers) and bullwhip metrics.

The simulator replays dealer demand period by period for all SKUs at once: every state
variable is a numpy array over SKU x location and only the periods are looped over. A
policy (see :mod:`optimization.policies`) decides each period what dealers order on their
DC, what DCs order on the plant and, optionally, DC -> DC transfers; the simulator moves
the stock, serves the demand and records what happened so that
:func:`bullwhip_metrics` can compare policies.

Timing of period ``t`` (the same for every policy):

1. shipments due in ``t`` arrive (stock shipped in ``t'`` on a lane with lead time
   ``L`` arrives at the start of ``t' + L``; a lead time of 0 arrives at once);
2. the policy sees the state (on-hand, in-transit, backorders, demand observed up to
   ``t - 1``) and returns its orders;
3. each DC ships what its dealers ordered plus what it still owes them, as far as its
   on-hand stock allows; when short, every dealer gets the same share of what it is
   owed (proportional rationing) and the rest stays owed (backordered at the DC); a
   DC -> dealer lane with a capacity (units per period, all SKUs together) carries at
   most that much, every SKU cut by the same share, the rest stays owed;
4. transfers leave the DCs (cut back proportionally to the stock left, then to the
   transfer lane's capacity; what is cut is not sent);
5. the plant ships every DC order plus what it still owes the DC (unlimited stock), up
   to the plant -> DC lane's capacity; the rest stays owed by the plant;
6. consumer demand at the dealers is served from on-hand stock, older backorders first;
   what cannot be served is backordered (default) or lost (``lost_sales=True``).

So an order placed in ``t`` with lead time ``L`` covers demand up to the arrival of the
next one: the protection period is ``L + R`` with ``R`` the review period. DCs always
backorder their dealers' orders; ``lost_sales`` concerns consumer demand only.

``allow_returns=True`` is the linear setting of Chen, Drezner, Ryan and Simchi-Levi
(2000), used to check the bullwhip formulas: orders may be negative (returned stock that
travels back through the same lanes, without capacity limits), and net stock may go
negative on arrival (dealers: the shortfall becomes backorders; DCs: on-hand then records
net stock, which is negative while returns exceed stock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimization.policies import Orders, OrderUpToMovingAverage, Policy

__all__ = [
    "Network",
    "InitialState",
    "SimulationState",
    "SimulationResult",
    "simulate",
    "round_to_lots",
    "steady_state_start",
    "bullwhip_metrics",
    "order_amplification",
    "Orders",
    "OrderUpToMovingAverage",
    "Policy",
]

log = logging.getLogger(__name__)

_EPS = 1e-9


@dataclass
class Network:
    """A two-echelon distribution network below one plant with unlimited supply.

    Attributes
    ----------
    skus : list of str
        SKU codes; axis 0 of every array.
    dealers : list of str
        Dealer codes; axis 1 of dealer arrays.
    dcs : list of str
        DC codes; axis 1 of DC arrays.
    dealer_dc : numpy.ndarray of int, shape (n_dealers,)
        Index into ``dcs`` of the DC that supplies each dealer.
    dealer_lead : numpy.ndarray of int, shape (n_dealers,)
        Lead time DC -> dealer, ``L`` (periods).
    dc_lead : numpy.ndarray of int, shape (n_dcs,)
        Lead time plant -> DC, ``L`` (periods).
    transfer_lead : numpy.ndarray of int, shape (n_dcs, n_dcs), optional
        Lead time of the DC ``i`` -> DC ``j`` transfer lane (periods), -1 where there is
        no lane. Default: no transfer lanes.
    dealer_capacity, dc_capacity : numpy.ndarray, shapes (n_dealers,), (n_dcs,), optional
        Capacity of the lane into each dealer (from its DC) and into each DC (from the
        plant), units per period over all SKUs; ``inf`` = unlimited (default).
    transfer_capacity : numpy.ndarray, shape (n_dcs, n_dcs), optional
        Capacity of each DC -> DC lane (units per period); default unlimited.
    dealer_cost, dc_cost : numpy.ndarray, optional
        Transport cost per unit on the lane into each dealer / DC (currency per unit);
        default 0.
    transfer_cost : numpy.ndarray, shape (n_dcs, n_dcs), optional
        Transport cost per unit on each DC -> DC lane (currency per unit); default 0.
    """

    skus: list
    dealers: list
    dcs: list
    dealer_dc: np.ndarray
    dealer_lead: np.ndarray
    dc_lead: np.ndarray
    transfer_lead: np.ndarray | None = None
    dealer_capacity: np.ndarray | None = None
    dc_capacity: np.ndarray | None = None
    transfer_capacity: np.ndarray | None = None
    dealer_cost: np.ndarray | None = None
    dc_cost: np.ndarray | None = None
    transfer_cost: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.skus = list(self.skus)
        self.dealers = list(self.dealers)
        self.dcs = list(self.dcs)
        self.dealer_dc = np.asarray(self.dealer_dc, dtype=int)
        self.dealer_lead = np.asarray(self.dealer_lead, dtype=int)
        self.dc_lead = np.asarray(self.dc_lead, dtype=int)
        if self.transfer_lead is None:
            self.transfer_lead = np.full((self.n_dcs, self.n_dcs), -1, dtype=int)
        self.transfer_lead = np.asarray(self.transfer_lead, dtype=int)
        if self.dealer_dc.shape != (self.n_dealers,) or self.dealer_lead.shape != (self.n_dealers,):
            raise ValueError("dealer_dc and dealer_lead need one entry per dealer")
        if self.dc_lead.shape != (self.n_dcs,):
            raise ValueError("dc_lead needs one entry per DC")
        if self.transfer_lead.shape != (self.n_dcs, self.n_dcs):
            raise ValueError("transfer_lead must be n_dcs x n_dcs")
        if self.n_dealers and (self.dealer_dc.min() < 0 or self.dealer_dc.max() >= self.n_dcs):
            raise ValueError("dealer_dc points outside the DC list")
        if (self.dealer_lead < 0).any() or (self.dc_lead < 0).any():
            raise ValueError("lead times must be >= 0 periods")
        np.fill_diagonal(self.transfer_lead, -1)
        for name, shape, default in (
            ("dealer_capacity", (self.n_dealers,), np.inf),
            ("dc_capacity", (self.n_dcs,), np.inf),
            ("transfer_capacity", (self.n_dcs, self.n_dcs), np.inf),
            ("dealer_cost", (self.n_dealers,), 0.0),
            ("dc_cost", (self.n_dcs,), 0.0),
            ("transfer_cost", (self.n_dcs, self.n_dcs), 0.0),
        ):
            value = getattr(self, name)
            value = np.full(shape, default) if value is None else np.asarray(value, dtype=float)
            value = np.where(np.isnan(value), default, value)
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}")
            if (value < 0).any():
                raise ValueError(f"{name} must be >= 0")
            setattr(self, name, value)

    @property
    def n_skus(self) -> int:
        return len(self.skus)

    @property
    def n_dealers(self) -> int:
        return len(self.dealers)

    @property
    def n_dcs(self) -> int:
        return len(self.dcs)

    @property
    def max_lead(self) -> int:
        """Longest lead time of any lane (periods)."""
        leads = [0, *self.dealer_lead.tolist(), *self.dc_lead.tolist(), *self.transfer_lead.ravel().tolist()]
        return int(max(leads))

    @property
    def membership(self) -> np.ndarray:
        """One-hot matrix dealer x DC (float), so that ``x @ membership`` sums dealers per DC."""
        m = np.zeros((self.n_dealers, self.n_dcs))
        m[np.arange(self.n_dealers), self.dealer_dc] = 1.0
        return m

    @classmethod
    def from_tables(cls, locations: pd.DataFrame, lanes: pd.DataFrame, skus) -> "Network":
        """Build the network from the ``locations`` and ``lanes`` contract tables.

        Dealers are the ``kind == "dealer"`` rows, supplied by their ``parent`` DC; DCs the
        ``kind == "dc"`` rows, supplied by their parent plant. Lead times come from the
        lanes parent -> location; DC -> DC lanes become transfer lanes. The lanes'
        optional ``capacity`` (units per period, NaN = unlimited) and ``cost_per_unit``
        are kept per lane.

        Raises
        ------
        ValueError
            A dealer's parent is not a DC, or a supplying lane is missing.
        """
        loc = locations.copy()
        loc["kind"] = loc["kind"].astype(str).str.lower()
        dcs = sorted(loc.loc[loc["kind"] == "dc", "location"].astype(str))
        dealer_rows = loc.loc[loc["kind"] == "dealer"].sort_values("location")
        dealers = dealer_rows["location"].astype(str).tolist()
        parents = dealer_rows["parent"].astype(str).tolist()
        dc_index = {d: i for i, d in enumerate(dcs)}
        bad = [d for d, p in zip(dealers, parents) if p not in dc_index]
        if bad:
            raise ValueError(f"dealers whose parent is not a DC: {bad[:5]}")
        lead = {(str(o), str(d)): int(l) for o, d, l in lanes[["origin", "destination", "lead_time"]].itertuples(index=False)}
        cap_col = lanes["capacity"] if "capacity" in lanes else pd.Series(np.nan, index=lanes.index)
        cost_col = lanes["cost_per_unit"] if "cost_per_unit" in lanes else pd.Series(0.0, index=lanes.index)
        keys = list(zip(lanes["origin"].astype(str), lanes["destination"].astype(str)))
        capacity = dict(zip(keys, pd.to_numeric(cap_col, errors="coerce").fillna(np.inf).to_numpy(float)))
        cost = dict(zip(keys, pd.to_numeric(cost_col, errors="coerce").fillna(0.0).to_numpy(float)))

        def lane(origin: str, dest: str) -> int:
            if (origin, dest) not in lead:
                raise ValueError(f"no lane {origin} -> {dest}")
            return lead[(origin, dest)]

        dc_parent = loc.set_index(loc["location"].astype(str))["parent"].astype(str)
        transfer = np.full((len(dcs), len(dcs)), -1, dtype=int)
        t_cap = np.full((len(dcs), len(dcs)), np.inf)
        t_cost = np.zeros((len(dcs), len(dcs)))
        for i, a in enumerate(dcs):
            for j, b in enumerate(dcs):
                if i != j and (a, b) in lead:
                    transfer[i, j] = lead[(a, b)]
                    t_cap[i, j] = capacity[(a, b)]
                    t_cost[i, j] = cost[(a, b)]
        dealer_lanes = list(zip(parents, dealers))
        dc_lanes = [(dc_parent[c], c) for c in dcs]
        return cls(
            skus=[str(s) for s in skus],
            dealers=dealers,
            dcs=dcs,
            dealer_dc=np.array([dc_index[p] for p in parents], dtype=int),
            dealer_lead=np.array([lane(p, d) for d, p in zip(dealers, parents)], dtype=int),
            dc_lead=np.array([lane(dc_parent[c], c) for c in dcs], dtype=int),
            transfer_lead=transfer,
            dealer_capacity=np.array([capacity[k] for k in dealer_lanes]),
            dc_capacity=np.array([capacity[k] for k in dc_lanes]),
            transfer_capacity=t_cap,
            dealer_cost=np.array([cost[k] for k in dealer_lanes]),
            dc_cost=np.array([cost[k] for k in dc_lanes]),
            transfer_cost=t_cost,
        )


@dataclass
class InitialState:
    """Stock at the start of the replay (units). Missing arrays mean zero.

    Attributes
    ----------
    dealer_on_hand : numpy.ndarray, shape (n_skus, n_dealers)
    dc_on_hand : numpy.ndarray, shape (n_skus, n_dcs)
    dealer_in_transit : numpy.ndarray, shape (n_skus, n_dealers, K), optional
        ``[..., k - 1]`` arrives at the start of replay period ``k`` (k = 1..K).
    dc_in_transit : numpy.ndarray, shape (n_skus, n_dcs, K), optional
        Likewise for the DCs.
    """

    dealer_on_hand: np.ndarray
    dc_on_hand: np.ndarray
    dealer_in_transit: np.ndarray | None = None
    dc_in_transit: np.ndarray | None = None


@dataclass
class SimulationState:
    """What a policy sees at the start of period ``t`` (after arrivals). Read only.

    Attributes
    ----------
    network : Network
    t : int
        Period index into the demand array (absolute).
    step : int
        Period index within the replay (0 = first replayed period).
    dealer_on_hand, dealer_backorders : numpy.ndarray, shape (n_skus, n_dealers)
        Units on hand and consumer demand backordered at each dealer.
    dealer_owed : numpy.ndarray, shape (n_skus, n_dealers)
        Units the dealer ordered that its DC has not shipped yet (the DC's backorders).
    dealer_in_transit : numpy.ndarray, shape (n_skus, n_dealers, H)
        Units arriving at the start of period ``t + k`` in ``[..., k - 1]``.
    dc_on_hand : numpy.ndarray, shape (n_skus, n_dcs)
    dc_backorders : numpy.ndarray, shape (n_skus, n_dcs)
        Units the DC owes its dealers (sum of ``dealer_owed`` per DC).
    dc_in_transit : numpy.ndarray, shape (n_skus, n_dcs, H)
        Units arriving at the DC (from the plant or transfers) in ``t + k``.
    dealer_demand : numpy.ndarray, shape (n_skus, n_dealers, t)
        Consumer demand observed so far (periods 0 .. t-1).
    dc_demand : numpy.ndarray, shape (n_skus, n_dcs, t)
        Demand the DCs observed so far: their dealers' orders (before the replay: a
        proxy, see :func:`simulate`).
    dc_owed : numpy.ndarray, shape (n_skus, n_dcs)
        Units the DC ordered that the plant has not shipped yet (held back by the plant
        -> DC lane's capacity).
    """

    network: Network
    t: int
    step: int
    dealer_on_hand: np.ndarray
    dealer_backorders: np.ndarray
    dealer_owed: np.ndarray
    dealer_in_transit: np.ndarray
    dc_on_hand: np.ndarray
    dc_backorders: np.ndarray
    dc_in_transit: np.ndarray
    dealer_demand: np.ndarray
    dc_demand: np.ndarray
    dc_owed: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.dc_owed is None:
            self.dc_owed = np.zeros_like(self.dc_on_hand)

    @property
    def dealer_position(self) -> np.ndarray:
        """Dealer inventory position: on hand + in transit + owed by the DC - backorders."""
        return self.dealer_on_hand + self.dealer_in_transit.sum(axis=-1) + self.dealer_owed - self.dealer_backorders

    @property
    def dc_position(self) -> np.ndarray:
        """DC inventory position: on hand + in transit + owed by the plant - owed to dealers."""
        return self.dc_on_hand + self.dc_in_transit.sum(axis=-1) + self.dc_owed - self.dc_backorders


#: Per-period records of a replay: name -> (echelon, meaning).
RECORDS = {
    "dealer_demand": ("dealer", "consumer demand (units)"),
    "dealer_served": ("dealer", "demand of the period served from stock in the period (units)"),
    "dealer_lost": ("dealer", "demand lost (units, lost-sales mode only)"),
    "dealer_orders": ("dealer", "orders placed on the DC (units)"),
    "dealer_received": ("dealer", "units shipped by the DC to the dealer in the period"),
    "dealer_on_hand": ("dealer", "on hand at the end of the period (units)"),
    "dealer_backorders": ("dealer", "consumer backorders at the end of the period (units)"),
    "dc_demand": ("dc", "dealer orders received (units)"),
    "dc_shipped": ("dc", "units shipped to dealers"),
    "dc_served": ("dc", "part of this period's dealer orders shipped in the period (units)"),
    "dc_orders": ("dc", "orders placed on the plant (units)"),
    "dc_inbound": ("dc", "units the plant shipped to the DC in the period"),
    "dc_owed": ("dc", "units the plant owes the DC at the end of the period (lane capacity)"),
    "dc_transfer_cost": ("dc", "transport cost of the transfers sent by the DC (currency)"),
    "dc_transfer_out": ("dc", "units sent to other DCs"),
    "dc_transfer_in": ("dc", "units sent to this DC by other DCs (arrive after the lead time)"),
    "dc_on_hand": ("dc", "on hand at the end of the period (units)"),
    "dc_backorders": ("dc", "units owed to dealers at the end of the period"),
}


@dataclass
class SimulationResult:
    """What a replay recorded, period by period.

    Attributes
    ----------
    network : Network
    start : int
        First replayed period (index into the demand array).
    records : dict of str -> numpy.ndarray
        Arrays of shape (n_periods, n_skus, n_locations) for the names in :data:`RECORDS`.
    initial_stock, final_stock : dict of str -> numpy.ndarray
        Stock on hand and in transit at the start and at the end, per echelon
        (``dealer_on_hand``, ``dealer_in_transit``, ``dc_on_hand``, ``dc_in_transit``,
        ``dealer_owed``; shape (n_skus, n_locations)).
    lost_sales : bool
    """

    network: Network
    start: int
    records: dict
    initial_stock: dict
    final_stock: dict
    lost_sales: bool = False
    dates: pd.DatetimeIndex | None = field(default=None)

    @property
    def n_periods(self) -> int:
        return self.records["dealer_demand"].shape[0]

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per period x echelon x SKU x location.

        Columns: period (replay index, or date when ``dates`` is set), echelon, sku,
        location, demand, served, orders, shipped, on_hand, backorders (units).
        """
        net = self.network
        frames = []
        for echelon, locs, cols in (
            ("dealer", net.dealers, ("dealer_demand", "dealer_served", "dealer_orders", "dealer_received", "dealer_on_hand", "dealer_backorders")),
            ("dc", net.dcs, ("dc_demand", "dc_served", "dc_orders", "dc_shipped", "dc_on_hand", "dc_backorders")),
        ):
            n_t, n_s, n_l = self.records[cols[0]].shape
            idx = pd.MultiIndex.from_product([range(n_t), net.skus, locs], names=["period", "sku", "location"])
            data = {name: self.records[c].ravel() for name, c in zip(("demand", "served", "orders", "shipped", "on_hand", "backorders"), cols)}
            frame = pd.DataFrame(data, index=idx).reset_index()
            frame.insert(1, "echelon", echelon)
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        if self.dates is not None:
            out["period"] = np.asarray(self.dates)[out["period"].to_numpy()]
        return out


def _check_orders(orders: Orders, net: Network, allow_returns: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    dealer = np.asarray(orders.dealer, dtype=float)
    dc = np.asarray(orders.dc, dtype=float)
    if dealer.shape != (net.n_skus, net.n_dealers) or dc.shape != (net.n_skus, net.n_dcs):
        raise ValueError(f"policy returned orders of shape {dealer.shape} / {dc.shape}")
    if not (np.isfinite(dealer).all() and np.isfinite(dc).all()):
        raise ValueError("policy returned non-finite orders")
    if not allow_returns and ((dealer < -_EPS).any() or (dc < -_EPS).any()):
        raise ValueError("policy returned negative orders (allow_returns=False)")
    transfers = orders.transfers
    if transfers is not None:
        transfers = np.asarray(transfers, dtype=float)
        if transfers.shape != (net.n_skus, net.n_dcs, net.n_dcs):
            raise ValueError("transfers must have shape (n_skus, n_dcs, n_dcs)")
        if not np.isfinite(transfers).all() or (transfers < -_EPS).any():
            raise ValueError("transfers must be finite and >= 0")
        no_lane = net.transfer_lead < 0
        if (transfers[:, no_lane] > _EPS).any():
            raise ValueError("transfer along a DC -> DC pair without a lane")
        transfers = np.maximum(transfers, 0.0)
    if allow_returns:
        return dealer, dc, transfers
    return np.maximum(dealer, 0.0), np.maximum(dc, 0.0), transfers


def round_to_lots(qty: np.ndarray, case_pack: np.ndarray, lot_size: np.ndarray) -> np.ndarray:
    r"""Orders as whole case packs and at least the lot, rounded up.

    An order of at least half a unit becomes :math:`\max(k \lceil q / k \rceil, m)` with
    :math:`k` the SKU's case pack and :math:`m` its lot (MOQ rounded up to whole packs);
    smaller ones are dropped. It is the rule the plan's rounding applies to the LP's
    shipments (:func:`optimization.replenishment.round_and_repair`), so that every policy
    of a replay orders under the same lot rules; an order-up-to policy sees the rounded
    order in its inventory position and orders less next time.

    Parameters
    ----------
    qty : numpy.ndarray, shape (n_skus, n_locations)
        Orders (units, >= 0).
    case_pack : numpy.ndarray, shape (n_skus,)
        Units per case pack (>= 1).
    lot_size : numpy.ndarray, shape (n_skus,) or (n_skus, n_locations)
        Smallest order (units, >= case_pack), per SKU or per SKU and location.

    Returns
    -------
    numpy.ndarray
        Rounded orders (units).
    """
    pack = np.asarray(case_pack, dtype=float)[:, None]
    lot = np.asarray(lot_size, dtype=float)
    lot = lot[:, None] if lot.ndim == 1 else lot
    up = np.maximum(np.ceil(qty / pack - 1e-9) * pack, lot)
    return np.where(qty >= 0.5 - 1e-9, up, 0.0)


def _capacity_share(load: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Share of each lane's load it can carry: min(1, capacity / load), 1 for no load."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(load > _EPS, np.minimum(1.0, capacity / load), 1.0)


def _load_in_transit(buf: np.ndarray, in_transit: np.ndarray | None, t0: int) -> None:
    if in_transit is None:
        return
    width = buf.shape[-1]
    in_transit = np.asarray(in_transit, dtype=float)
    if in_transit.shape[-1] > width - 1 and in_transit[..., width - 1 :].any():
        raise ValueError("initial in-transit stock arrives after the longest lead time")
    for k in range(1, min(in_transit.shape[-1], width - 1) + 1):
        buf[..., (t0 + k) % width] += in_transit[..., k - 1]


def simulate(
    network: Network,
    demand: np.ndarray,
    policy: Policy,
    start: int,
    initial: InitialState | None = None,
    lost_sales: bool = False,
    dc_history: np.ndarray | None = None,
    periods: int | None = None,
    dates: pd.DatetimeIndex | None = None,
    callback=None,
    allow_returns: bool = False,
    case_pack: np.ndarray | None = None,
    lot_size: np.ndarray | None = None,
    dealer_lot_size: np.ndarray | None = None,
) -> SimulationResult:
    """Replay dealer demand through plant -> DCs -> dealers under a policy.

    Parameters
    ----------
    network : Network
        Locations and lead times (periods).
    demand : numpy.ndarray, shape (n_skus, n_dealers, n_total)
        Consumer demand per period at each dealer (units, >= 0); periods before
        ``start`` are history the policy may look at, periods from ``start`` on are
        replayed.
    policy : Policy
        Object with ``decide(state) -> Orders``, called once per replayed period.
    start : int
        First replayed period (index into the last axis of ``demand``).
    initial : InitialState, optional
        Stock at the start of period ``start``. Default: nothing anywhere.
    lost_sales : bool
        Consumer demand that cannot be served is lost instead of backordered.
    dc_history : numpy.ndarray, shape (n_skus, n_dcs, start), optional
        What the DCs observed before the replay. Dealers' past orders are usually not
        in the data, so the default is the consumer demand of each DC's dealers summed
        per period, a proxy that is exact when dealers order what they sell.
    periods : int, optional
        Number of periods replayed; default up to the end of ``demand``.
    dates : pandas.DatetimeIndex, optional
        Period start dates of the replayed periods, kept on the result.
    callback : callable, optional
        ``callback(step, n_periods)`` after each period (progress display).
    allow_returns : bool
        Accept negative orders (returns) and let net stock go negative: Chen et al.'s
        linear setting (see the module docstring). Not with ``lost_sales``.
    case_pack, lot_size : numpy.ndarray, shape (n_skus,), optional
        Lot rules of every order on the DCs and the plant (units per case pack, smallest
        order in units): each positive order is rounded up by :func:`round_to_lots`
        whatever the policy, so policies compare under the same rules. Default: any
        quantity. Not with ``allow_returns``.
    dealer_lot_size : numpy.ndarray, shape (n_skus,) or (n_skus, n_dealers), optional
        Smallest order into a dealer when it differs from ``lot_size`` (units, >= case_pack;
        e.g. whole case packs into the dealers of a VMI supplier not bound by their MOQ).
        Default: ``lot_size``.

    Returns
    -------
    SimulationResult
        Per-period records (see :data:`RECORDS`) and initial and final stock.
    """
    net = network
    demand = np.asarray(demand, dtype=float)
    n_s, n_d, n_c = net.n_skus, net.n_dealers, net.n_dcs
    if demand.shape[:2] != (n_s, n_d):
        raise ValueError(f"demand has shape {demand.shape}, expected ({n_s}, {n_d}, n_periods)")
    if not np.isfinite(demand).all() or (demand < 0).any():
        raise ValueError("demand must be finite and >= 0")
    if allow_returns and lost_sales:
        raise ValueError("allow_returns needs backorders (lost_sales=False)")
    lots = None
    if case_pack is not None or lot_size is not None:
        if allow_returns:
            raise ValueError("lot rules need allow_returns=False")
        pack = np.ones(n_s) if case_pack is None else np.asarray(case_pack, dtype=float)
        lot = pack if lot_size is None else np.asarray(lot_size, dtype=float)
        if pack.shape != (n_s,) or lot.shape != (n_s,) or (pack < 1).any() or (lot < pack).any():
            raise ValueError("case_pack and lot_size need one value per SKU, case_pack >= 1, lot_size >= case_pack")
        dealer_lot = lot if dealer_lot_size is None else np.asarray(dealer_lot_size, dtype=float)
        if dealer_lot.shape not in ((n_s,), (n_s, n_d)) or (dealer_lot < (pack if dealer_lot.ndim == 1 else pack[:, None])).any():
            raise ValueError("dealer_lot_size needs one value per SKU or per SKU and dealer, >= case_pack")
        lots = (pack, lot, dealer_lot)
    n_total = demand.shape[2]
    if not 0 <= start < n_total:
        raise ValueError("start must index a period of demand")
    n_t = n_total - start if periods is None else int(periods)
    if n_t < 1 or start + n_t > n_total:
        raise ValueError("periods runs past the end of demand")

    member = net.membership
    dc_obs = np.zeros((n_s, n_c, start + n_t))
    if dc_history is None:
        dc_obs[:, :, :start] = np.einsum("sdt,dc->sct", demand[:, :, :start], member)
    else:
        dc_history = np.asarray(dc_history, dtype=float)
        if dc_history.shape != (n_s, n_c, start):
            raise ValueError("dc_history must have shape (n_skus, n_dcs, start)")
        dc_obs[:, :, :start] = dc_history

    width = net.max_lead + 1
    dealer_buf = np.zeros((n_s, n_d, width))
    dc_buf = np.zeros((n_s, n_c, width))
    dealer_oh = np.zeros((n_s, n_d))
    dc_oh = np.zeros((n_s, n_c))
    if initial is not None:
        dealer_oh += np.asarray(initial.dealer_on_hand, dtype=float)
        dc_oh += np.asarray(initial.dc_on_hand, dtype=float)
        _load_in_transit(dealer_buf, initial.dealer_in_transit, start)
        _load_in_transit(dc_buf, initial.dc_in_transit, start)
        if (dealer_oh < 0).any() or (dc_oh < 0).any():
            raise ValueError("initial on-hand stock must be >= 0")
    backorders = np.zeros((n_s, n_d))
    owed = np.zeros((n_s, n_d))
    plant_owed = np.zeros((n_s, n_c))
    initial_stock = {
        "dealer_on_hand": dealer_oh.copy(),
        "dealer_in_transit": dealer_buf.sum(-1),
        "dc_on_hand": dc_oh.copy(),
        "dc_in_transit": dc_buf.sum(-1),
        "dealer_owed": owed.copy(),
    }

    rec = {name: np.zeros((n_t, n_s, n_d if echelon == "dealer" else n_c)) for name, (echelon, _) in RECORDS.items()}
    d_idx = np.arange(n_d)
    c_idx = np.arange(n_c)
    dealer_l0 = net.dealer_lead == 0
    dc_l0 = net.dc_lead == 0
    transfer_pairs = [(i, j, int(net.transfer_lead[i, j])) for i in range(n_c) for j in range(n_c) if net.transfer_lead[i, j] >= 0]

    for step in range(n_t):
        t = start + step
        slot = t % width
        # 1. arrivals
        dealer_oh += dealer_buf[:, :, slot]
        dealer_buf[:, :, slot] = 0.0
        dc_oh += dc_buf[:, :, slot]
        dc_buf[:, :, slot] = 0.0
        if allow_returns:
            # a returned unit arriving when there is no stock lowers net stock: backorder
            backorders = backorders + np.maximum(-dealer_oh, 0.0)
            dealer_oh = np.maximum(dealer_oh, 0.0)

        # 2. the policy decides
        ahead = [(t + k) % width for k in range(1, width)]
        state = SimulationState(
            network=net,
            t=t,
            step=step,
            dealer_on_hand=dealer_oh,
            dealer_backorders=backorders,
            dealer_owed=owed,
            dealer_in_transit=dealer_buf[:, :, ahead],
            dc_on_hand=dc_oh,
            dc_backorders=owed @ member,
            dc_in_transit=dc_buf[:, :, ahead],
            dealer_demand=demand[:, :, :t],
            dc_demand=dc_obs[:, :, :t],
            dc_owed=plant_owed,
        )
        dealer_q, dc_q, transfers = _check_orders(policy.decide(state), net, allow_returns)
        if lots is not None:
            dealer_q = round_to_lots(dealer_q, lots[0], lots[2])
            dc_q = round_to_lots(dc_q, lots[0], lots[1])

        # 3. DCs ship what is owed, rationed proportionally when short, then cut to the
        #    lane capacity (one share per lane for all SKUs); returns go back at once
        returned = np.minimum(dealer_q, 0.0)
        dealer_q_pos = dealer_q - returned
        prev_owed = owed
        due = owed + dealer_q_pos
        due_dc = due @ member
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.clip(np.where(due_dc > _EPS, dc_oh / due_dc, 1.0), 0.0, 1.0)
        ship = due * share[:, net.dealer_dc]
        ship = ship * _capacity_share(ship.sum(axis=0), net.dealer_capacity)[None, :]
        owed = due - ship
        ship = ship + returned
        shipped_dc = ship @ member
        dc_oh = dc_oh - shipped_dc
        if not allow_returns:
            dc_oh = np.maximum(dc_oh, 0.0)
        on_time = np.clip(ship - prev_owed, 0.0, dealer_q_pos)
        arrive = (t + net.dealer_lead) % width
        dealer_buf[:, d_idx, arrive] += np.where(dealer_l0, 0.0, ship)
        dealer_oh += np.where(dealer_l0, ship, 0.0)

        # 4. transfers, cut back to the stock left
        t_out = np.zeros((n_s, n_c))
        t_in = np.zeros((n_s, n_c))
        t_cost = np.zeros((n_s, n_c))
        if transfers is not None and transfer_pairs:
            wanted = transfers.sum(axis=2)
            with np.errstate(divide="ignore", invalid="ignore"):
                cut = np.clip(np.where(wanted > _EPS, dc_oh / wanted, 1.0), 0.0, 1.0)
            transfers = transfers * cut[:, :, None]
            transfers = transfers * _capacity_share(transfers.sum(axis=0), net.transfer_capacity)[None, :, :]
            for i, j, lead in transfer_pairs:
                qty = transfers[:, i, j]
                t_out[:, i] += qty
                t_in[:, j] += qty
                t_cost[:, i] += qty * net.transfer_cost[i, j]
                if lead == 0:
                    dc_oh[:, j] += qty
                else:
                    dc_buf[:, j, (t + lead) % width] += qty
            dc_oh = dc_oh - t_out if allow_returns else np.maximum(dc_oh - t_out, 0.0)

        # 5. the plant ships DC orders and what it owes, up to the lane capacity
        returned = np.minimum(dc_q, 0.0)
        wanted = plant_owed + dc_q - returned
        plant_ship = wanted * _capacity_share(wanted.sum(axis=0), net.dc_capacity)[None, :]
        plant_owed = wanted - plant_ship
        plant_ship = plant_ship + returned
        arrive = (t + net.dc_lead) % width
        dc_buf[:, c_idx, arrive] += np.where(dc_l0, 0.0, plant_ship)
        dc_oh += np.where(dc_l0, plant_ship, 0.0)

        # 6. consumer demand, older backorders first
        d = demand[:, :, t]
        cleared = np.minimum(dealer_oh, backorders)
        dealer_oh = dealer_oh - cleared
        backorders = backorders - cleared
        served = np.minimum(dealer_oh, d)
        dealer_oh = dealer_oh - served
        short = d - served
        if lost_sales:
            rec["dealer_lost"][step] = short
        else:
            backorders = backorders + short

        dc_obs[:, :, t] = dealer_q @ member
        rec["dealer_demand"][step] = d
        rec["dealer_served"][step] = served
        rec["dealer_orders"][step] = dealer_q
        rec["dealer_received"][step] = ship
        rec["dealer_on_hand"][step] = dealer_oh
        rec["dealer_backorders"][step] = backorders
        rec["dc_demand"][step] = dc_obs[:, :, t]
        rec["dc_shipped"][step] = shipped_dc
        rec["dc_served"][step] = on_time @ member
        rec["dc_orders"][step] = dc_q
        rec["dc_inbound"][step] = plant_ship
        rec["dc_owed"][step] = plant_owed
        rec["dc_transfer_cost"][step] = t_cost
        rec["dc_transfer_out"][step] = t_out
        rec["dc_transfer_in"][step] = t_in
        rec["dc_on_hand"][step] = dc_oh
        rec["dc_backorders"][step] = owed @ member
        if callback is not None:
            callback(step, n_t)

    final_stock = {
        "dealer_on_hand": dealer_oh.copy(),
        "dealer_in_transit": dealer_buf.sum(-1),
        "dc_on_hand": dc_oh.copy(),
        "dc_in_transit": dc_buf.sum(-1),
        "dealer_owed": owed.copy(),
        "dealer_backorders": backorders.copy(),
        "dc_owed": plant_owed.copy(),
    }
    return SimulationResult(net, start, rec, initial_stock, final_stock, lost_sales=lost_sales, dates=dates)


def steady_state_start(
    network: Network,
    dealer_level: np.ndarray,
    dc_level: np.ndarray,
    dealer_flow: np.ndarray,
    dc_flow: np.ndarray,
) -> InitialState:
    """A start with every location at its order-up-to level and a full pipeline.

    An order placed in each of the last ``L - 1`` periods is still on its way, each of
    ``flow`` units (the steady state of an order-up-to policy, whose orders equal demand
    on average); on-hand stock is what brings the inventory position up to ``S``:
    ``on_hand = max(0, S - (L - 1) * flow)``.

    Parameters
    ----------
    network : Network
    dealer_level, dc_level : numpy.ndarray, shapes (n_skus, n_dealers), (n_skus, n_dcs)
        Order-up-to level ``S`` (units).
    dealer_flow, dc_flow : numpy.ndarray, same shapes
        Expected demand per period (units per period) in transit per period of lead time.

    Returns
    -------
    InitialState
    """
    out = {}
    for name, level, flow, lead in (
        ("dealer", dealer_level, dealer_flow, network.dealer_lead),
        ("dc", dc_level, dc_flow, network.dc_lead),
    ):
        level = np.maximum(np.asarray(level, dtype=float), 0.0)
        flow = np.maximum(np.asarray(flow, dtype=float), 0.0)
        k_max = max(int(lead.max(initial=0)) - 1, 0)
        ahead = np.arange(1, k_max + 1)
        in_transit = np.where(ahead[None, None, :] < lead[None, :, None], flow[:, :, None], 0.0)
        in_transit = np.broadcast_to(in_transit, level.shape + (k_max,)).copy()
        out[f"{name}_in_transit"] = in_transit
        out[f"{name}_on_hand"] = np.maximum(level - in_transit.sum(-1), 0.0)
    return InitialState(**out)


def _variance(x: np.ndarray) -> np.ndarray:
    return x.var(axis=0) if x.shape[0] > 1 else np.zeros(x.shape[1:])


def bullwhip_metrics(
    result: SimulationResult,
    warmup: int = 0,
    unit_holding_cost: np.ndarray | None = None,
    unit_shortage_cost: np.ndarray | None = None,
    days_per_period: float = 7.0,
) -> pd.DataFrame:
    """Bullwhip ratio, service and stock per echelon of a replay.

    Every figure is computed over the replayed periods after the first ``warmup``.

    - ``bullwhip_ratio`` = Var(orders the echelon places upstream) / Var(demand it
      received), per series (SKU x location, variance over periods), aggregated over
      series as the ratio of summed variances, ``sum_i Var(q_i) / sum_i Var(D_i)``, so
      that big series weigh more and series with constant demand do not blow it up.
      Dealers receive consumer demand and place orders on the DCs; DCs receive the
      dealers' orders and place orders on the plant (Chen et al. 2000; Lee et al. 1997).
    - ``bullwhip_ratio_consumer``: the same with consumer demand (summed over the
      location's dealers for a DC) in the denominator: the cumulative amplification.
    - ``bullwhip_ratio_median``: median of the per-series ratios over series whose
      demand varies.
    - ``fill_rate``: share of the demand of each period served from stock in that
      period (dealers: consumer demand; DCs: dealer orders shipped in the period they
      were placed).
    - ``cycle_service_level``: share of SKU x location x period with no shortfall (each
      period is a review cycle when R = 1).
    - ``avg_on_hand``: units on hand at the end of a period, summed over the SKUs and
      locations of the echelon, averaged over periods (the echelon's stock).
    - ``avg_backorders``: likewise for backorders (dealers: consumer backorders, or
      lost units in lost-sales mode; DCs: units owed to dealers).
    - ``turnover_days`` = average on hand / average demand received per day
      (DESIGN.md), with ``days_per_period`` days per period.
    - ``holding_cost``: average per period of sum(on hand x unit holding cost) when
      ``unit_holding_cost`` is given (currency per period), else NaN.
    - ``shortage_cost``: dealers only, average per period of sum(consumer demand not
      served on time x unit shortage cost) when ``unit_shortage_cost`` is given
      (currency per period); 0 for DCs, whose late shipments are an internal delay
      that shows up at the dealers (counting both would charge a shortage twice).
    - ``transport_cost``: average per period of units shipped on the lanes into the
      echelon times the lane's ``cost_per_unit`` (dealers: DC -> dealer; DCs: plant ->
      DC plus the transfers they send), currency per period.
    - ``backorders``: units of consumer demand (dealers) or dealer orders (DCs) not
      served in the period they arose, summed over the window (a flow; the stock of
      backorders is ``avg_backorders``).
    - ``cost`` = holding_cost + shortage_cost + transport_cost.

    Parameters
    ----------
    result : SimulationResult
    warmup : int
        Replayed periods left out at the start (periods).
    unit_holding_cost : numpy.ndarray, shape (n_skus,), optional
        Holding cost per unit and period (currency per unit per period).
    unit_shortage_cost : numpy.ndarray, shape (n_skus,), optional
        Cost per unit of consumer demand not served on time (currency per unit).
    days_per_period : float
        Days in one period (7 for weekly data).

    Returns
    -------
    pandas.DataFrame
        One row per echelon (``dealer``, ``dc``) with the columns above (bullwhip_ratio,
        bullwhip_ratio_consumer, bullwhip_ratio_median, fill_rate, cycle_service_level,
        avg_on_hand, avg_backorders, backorders, turnover_days, holding_cost,
        shortage_cost, transport_cost, cost) and
        ``n_series``, ``n_periods``. NaN only where a figure is undefined (no demand
        variance, no cost given).
    """
    r = {k: v[warmup:] for k, v in result.records.items()}
    n_t = r["dealer_demand"].shape[0]
    if n_t < 2:
        raise ValueError("need at least two periods after the warm-up")
    member = result.network.membership
    consumer_dc = np.einsum("tsd,dc->tsc", r["dealer_demand"], member)
    net = result.network
    transport = {
        "dealer": float((r["dealer_received"] * net.dealer_cost[None, None, :]).sum(axis=(1, 2)).mean()),
        "dc": float(((r["dc_inbound"] * net.dc_cost[None, None, :]).sum(axis=(1, 2)) + r["dc_transfer_cost"].sum(axis=(1, 2))).mean()),
    }
    rows = []
    for echelon, orders, received, consumer, served, on_hand, backlog in (
        ("dealer", r["dealer_orders"], r["dealer_demand"], r["dealer_demand"], r["dealer_served"], r["dealer_on_hand"],
         r["dealer_lost"] if result.lost_sales else r["dealer_backorders"]),
        ("dc", r["dc_orders"], r["dc_demand"], consumer_dc, r["dc_served"], r["dc_on_hand"], r["dc_backorders"]),
    ):
        var_q = _variance(orders)
        var_d = _variance(received)
        var_c = _variance(consumer)
        moving = var_d > _EPS
        total_d = received.sum()
        mean_daily = total_d / n_t / days_per_period
        stock = on_hand.sum(axis=(1, 2)).mean()
        if unit_holding_cost is not None:
            h = np.asarray(unit_holding_cost, dtype=float)
            holding = float((on_hand * h[None, :, None]).sum(axis=(1, 2)).mean())
        else:
            holding = float("nan")
        shortage = 0.0
        if unit_shortage_cost is not None and echelon == "dealer":
            p = np.asarray(unit_shortage_cost, dtype=float)
            shortage = float(((received - served) * p[None, :, None]).sum(axis=(1, 2)).mean())
        elif unit_shortage_cost is None:
            shortage = float("nan")
        rows.append(
            {
                "echelon": echelon,
                "bullwhip_ratio": float(var_q.sum() / var_d.sum()) if var_d.sum() > _EPS else float("nan"),
                "bullwhip_ratio_consumer": float(var_q.sum() / var_c.sum()) if var_c.sum() > _EPS else float("nan"),
                "bullwhip_ratio_median": float(np.median(var_q[moving] / var_d[moving])) if moving.any() else float("nan"),
                "fill_rate": float(served.sum() / total_d) if total_d > 0 else 1.0,
                "cycle_service_level": float(((received - served) <= 1e-6 * np.maximum(received, 1.0)).mean()),
                "avg_on_hand": float(stock),
                "avg_backorders": float(backlog.sum(axis=(1, 2)).mean()),
                "backorders": float(np.maximum(received - served, 0.0).sum()),
                "turnover_days": float(stock / mean_daily) if mean_daily > 0 else float("nan"),
                "holding_cost": holding,
                "shortage_cost": shortage,
                "transport_cost": transport[echelon],
                "cost": holding + shortage + transport[echelon],
                "n_series": int(orders.shape[1] * orders.shape[2]),
                "n_periods": int(n_t),
            }
        )
    return pd.DataFrame(rows)


def order_amplification(result: SimulationResult, warmup: int = 0) -> pd.DataFrame:
    """Per-period totals behind the order-amplification chart.

    Parameters
    ----------
    result : SimulationResult
    warmup : int
        Replayed periods left out at the start (periods).

    Returns
    -------
    pandas.DataFrame
        One row per period: ``period`` (replay index, or date when the result has
        dates), ``consumer_demand`` (units demanded at all dealers), ``dealer_orders``
        (units the dealers ordered on the DCs) and ``dc_orders`` (units the DCs ordered
        on the plant), each summed over SKUs and locations. The bullwhip effect shows as
        the order lines swinging wider than the demand line, more so upstream.
    """
    r = result.records
    period = np.arange(result.n_periods)
    frame = pd.DataFrame(
        {
            "period": np.asarray(result.dates) if result.dates is not None else period,
            "consumer_demand": r["dealer_demand"].sum(axis=(1, 2)),
            "dealer_orders": r["dealer_orders"].sum(axis=(1, 2)),
            "dc_orders": r["dc_orders"].sum(axis=(1, 2)),
        }
    )
    return frame.iloc[warmup:].reset_index(drop=True)
