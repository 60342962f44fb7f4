"""Bullwhip backtest: the comparison table, no peeking, and the VMI plan -> orders mapping."""

from __future__ import annotations

import dataclasses

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
    real_refresh = forecasting.refresh

    def spy(history, **kwargs):
        calls.append((pd.Timestamp(history["date"].max()), kwargs["horizon"]))
        return real(history, **kwargs)

    def spy_refresh(history, previous, **kwargs):
        calls.append(("refresh", pd.Timestamp(history["date"].max()), kwargs["horizon"]))
        return real_refresh(history, previous, **kwargs)

    forecasting.forecast = spy
    forecasting.refresh = spy_refresh
    try:
        table = run_backtest(dataset, settings, weeks=8)
    finally:
        forecasting.forecast = real
        forecasting.refresh = real_refresh
    return table, calls


def test_table_has_every_policy_and_echelon(table_and_forecast_calls):
    table, _ = table_and_forecast_calls
    assert TABLE_COLUMNS == ["policy", "echelon", "bullwhip_ratio", "fill_rate", "cycle_service_level",
                             "avg_on_hand", "turnover_days", "cost"]
    assert list(table.columns[: len(TABLE_COLUMNS)]) == TABLE_COLUMNS
    assert sorted(zip(table["policy"], table["echelon"])) == [
        ("baseline", "dc"), ("baseline", "dealer"), ("minmax", "dc"), ("minmax", "dealer"), ("vmi", "dc"), ("vmi", "dealer"),
    ]
    assert {"backorders", "holding_cost", "shortage_cost", "transport_cost"} <= set(table.columns)
    assert (table["transport_cost"] > 0).all()  # the demo lanes have a cost per unit
    np.testing.assert_allclose(table["cost"], table["holding_cost"] + table["shortage_cost"] + table["transport_cost"])
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
    refresh_every = settings.backtest.refresh_every
    full = [c for c in calls if c[0] != "refresh"]
    refreshed = [c[1:] for c in calls if c[0] == "refresh"]
    # one full forecast per cadence, each on history strictly before the week it plans
    assert [c[0] for c in full] == [window[k] - window.freq for k in range(0, 8, every)]
    assert all(h >= settings.plan.horizon for _, h in full)
    # in between, a refresh of the chosen models every refresh_every weeks, no peeking either
    expect = [window[k] - window.freq for k in range(8) if k % every and (k % every) % refresh_every == 0]
    assert [c[0] for c in refreshed] == expect and expect
    assert all(h >= settings.plan.horizon for _, h in refreshed)
    assert (table_and_forecast_calls[0].loc[lambda t: t["policy"] == "vmi", "seconds_refresh"] > 0).all()


def test_baseline_alone_gives_the_same_rows(demo, table_and_forecast_calls):
    dataset, settings = demo
    table, _ = table_and_forecast_calls
    alone = run_backtest(dataset, settings, weeks=8, policies=("baseline",))
    assert list(alone["policy"].unique()) == ["baseline"]
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


def test_min_max_dealers_order_only_at_or_below_their_warning_line(demo):
    from pipelines.backtest import replay_policies

    dataset, settings = demo
    rep = replay_policies(dataset, settings, weeks=8, policies=("minmax",))
    res, setup = rep.results["minmax"], rep.setup
    q = res.records["dealer_orders"]
    assert q.sum() > 0
    # every order fills the position up to max_qty: at most max - min + one period's demand
    banded = np.isfinite(setup.dealer_min) & np.isfinite(setup.dealer_max)
    ordered = (q > 0) & banded[None]
    assert ordered.any()
    upto = np.broadcast_to(setup.dealer_max[None] - setup.dealer_min[None], q.shape)[ordered]
    assert (q[ordered] >= upto - 1e-9).all()  # position was <= min, so at least max - min


def test_windows_and_amplification(demo):
    from pipelines.backtest import replay_policies

    dataset, settings = demo
    rep = replay_policies(dataset, settings, weeks=12, policies=("baseline", "minmax"))
    windows = rep.window_table(4)
    n_after = 12 - rep.warmup
    expected = [k for k, lo in enumerate(range(0, n_after, 4)) if min(lo + 4, n_after) - lo >= 2]
    assert sorted(windows["step"].unique()) == expected
    assert len(windows) == len(expected) * 4  # 2 policies x 2 echelons per window
    assert set(windows["policy"]) == {"baseline", "minmax"} and set(windows["echelon"]) == {"dealer", "dc"}
    first = windows.loc[(windows["step"] == 0) & (windows["policy"] == "baseline") & (windows["echelon"] == "dealer")]
    assert first["window_start"].iloc[0] == rep.setup.dates[rep.setup.start + rep.warmup]
    amp = rep.amplification()
    assert list(amp.columns) == ["policy", "period", "consumer_demand", "dealer_orders", "dc_orders"]
    assert len(amp) == 2 * n_after
    base = amp.loc[amp["policy"] == "baseline"]
    np.testing.assert_allclose(base["consumer_demand"].to_numpy(),
                               rep.setup.demand[:, :, rep.setup.start + rep.warmup : rep.setup.n_periods].sum(axis=(0, 1)))


