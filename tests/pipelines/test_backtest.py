"""Bullwhip backtest: the comparison table, no peeking, and the VMI plan -> orders mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimization.simulation import SimulationState
from pipelines.backtest import TABLE_COLUMNS, VmiPolicy, prepare_backtest, run_backtest
from pipelines.loading import load_dataset
from pipelines.settings import load_settings
from tests.conftest import make_config


@pytest.fixture(scope="module")
def demo(small_demo_dir, tmp_path_factory):
    config = make_config(tmp_path_factory.mktemp("backtest"), small_demo_dir)
    settings = load_settings(config)
    return load_dataset(settings.data_dir, freq=settings.freq), settings


@pytest.fixture(scope="module")
def table_and_forecast_calls(demo):
    import forecasting

    dataset, settings = demo
    calls = []
    real = forecasting.forecast

    def spy(history, **kwargs):
        calls.append((pd.Timestamp(history["date"].max()), kwargs["horizon"]))
        return real(history, **kwargs)

    forecasting.forecast = spy
    try:
        table = run_backtest(dataset, settings, weeks=8)
    finally:
        forecasting.forecast = real
    return table, calls


def test_table_has_both_policies_and_echelons(table_and_forecast_calls):
    table, _ = table_and_forecast_calls
    assert list(table.columns[:5]) == TABLE_COLUMNS
    assert sorted(zip(table["policy"], table["echelon"])) == [
        ("baseline", "dc"), ("baseline", "dealer"), ("vmi", "dc"), ("vmi", "dealer"),
    ]
    core = table[["bullwhip_ratio", "fill_rate", "avg_on_hand", "cycle_service_level", "turnover_days", "cost"]]
    assert np.isfinite(core.to_numpy(float)).all()
    assert table["fill_rate"].between(0, 1).all()
    assert table["cycle_service_level"].between(0, 1).all()
    assert (table["avg_on_hand"] >= 0).all() and (table["bullwhip_ratio"] >= 0).all()
    assert (table.loc[table["policy"] == "vmi", "plans_not_optimal"] == 0).all()


def test_vmi_reforecasts_on_cadence_without_peeking(demo, table_and_forecast_calls):
    dataset, settings = demo
    _, calls = table_and_forecast_calls
    setup = prepare_backtest(dataset, settings, 8)
    window = setup.dates[setup.start : setup.start + 8]
    every = settings.backtest.forecast_every
    # one forecast per cadence, each on history strictly before the week it plans
    assert [c[0] for c in calls] == [window[k] - window.freq for k in range(0, 8, every)]
    assert all(h >= settings.plan.horizon for _, h in calls)


def test_baseline_alone_gives_the_same_rows(demo, table_and_forecast_calls):
    dataset, settings = demo
    table, _ = table_and_forecast_calls
    alone = run_backtest(dataset, settings, weeks=8, policies=("baseline",))
    both = table.loc[table["policy"] == "baseline"].reset_index(drop=True)
    cols = ["bullwhip_ratio", "fill_rate", "avg_on_hand", "cost"]
    pd.testing.assert_frame_equal(alone[cols], both[cols])


def test_too_little_history_is_refused(demo):
    dataset, settings = demo
    with pytest.raises(ValueError, match="history"):
        run_backtest(dataset, settings, weeks=105)


def _state(setup, t, **arrays):
    net = setup.network
    zeros_d = np.zeros((net.n_skus, net.n_dealers))
    zeros_c = np.zeros((net.n_skus, net.n_dcs))
    width = net.max_lead
    fields = dict(
        dealer_on_hand=zeros_d, dealer_backorders=zeros_d, dealer_owed=zeros_d,
        dealer_in_transit=np.zeros((net.n_skus, net.n_dealers, width)),
        dc_on_hand=zeros_c, dc_backorders=zeros_c,
        dc_in_transit=np.zeros((net.n_skus, net.n_dcs, width)),
    )
    fields.update(arrays)
    return SimulationState(
        network=net, t=t, step=0, dealer_demand=setup.demand[:, :, :t],
        dc_demand=np.zeros((net.n_skus, net.n_dcs, t)), **fields,
    )


def test_plan_rows_become_orders_and_state_becomes_plan_inputs(demo):
    dataset, settings = demo
    setup = prepare_backtest(dataset, settings, 8)
    policy = VmiPolicy(setup, dataset, settings, fallback=None)
    net = setup.network
    date, week1, week2 = setup.dates[setup.start : setup.start + 3]
    sku = net.skus[1]
    dealer = net.dealers[0]
    own_dc = net.dcs[net.dealer_dc[0]]
    other_dc = [d for d in net.dcs if d != own_dc][0]
    plan = pd.DataFrame(
        {
            "sku": [sku, sku, sku, sku],
            "origin": ["PLANT", own_dc, own_dc, own_dc],
            "destination": [own_dc, dealer, other_dc, dealer],
            "ship_date": [date, date, date, week1],
            "arrival_date": [week2, week1, week1, week2],
            "qty": [40.0, 7.0, 5.0, 99.0],
            "kind": ["replenishment", "replenishment", "transfer", "replenishment"],
            "reason": ["r"] * 4,
        }
    )
    orders = policy._first_period(plan, date)
    s, d, c, o = 1, 0, net.dcs.index(own_dc), net.dcs.index(other_dc)
    assert orders.dc[s, c] == 40.0 and orders.dc.sum() == 40.0
    assert orders.dealer[s, d] == 7.0 and orders.dealer.sum() == 7.0  # next week's row waits
    assert orders.transfers[s, c, o] == 5.0 and orders.transfers.sum() == 5.0

    in_transit = np.zeros((net.n_skus, net.n_dcs, net.max_lead))
    in_transit[s, c, 1] = 12.0  # arrives two periods ahead
    owed = np.zeros((net.n_skus, net.n_dealers))
    owed[s, d] = 3.0
    dc_on_hand = np.full((net.n_skus, net.n_dcs), 10.0)
    state = _state(setup, setup.start, dc_in_transit=in_transit, dealer_owed=owed, dc_on_hand=dc_on_hand,
                   dc_backorders=owed @ net.membership)
    inbound = policy._inbound(state)
    row = inbound.loc[inbound["location"] == own_dc].iloc[0]
    assert row["arrival_date"] == setup.dates[setup.start + 2] and row["qty"] == 12.0
    owed_row = inbound.loc[inbound["location"] == dealer].iloc[0]
    assert owed_row["arrival_date"] == setup.dates[setup.start + int(net.dealer_lead[d])] and owed_row["qty"] == 3.0
    inv = policy._inventory(state).set_index(["sku", "location"])
    assert inv.loc[(sku, own_dc), "on_hand"] == 7.0  # net of what it owes the dealer
    assert inv.loc[(sku, other_dc), "on_hand"] == 10.0
