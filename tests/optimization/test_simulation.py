"""Multi-echelon replay: conservation, lead times, rationing, and the bullwhip baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimization.policies import (
    Orders,
    OrderUpToMovingAverage,
    moving_average,
    moving_average_error_sigma,
    order_up_to_level,
)
from optimization.simulation import (
    InitialState,
    Network,
    bullwhip_metrics,
    simulate,
    steady_state_start,
)


def tiny_network(dealer_lead=1, dc_lead=2, transfers=False) -> Network:
    transfer_lead = np.array([[-1, 1], [1, -1]]) if transfers else None
    return Network(
        skus=["A", "B"],
        dealers=["D1", "D2", "D3"],
        dcs=["N", "S"],
        dealer_dc=[0, 0, 1],
        dealer_lead=[dealer_lead] * 3,
        dc_lead=[dc_lead] * 2,
        transfer_lead=transfer_lead,
    )


class Scripted:
    """A policy that replays fixed order arrays (tests only)."""

    def __init__(self, dealer, dc, transfers=None):
        self.dealer, self.dc, self.transfers = dealer, dc, transfers
        self.seen = []

    def decide(self, state):
        self.seen.append(state.t)
        tr = None if self.transfers is None else self.transfers[state.step]
        return Orders(self.dealer[state.step], self.dc[state.step], tr)


class RandomOrders:
    """Orders drawn at random: exercises shortages, rationing and backorders."""

    def __init__(self, seed, scale=6.0, transfers=False):
        self.rng = np.random.default_rng(seed)
        self.scale, self.transfers = scale, transfers

    def decide(self, state):
        net = state.network
        tr = None
        if self.transfers:
            tr = self.rng.uniform(0, 3, (net.n_skus, net.n_dcs, net.n_dcs))
            tr[:, np.arange(net.n_dcs), np.arange(net.n_dcs)] = 0.0
        return Orders(
            self.rng.uniform(0, self.scale, (net.n_skus, net.n_dealers)),
            self.rng.uniform(0, self.scale * 1.2, (net.n_skus, net.n_dcs)),
            tr,
        )


@pytest.mark.parametrize("lost_sales", [False, True])
@pytest.mark.parametrize("transfers", [False, True])
def test_units_are_conserved(lost_sales, transfers):
    net = tiny_network(transfers=transfers)
    rng = np.random.default_rng(3)
    demand = rng.poisson(4.0, (2, 3, 40)).astype(float)
    initial = InitialState(
        dealer_on_hand=np.full((2, 3), 5.0),
        dc_on_hand=np.full((2, 2), 8.0),
        dc_in_transit=np.full((2, 2, 1), 3.0),
    )
    res = simulate(net, demand, RandomOrders(1, transfers=transfers), start=10, initial=initial, lost_sales=lost_sales)
    r, f, i = res.records, res.final_stock, res.initial_stock

    # every unit the plant shipped is on hand, in transit, or was sold
    sold = demand[:, :, 10:].sum(axis=(1, 2)) - f["dealer_backorders"].sum(1) - r["dealer_lost"].sum(axis=(0, 2))
    start_units = sum(i[k].sum(1) for k in ("dealer_on_hand", "dealer_in_transit", "dc_on_hand", "dc_in_transit"))
    end_units = sum(f[k].sum(1) for k in ("dealer_on_hand", "dealer_in_transit", "dc_on_hand", "dc_in_transit"))
    np.testing.assert_allclose(start_units + r["dc_orders"].sum(axis=(0, 2)), end_units + sold, atol=1e-8)

    # what dealers ordered was shipped or is still owed; DCs never ship stock they lack
    np.testing.assert_allclose(r["dealer_orders"].sum(axis=(0, 2)), r["dealer_received"].sum(axis=(0, 2)) + f["dealer_owed"].sum(1), atol=1e-8)
    assert (r["dc_on_hand"] >= 0).all() and (r["dealer_on_hand"] >= 0).all()
    assert (r["dc_backorders"] > 0).any(), "the random orders should have caused DC shortages"
    # demand = served on time + backlog growth (or lost)
    assert (r["dealer_served"] <= r["dealer_demand"] + 1e-12).all()
    if lost_sales:
        np.testing.assert_allclose(r["dealer_served"] + r["dealer_lost"], r["dealer_demand"])
        assert (r["dealer_backorders"] == 0).all()
    if transfers:
        np.testing.assert_allclose(r["dc_transfer_out"].sum(), r["dc_transfer_in"].sum())
        assert r["dc_transfer_out"].sum() > 0


@pytest.mark.parametrize("dealer_lead,dc_lead", [(1, 2), (3, 1), (0, 2)])
def test_lead_times_delay_arrivals_exactly(dealer_lead, dc_lead):
    net = tiny_network(dealer_lead=dealer_lead, dc_lead=dc_lead)
    n_t = 8
    demand = np.zeros((2, 3, n_t))
    dealer = np.zeros((n_t, 2, 3))
    dc = np.zeros((n_t, 2, 2))
    dealer[1, 0, 2] = 7.0  # dealer D3 (DC S) orders 7 of SKU A in replay period 1
    dc[2, 1, 1] = 5.0  # DC S orders 5 of SKU B in period 2
    initial = InitialState(dealer_on_hand=np.zeros((2, 3)), dc_on_hand=np.array([[0.0, 10.0], [0.0, 0.0]]))
    res = simulate(net, demand, Scripted(dealer, dc), start=0, initial=initial)
    r = res.records
    on_hand_d3 = r["dealer_on_hand"][:, 0, 2]
    expected = np.where(np.arange(n_t) >= 1 + dealer_lead, 7.0, 0.0)
    np.testing.assert_allclose(on_hand_d3, expected)
    np.testing.assert_allclose(r["dc_on_hand"][:, 0, 1], np.where(np.arange(n_t) >= 1, 3.0, 10.0))
    np.testing.assert_allclose(r["dc_on_hand"][:, 1, 1], np.where(np.arange(n_t) >= 2 + dc_lead, 5.0, 0.0))


def test_in_transit_visible_to_the_policy_and_initial_pipeline_arrives_in_order():
    net = tiny_network(dealer_lead=1, dc_lead=3)
    seen = []

    class Watch:
        def decide(self, state):
            seen.append((state.dc_in_transit[0, 0].copy(), state.dc_on_hand[0, 0]))
            return Orders(np.zeros((2, 3)), np.zeros((2, 2)))

    initial = InitialState(np.zeros((2, 3)), np.zeros((2, 2)), dc_in_transit=np.tile([1.0, 2.0], (2, 2, 1)))
    simulate(net, np.zeros((2, 3, 4)), Watch(), start=0, initial=initial)
    # offsets k = 1, 2, 3: [1, 2, 0] at t = 0; the 1 arrives at t = 1, the 2 at t = 2
    np.testing.assert_allclose(seen[0][0], [1.0, 2.0, 0.0])
    assert [s[1] for s in seen] == [0.0, 1.0, 3.0, 3.0]


def test_dc_rations_proportionally_and_backorders_the_rest():
    net = tiny_network()
    n_t = 3
    dealer = np.zeros((n_t, 2, 3))
    dealer[0, 0, 0], dealer[0, 0, 1] = 6.0, 2.0  # both dealers of DC N want SKU A
    dc = np.zeros((n_t, 2, 2))
    initial = InitialState(np.zeros((2, 3)), np.array([[4.0, 0.0], [0.0, 0.0]]))
    res = simulate(net, np.zeros((2, 3, n_t)), Scripted(dealer, dc), start=0, initial=initial)
    np.testing.assert_allclose(res.records["dealer_received"][0, 0, :2], [3.0, 1.0])
    np.testing.assert_allclose(res.records["dc_backorders"][0, 0, 0], 4.0)
    np.testing.assert_allclose(res.records["dc_served"][0, 0, 0], 4.0)
    np.testing.assert_allclose(res.final_stock["dealer_owed"][0, :2], [3.0, 1.0])


def test_dc_serves_backlog_before_counting_new_orders_on_time():
    net = tiny_network(dc_lead=2)
    n_t = 4
    dealer = np.zeros((n_t, 2, 3))
    dealer[0, 0, :2] = [6.0, 2.0]
    dealer[1, 0, 0] = 2.0
    dealer[2, 0, 1] = 3.0
    dc = np.zeros((n_t, 2, 2))
    dc[0, 0, 0] = 5.0  # arrives in period 2
    initial = InitialState(np.zeros((2, 3)), np.array([[4.0, 0.0], [0.0, 0.0]]))
    res = simulate(net, np.zeros((2, 3, n_t)), Scripted(dealer, dc), start=0, initial=initial)
    r = res.records
    # period 2: owed D1 5, D2 1 + 3 new; 5 units -> shares 25/9 and 20/9, of which
    # D2's first unit pays its backlog, so 11/9 of the new order is on time
    np.testing.assert_allclose(r["dealer_received"][2, 0, :2], [25 / 9, 20 / 9])
    np.testing.assert_allclose(r["dc_served"][:, 0, 0], [4.0, 0.0, 11 / 9, 0.0])
    m = bullwhip_metrics(res).set_index("echelon")
    assert m.loc["dc", "fill_rate"] == pytest.approx((4 + 11 / 9) / 13)


def test_consumer_backorders_are_served_first_and_counted_late():
    net = tiny_network(dealer_lead=1)
    demand = np.zeros((2, 3, 3))
    demand[0, 0] = [5.0, 2.0, 0.0]
    dealer = np.zeros((3, 2, 3))
    dealer[0, 0, 0] = 6.0
    initial = InitialState(np.array([[3.0, 0, 0], [0, 0, 0]]), np.full((2, 2), 20.0))
    res = simulate(net, demand, Scripted(dealer, np.zeros((3, 2, 2))), start=0, initial=initial)
    r = res.records
    np.testing.assert_allclose(r["dealer_served"][:, 0, 0], [3.0, 2.0, 0.0])
    np.testing.assert_allclose(r["dealer_backorders"][:, 0, 0], [2.0, 0.0, 0.0])
    np.testing.assert_allclose(r["dealer_on_hand"][:, 0, 0], [0.0, 2.0, 2.0])
    m = bullwhip_metrics(res, unit_holding_cost=np.array([1.0, 0.0]), unit_shortage_cost=np.array([10.0, 0.0])).set_index("echelon")
    assert m.loc["dealer", "fill_rate"] == pytest.approx(5.0 / 7.0)
    assert m.loc["dealer", "holding_cost"] == pytest.approx(4.0 / 3.0)
    assert m.loc["dealer", "shortage_cost"] == pytest.approx(20.0 / 3.0)
    assert m.loc["dealer", "cost"] == pytest.approx(8.0)
    assert m.loc["dc", "shortage_cost"] == 0.0


def test_policy_sees_only_the_past():
    net = tiny_network()
    demand = np.arange(2 * 3 * 12, dtype=float).reshape(2, 3, 12)

    class Peek:
        def decide(self, state):
            assert state.dealer_demand.shape[-1] == state.t
            assert state.dc_demand.shape[-1] == state.t
            np.testing.assert_array_equal(state.dealer_demand, demand[:, :, : state.t])
            return Orders(np.ones((2, 3)), np.ones((2, 2)))

    res = simulate(net, demand, Peek(), start=5)
    assert res.n_periods == 7
    # before the replay the DCs "observed" their dealers' consumer demand (proxy),
    # in the replay the dealers' orders
    np.testing.assert_allclose(res.records["dc_demand"][:, 0, 0], 2.0)


def test_rejects_transfer_without_lane_and_bad_orders():
    net = tiny_network(transfers=False)
    tr = np.zeros((1, 2, 2, 2))
    tr[0, 0, 0, 1] = 1.0
    with pytest.raises(ValueError, match="without a lane"):
        simulate(net, np.zeros((2, 3, 1)), Scripted(np.zeros((1, 2, 3)), np.zeros((1, 2, 2)), tr), start=0)
    with pytest.raises(ValueError, match="negative"):
        simulate(net, np.zeros((2, 3, 1)), Scripted(-np.ones((1, 2, 3)), np.zeros((1, 2, 2))), start=0)


def test_network_from_contract_tables():
    locations = pd.DataFrame(
        {
            "location": ["PLANT", "DC-B", "DC-A", "X2", "X1"],
            "kind": ["plant", "dc", "dc", "dealer", "dealer"],
            "region": ["c", "b", "a", "a", "b"],
            "parent": ["", "PLANT", "PLANT", "DC-A", "DC-B"],
            "vmi": [False, False, False, True, True],
        }
    )
    lanes = pd.DataFrame(
        {
            "origin": ["PLANT", "PLANT", "DC-A", "DC-B", "DC-A"],
            "destination": ["DC-A", "DC-B", "X2", "X1", "DC-B"],
            "lead_time": [2, 3, 1, 0, 1],
            "cost_per_unit": [1.0, 1.0, 0.5, 0.5, 2.0],
        }
    )
    net = Network.from_tables(locations, lanes, ["S1"])
    assert net.dcs == ["DC-A", "DC-B"] and net.dealers == ["X1", "X2"]
    assert net.dealer_dc.tolist() == [1, 0]
    assert net.dealer_lead.tolist() == [0, 1] and net.dc_lead.tolist() == [2, 3]
    assert net.transfer_lead.tolist() == [[-1, 1], [-1, -1]]
    with pytest.raises(ValueError, match="no lane"):
        Network.from_tables(locations, lanes.drop(index=3), ["S1"])


def test_policy_building_blocks():
    h = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    np.testing.assert_allclose(moving_average(h, 3), [5.0])
    np.testing.assert_allclose(moving_average(h[:, :2], 3), [1.5])
    # errors of MA(2) on a unit ramp are all 1.5
    np.testing.assert_allclose(moving_average_error_sigma(h, 2, 3), [1.5])
    np.testing.assert_allclose(moving_average_error_sigma(h[:, :2], 2, 3), [0.0])
    # S = (L + R) mu + z sigma sqrt(L + R); z_0.95 = 1.6449
    np.testing.assert_allclose(order_up_to_level(np.array([10.0]), np.array([2.0]), 4, 0.95), [40 + 1.644854 * 2 * 2], rtol=1e-6)


def _baseline_run(lead, p, n_t=600, seed=0):
    rng = np.random.default_rng(seed)
    n_s, n_d = 40, 4
    net = Network(
        skus=range(n_s), dealers=["a", "b", "c", "d"], dcs=["X", "Y"], dealer_dc=[0, 0, 1, 1],
        dealer_lead=[lead] * n_d, dc_lead=[lead] * 2,
    )
    # mean 100, sd 10: orders are never truncated at zero, as in Chen et al.'s analysis
    demand = rng.normal(100.0, 10.0, (n_s, n_d, n_t))
    start = 3 * p
    policy = OrderUpToMovingAverage(ma_periods=p, service_level=0.9)
    lv = policy.levels(net, demand[:, :, :start], np.einsum("sdt,dc->sct", demand[:, :, :start], net.membership))
    init = steady_state_start(net, lv["dealer_level"], lv["dc_level"], lv["dealer_mean"], lv["dc_mean"])
    res = simulate(net, demand, policy, start, initial=init)
    return bullwhip_metrics(res, warmup=2 * p).set_index("echelon")


@pytest.mark.parametrize("lead,p", [(1, 4), (2, 8)])
def test_baseline_meets_chen_lower_bound(lead, p):
    m = _baseline_run(lead, p)
    # Chen et al.'s L is the protection period L + R in this simulator's timing (R = 1)
    protection = lead + 1
    bound = 1 + 2 * protection / p + 2 * protection**2 / p**2
    ratio = m.loc["dealer", "bullwhip_ratio"]
    assert ratio >= 0.97 * bound
    # the estimated sigma adds a little variance on top of the bound, not a lot
    assert ratio <= 1.25 * bound
    assert m.loc["dealer", "fill_rate"] > 0.9


def test_baseline_amplification_grows_upstream():
    m = _baseline_run(2, 8)
    assert m.loc["dc", "bullwhip_ratio"] > 1.2
    assert m.loc["dc", "bullwhip_ratio_consumer"] > m.loc["dealer", "bullwhip_ratio_consumer"] * 1.2
    assert np.isfinite(m.to_numpy(dtype=float, na_value=0.0)).all()


def test_steady_state_start_fills_the_pipeline():
    net = tiny_network(dealer_lead=1, dc_lead=3)
    init = steady_state_start(net, np.full((2, 3), 10.0), np.full((2, 2), 50.0), np.full((2, 3), 2.0), np.full((2, 2), 6.0))
    np.testing.assert_allclose(init.dc_in_transit[0, 0], [6.0, 6.0])
    np.testing.assert_allclose(init.dc_on_hand, 38.0)
    assert init.dealer_in_transit.shape[-1] == 0
    np.testing.assert_allclose(init.dealer_on_hand, 10.0)


def test_to_frame_is_long():
    net = tiny_network()
    res = simulate(net, np.ones((2, 3, 6)), RandomOrders(0), start=2)
    frame = res.to_frame()
    assert len(frame) == 4 * 2 * (3 + 2)
    assert set(frame["echelon"]) == {"dealer", "dc"}
    assert {"demand", "orders", "shipped", "on_hand", "backorders"} <= set(frame.columns)


def capacitated_network(transfers=True) -> Network:
    net = tiny_network(transfers=transfers)
    return Network(
        skus=net.skus, dealers=net.dealers, dcs=net.dcs, dealer_dc=net.dealer_dc,
        dealer_lead=net.dealer_lead, dc_lead=net.dc_lead, transfer_lead=net.transfer_lead,
        dealer_capacity=[4.0, np.inf, 3.0], dc_capacity=[6.0, 5.0],
        transfer_capacity=np.array([[np.inf, 1.0], [2.0, np.inf]]),
        dealer_cost=[1.0, 2.0, 3.0], dc_cost=[0.5, 0.25], transfer_cost=np.array([[0.0, 4.0], [5.0, 0.0]]),
    )


def test_lane_capacities_bind_on_every_lane_and_backlogs_carry_over():
    net = capacitated_network()
    rng = np.random.default_rng(5)
    demand = rng.poisson(3.0, (2, 3, 30)).astype(float)
    initial = InitialState(np.full((2, 3), 5.0), np.full((2, 2), 30.0))
    res = simulate(net, demand, RandomOrders(2, scale=5.0, transfers=True), start=5, initial=initial)
    r, f, i = res.records, res.final_stock, res.initial_stock
    received = r["dealer_received"].sum(axis=1)  # all SKUs per dealer lane and period
    assert (received <= np.array([4.0, np.inf, 3.0]) + 1e-9).all()
    assert np.isclose(received[:, 0].max(), 4.0) and np.isclose(received[:, 2].max(), 3.0)
    inbound = r["dc_inbound"].sum(axis=1)
    assert (inbound <= np.array([6.0, 5.0]) + 1e-9).all() and np.isclose(inbound.max(axis=0), [6.0, 5.0]).all()
    # the plant owes what it could not ship and ships it later
    np.testing.assert_allclose(r["dc_orders"].sum(axis=0), r["dc_inbound"].sum(axis=0) + f["dc_owed"], atol=1e-8)
    assert (r["dc_owed"] > 0).any()
    # the dealers' owed stock likewise
    np.testing.assert_allclose(r["dealer_orders"].sum(axis=(0, 2)), r["dealer_received"].sum(axis=(0, 2)) + f["dealer_owed"].sum(1), atol=1e-8)
    # transfers: at most the lane capacity; their cost is recorded per sending DC
    out = r["dc_transfer_out"].sum(axis=1)
    assert (out[:, 0] <= 1.0 + 1e-9).all() and (out[:, 1] <= 2.0 + 1e-9).all()
    np.testing.assert_allclose(r["dc_transfer_cost"].sum(axis=1), out * np.array([4.0, 5.0]))
    # units are conserved with plant shipments (not orders) entering the network
    sold = demand[:, :, 5:].sum(axis=(1, 2)) - f["dealer_backorders"].sum(1)
    start_units = sum(i[k].sum(1) for k in ("dealer_on_hand", "dealer_in_transit", "dc_on_hand", "dc_in_transit"))
    end_units = sum(f[k].sum(1) for k in ("dealer_on_hand", "dealer_in_transit", "dc_on_hand", "dc_in_transit"))
    np.testing.assert_allclose(start_units + r["dc_inbound"].sum(axis=(0, 2)), end_units + sold, atol=1e-8)
    # transport cost per echelon = units on the lanes into it x cost per unit
    m = bullwhip_metrics(res).set_index("echelon")
    dealer_cost = (r["dealer_received"] * np.array([1.0, 2.0, 3.0])).sum(axis=(1, 2)).mean()
    dc_cost = ((r["dc_inbound"] * np.array([0.5, 0.25])).sum(axis=(1, 2)) + r["dc_transfer_cost"].sum(axis=(1, 2))).mean()
    np.testing.assert_allclose([m.loc["dealer", "transport_cost"], m.loc["dc", "transport_cost"]], [dealer_cost, dc_cost])
    assert np.isnan(m.loc["dealer", "cost"])  # no holding cost given: the total is unknown


def test_plant_backlog_is_part_of_the_dc_position():
    net = Network(skus=["A"], dealers=["D"], dcs=["C"], dealer_dc=[0], dealer_lead=[1], dc_lead=[1], dc_capacity=[4.0])
    dc = np.zeros((4, 1, 1))
    dc[0] = 10.0
    policy = Scripted(np.zeros((4, 1, 1)), dc)
    seen = []
    real = policy.decide
    policy.decide = lambda state: (seen.append((state.dc_owed.copy(), state.dc_position.copy())), real(state))[1]
    res = simulate(net, np.zeros((1, 1, 4)), policy, start=0)
    assert [float(o[0, 0]) for o, _ in seen] == [0.0, 6.0, 2.0, 0.0]
    assert all(float(p[0, 0]) == (0.0 if k == 0 else 10.0) for k, (_, p) in enumerate(seen))
    np.testing.assert_allclose(res.records["dc_inbound"][:, 0, 0], [4.0, 4.0, 2.0, 0.0])


def test_negative_orders_need_allow_returns_and_then_flow_back():
    net = tiny_network(dealer_lead=1, dc_lead=1)
    dealer = np.zeros((3, 2, 3))
    dealer[0, 0, 0] = -2.0
    dc = np.zeros((3, 2, 2))
    dc[1, 0, 0] = -1.0
    initial = InitialState(np.full((2, 3), 5.0), np.full((2, 2), 10.0))
    with pytest.raises(ValueError, match="negative"):
        simulate(net, np.zeros((2, 3, 3)), Scripted(dealer, dc), start=0, initial=initial)
    res = simulate(net, np.zeros((2, 3, 3)), Scripted(dealer, dc), start=0, initial=initial, allow_returns=True)
    r = res.records
    assert r["dc_on_hand"][0, 0, 0] == 12.0  # the dealer's return is back at its DC at once
    assert r["dealer_on_hand"][1, 0, 0] == 3.0  # and leaves the dealer after the lead time
    assert r["dc_on_hand"][2, 0, 0] == 11.0  # the DC's return reaches the plant one lead time later
    with pytest.raises(ValueError, match="backorders"):
        simulate(net, np.zeros((2, 3, 3)), Scripted(dealer, dc), start=0, allow_returns=True, lost_sales=True)


def test_lanes_table_gives_capacities_and_costs():
    locations = pd.DataFrame({"location": ["P", "C1", "C2", "D1"], "kind": ["plant", "dc", "dc", "dealer"],
                              "parent": ["", "P", "P", "C1"]})
    lanes = pd.DataFrame({"origin": ["P", "P", "C1", "C1"], "destination": ["C1", "C2", "D1", "C2"],
                          "lead_time": [2, 2, 1, 1], "cost_per_unit": [1.5, 1.0, 0.5, 3.0],
                          "capacity": [100.0, np.nan, 20.0, 5.0]})
    net = Network.from_tables(locations, lanes, ["A"])
    np.testing.assert_allclose(net.dc_capacity, [100.0, np.inf])
    np.testing.assert_allclose(net.dealer_capacity, [20.0])
    np.testing.assert_allclose(net.dc_cost, [1.5, 1.0])
    assert net.transfer_capacity[0, 1] == 5.0 and net.transfer_cost[0, 1] == 3.0 and net.transfer_lead[1, 0] == -1


def test_order_amplification_sums_the_echelons():
    from optimization.simulation import order_amplification

    net = tiny_network()
    demand = np.random.default_rng(0).poisson(5.0, (2, 3, 30)).astype(float)
    res = simulate(net, demand, OrderUpToMovingAverage(ma_periods=3), start=10,
                   dates=pd.date_range("2024-01-01", periods=20, freq="W-MON"))
    amp = order_amplification(res, warmup=2)
    assert list(amp.columns) == ["period", "consumer_demand", "dealer_orders", "dc_orders"] and len(amp) == 18
    np.testing.assert_allclose(amp["consumer_demand"], demand[:, :, 12:].sum(axis=(0, 1)))
    np.testing.assert_allclose(amp["dc_orders"], res.records["dc_orders"][2:].sum(axis=(1, 2)))
    assert amp["period"].iloc[0] == pd.Timestamp("2024-01-15")


def test_exponential_smoothing_policy_incremental_equals_from_scratch():
    from optimization.policies import OrderUpToExponentialSmoothing, exponential_smoothing

    y = np.array([[[4.0, 6.0, 5.0, 9.0, 3.0]]])
    level, errors = exponential_smoothing(y, 0.5, init_periods=2)
    f = 5.0  # mean of the first two, then F += 0.5 (D - F) for 5, 9, 3
    for d in (5.0, 9.0, 3.0):
        f += 0.5 * (d - f)
    assert level[0, 0] == pytest.approx(f) and np.isnan(errors[0, 0, :2]).all()

    net = tiny_network()
    demand = np.random.default_rng(4).poisson(6.0, (2, 3, 40)).astype(float)
    policy = OrderUpToExponentialSmoothing(alpha=0.3, sigma_periods=5)
    res = simulate(net, demand, policy, start=12)
    fresh = OrderUpToExponentialSmoothing(alpha=0.3, sigma_periods=5)
    dc_hist = np.concatenate([np.einsum("sdt,dc->sct", demand[:, :, :12], net.membership),
                              res.records["dc_demand"].transpose(1, 2, 0)], axis=-1)
    a = policy.levels(net, demand, dc_hist)   # cached state advanced one period
    b = fresh.levels(net, demand, dc_hist)    # recomputed over the whole history
    for key in ("dealer_level", "dc_level", "dealer_sigma"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-10)


def test_min_max_orders_up_to_max_at_or_below_min():
    from optimization.policies import MinMaxPolicy

    net = Network(skus=["A", "B"], dealers=["D1", "D2"], dcs=["C"], dealer_dc=[0, 0], dealer_lead=[1, 1], dc_lead=[1])
    min_qty = np.array([[3.0, 3.0], [2.0, np.nan]])
    max_qty = np.array([[10.0, 10.0], [6.0, np.nan]])
    initial = InitialState(np.array([[3.0, 4.0], [5.0, 0.0]]), np.full((2, 1), 100.0))
    demand = np.zeros((2, 2, 3))
    demand[:, :, 1] = [[1.0, 1.0], [1.0, 1.0]]
    upstream = OrderUpToMovingAverage(ma_periods=2)
    res = simulate(net, demand, MinMaxPolicy(min_qty, max_qty, upstream=upstream), start=1, initial=initial)
    q = res.records["dealer_orders"]
    assert q[0, 0, 0] == 7.0  # at min: order up to max
    assert q[0, 0, 1] == 0.0  # above min: wait
    assert q[0, 1, 0] == 0.0  # 5 > 2
    # no band: the upstream order-up-to policy orders for that dealer
    own = upstream.levels(net, demand[:, :, :1], np.zeros((2, 1, 1)))["dealer_level"][1, 1]
    assert q[0, 1, 1] == pytest.approx(max(own, 0.0))
    assert q[1, 0, 0] == 0.0  # D1: position 3 + 7 - 1 = 9 > 3
    assert q[1, 0, 1] == 7.0  # D2: 4 - 1 = 3, down to its min: up to 10


def test_lot_rules_round_every_policys_orders_up_to_whole_packs_and_the_moq():
    net = tiny_network()
    rng = np.random.default_rng(3)
    demand = rng.poisson(2.0, (2, 3, 40)).astype(float)
    pack, lot = np.array([1.0, 6.0]), np.array([5.0, 12.0])
    policy = OrderUpToMovingAverage(ma_periods=4, service_level=0.9)
    res = simulate(net, demand, policy, start=10, case_pack=pack, lot_size=lot)
    for name in ("dealer_orders", "dc_orders"):
        q = res.records[name]
        placed = q > 0
        assert placed.any()
        per_sku = np.broadcast_to(pack[None, :, None], q.shape)
        assert np.allclose(q / per_sku, np.round(q / per_sku))
        assert (q[placed] >= np.broadcast_to(lot[None, :, None], q.shape)[placed]).all()
    # the same run without lot rules orders other (fractional) quantities
    free = simulate(net, demand, OrderUpToMovingAverage(ma_periods=4, service_level=0.9), start=10)
    assert not np.allclose(free.records["dealer_orders"], res.records["dealer_orders"])
    # an order-up-to policy sees its rounded orders in its position: lots do not pile up
    extra = res.records["dealer_orders"].sum(axis=0) - free.records["dealer_orders"].sum(axis=0)
    assert (extra <= lot[:, None] + 1.0).all()
    with pytest.raises(ValueError):
        simulate(net, demand, policy, start=10, case_pack=np.array([1.0, 6.0]), lot_size=np.array([5.0, 3.0]))


def test_dealer_orders_can_have_their_own_lot_while_dc_orders_keep_the_moq():
    net = tiny_network()
    rng = np.random.default_rng(3)
    demand = rng.poisson(2.0, (2, 3, 40)).astype(float)
    pack, lot = np.array([1.0, 6.0]), np.array([5.0, 12.0])
    res = simulate(net, demand, OrderUpToMovingAverage(ma_periods=4, service_level=0.9), start=10,
                   case_pack=pack, lot_size=lot, dealer_lot_size=pack)
    dealer, dc = res.records["dealer_orders"], res.records["dc_orders"]
    assert np.allclose(dealer / pack[None, :, None], np.round(dealer / pack[None, :, None]))
    assert ((dealer > 0) & (dealer < lot[None, :, None])).any()  # whole packs below the MOQ reach dealers
    assert (dc[dc > 0] >= np.broadcast_to(lot[None, :, None], dc.shape)[dc > 0]).all()
    # per SKU and dealer: the first dealer keeps the MOQ
    per_dealer = np.repeat(pack[:, None], 3, axis=1)
    per_dealer[:, 0] = lot
    res = simulate(net, demand, OrderUpToMovingAverage(ma_periods=4, service_level=0.9), start=10,
                   case_pack=pack, lot_size=lot, dealer_lot_size=per_dealer)
    first = res.records["dealer_orders"][:, :, 0]
    assert (first[first > 0] >= np.broadcast_to(lot[None, :], first.shape)[first > 0]).all()
    with pytest.raises(ValueError, match="dealer_lot_size"):
        simulate(net, demand, OrderUpToMovingAverage(ma_periods=4, service_level=0.9), start=10,
                 case_pack=pack, lot_size=lot, dealer_lot_size=np.array([1.0, 3.0]))


def test_round_to_lots_drops_less_than_half_a_unit_and_rounds_the_rest_up():
    from optimization.simulation import round_to_lots

    q = np.array([[0.4, 0.5, 7.0, 13.0]]).T.repeat(1, axis=1)
    out = round_to_lots(q.T.reshape(1, 4), np.array([6.0]), np.array([12.0]))
    np.testing.assert_array_equal(out, [[0.0, 12.0, 12.0, 18.0]])