def test_vmi_sees_what_the_plant_still_owes_a_dc(demo):
    dataset, settings = demo
    setup = prepare_backtest(dataset, settings, 8)
    policy = VmiPolicy(setup, dataset, settings, fallback=None)
    net = setup.network
    owed = np.zeros((net.n_skus, net.n_dcs))
    owed[2, 1] = 9.0
    state = _state(setup, setup.start, dc_owed=owed)
    inbound = policy._inbound(state)
    row = inbound.loc[inbound["location"] == net.dcs[1]].iloc[0]
    assert row["qty"] == 9.0 and row["sku"] == net.skus[2]
    assert row["arrival_date"] == setup.dates[setup.start + int(net.dc_lead[1])]


def test_backtest_flow_publishes_table_windows_chart_and_mlflow_steps(demo, tmp_path):
    import mlflow

    from pipelines.backtest_flow import run_backtest_flow
    from pipelines.progress import Progress

    _, settings = demo
    settings = settings.model_copy(update={"output_dir": tmp_path / "out", "name": f"bt-{tmp_path.name}"})
    table, path = run_backtest_flow(settings, weeks=12, progress=Progress(live=False), policies=("baseline", "minmax"))
    folder = path.parent
    for name in ("backtest.csv", "backtest_windows.csv", "order_amplification.csv", "order_amplification.png"):
        assert (folder / name).is_file(), name
    assert (folder / "order_amplification.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    published = pd.read_csv(path)
    assert (published["run_id"] == folder.name).all()
    assert list(published.drop(columns="run_id").columns[: len(TABLE_COLUMNS)]) == TABLE_COLUMNS
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    client = mlflow.MlflowClient()
    run_id = __import__("json").loads((folder / "manifest.json").read_text())["mlflow_run_id"]
    run = client.get_run(run_id)
    assert run.data.params["policies"] == "baseline,minmax"
    assert run.data.metrics["baseline_dc_bullwhip_ratio"] == pytest.approx(
        table.set_index(["policy", "echelon"]).loc[("baseline", "dc"), "bullwhip_ratio"])
    history = client.get_metric_history(run_id, "window_baseline_dc_bullwhip_ratio")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(len(history))) and len(history) >= 2
    artifacts = {a.path for a in client.list_artifacts(run_id, "backtest")}
    assert "backtest/order_amplification.png" in artifacts


def test_exponential_smoothing_baseline_is_configurable(demo):
    from optimization.policies import OrderUpToExponentialSmoothing
    from pipelines.backtest import baseline_policy

    dataset, settings = demo
    es = settings.model_copy(update={"backtest": settings.backtest.model_copy(
        update={"baseline_forecast": "exponential_smoothing", "es_alpha": 0.3})})
    setup = prepare_backtest(dataset, es, 8)
    policy = baseline_policy(setup, es)
    assert isinstance(policy, OrderUpToExponentialSmoothing) and policy.alpha == 0.3
    ma = run_backtest(dataset, settings, weeks=8, policies=("baseline",))
    table = run_backtest(dataset, es, weeks=8, policies=("baseline",))
    assert np.isfinite(table["bullwhip_ratio"]).all()
    assert not np.allclose(table["bullwhip_ratio"], ma["bullwhip_ratio"])


def test_promotion_calendar_is_only_promo_and_price_of_the_window_and_follows_the_nightly_inputs(demo):
    dataset, settings = demo
    setup = prepare_backtest(dataset, settings, 8)
    date = setup.dates[setup.start]

    def with_known(value):
        return settings.model_copy(update={"backtest": settings.backtest.model_copy(update={"known_promotions": value})})

    # unset: known exactly when the data folder has a calendar, as in the nightly job
    assert settings.backtest.known_promotions is None
    no_calendar = dataclasses.replace(dataset, promotions=None)
    assert VmiPolicy(setup, no_calendar, settings, fallback=None)._promotion_calendar(date, 4) is None
    assert dataset.promotions is not None
    assert VmiPolicy(setup, dataset, settings, fallback=None)._promotion_calendar(date, 4) is not None
    assert VmiPolicy(setup, dataset, with_known(False), fallback=None)._promotion_calendar(date, 4) is None
    on = with_known(True)
    cal = VmiPolicy(setup, no_calendar, on, fallback=None)._promotion_calendar(date, 4)
    assert "qty" not in cal.columns and {"promo", "price"} <= set(cal.columns)
    assert cal["date"].min() == date and cal["date"].max() == setup.dates[setup.start + 3]
    assert cal["promo"].sum() >= 0 and len(cal) == (dataset.demand["date"].between(date, setup.dates[setup.start + 3])).sum()


