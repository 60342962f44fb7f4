"""The nightly job end to end through the CLI, on a small generated network."""

from __future__ import annotations

import shutil
import sqlite3

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.publish import latest_run, list_runs, read_manifest, read_table
from tests.conftest import make_config

runner = CliRunner()


@pytest.fixture(scope="module")
def nightly_twice(small_demo_dir, tmp_path_factory):
    """Two nightly runs with the same inputs and configuration."""
    tmp = tmp_path_factory.mktemp("nightly")
    config = make_config(tmp, small_demo_dir)
    first = runner.invoke(app, ["nightly", "--config", str(config)])
    assert first.exit_code == 0, first.output
    run1 = latest_run(tmp / "out")
    second = runner.invoke(app, ["nightly", "--config", str(config)])
    assert second.exit_code == 0, second.output
    run2 = latest_run(tmp / "out")
    return tmp, config, run1, run2


def test_nightly_publishes_the_four_tables_with_run_id(nightly_twice):
    _, _, run1, _ = nightly_twice
    manifest = read_manifest(run1)
    for name in ("forecasts", "safety_stock", "plan", "alerts"):
        table = read_table(run1, name)
        assert len(table) > 0, name
        assert (table["run_id"] == manifest["run_id"]).all()
    with sqlite3.connect(run1 / "results.sqlite") as con:
        names = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"forecasts", "safety_stock", "plan", "alerts"} <= names
    fc = read_table(run1, "forecasts")
    assert (fc[["mean", "q50", "q90", "q95"]] >= 0).all().all() and fc[["mean", "q90"]].notna().all().all()
    plan = read_table(run1, "plan")
    assert plan["reason"].fillna("").str.len().gt(0).all()
    assert set(plan["kind"]) <= {"replenishment", "transfer"}


def test_nightly_is_tracked_in_mlflow_with_a_registered_model(nightly_twice):
    import mlflow

    tmp, config, run1, run2 = nightly_twice
    m1, m2 = read_manifest(run1), read_manifest(run2)
    assert m1["mlflow_run_id"] and m2["mlflow_run_id"] and m1["mlflow_run_id"] != m2["mlflow_run_id"]
    assert int(m2["model_version"]) == int(m1["model_version"]) + 1
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'out' / 'mlflow.db'}")
    run = mlflow.get_run(m1["mlflow_run_id"])
    assert run.data.tags["supplyplan.run_id"] == m1["run_id"]
    assert "plan_objective" in run.data.metrics and "forecast.horizon" in run.data.params
    client = mlflow.MlflowClient()
    versions = client.search_model_versions("name='supplyplan-forecaster'")
    assert {v.run_id for v in versions} >= {m1["mlflow_run_id"], m2["mlflow_run_id"]}


def test_rerun_with_same_inputs_publishes_an_identical_plan(nightly_twice):
    _, _, run1, run2 = nightly_twice
    assert run1 != run2
    for name in ("plan", "forecasts", "safety_stock", "alerts"):
        a = read_table(run1, name).drop(columns="run_id")
        b = read_table(run2, name).drop(columns="run_id")
        pd.testing.assert_frame_equal(a, b, obj=name)


def test_a_failed_night_leaves_the_published_plan_intact(nightly_twice, monkeypatch):
    tmp, config, _, run2 = nightly_twice
    import pipelines.nightly as nightly

    def broken(*args, **kwargs):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(nightly, "plan_replenishment", broken)
    before = list_runs(tmp / "out")
    result = runner.invoke(app, ["nightly", "--config", str(config)])
    assert result.exit_code == 1
    assert "internal error" in result.output and "solver crashed" in result.output
    assert latest_run(tmp / "out") == run2
    assert list_runs(tmp / "out") == before
    assert not [p for p in (tmp / "out" / "runs").iterdir() if p.name.startswith(".staging")]


