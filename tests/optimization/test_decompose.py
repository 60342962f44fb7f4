"""Decomposition by SKU groups, the direct HiGHS path, lot sizing and the independent checker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimization.decompose import solve_decomposed, solve_group, sku_groups
from optimization.lp_data import prepare_plan_data
from optimization.lp_model import PenaltyWeights, build_model, solve
from optimization.replenishment import PlanSettings, plan_replenishment, round_and_repair
from optimization.testing import assert_plan_feasible, example_network


def data_of(net, **kw):
    return prepare_plan_data(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                             net["locations"], net["items"], net["start"], **kw)


def run(net, **settings):
    return plan_replenishment(net["forecasts"], net["safety_stock"], net["inventory"], net["inbound"], net["lanes"],
                              net["locations"], net["items"], net["start"], settings=PlanSettings(**settings))


def check(net, res, items=True):
    return assert_plan_feasible(res.plan, res.projection, net["inventory"], net["inbound"], net["lanes"],
                                net["locations"], net["start"], items=net["items"] if items else None)


def tight_network(seed, n_skus=12, plant=0.6, transfer=0.1):
    """Capacities on every plant lane and DC<->DC lane that bind in some periods.

    Plant lanes carry ``plant`` x the network's average weekly demand (each DC needs
    about a third of it, but DC-NORTH starts empty and must catch up), DC<->DC lanes
    ``transfer`` x.
    """
    net = example_network(n_skus, dealers_per_dc=2, seed=seed)
    lanes = net["lanes"].copy()
    weekly = net["forecasts"].groupby("date")["mean"].sum().mean()
    lanes.loc[lanes["origin"] == "PLANT", "capacity"] = np.round(weekly * plant / 3)
    lanes.loc[(lanes["origin"] != "PLANT") & lanes["destination"].str.startswith("DC"), "capacity"] = np.round(weekly * transfer)
    net["lanes"] = lanes
    return net


@pytest.mark.parametrize(("seed", "plant", "transfer"), [(2, 0.9, 0.2), (5, 0.9, 0.2), (6, 0.9, 0.2)])
def test_decomposed_cost_within_0p1_percent_of_single_model(seed, plant, transfer):
    # Capacities bind in several periods (checked below). Convergence is slow on such
    # instances (~0.12 % after 10 rounds, < 0.1 % after 25); much tighter capacities
    # (a third of demand) are still ~0.4 % after 30 rounds, and the gap is then reported.
    data = data_of(tight_network(seed, plant=plant, transfer=transfer))
    w = PenaltyWeights()
    single = solve_group(data, w)
    assert single.status == "optimal"
    assert (single.capacity_dual < -1e-6).any(), "capacities must bind, or the test proves nothing"
    dec = solve_decomposed(data, w, group_size=3, max_rounds=25, gap_tol=5e-4)
    assert len(dec.groups) == 4 and dec.rounds >= 1
    # The plan returned is feasible for the whole network: the groups' shares add up to capacity.
    use = sum(g.usage for g in dec.groups)
    cap = np.broadcast_to(data.capacity[:, None], use.shape)
    assert (use <= cap + 1e-6).all()
    assert dec.objective >= single.objective - 1e-6 * abs(single.objective)  # never better than the optimum
    assert dec.objective <= single.objective * (1 + 1e-3)
    assert dec.lower_bound <= single.objective + 1e-6 * abs(single.objective)
    assert dec.gap >= (dec.objective - single.objective) / dec.objective - 1e-9  # the certificate is honest


def test_uncoupled_decomposition_is_exact_in_one_round():
    net = example_network(9, dealers_per_dc=2, seed=3)  # no capacities
    data = data_of(net)
    single = solve_group(data, PenaltyWeights())
    dec = solve_decomposed(data, PenaltyWeights(), group_size=2)
    assert dec.rounds == 0
    assert dec.objective == pytest.approx(single.objective, rel=1e-9)


def test_parallel_workers_give_the_same_plan_as_sequential():
    net = tight_network(4)
    seq = run(net, group_size=4, workers=1)
    par = run(net, group_size=4, workers=2)
    assert par.objective == pytest.approx(seq.objective, rel=1e-9)
    pd.testing.assert_frame_equal(seq.plan, par.plan)
    assert seq.kpis["n_groups"] == 3


def test_decomposed_plan_passes_the_independent_check_and_reports_shadow_prices():
    net = tight_network(5)
    res = run(net, group_size=4)
    check(net, res)
    cap = res.capacity
    assert len(cap) and (cap["shadow_price"] >= 0).all()
    assert cap.loc[cap["binding"], "shadow_price"].gt(0).any()
    assert (cap["used"] <= cap["capacity"] + 1e-9).all()


def test_highspy_and_pulp_paths_solve_the_same_model():
    net = tight_network(6, n_skus=8)
    data = data_of(net)
    lp = build_model(data)
    a = solve(lp, backend="highspy")
    b = solve(lp, backend="pulp")
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    ra, rb = run(net, solver="highspy"), run(net, solver="pulp")
    assert ra.objective == pytest.approx(rb.objective, rel=1e-9)
    pd.testing.assert_frame_equal(ra.plan, rb.plan)
    pd.testing.assert_frame_equal(ra.capacity, rb.capacity)


def test_sku_groups_partition_and_balance():
    data = data_of(example_network(10, seed=0))
    groups = sku_groups(data, 3)
    assert sorted(np.concatenate(groups).tolist()) == list(range(10))
    assert max(map(len, groups)) - min(map(len, groups)) <= 1
    with pytest.raises(ValueError, match="partition"):
        solve_decomposed(data, groups=[np.arange(5)])


# --- lot sizing -----------------------------------------------------------------------


def lot_network(seed=0):
    net = example_network(6, dealers_per_dc=2, seed=seed)
    items = net["items"].copy()
    items["case_pack"] = [1, 6, 12, 4, 1, 10]
    items["moq"] = [1, 12, 12, 8, 5, 30]
    net["items"] = items
    return net


def test_rounding_honours_case_packs_and_moq():
    net = lot_network()
    res = run(net)
    check(net, res)
    packs = res.plan.merge(net["items"], on="sku")
    assert ((packs["qty"] % packs["case_pack"]) == 0).all()
    assert (packs["qty"] >= packs["moq"]).all()
    assert res.plan["reason_code"].str.contains("lot_rounding").any()
    # Slow items are not rounded away: cumulative rounding ships about what the LP ships.
    data = data_of(net)
    sol = solve_group(data, PenaltyWeights())
    q = round_and_repair(data, sol.x)
    lot = data.lot_size
    assert (np.abs(q.sum(axis=(1, 2)) - sol.x.sum(axis=(1, 2))) <= lot * data.shape[2] / 2 + 1e-6).all()


def test_vmi_dealers_get_whole_case_packs_below_the_moq_when_vmi_moq_is_off():
    net = lot_network()
    res = run(net, vmi_moq=False)
    check(net, res, items=False)
    assert_plan_feasible(res.plan, res.projection, net["inventory"], net["inbound"], net["lanes"], net["locations"],
                         net["start"], items=net["items"], vmi_moq=False)
    p = res.plan.merge(net["items"], on="sku")
    kind = net["locations"].set_index("location")["kind"]
    into_dealer = p["destination"].map(kind) == "dealer"
    assert ((p["qty"] % p["case_pack"]) == 0).all()
    # slow items reach dealers in packs below their MOQ; lanes into DCs keep the MOQ
    assert (into_dealer & (p["qty"] < p["moq"])).any()
    assert (p.loc[~into_dealer, "qty"] >= p.loc[~into_dealer, "moq"]).all()
    with pytest.raises(AssertionError, match="below the MOQ"):
        check(net, res)
    data = data_of(net, vmi_moq=False)
    dealer_lane = np.array([kind[d] == "dealer" for d in data.lane_destination])
    np.testing.assert_array_equal(data.moq_lane, ~dealer_lane)
    np.testing.assert_array_equal(data.lane_lot_size[:, dealer_lane], np.repeat(data.case_pack[:, None], dealer_lane.sum(), 1))
    # a DC keeps at least a case pack of a SKU its dealers need, no longer a whole MOQ lot
    assert (data_of(net).lower >= data.lower).all() and (data_of(net).lower > data.lower).any()
    exact = run(net, vmi_moq=False, exact_lots=True, time_limit=10)
    assert_plan_feasible(exact.plan, exact.projection, net["inventory"], net["inbound"], net["lanes"], net["locations"],
                         net["start"], items=net["items"], vmi_moq=False)


def test_exact_lot_milp_is_feasible_and_no_worse_than_rounding():
    net = lot_network(1)
    keep = net["items"]["sku"].isin(["SKU-0003"])
    for name in ("forecasts", "safety_stock", "inventory", "inbound", "items"):
        net[name] = net[name][net[name]["sku"].isin(net["items"]["sku"][keep])].reset_index(drop=True)
    # The big-M lot model is hard for its size; a time-limited incumbent is reported as such.
    exact = run(net, exact_lots=True, time_limit=10)
    rounded = run(net)
    check(net, exact)
    assert exact.status in ("optimal", "time limit with feasible solution")
    # Replay both against the same costs: the LP objective of the rounded plan is not
    # defined, but the MILP is a restriction of the LP, so its cost is >= the LP bound.
    lp_only = run(net, round_quantities=False)
    assert exact.objective >= lp_only.objective - 1e-6
    assert len(exact.plan) and len(rounded.plan)


def test_checker_catches_broken_plans():
    net = lot_network()
    res = run(net)
    args = (res.projection, net["inventory"], net["inbound"], net["lanes"], net["locations"], net["start"])
    bad = res.plan.copy()
    bad.loc[bad.index[0], "origin"] = "DC-MARS"
    with pytest.raises(AssertionError, match="lanes that do not exist"):
        assert_plan_feasible(bad, *args)
    bad = res.plan.copy()
    bad["qty"] = bad["qty"].astype(float)
    bad.loc[bad.index[0], "qty"] += 0.5
    with pytest.raises(AssertionError, match="fractional"):
        assert_plan_feasible(bad, *args)
    bad = res.plan.copy()
    bad.loc[bad.index[0], "qty"] = -bad.loc[bad.index[0], "qty"]
    with pytest.raises(AssertionError, match="non-positive"):
        assert_plan_feasible(bad, *args)
    dc_rows = res.plan.index[res.plan["origin"].str.startswith("DC") & (res.plan["kind"] == "replenishment")]
    bad = res.plan.copy()
    bad.loc[dc_rows[0], "qty"] += 10_000
    with pytest.raises(AssertionError, match="has only|negative|projection"):
        assert_plan_feasible(bad, *args)
    bad = res.plan.copy()
    i = res.plan.index[res.plan["sku"] == "SKU-0003"][0]
    bad.loc[i, "qty"] = 5
    with pytest.raises(AssertionError, match="case packs|MOQ"):
        assert_plan_feasible(bad, *args, items=net["items"])


def test_dealer_to_dealer_transfer_where_configured():
    net = example_network(1, dealers_per_dc=2, seed=0)
    inv = net["inventory"].copy()
    dealers = inv["location"].str.startswith("DLR")
    inv.loc[inv["location"] == "DLR-N01", "on_hand"] = 200.0  # surplus
    inv.loc[inv["location"] == "DLR-N02", "on_hand"] = 0.0  # empty
    inv.loc[inv["location"].str.startswith("DC"), "on_hand"] = 0.0  # nothing upstream
    net["inventory"] = inv
    lanes = net["lanes"].copy()
    lanes.loc[len(lanes)] = ("DLR-N01", "DLR-N02", 0, 0.2, np.nan)
    net["lanes"] = lanes
    res = run(net)
    check(net, res)
    t = res.plan[(res.plan["origin"] == "DLR-N01") & (res.plan["destination"] == "DLR-N02")]
    assert len(t) and (t["kind"] == "transfer").all()
    assert t["reason_code"].str.startswith("transfer_surplus").all()
    assert t["reason"].str.contains("transfer of surplus from DLR-N01").all()
    assert dealers.any()


def test_every_plan_row_has_reason_codes_and_slacks_are_counted():
    net = tight_network(7)
    res = run(net)
    from optimization.replenishment import REASON_CODES

    assert res.plan["reason_code"].str.len().gt(0).all()
    for codes in res.plan["reason_code"]:
        assert set(codes.split(";")) <= set(REASON_CODES)
    for name in ("lost_sales", "below_min", "below_safety_stock", "above_max"):
        m = res.slacks["constraint"] == name
        assert res.kpis[f"slack_{name}_count"] == m.sum()
        assert res.kpis[f"slack_{name}_units"] == pytest.approx(res.slacks.loc[m, "amount"].sum())


def test_service_class_raises_the_shortage_penalty():
    net = example_network(2, seed=0)
    inv = net["inventory"].copy()
    inv["service_level"] = np.where(inv["sku"] == "SKU-0001", 0.98, 0.90)
    net["inventory"] = inv
    data = data_of(net, service_reference_level=0.95)
    flat = data_of(net, service_reference_level=None)
    d = list(data.locations).index("DLR-N01")
    stockout = 2 * data.unit_cost
    # 0.98 -> 49/19 of the reference penalty; 0.90 -> 9/19 (newsvendor odds a / (1 - a)).
    np.testing.assert_allclose(data.lost_sale[:, d] - flat.lost_sale[:, d],
                               stockout * (np.array([49 / 19, 9 / 19]) - 1), rtol=1e-9)


def test_warm_start_from_another_capacity_share_gives_the_cold_optimum():
    # Coordination rounds restart each group from its last basis; the optimum must not
    # depend on where the simplex started.
    data = data_of(tight_network(2))
    w = PenaltyWeights()
    first = solve_group(data, w)
    assert first.basis is not None and len(first.basis[0]) == first.n_variables
    share = np.broadcast_to(data.capacity[:, None], first.usage.shape) * 0.7
    cold = solve_group(data, w, share)
    warm = solve_group(data, w, share, basis=first.basis)
    assert cold.status == warm.status == "optimal"
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    assert cold.objective > first.objective  # the smaller share binds
