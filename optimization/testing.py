"""Domain assertions for plans and a seeded example network (linopy's ``testing`` idea).

:func:`assert_plan_feasible` re-checks a plan from the input tables alone, without the
LP's arrays: lanes exist, lead times and capacities hold, quantities are positive whole
numbers, and replaying every location's stock never goes negative. Tests and the
nightly job can both call it.

:func:`example_network` builds a small, seeded plant -> 3 DCs -> dealers network in the
contract tables, for tests and docstring examples (libraries do not import the demo
generator in ``pipelines``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["assert_plan_feasible", "example_network"]


def assert_plan_feasible(
    plan: pd.DataFrame,
    projection: pd.DataFrame,
    inventory: pd.DataFrame,
    inbound: pd.DataFrame | None,
    lanes: pd.DataFrame,
    locations: pd.DataFrame,
    start,
    *,
    freq: str = "W-MON",
    integer: bool = True,
    tol: float = 1e-6,
    items: pd.DataFrame | None = None,
    vmi_moq: bool = True,
) -> dict:
    """Raise ``AssertionError`` unless ``plan`` is physically executable.

    Checks
    ------
    - every row ships on a configured lane, with qty > 0, finite (and whole when
      ``integer``), and arrival_date = ship_date + lead_time periods;
    - per lane and ship date, the total over SKUs is within the lane's capacity;
    - with ``items`` (sku, case_pack, moq): every quantity is a whole number of case
      packs and at least the MOQ (with ``vmi_moq=False`` not into dealers, as
      ``PlanSettings.vmi_moq``);
    - per non-plant location and SKU, period by period from ``start``:
      on_hand + inbound + plan arrivals covers the plan's departures (a location never
      ships more than it has), and stock after the projection's sales never goes
      negative; the replayed stock equals the projection's on_hand.

    The replay uses the projection only for sales (demand - shortage); everything else
    comes from the input tables and the plan rows.

    Returns
    -------
    dict
        Counts of what was checked (rows, lanes, location x SKU series).
    """
    if len(projection):
        dates = pd.DatetimeIndex(sorted(pd.to_datetime(projection["date"]).unique()))
        assert dates[0] == pd.Timestamp(start), f"projection starts {dates[0].date()}, not at start {pd.Timestamp(start).date()}"
    else:
        dates = pd.DatetimeIndex([pd.Timestamp(start)])
    lane_key = lanes.set_index(["origin", "destination"])
    p = plan.copy()
    if len(p):
        q = pd.to_numeric(p["qty"], errors="coerce")
        assert q.notna().all() and np.isfinite(q).all(), "plan has NaN or infinite quantities"
        assert (q > 0).all(), f"plan has non-positive quantities: {p.loc[q <= 0].head().to_dict('records')}"
        if integer:
            assert (q == np.round(q)).all(), f"plan has fractional quantities: {p.loc[q != np.round(q)].head().to_dict('records')}"
        if items is not None and len(items):
            it = items.set_index(items["sku"].astype(str))
            pack = pd.to_numeric(p["sku"].astype(str).map(it.get("case_pack", pd.Series(dtype=float))), errors="coerce")
            pack = pack.where(pack >= 1, 1.0).fillna(1.0)
            moq = pd.to_numeric(p["sku"].astype(str).map(it.get("moq", pd.Series(dtype=float))), errors="coerce").fillna(0.0)
            ratio = q / pack
            off_pack = (ratio - np.round(ratio)).abs() > 1e-9
            assert not off_pack.any(), f"plan quantities not in whole case packs: {p.loc[off_pack].head().to_dict('records')}"
            if not vmi_moq:
                kind = locations.set_index(locations["location"].astype(str))["kind"].astype(str).str.lower()
                moq = moq.where(p["destination"].astype(str).map(kind) != "dealer", 0.0)
            small = q < moq - tol
            assert not small.any(), f"plan quantities below the MOQ: {p.loc[small].head().to_dict('records')}"
        keys = pd.MultiIndex.from_frame(p[["origin", "destination"]])
        missing = ~keys.isin(lane_key.index)
        assert not missing.any(), f"plan ships on lanes that do not exist: {sorted(set(keys[missing]))[:5]}"
        lead = lane_key["lead_time"].reindex(keys).to_numpy().astype(int)
        ship = pd.to_datetime(p["ship_date"])
        arrive = pd.to_datetime(p["arrival_date"])
        offset = pd.tseries.frequencies.to_offset(freq)
        expected = pd.DatetimeIndex([d + k * offset if k else d for d, k in zip(ship, lead)])
        bad = expected != pd.DatetimeIndex(arrive)
        assert not bad.any(), f"arrival_date != ship_date + lead_time for {p.loc[bad].head().to_dict('records')}"
        assert (ship >= pd.Timestamp(start)).all(), "plan ships before start"
        if "capacity" in lanes.columns:
            use = p.assign(qty=q).groupby(["origin", "destination", "ship_date"])["qty"].sum()
            cap = lane_key["capacity"].reindex(use.index.droplevel("ship_date")).to_numpy(float)
            over = np.isfinite(cap) & (use.to_numpy() > cap + tol)
            assert not over.any(), f"lane capacity exceeded: {use[over].head().to_dict()}"

    kinds = dict(zip(locations["location"], locations["kind"]))
    t_of = {d: i for i, d in enumerate(dates)}
    T = len(dates)

    def period(when) -> np.ndarray:
        idx = dates.searchsorted(pd.to_datetime(when), side="right") - 1
        return np.clip(idx, 0, None)

    # Flows per (sku, location): arrays over periods.
    flows: dict[tuple, np.ndarray] = {}

    def flow(key):
        if key not in flows:
            flows[key] = np.zeros((3, T))  # inbound+arrivals, departures, sales
        return flows[key]

    if inbound is not None and len(inbound):
        end = dates[-1] + (dates[-1] - dates[-2] if T > 1 else pd.Timedelta(days=7))
        inb = inbound.loc[pd.to_datetime(inbound["arrival_date"]) < end]
        for (sku, loc), t, qty in zip(inb[["sku", "location"]].itertuples(index=False), period(inb["arrival_date"]), inb["qty"]):
            flow((sku, loc))[0, t] += qty
    for row in p.itertuples(index=False):
        ts, ta = t_of.get(pd.Timestamp(row.ship_date)), t_of.get(pd.Timestamp(row.arrival_date))
        assert ts is not None, f"ship_date {row.ship_date} is outside the projection's periods"
        if kinds.get(row.origin) != "plant":
            flow((row.sku, row.origin))[1, ts] += row.qty
        if ta is not None:
            flow((row.sku, row.destination))[0, ta] += row.qty
    proj = projection.copy()
    proj["t"] = proj["date"].map(lambda d: t_of[pd.Timestamp(d)])
    for (sku, loc, t), sold in zip(proj[["sku", "location", "t"]].itertuples(index=False), proj["demand"] - proj["shortage"]):
        flow((sku, loc))[2, t] += sold
    on_hand0 = {(r.sku, r.location): float(r.on_hand) for r in inventory[["sku", "location", "on_hand"]].itertuples(index=False)}
    proj_oh = {(r.sku, r.location, r.t): float(r.on_hand) for r in proj[["sku", "location", "t", "on_hand"]].itertuples(index=False)}

    checked = 0
    for (sku, loc), f in flows.items():
        if kinds.get(loc) == "plant":
            continue
        stock = on_hand0.get((sku, loc), 0.0)
        for t in range(T):
            avail = stock + f[0, t]
            assert f[1, t] <= avail + tol, (
                f"{loc} ships {f[1, t]:g} of {sku} in the week of {dates[t].date()} but has only {avail:g}"
            )
            stock = avail - f[1, t] - f[2, t]
            assert stock >= -tol, f"{loc} stock of {sku} goes negative ({stock:g}) in the week of {dates[t].date()}"
            if (sku, loc, t) in proj_oh:
                assert abs(proj_oh[(sku, loc, t)] - max(stock, 0.0)) <= 1e-6 * max(1.0, abs(stock)) + tol, (
                    f"projection on_hand {proj_oh[(sku, loc, t)]:g} != replayed {stock:g} for {sku} at {loc}, {dates[t].date()}"
                )
        checked += 1
    return {"plan_rows": int(len(p)), "series_replayed": checked}


def example_network(
    n_skus: int = 6,
    dealers_per_dc: int = 2,
    *,
    start: str = "2024-01-01",
    horizon: int = 13,
    freq: str = "W-MON",
    seed: int = 0,
    capacity: float | None = None,
) -> dict[str, pd.DataFrame]:
    """A seeded plant -> DC-NORTH/SOUTH/WEST -> dealers network in the contract tables.

    Returns a dict with ``forecasts`` (dealer means and q50/q90/q95), ``safety_stock``,
    ``inventory`` (some dealers below min, some above max, DC-NORTH nearly empty so
    transfers pay), ``inbound``, ``lanes`` (PLANT->DC lead 2, DC->dealer lead 1, DC<->DC
    lead 1 at a higher cost; ``capacity`` on PLANT->DC-NORTH when given), ``locations``,
    ``items`` and ``start``.
    """
    rng = np.random.default_rng(seed)
    regions = {"DC-NORTH": "north", "DC-SOUTH": "south", "DC-WEST": "west"}
    parent = {f"DLR-{reg[0].upper()}{i + 1:02d}": dc for dc, reg in regions.items() for i in range(dealers_per_dc)}
    dealers = list(parent)
    locations = pd.DataFrame(
        [("PLANT", "plant", "central", "", False)]
        + [(dc, "dc", reg, "PLANT", False) for dc, reg in regions.items()]
        + [(d, "dealer", regions[parent[d]], parent[d], True) for d in dealers],
        columns=["location", "kind", "region", "parent", "vmi"],
    )
    lanes = [("PLANT", dc, 2, 1.0, capacity if dc == "DC-NORTH" else np.nan) for dc in regions]
    lanes += [(parent[d], d, 1, 0.5, np.nan) for d in dealers]
    lanes += [(a, b, 1, 2.0, np.nan) for a in regions for b in regions if a != b]
    lanes = pd.DataFrame(lanes, columns=["origin", "destination", "lead_time", "cost_per_unit", "capacity"])
    skus = [f"SKU-{i + 1:04d}" for i in range(n_skus)]
    items = pd.DataFrame(
        {
            "sku": skus,
            "unit_cost": rng.uniform(5, 80, n_skus).round(2),
            "holding_rate": 0.25,
            "case_pack": 1,
            "moq": 1,
        }
    )
    dates = pd.date_range(start, periods=horizon, freq=freq)
    size = rng.lognormal(1.0, 0.7, (n_skus, len(dealers)))
    season = 1 + 0.3 * np.sin(np.arange(horizon) / 52 * 2 * np.pi + rng.uniform(0, 6, (n_skus, 1, 1)))
    mean = (size[:, :, None] * season).round(3)
    fc = pd.DataFrame(
        {
            "sku": np.repeat(skus, len(dealers) * horizon),
            "location": np.tile(np.repeat(dealers, horizon), n_skus),
            "date": np.tile(dates, n_skus * len(dealers)),
            "mean": mean.ravel(),
        }
    )
    sd = np.sqrt(fc["mean"]) + 0.5
    fc["q50"] = fc["mean"]
    fc["q90"] = fc["mean"] + 1.2816 * sd
    fc["q95"] = fc["mean"] + 1.6449 * sd
    fc["model"] = "example"
    weekly = size.ravel()
    ss = pd.DataFrame(
        {
            "sku": np.repeat(skus, len(dealers)),
            "location": np.tile(dealers, n_skus),
            "safety_stock": (1.645 * (np.sqrt(weekly) + 0.5) * np.sqrt(2)).round(2),
        }
    )
    min_qty = np.ceil(weekly * 1.5)
    max_qty = min_qty + np.ceil(weekly * 4) + 2
    on_hand = np.floor(rng.uniform(0.0, 1.6, weekly.size) * max_qty)
    dealer_inv = pd.DataFrame(
        {"sku": ss["sku"], "location": ss["location"], "on_hand": on_hand, "min_qty": min_qty, "max_qty": max_qty, "service_level": 0.95}
    )
    dc_stock = {"DC-NORTH": 0.05, "DC-SOUTH": 3.0, "DC-WEST": 1.0}
    dc_inv = pd.DataFrame(
        [
            (s, dc, float(np.floor(dc_stock[dc] * size[i].sum() * dealers_per_dc)), np.nan, np.nan, 0.95)
            for i, s in enumerate(skus)
            for dc in regions
        ],
        columns=["sku", "location", "on_hand", "min_qty", "max_qty", "service_level"],
    )
    inventory = pd.concat([dealer_inv, dc_inv], ignore_index=True)
    pick = rng.choice(len(dealer_inv), size=max(1, len(dealer_inv) // 5), replace=False)
    inbound = pd.DataFrame(
        {
            "sku": dealer_inv["sku"].to_numpy()[pick],
            "location": dealer_inv["location"].to_numpy()[pick],
            "arrival_date": dates[rng.integers(0, 2, len(pick))],
            "qty": rng.integers(1, 6, len(pick)).astype(float),
        }
    )
    return {
        "forecasts": fc,
        "safety_stock": ss,
        "inventory": inventory,
        "inbound": inbound,
        "lanes": lanes,
        "locations": locations,
        "items": items,
        "start": pd.Timestamp(start),
    }