def test_bad_input_exits_2_naming_file_row_column_and_writes_nothing(small_demo_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_demo_dir, data)
    demand = pd.read_csv(data / "demand.csv", dtype=str)
    demand.loc[4, "qty"] = "-3"
    demand.to_csv(data / "demand.csv", index=False)
    config = make_config(tmp_path, data)
    result = runner.invoke(app, ["nightly", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "demand.csv" in result.output and "row 6" in result.output and "qty" in result.output and "-3" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "runs").exists() or list_runs(tmp_path / "out") == []


def test_data_override_and_as_of(small_demo_dir, tmp_path):
    config = make_config(tmp_path, tmp_path / "does-not-exist")
    demand = pd.read_csv(small_demo_dir / "demand.csv", parse_dates=["date"])
    cut = demand["date"].sort_values().unique()[-5]
    result = runner.invoke(
        app, ["nightly", "--config", str(config), "--data", str(small_demo_dir), "--as-of", str(pd.Timestamp(cut).date())]
    )
    assert result.exit_code == 0, result.output
    run = latest_run(tmp_path / "out")
    assert read_manifest(run)["as_of"] == str(pd.Timestamp(cut).date())
    fc = read_table(run, "forecasts")
    assert fc["date"].min() == pd.Timestamp(cut)


def test_missing_config_exits_2(tmp_path):
    result = runner.invoke(app, ["nightly", "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_api_serves_the_published_proposals(nightly_twice, monkeypatch):
    from fastapi.testclient import TestClient

    from pipelines.api.app import create_app
    from pipelines.settings import load_settings

    tmp, config, _, run2 = nightly_twice
    monkeypatch.setenv("SUPPLYPLAN_API_KEY", "test-key-0123456789")
    client = TestClient(create_app(load_settings(config)))
    plan = read_table(run2, "plan")
    dealer_lines = plan[plan["destination"].str.startswith("DLR-")]
    dealer = dealer_lines["destination"].iloc[0]
    response = client.get("/v1/order-proposals", params={"dealer": dealer}, headers={"X-API-Key": "test-key-0123456789"})
    assert response.status_code == 200
    body = response.json()
    assert body["run_id"] == run2.name
    assert len(body["lines"]) == (dealer_lines["destination"] == dealer).sum()
    assert {line["run_id"] for line in body["lines"]} == {run2.name}
    assert client.get("/v1/order-proposals", params={"dealer": dealer}).status_code == 401
    assert client.get("/v1/order-proposals", params={"dealer": "DLR-NOPE"}, headers={"X-API-Key": "test-key-0123456789"}).status_code == 404


def test_plan_stage_classes_abc_on_demand_before_the_plan_date(small_demo_dir, tmp_path, monkeypatch):
    # ``nightly --as-of`` replays an earlier night: its ABC classes (and so the fill-rate
    # targets) must come from the demand before that night, as in the backtest.
    import pipelines.nightly as nightly
    from pipelines.loading import load_dataset
    from pipelines.progress import Progress
    from pipelines.settings import load_settings

    settings = load_settings(make_config(tmp_path, small_demo_dir))
    dataset = load_dataset(settings.data_dir, freq=settings.freq)
    seen = []

    class Stop(Exception):
        pass

    def spy(dataset, settings, as_of=None):
        seen.append(as_of)
        raise Stop

    monkeypatch.setattr(nightly, "replenishment_policy", spy)
    start = pd.Timestamp(dataset.demand["date"].max()) - pd.Timedelta(weeks=10)
    with pytest.raises(Stop):
        nightly.plan_stage(dataset, settings, start, pd.DataFrame(), pd.DataFrame(), Progress(live=False))
    assert seen == [start]


def test_aggregate_fill_rate_groups_the_vmi_dealer_rows_only(small_demo_dir, tmp_path):
    import numpy as np

    from optimization.safety_stock import compute_safety_stock
    from pipelines.loading import load_dataset
    from pipelines.nightly import replenishment_policy
    from pipelines.settings import load_settings

    settings = load_settings(make_config(tmp_path, small_demo_dir))
    dataset = load_dataset(settings.data_dir, freq=settings.freq)
    plain = replenishment_policy(dataset, settings)
    assert plain["fill_group"].isna().all()
    settings = settings.model_copy(update={"plan": settings.plan.model_copy(update={"aggregate_fill_rate": 0.97})})
    policy = replenishment_policy(dataset, settings)
    locs = dataset.locations.set_index("location")
    vmi = locs["vmi"].astype(bool) if "vmi" in locs else True
    dealer = (policy["location"].map(locs["kind"]) == "dealer") & policy["location"].map(vmi).fillna(False).astype(bool)
    assert dealer.any() and (~dealer).any()
    assert (policy.loc[dealer, "fill_group"] == "vmi_dealers").all() and policy.loc[~dealer, "fill_group"].isna().all()
    assert (policy.loc[dealer, "fill_rate"] == 0.97).all()
    pd.testing.assert_frame_equal(policy.loc[~dealer, plain.columns], plain.loc[~dealer])
    # plan.vmi_moq false: the plan ships VMI dealers whole case packs, so their cycles are packs
    packs = settings.model_copy(update={"plan": settings.plan.model_copy(update={"vmi_moq": False})})
    by_pack = replenishment_policy(dataset, packs)
    assert (policy.loc[dealer, "lot_size"] > policy.loc[dealer, "case_pack"]).any()  # some MOQs above a pack
    assert (by_pack.loc[dealer, "lot_size"] == by_pack.loc[dealer, "case_pack"]).all()
    pd.testing.assert_series_equal(by_pack.loc[~dealer, "lot_size"], policy.loc[~dealer, "lot_size"])
    # the safety-stock stage meets 0.97 over the group, demand-weighted, at the lot cycles
    rng = np.random.default_rng(0)
    keys = policy.loc[dealer, ["sku", "location"]]
    dates = pd.date_range("2025-01-06", periods=4, freq="W-MON")
    level = dict(zip(map(tuple, keys.to_numpy()), rng.uniform(0.3, 30, len(keys))))
    fc = pd.DataFrame([(s, loc, d, level[(s, loc)]) for s, loc in level for d in dates], columns=["sku", "location", "date", "mean"])
    origins = pd.date_range("2024-01-01", periods=30, freq="W-MON")
    err = pd.DataFrame([(s, loc, o, k, rng.normal(0, 1.3 * np.sqrt(level[(s, loc)])), level[(s, loc)])
                        for s, loc in level for o in origins for k in (1, 2, 3)],
                       columns=["sku", "location", "origin", "step", "error", "forecast"])
    out = compute_safety_stock(fc, err, policy.loc[dealer].reset_index(drop=True))
    assert (out["target_type"] == "aggregate_fill_rate").all()
    d = out["mean_protection_demand"] / out["protection_periods"]
    # the increment fill model: expected_shortage is per review cycle of R periods
    fill = 1 - (out["expected_shortage"] / settings.plan.review_period).sum() / d.sum()
    assert 0.97 - 1e-9 <= fill <= 0.97 + 6e-4
    # the classic model: per cycle of max(R d, lot) units
    classic = compute_safety_stock(fc, err, policy.loc[dealer].reset_index(drop=True), fill_model="cycle")
    q = np.maximum(d * settings.plan.review_period, policy.loc[dealer, "lot_size"].to_numpy())
    assert 1 - (classic["expected_shortage"] * d / q).sum() / d.sum() == pytest.approx(0.97, abs=1e-4)
    with pytest.raises(ValueError, match="aggregate_fill_rate"):
        type(settings.plan).model_validate({**settings.plan.model_dump(), "safety_stock_budget": 10.0})

def test_a_monthly_network_with_a_late_starting_dealer(small_demo_dir, tmp_path):
    """The nightly job on monthly buckets (``freq: MS``), as a planner with a monthly ERP
    extract would run it, where one dealer's history starts months after the others'
    (real data rarely starts everywhere at once). This stopped the run before the
    top-down aggregates treated a member's periods before its start as zero."""
    data = tmp_path / "data"
    shutil.copytree(small_demo_dir, data)
    (data / "promotions.csv").unlink(missing_ok=True)
    weekly = pd.read_csv(data / "demand.csv", parse_dates=["date"])
    weekly["date"] = weekly["date"].dt.to_period("M").dt.to_timestamp()
    monthly = weekly.groupby(["sku", "location", "date"], as_index=False).agg(
        qty=("qty", "sum"), promo=("promo", "max"), price=("price", "mean"))
    # the first and last months are partial weeks' sums: keep whole months only
    months = sorted(monthly["date"].unique())
    monthly = monthly[monthly["date"].between(months[1], months[-2])]
    dealer = sorted(monthly.loc[monthly["location"].str.startswith("DLR"), "location"].unique())[0]
    late = (monthly["location"] == dealer) & (monthly["date"] < months[8])
    monthly = monthly.loc[~late]
    monthly.to_csv(data / "demand.csv", index=False, date_format="%Y-%m-%d")
    inbound = pd.read_csv(data / "inbound.csv")
    inbound["arrival_date"] = str((pd.Timestamp(months[-1])).date())
    inbound.to_csv(data / "inbound.csv", index=False)
    config = make_config(tmp_path, data, freq="MS",
                         forecast={"horizon": 6, "season_length": 12, "backtest_windows": 3, "backtest_step": 2,
                                   "top_down": "region"},
                         plan={"horizon": 6}, backtest={"weeks": 4, "ma_periods": 3, "forecast_every": 2})
    result = runner.invoke(app, ["nightly", "--config", str(config)])
    assert result.exit_code == 0, result.output
    run = latest_run(tmp_path / "out")
    fc = read_table(run, "forecasts")
    assert fc["date"].min() == pd.Timestamp(months[-1])
    assert (fc["date"].dt.day == 1).all() and fc["date"].nunique() == 6
    assert fc[["mean", "q90", "q95"]].notna().all().all() and (fc["mean"] >= 0).all()
    assert set(fc.loc[fc["location"] == dealer, "sku"]) == set(monthly.loc[monthly["location"] == dealer, "sku"])


def test_a_dense_series_with_missing_rows_gets_a_data_gap_alert(small_demo_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_demo_dir, data)
    demand = pd.read_csv(data / "demand.csv", parse_dates=["date"])
    # the series with demand in the most weeks loses 12 weeks of rows, as a feed that stopped
    share = demand.assign(sold=demand["qty"] > 0).groupby(["sku", "location"])["sold"].mean()
    sku, loc = share.idxmax()
    weeks = sorted(demand["date"].unique())[60:72]
    lost = (demand["sku"] == sku) & (demand["location"] == loc) & demand["date"].isin(weeks)
    demand[~lost].to_csv(data / "demand.csv", index=False, date_format="%Y-%m-%d")
    config = make_config(tmp_path, data)
    result = runner.invoke(app, ["nightly", "--config", str(config)])
    assert result.exit_code == 0, result.output
    alerts = read_table(latest_run(tmp_path / "out"), "alerts")
    gap = alerts[alerts["kind"] == "data_gap"]
    assert list(zip(gap["sku"], gap["location"])) == [(sku, loc)]
    row = gap.iloc[0]
    assert row["value"] == 12 and row["threshold"] < 12 and row["severity"] == "warning"
    assert f"from {pd.Timestamp(weeks[0]).date()}" in row["message"] and "check the extract" in row["message"]
    with sqlite3.connect(tmp_path / "out" / "mlflow.db") as db:
        (value,) = db.execute("select value from metrics where key = 'forecast_n_gap_series'").fetchone()
    assert value == 1.0