def test_abc_classes_and_targets_see_only_demand_before_the_plan_date(demo):
    from pipelines.nightly import replenishment_policy

    dataset, settings = demo
    settings = settings.model_copy(update={"plan": settings.plan.model_copy(
        update={"fill_rate_by_class": {"A": 0.99}, "vmi_fill_rate": 0.97})})
    as_of = pd.Timestamp(dataset.demand["date"].max()) - pd.Timedelta(weeks=8)
    before = replenishment_policy(dataset, settings, as_of=as_of)
    cls = before.drop_duplicates("sku").set_index("sku")["abc_class"]
    smallest = cls[cls == "C"].index[0]
    # a sales burst after the plan date makes that C item the biggest of the year ...
    demand = dataset.demand.copy()
    late = (demand["sku"] == smallest) & (demand["date"] >= as_of)
    demand.loc[late, "qty"] = demand.loc[late, "qty"] + 10_000
    burst = dataclasses.replace(dataset, demand=demand)
    assert replenishment_policy(burst, settings).set_index("sku").loc[smallest, "abc_class"].iloc[0] == "A"
    # ... but not for a plan made before it
    again = replenishment_policy(burst, settings, as_of=as_of)
    pd.testing.assert_frame_equal(again, before)
    dealer = again["location"].isin(dataset.locations.loc[dataset.locations["kind"] == "dealer", "location"])
    assert (again.loc[dealer & (again["abc_class"] == "A"), "fill_rate"] == 0.99).all()
    assert (again.loc[dealer & (again["abc_class"] != "A"), "fill_rate"] == 0.97).all()  # every demo dealer is VMI
    assert again.loc[~dealer, "fill_rate"].isna().all()  # DCs keep their cycle service level
    assert (again.loc[~dealer, "parent"] == "PLANT").all() and again["lot_size"].ge(1).all()
    # the fill model's overshoot needs the case pack (the plan ships whole packs)
    packs = again["sku"].map(dataset.items.set_index("sku")["case_pack"])
    np.testing.assert_array_equal(again["case_pack"].to_numpy(), packs.to_numpy(float))


def test_backlog_is_demand_of_the_first_period_a_shipment_can_reach(demo):
    # A shipment made today arrives one lane lead time out; a backlog put on today's date
    # would be a lost sale to the plan, which would then never ship for it.
    import types

    dataset, settings = demo
    setup = prepare_backtest(dataset, settings, 8)
    policy = VmiPolicy(setup, dataset, settings, fallback=None)
    net = setup.network
    dates = setup.dates[setup.start : setup.start + 4]
    sku, dealer = net.skus[0], net.dealers[0]
    fc = pd.DataFrame({"sku": sku, "location": dealer, "date": dates, "mean": 5.0, "q90": 8.0, "model": "m"})
    policy._forecast = types.SimpleNamespace(forecasts=fc)
    backorders = np.zeros((net.n_skus, net.n_dealers))
    backorders[0, 0] = 30.0
    out = policy._forecasts_now(_state(setup, setup.start, dealer_backorders=backorders)).set_index("date")
    lead = int(net.dealer_lead[0])
    assert lead >= 1
    assert out.loc[dates[lead], "mean"] == 35.0 and out.loc[dates[lead], "q90"] == 38.0
    assert out.loc[dates[0], "mean"] == 5.0
    assert out["mean"].sum() == 4 * 5.0 + 30.0


