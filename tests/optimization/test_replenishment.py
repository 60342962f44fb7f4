"""Replenishment LP: hand-checkable plans, slacks under stress, status checks, demo scale."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from optimization.lp_data import prepare_plan_data
from optimization.lp_model import LinearProgram, PlanError, solve
from optimization.replenishment import PlanSettings, plan_replenishment, round_and_repair
from optimization.testing import assert_plan_feasible, example_network

START = pd.Timestamp("2024-01-01")  # a Monday


def tiny_network(
    *,
    horizon=6,
    dc_on_hand=100.0,
    demand=(10.0, 5.0),
    dealer_on_hand=(0.0, 30.0),
    safety=(0.0, 5.0),
    plant_capacity=np.nan,
    extra_dc=None,
):
    """PLANT -(2)-> DC -(1)-> D1, D2; one SKU with unit cost 10 and holding 26 %/year."""
    locations = pd.DataFrame(
        [("PLANT", "plant", "central", "", False), ("DC", "dc", "north", "PLANT", False),
         ("D1", "dealer", "north", "DC", True), ("D2", "dealer", "north", "DC", True)],
        columns=["location", "kind", "region", "parent", "vmi"],
    )
    lanes = pd.DataFrame(
        [("PLANT", "DC", 2, 1.0, plant_capacity), ("DC", "D1", 1, 0.5, np.nan), ("DC", "D2", 1, 0.5, np.nan)],
        columns=["origin", "destination", "lead_time", "cost_per_unit", "capacity"],
    )
    inventory = pd.DataFrame(
        [("A", "DC", dc_on_hand, np.nan, np.nan), ("A", "D1", dealer_on_hand[0], np.nan, np.nan),
         ("A", "D2", dealer_on_hand[1], np.nan, np.nan)],
        columns=["sku", "location", "on_hand", "min_qty", "max_qty"],
    )
    if extra_dc is not None:
        name, on_hand = extra_dc
        locations.loc[len(locations)] = (name, "dc", "south", "PLANT", False)
        lanes.loc[len(lanes)] = ("PLANT", name, 2, 1.0, np.nan)
        lanes.loc[len(lanes)] = (name, "DC", 1, 2.0, np.nan)
        lanes.loc[len(lanes)] = ("DC", name, 1, 2.0, np.nan)
        inventory.loc[len(inventory)] = ("A", name, on_hand, np.nan, np.nan)
    dates = pd.date_range(START, periods=horizon, freq="W-MON")
    forecasts = pd.DataFrame(
        {"sku": "A", "location": np.repeat(["D1", "D2"], horizon), "date": np.tile(dates, 2),
         "mean": np.repeat(demand, horizon)}
    )
    safety_stock = pd.DataFrame({"sku": "A", "location": ["D1", "D2"], "safety_stock": list(safety)})
    items = pd.DataFrame({"sku": ["A"], "unit_cost": [10.0], "holding_rate": [0.26], "case_pack": [1], "moq": [1]})
    inbound = pd.DataFrame(columns=["sku", "location", "arrival_date", "qty"])
    return dict(forecasts=forecasts, safety_stock=safety_stock, inventory=inventory, inbound=inbound,
                lanes=lanes, locations=locations, items=items, start=START)


def run(net, **settings):
    return plan_replenishment(
        net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
        net["locations"], net["items"], net["start"], settings=PlanSettings(horizon=settings.pop("horizon", 6), **settings),
    )


def check(net, res):
    return assert_plan_feasible(res.plan, res.projection, net["inventory"], net["inbound"], net["lanes"],
                                net["locations"], net["start"])


def shipments(res, origin, destination):
    rows = res.plan[(res.plan["origin"] == origin) & (res.plan["destination"] == destination)]
    return {d.date().isoformat(): q for d, q in zip(rows["ship_date"], rows["qty"])}


def test_tiny_network_ships_what_a_planner_computes_by_hand():
    net = tiny_network()
    res = run(net)
    assert res.status == "optimal" and res.sol_status == 1
    # D1: nothing on hand, 10 a week, lead 1 -> week 1's demand is lost; then 10 arrive
    # just in time every week (shipped weeks 0..4 for weeks 1..5).
    weeks = [d.date().isoformat() for d in pd.date_range(START, periods=5, freq="W-MON")]
    assert shipments(res, "DC", "D1") == {w: 10 for w in weeks}
    # D2: 30 on hand, 5 a week, safety stock 5 -> runs down to 5 after week 4; the last
    # week would end at 0 < 5, so 5 units ship in week 4 to arrive in week 5.
    assert shipments(res, "DC", "D2") == {weeks[4]: 5}
    # The DC has 100 >= 55 and no safety stock: no plant order.
    assert shipments(res, "PLANT", "DC") == {}
    assert (res.plan["kind"] == "replenishment").all()
    assert res.kpis["units_short"] == pytest.approx(10.0)
    lost = res.slacks[res.slacks["constraint"] == "lost_sales"]
    assert lost[["location", "date", "amount"]].values.tolist() == [["D1", START, 10.0]]
    d1_first = res.plan[(res.plan["destination"] == "D1")].iloc[0]["reason"]
    assert d1_first.startswith("cover forecast demand") and "run out" in d1_first
    d2 = res.plan[res.plan["destination"] == "D2"].iloc[0]["reason"]
    assert d2.startswith("rebuild safety stock: projected 0 < safety stock 5")
    proj = res.projection.set_index(["location", "date"])
    assert proj.loc[("D2", START + pd.Timedelta(weeks=5)), "on_hand"] == pytest.approx(5.0)
    assert proj.loc[("DC", START + pd.Timedelta(weeks=5)), "on_hand"] == pytest.approx(45.0)
    check(net, res)
    k = res.kpis
    parts = k["holding_cost"] + k["dealer_holding_premium"] + k["transport_cost"] + k["lost_sales_cost"] \
        + k["below_band_cost"] + k["above_max_cost"]
    assert parts == pytest.approx(k["objective"], rel=1e-9)
    assert k["transport_cost"] == pytest.approx(0.5 * 55)
    assert k["lost_sales_cost"] == pytest.approx(10 * (2 * 10 + 1.5))  # 2 x unit cost + route cost


def test_empty_dc_is_refilled_from_plant_and_shortfall_reported():
    net = tiny_network(dc_on_hand=0.0, dealer_on_hand=(0.0, 0.0), safety=(0.0, 0.0))
    res = run(net)
    assert res.status == "optimal"
    # Plant -> DC takes 2 weeks and DC -> dealer 1: dealers are short in weeks 0..2.
    lost = res.slacks[res.slacks["constraint"] == "lost_sales"]
    assert sorted(set(lost["date"])) == list(pd.date_range(START, periods=3, freq="W-MON"))
    assert lost["amount"].sum() == pytest.approx(3 * 15)
    plant = shipments(res, "PLANT", "DC")
    assert plant == {"2024-01-01": 15, "2024-01-08": 15, "2024-01-15": 15}
    reasons = res.plan.loc[res.plan["origin"] == "PLANT", "reason"]
    assert reasons.str.startswith("DC replenishment for dealer demand").all()
    check(net, res)


def test_capacity_too_small_still_plans_and_reports_binding_capacity():
    net = tiny_network(dc_on_hand=0.0, dealer_on_hand=(0.0, 0.0), safety=(0.0, 0.0), plant_capacity=6.0, horizon=8)
    res = run(net, horizon=8)
    assert res.status == "optimal"
    per_week = res.plan[res.plan["origin"] == "PLANT"].groupby("ship_date")["qty"].sum()
    assert (per_week <= 6).all() and per_week.max() == 6
    cap = res.capacity
    assert len(cap) and (cap["used"] <= cap["capacity"]).all()
    binding = cap[cap["used"] >= cap["capacity"]]
    assert len(binding) and (binding["shadow_price"] > 0).all()
    assert res.kpis["n_binding_capacities"] == len(binding)
    assert res.plan.loc[res.plan["origin"] == "PLANT", "reason"].str.contains("at capacity").any()
    assert res.kpis["units_short"] > 0 and (res.slacks["constraint"] == "lost_sales").any()
    check(net, res)


def test_transfer_from_surplus_dc_beats_slow_plant():
    net = tiny_network(dc_on_hand=0.0, dealer_on_hand=(0.0, 0.0), safety=(0.0, 0.0), extra_dc=("DC-S", 200.0))
    res = run(net)
    transfers = res.plan[res.plan["kind"] == "transfer"]
    assert len(transfers) and set(transfers["origin"]) == {"DC-S"}
    # Week 0 transfer arrives in week 1 at the DC, in time for dealer arrivals in week 2,
    # a week earlier than anything from the plant.
    first = transfers.sort_values("ship_date").iloc[0]
    assert first["ship_date"] == START and first["qty"] == 15
    assert first["reason"].startswith("transfer of surplus from DC-S")
    check(net, res)


def test_dealer_above_max_and_band_slacks_are_reported():
    net = tiny_network(dealer_on_hand=(50.0, 30.0))
    net["inventory"].loc[net["inventory"]["location"] == "D1", ["min_qty", "max_qty"]] = [5.0, 20.0]
    res = run(net)
    above = res.slacks[(res.slacks["constraint"] == "above_max") & (res.slacks["location"] == "D1")]
    # 50 on hand, 10 a week: 40, 30, 20 -> above 20 in weeks 0 and 1.
    assert above["amount"].tolist() == pytest.approx([20.0, 10.0])
    # Then 20, 10, 0: min 5 is hit in week 4 (5 ship in week 3); week 5 needs 10 + 5.
    assert shipments(res, "DC", "D1") == {"2024-01-22": 5, "2024-01-29": 10}
    check(net, res)


def rounding_case(net, items=None, horizon=6):
    """Plan data of ``net``, its lane index by (origin, destination) and zero shipments."""
    data = prepare_plan_data(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                             net["locations"], net["items"] if items is None else items, net["start"], horizon=horizon)
    S, L, E, T = data.shape
    lane = {(o, d): e for e, (o, d) in enumerate(zip(data.lane_origin, data.lane_destination))}
    return data, lane, np.zeros((S, E, T))


def test_rounding_repair_never_ships_more_than_the_dc_has():
    data, lane, x = rounding_case(tiny_network(dc_on_hand=1.0))
    x[0, lane[("DC", "D1")], 0] = 0.6  # both round up to 1, the DC has 1
    x[0, lane[("DC", "D2")], 0] = 0.5
    x[0, lane[("PLANT", "DC")], 0] = 2.4999999
    q = round_and_repair(data, x)
    assert q[0, lane[("DC", "D1")], 0] + q[0, lane[("DC", "D2")], 0] == 1
    assert q[0, lane[("DC", "D2")], 0] == 0  # the one rounded up the most goes first
    assert q[0, lane[("PLANT", "DC")], 0] == 3  # rounded up: never ships later than the LP
    assert np.all(q == np.round(q)) and np.all(q >= 0)


def test_rounding_up_ships_a_slow_items_first_need_as_one_lot():
    # A slow item (0.4 units a period) with a lot of 12: rounding to the nearest lot would
    # ship nothing until the LP's cumulative shipments reached 6 units, and a plan re-run
    # every period would repeat that until backorders reached half a lot. Rounded up, the
    # first whole unit of need (0.8 by the second period) ships one lot, and nothing more
    # ships until the LP's cumulative shipments catch up with it.
    net = tiny_network(dc_on_hand=100.0)
    data, lane, x = rounding_case(net, net["items"].assign(case_pack=6, moq=12))
    T = data.shape[3]
    x[0, lane[("DC", "D1")], : T - 1] = 0.4
    q = round_and_repair(data, x)
    ships = q[0, lane[("DC", "D1")]]
    assert ships[0] == 0 and ships[1] == 12 and ships[2:].sum() == 0
    assert (np.cumsum(ships) >= np.cumsum(x[0, lane[("DC", "D1")]]) - 0.5).all()


def test_status_is_checked_and_infeasible_raises():
    # x >= 0 with x <= -1: no solution; the caller gets PlanError, not a plan.
    lp = LinearProgram(
        lb=np.zeros(1), ub=np.full(1, np.inf), cost=np.ones(1), hold=np.zeros(1), constant=0.0,
        row=np.zeros(1, np.int64), col=np.zeros(1, np.int64), val=np.ones(1),
        row_lo=np.array([-np.inf]), row_hi=np.array([-1.0]),
        x_col=np.zeros((0, 0, 0), np.int64), low_col=np.zeros((0, 0, 0), np.int64),
        mid_col=np.zeros((0, 0, 0), np.int64), high_col=np.zeros((0, 0, 0), np.int64),
        lost_col=np.zeros((0, 0, 0), np.int64), balance_row=np.zeros((0, 0, 0), np.int64),
        capacity_row=np.zeros((0, 0), np.int64), capacity=np.zeros(0),
    )
    with pytest.raises(PlanError, match="no feasible solution"):
        solve(lp)


def test_bad_inputs_are_rejected():
    net = tiny_network()
    bad = net["lanes"].copy()
    bad.loc[len(bad)] = ("DC", "NOWHERE", 1, 0.5, np.nan)
    with pytest.raises(ValueError, match="unknown locations"):
        plan_replenishment(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], bad,
                           net["locations"], net["items"], START)
    with pytest.raises(ValueError, match="period grid"):
        plan_replenishment(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                           net["locations"], net["items"], START + pd.Timedelta(days=2))


def test_same_inputs_give_identical_plan():
    net = example_network(8, 2, seed=3)
    a = run(net, horizon=13)
    b = run(net, horizon=13)
    pd.testing.assert_frame_equal(a.plan, b.plan)
    pd.testing.assert_frame_equal(a.projection, b.projection)


def test_sku_subset_plans_only_those_skus():
    net = example_network(6, 2, seed=4)
    res = plan_replenishment(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                             net["locations"], net["items"], net["start"], skus=["SKU-0002", "SKU-0005"])
    assert set(res.plan["sku"]) <= {"SKU-0002", "SKU-0005"} and set(res.projection["sku"]) == {"SKU-0002", "SKU-0005"}


def test_tiny_time_limit_still_returns_a_feasible_plan_and_says_so():
    # HiGHS cannot finish 40 SKUs in a microsecond: the night must still get a plan that
    # passes the independent checks, and the status / KPIs must say it is the fallback.
    net = example_network(40, 4, seed=5)
    res = run(net, horizon=13, time_limit=1e-6, group_size=1000)
    assert "fallback" in res.status and res.kpis["n_fallback_groups"] == 1
    check(net, res)
    assert res.kpis["units_short"] > 0 and np.isfinite(res.objective)
    # Decomposed: every group falls back, the bound certificate stays honest.
    dec = run(net, horizon=13, time_limit=1e-6, group_size=10)
    assert dec.kpis["n_fallback_groups"] == dec.kpis["n_groups"] == 4
    check(net, dec)


def test_fallback_point_satisfies_every_row_and_bound_of_the_lp():
    from optimization.lp_model import build_model, fallback_solution, PenaltyWeights

    net = example_network(15, 3, seed=8, capacity=300.0)
    data = prepare_plan_data(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                             net["locations"], net["items"], net["start"])
    for exact in (False, True):
        lp = build_model(data, PenaltyWeights(), exact_lots=exact)
        v = fallback_solution(data, lp).values
        assert (v >= lp.lb - 1e-9).all() and (v <= lp.ub + 1e-9).all()
        act = np.zeros(lp.n_constraints)
        np.add.at(act, lp.row, lp.val * v[lp.col])
        assert (act >= lp.row_lo - 1e-7).all() and (act <= lp.row_hi + 1e-7).all()
        # No shipments at all, and lost sales only where stock ran out.
        assert (v[lp.x_col[lp.x_col >= 0]] == 0).all()
    assert fallback_solution(data, lp).objective >= solve(build_model(data, PenaltyWeights())).objective


def test_demo_sized_plan_passes_independent_checks():
    # The default demo: 120 SKUs x 24 dealers x 3 DCs x 13 weeks, with a plant lane capacity.
    net = example_network(120, 8, seed=11, capacity=2500.0)
    t0 = time.perf_counter()
    res = run(net, horizon=13, threads=1)
    elapsed = time.perf_counter() - t0
    assert res.status == "optimal"
    assert elapsed < 60, f"build + solve took {elapsed:.1f}s"
    summary = check(net, res)
    assert summary["plan_rows"] == len(res.plan) > 1000
    assert res.plan["reason"].str.len().gt(10).all()
    assert set(res.plan["kind"]) == {"replenishment", "transfer"}
    assert res.kpis["n_variables"] > 40_000
    for key in ("objective", "total_shipped", "units_short", "n_band_violations", "build_seconds", "solve_seconds",
                "n_constraints"):
        assert np.isfinite(res.kpis[key])
    proj = res.projection
    assert (proj["on_hand"] >= 0).all() and (proj["shortage"] >= 0).all()
    assert set(res.slacks["constraint"]) <= {"lost_sales", "below_min", "below_safety_stock", "above_max"}


def test_a_dc_below_one_lot_is_replenished_so_its_dealers_get_whole_lots():
    # Lot of 60, the DC holds 40, D1 needs 10 a period and has nothing. The continuous LP
    # could feed D1 from the DC's 40 for four periods, but every shipment is a whole lot
    # of 60, which the DC cannot send: without a lot floor at the DC, the rounded plan
    # ships nothing and the LP never orders from the plant (the replay's dead lock).
    net = tiny_network(dc_on_hand=40.0, demand=(10.0, 0.0), dealer_on_hand=(0.0, 0.0), safety=(0.0, 0.0), horizon=8)
    items = net["items"].assign(case_pack=60, moq=60)
    data = prepare_plan_data(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                             net["locations"], items, net["start"], horizon=8)
    dc = list(data.locations).index("DC")
    d2 = list(data.locations).index("D2")
    assert data.lower[0, dc] == 60  # the DC supplies forecast demand in lots of 60
    assert data.lower[0, d2] == 0  # a dealer supplies no one
    res = plan_replenishment(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                             net["locations"], items, net["start"], settings=PlanSettings(horizon=8))
    check(net, res)
    from_plant = shipments(res, "PLANT", "DC")
    assert from_plant.get(START.date().isoformat(), 0) >= 60  # replenished at once
    to_dealer = shipments(res, "DC", "D1")
    assert sum(to_dealer.values()) >= 60 and all(q % 60 == 0 for q in to_dealer.values())


def test_rounded_lots_are_netted_at_the_supplier_and_ordered_upstream():
    # The LP feeds D1 10 a period from the DC's 40 units; rounded up, D1's first shipment
    # is a lot of 60, which the DC lacks. The netting orders the missing units from the
    # plant at once (arriving after the lane's 2 periods), instead of leaving the DC short
    # of a lot at every re-plan.
    net = tiny_network(dc_on_hand=40.0, demand=(10.0, 0.0), dealer_on_hand=(0.0, 0.0), safety=(0.0, 0.0), horizon=8)
    data, lane, x = rounding_case(net, net["items"].assign(case_pack=60, moq=60), horizon=8)
    x[0, lane[("DC", "D1")], :4] = 10.0
    q = round_and_repair(data, x)
    assert q[0, lane[("PLANT", "DC")], 0] == 60
    assert q[0, lane[("DC", "D1")], 0] == 0  # the DC's 40 cannot make a lot yet; the next
    assert (q % 60 == 0).all()                 # week's plan ships it from the refilled DC


def test_a_dc_band_yields_to_its_dealers_bands():
    from optimization.lp_model import PenaltyWeights, build_model

    net = tiny_network(dc_on_hand=40.0, demand=(10.0, 10.0), dealer_on_hand=(0.0, 0.0), plant_capacity=0.0)
    net["safety_stock"] = pd.DataFrame({"sku": "A", "location": ["D1", "D2", "DC"], "safety_stock": [10.0, 10.0, 40.0]})
    data = prepare_plan_data(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                             net["locations"], net["items"], net["start"], horizon=6, freq="W-MON")
    dc = list(data.locations).index("DC")
    pi = min(data.lost_sale[0, dc], *(data.lost_sale[0, list(data.locations).index(n)] for n in ("D1", "D2")))
    for share in (1.0, 0.5, 0.2):
        lp = build_model(data, PenaltyWeights(supplier_band=share))
        col = lp.low_col[0, dc, 0]
        assert col >= 0
        # the low segment costs holding - w^-, with w^- = 0.05 x (share x the least penalty around the DC)
        expected = data.lost_sale[0, dc] if share == 1.0 else share * pi
        assert data.holding[0] - lp.cost[col] == pytest.approx(0.05 * expected)
    # A DC with a higher service class than its dealers and no resupply in sight: without
    # the priority it keeps its band stock while both dealers sit empty below theirs.
    net = tiny_network(dc_on_hand=20.0, demand=(1.0, 1.0), dealer_on_hand=(0.0, 0.0), plant_capacity=0.0)
    net["safety_stock"] = pd.DataFrame({"sku": "A", "location": ["D1", "D2", "DC"], "safety_stock": [10.0, 10.0, 20.0]})
    net["inventory"]["service_level"] = [0.999, 0.9, 0.9]
    res = run(net)
    check(net, res)
    shipped = sum(shipments(res, "DC", "D1").values()) + sum(shipments(res, "DC", "D2").values())
    assert shipped == pytest.approx(20.0)
    hoarded = run(net, supplier_band_weight=1.0)
    assert sum(shipments(hoarded, "DC", "D1").values()) + sum(shipments(hoarded, "DC", "D2").values()) == 0