@pytest.mark.parametrize("min_qty_as", ["floor", "reorder_point"])
def test_each_period_keeps_the_dealer_levels_and_their_band(demo, min_qty_as):
    dataset, settings = demo
    settings = settings.model_copy(update={"plan": settings.plan.model_copy(update={"min_qty_as": min_qty_as})})
    setup = prepare_backtest(dataset, settings, 8)
    policy = VmiPolicy(setup, dataset, settings, fallback=None)
    net = setup.network
    inv = dataset.inventory.assign(sku=dataset.inventory["sku"].astype(str), location=dataset.inventory["location"].astype(str))
    band = inv.loc[inv["location"].isin(net.dealers) & inv["min_qty"].notna() & inv["max_qty"].notna()
                   & (inv["max_qty"] > inv["min_qty"] + 4)].iloc[:3]
    assert len(band) == 3
    mean_p = np.array([2.0, 2.0, 2.0])
    lo = band["min_qty"].to_numpy(float) - (mean_p if min_qty_as == "reorder_point" else 0.0)
    hi = band["max_qty"].to_numpy(float)
    # below the band's lower end, inside it, above its upper end
    ss = np.array([max(lo[0], 0.0) - 0.5, 0.5 * (max(lo[1], 0.0) + hi[1]), hi[2] + 3.0])
    ss = np.maximum(ss, 0.0)
    dc_row = {"sku": band["sku"].iloc[0], "location": net.dcs[0], "safety_stock": 50.0,
              "mean_protection_demand": 9.0, "order_up_to": 59.0}
    safety = pd.DataFrame({"sku": band["sku"], "location": band["location"], "safety_stock": ss,
                           "mean_protection_demand": mean_p, "order_up_to": mean_p + ss})
    safety = pd.concat([safety, pd.DataFrame([dc_row])], ignore_index=True)
    policy._record_targets(safety, 2)
    s_i = [net.skus.index(s) for s in band["sku"]]
    d_i = [net.dealers.index(d) for d in band["location"]]
    got = policy.targets_["order_up_to"][s_i, d_i, 2]
    np.testing.assert_allclose(got, mean_p + ss)
    want_band = mean_p + np.minimum(np.maximum(ss, np.clip(lo, 0.0, None)), hi)
    np.testing.assert_allclose(policy.targets_["band_order_up_to"][s_i, d_i, 2], want_band)
    assert want_band[2] == mean_p[2] + hi[2]  # capped at max_qty
    # other periods and cells stay unknown; DC rows are not dealer levels
    assert np.isnan(policy.targets_["order_up_to"][:, :, 1]).all()
    assert np.isfinite(policy.targets_["order_up_to"][:, :, 2]).sum() == 3
    policy._record_targets(safety, 99)  # outside the window: ignored, not an error
    # a backlog the plan carries as demand is not part of the level of the position
    backorders = np.zeros((net.n_skus, net.n_dealers))
    backorders[s_i[0], d_i[0]] = 1.5
    policy._record_targets(safety, 3, backorders)
    assert policy.targets_["order_up_to"][s_i[0], d_i[0], 3] == pytest.approx(got[0] - 1.5)
    assert policy.targets_["band_order_up_to"][s_i[0], d_i[0], 3] == pytest.approx(want_band[0] - 1.5)


def test_a_lead_in_replays_before_the_measured_weeks_from_the_same_start(demo):
    from pipelines.backtest import replay_policies

    dataset, settings = demo

    def with_lead_in(k):
        return settings.model_copy(update={"backtest": settings.backtest.model_copy(update={"lead_in": k})})

    plain = replay_policies(dataset, settings, weeks=10, policies=("baseline",))
    led = replay_policies(dataset, with_lead_in(6), weeks=10, policies=("baseline",))
    n = plain.setup.n_periods
    assert plain.setup.start == n - 10 and plain.warmup == plain.setup.network.max_lead
    # six more periods replayed, all of them left out: exactly the last 10 are measured
    assert led.setup.start == n - 16 and led.warmup == 6
    table = led.table().set_index("echelon")
    assert (table["n_periods"] == 10).all()
    amp = led.amplification()
    assert list(pd.to_datetime(amp["period"])) == list(led.setup.dates[n - 10 : n])
    # a lead-in shorter than the longest lead time still leaves out the lead time
    short = replay_policies(dataset, with_lead_in(1), weeks=10, policies=("baseline",))
    assert short.warmup == max(1, short.setup.network.max_lead)
    prepare_backtest(dataset, settings, 96)  # 96 weeks alone fit the history, with the lead-in they do not
    with pytest.raises(ValueError, match="history"):
        run_backtest(dataset, with_lead_in(10), weeks=96)


def test_vmi_without_the_moq_ships_dealers_whole_packs_and_orders_dcs_in_moq_lots(demo):
    from pipelines.backtest import replay_policies

    dataset, settings = demo
    packs = settings.model_copy(update={"plan": settings.plan.model_copy(update={"vmi_moq": False})})
    rep = replay_policies(dataset, packs, weeks=4, policies=("vmi",))
    setup, rec = rep.setup, rep.results["vmi"].records
    assert (setup.lot_size > setup.case_pack).any()
    dealer, dc = rec["dealer_orders"], rec["dc_orders"]
    pack = setup.case_pack[None, :, None]
    assert (dealer > 0).any() and np.allclose(dealer / pack, np.round(dealer / pack))
    assert ((dealer > 0) & (dealer < setup.lot_size[None, :, None])).any()  # below the MOQ, in whole packs
    lot = np.broadcast_to(setup.lot_size[None, :, None], dc.shape)
    assert (dc[dc > 0] >= lot[dc > 0]).all()  # the plant still gets MOQ lots
