"""The other CLI commands: demo-data, forecast, plan, backtest, report, serve wiring."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import make_config

runner = CliRunner()


@pytest.fixture(scope="module")
def history_csv(small_demo_dir, tmp_path_factory):
    demand = pd.read_csv(small_demo_dir / "demand.csv")
    keep = demand[["sku", "location"]].drop_duplicates().head(6)
    path = tmp_path_factory.mktemp("hist") / "history.csv"
    demand.merge(keep)[["sku", "location", "date", "qty"]].to_csv(path, index=False)
    return path


def test_demo_data_writes_the_six_tables(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo-data", str(out), "--seed", "3", "--skus", "5", "--dealers", "3", "--weeks", "60"])
    assert result.exit_code == 0, result.output
    for name in ("demand", "items", "locations", "inventory", "inbound", "lanes"):
        assert (out / f"{name}.csv").is_file()


def test_forecast_command_on_any_long_history(history_csv, tmp_path):
    out = tmp_path / "fc.csv"
    result = runner.invoke(
        app,
        ["forecast", "--history", str(history_csv), "--horizon", "6", "--freq", "W-MON", "--quantiles", "0.5,0.8", "--output", str(out)],
    )
    assert result.exit_code == 0, result.output
    fc = pd.read_csv(out)
    assert {"sku", "location", "date", "mean", "q50", "q80", "model"} <= set(fc.columns)
    assert len(fc) == 6 * 6 and (fc["mean"] >= 0).all()


def test_forecast_command_rejects_bad_history(history_csv, tmp_path):
    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(history_csv, dtype=str)
    frame.loc[2, "date"] = "2024-13-45"
    frame.to_csv(bad, index=False)
    result = runner.invoke(app, ["forecast", "--history", str(bad), "--horizon", "4", "--freq", "W-MON", "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "bad.csv" in result.output and "row 4" in result.output and "date" in result.output and "2024-13-45" in result.output
    assert not (tmp_path / "o.csv").exists()


def _promoted_history(tmp_path):
    """Synthetic series with a promo column (lift 2) and a calendar of their next 6 weeks."""
    import numpy as np

    rng = np.random.default_rng(4)
    dates = pd.date_range("2023-01-02", periods=100, freq="W-MON")
    rows = []
    for k in range(8):
        promo = (rng.random(100) < 0.08).astype(int)
        rows.append(pd.DataFrame({"sku": f"S{k}", "location": "D1", "date": dates, "promo": promo,
                                  "qty": rng.poisson(10 * np.where(promo == 1, 2.0, 1.0))}))
    history = tmp_path / "history.csv"
    pd.concat(rows).to_csv(history, index=False, date_format="%Y-%m-%d")
    future = pd.date_range(dates[-1] + pd.Timedelta(weeks=1), periods=6, freq="W-MON")
    plan = pd.DataFrame([(f"S{k}", "D1", d, int(i == 3)) for k in range(8) for i, d in enumerate(future)],
                        columns=["sku", "location", "date", "promo"])
    calendar = tmp_path / "promotions.csv"
    plan.to_csv(calendar, index=False, date_format="%Y-%m-%d")
    return history, calendar, future[3]


def test_forecast_command_takes_a_promotion_calendar(tmp_path):
    history, calendar, promo_week = _promoted_history(tmp_path)
    base = ["forecast", "--history", str(history), "--horizon", "6", "--freq", "W-MON"]
    plain = runner.invoke(app, [*base, "--output", str(tmp_path / "plain.csv")])
    planned = runner.invoke(app, [*base, "--promotions", str(calendar), "--output", str(tmp_path / "planned.csv")])
    assert plain.exit_code == 0 and planned.exit_code == 0, planned.output
    a = pd.read_csv(tmp_path / "plain.csv", parse_dates=["date"]).set_index(["sku", "date"])["mean"]
    b = pd.read_csv(tmp_path / "planned.csv", parse_dates=["date"]).set_index(["sku", "date"])["mean"]
    ratio = (b / a).groupby(level="date").median()
    # the promotion week is lifted about 2x, the week after it dips, the weeks before are as without
    assert 1.6 < ratio[promo_week] < 2.4
    assert ratio[ratio.index < promo_week].sub(1.0).abs().max() < 1e-9


def test_forecast_command_rejects_a_calendar_row_inside_the_history(tmp_path):
    history, calendar, _ = _promoted_history(tmp_path)
    plan = pd.read_csv(calendar)
    plan.loc[5, "date"] = "2024-11-18"  # a week of the history (it ends 2024-11-25)
    plan.to_csv(calendar, index=False)
    out = tmp_path / "o.csv"
    result = runner.invoke(app, ["forecast", "--history", str(history), "--horizon", "6", "--freq", "W-MON",
                                 "--promotions", str(calendar), "--output", str(out)])
    assert result.exit_code == 2
    assert "promotions.csv" in result.output and "row 7" in result.output and "2024-11-18" in result.output
    assert "demand period" in result.output and not out.exists()


def _one_sku_at_four_locations(tmp_path):
    import numpy as np

    rng = np.random.default_rng(5)
    dates = pd.date_range("2023-01-02", periods=80, freq="W-MON")
    level = np.r_[np.full(60, 6.0), np.full(20, 3.0)]  # the SKU's demand falls at every location at once
    rows = [pd.DataFrame({"sku": "P1", "location": loc, "date": dates, "qty": rng.poisson(level * size)})
            for loc, size in (("D1", 1.0), ("D2", 0.5), ("D3", 0.25), ("D4", 2.0))]
    history = tmp_path / "history.csv"
    pd.concat(rows).to_csv(history, index=False, date_format="%Y-%m-%d")
    return history


def test_forecast_command_shares_out_each_skus_aggregate(tmp_path):
    history = _one_sku_at_four_locations(tmp_path)
    base = ["forecast", "--history", str(history), "--horizon", "6", "--freq", "W-MON", "--season-length", "1"]
    groups = tmp_path / "groups.csv"
    pd.DataFrame({"location": ["D1", "D2", "D3"], "group": ["north", "north", "north"]}).to_csv(groups, index=False)
    runs = {}
    for name, extra in (("all", ["--top-down", "all"]), ("file", ["--top-down", str(groups)])):
        result = runner.invoke(app, [*base, *extra, "--output", str(tmp_path / f"{name}.csv")])
        assert result.exit_code == 0, result.output
        runs[name] = pd.read_csv(tmp_path / f"{name}.csv").set_index("location")
    assert (runs["all"]["model"] == "top_down").all()
    # D4 is in no group of the file: forecast on its own
    assert (runs["file"].loc[["D1", "D2", "D3"], "model"] == "top_down").all()
    assert (runs["file"].loc["D4", "model"] != "top_down").all()
    # each location gets its share of the SKU's demand over the last max(m, H) = 6 weeks
    share = runs["all"].groupby(level="location")["mean"].sum() / runs["all"]["mean"].sum()
    recent = pd.read_csv(history).groupby("location")["qty"].apply(lambda q: q.tail(6).sum())
    pd.testing.assert_series_equal(share, recent / recent.sum(), check_names=False, atol=0.01)
    assert share["D4"] > 0.4 and share["D3"] < 0.15


def test_forecast_command_writes_the_tables_behind_the_forecasts(history_csv, tmp_path):
    import json

    out, details = tmp_path / "fc.csv", tmp_path / "details"
    result = runner.invoke(app, ["forecast", "--history", str(history_csv), "--horizon", "4", "--freq", "W-MON",
                                 "--details", str(details), "--output", str(out)])
    assert result.exit_code == 0, result.output
    fc = pd.read_csv(out)
    selection = pd.read_csv(details / "selection.csv")
    # one row per series, naming the model each forecast row says it came from
    assert len(selection) == fc[["sku", "location"]].drop_duplicates().shape[0] == 6
    used = fc.groupby(["sku", "location"])["model"].first()
    assert (selection.set_index(["sku", "location"])["model"].reindex(used.index) == used).all()
    for name in ("scores", "errors", "coverage", "gaps"):
        assert (details / f"{name}.csv").is_file()
    assert list(pd.read_csv(details / "gaps.csv").columns)[:3] == ["sku", "location", "periods"]
    metrics = json.loads((details / "metrics.json").read_text())
    assert metrics["n_series"] == 6 and metrics["n_gap_series"] == 0


def test_forecast_command_rejects_a_bad_top_down_file(tmp_path):
    history = _one_sku_at_four_locations(tmp_path)
    groups = tmp_path / "groups.csv"
    groups.write_text("location,group\nD1,north\nD1,south\nD2,\n")
    out = tmp_path / "o.csv"
    result = runner.invoke(app, ["forecast", "--history", str(history), "--horizon", "6", "--freq", "W-MON",
                                 "--top-down", str(groups), "--output", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert "groups.csv row 3, column location, value 'D1'" in result.output and "duplicate" in result.output
    assert "groups.csv row 4, column group" in result.output
    missing = runner.invoke(app, ["forecast", "--history", str(history), "--horizon", "6", "--freq", "W-MON",
                                  "--top-down", str(tmp_path / "none.csv"), "--output", str(out)])
    assert missing.exit_code == 2 and "none.csv" in missing.output


def test_forecast_command_passes_the_backtest_settings(history_csv, tmp_path, monkeypatch):
    import forecasting

    seen = {}
    real = forecasting.forecast

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(forecasting, "forecast", spy)
    result = runner.invoke(app, ["forecast", "--history", str(history_csv), "--horizon", "4", "--freq", "W-MON",
                                 "--backtest-windows", "5", "--backtest-step", "2", "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert seen["backtest_windows"] == 5 and seen["backtest_step"] == 2 and seen["top_down"] is None
    zero = runner.invoke(app, ["forecast", "--history", str(history_csv), "--horizon", "4", "--freq", "W-MON",
                               "--backtest-windows", "0", "--output", str(tmp_path / "z.csv")])
    assert zero.exit_code == 2


def test_forecast_command_rejects_bad_quantiles(history_csv, tmp_path):
    result = runner.invoke(app, ["forecast", "--history", str(history_csv), "--horizon", "4", "--freq", "W-MON", "--quantiles", "0.5,1.5", "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "1.5" in result.output


def test_plan_command_with_and_without_a_forecast_file(small_demo_dir, tmp_path):
    config = make_config(tmp_path, small_demo_dir)
    out = tmp_path / "plan"
    result = runner.invoke(app, ["plan", "--config", str(config), "--output", str(out)])
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(out / "plan.csv")
    assert len(plan) > 0 and (plan["qty"] > 0).all()
    # the same plan from the forecasts we would have published
    fc_path = tmp_path / "fc.csv"
    demand = pd.read_csv(small_demo_dir / "demand.csv", parse_dates=["date"])
    start = demand["date"].max() + pd.Timedelta(weeks=1)
    dealers = demand[["sku", "location"]].drop_duplicates()
    dates = pd.DataFrame({"date": pd.date_range(start, periods=13, freq="W-MON")})
    fc = dealers.merge(dates, how="cross").assign(mean=2.0, q50=2.0, q90=4.0, q95=5.0)
    fc.to_csv(fc_path, index=False)
    out2 = tmp_path / "plan2"
    result = runner.invoke(app, ["plan", "--config", str(config), "--forecast", str(fc_path), "--output", str(out2)])
    assert result.exit_code == 0, result.output
    assert (out2 / "plan.csv").is_file() and (out2 / "safety_stock.csv").is_file()


def test_plan_command_rejects_a_bad_forecast_file(small_demo_dir, tmp_path):
    config = make_config(tmp_path, small_demo_dir)
    fc_path = tmp_path / "fc.csv"
    pd.DataFrame({"sku": ["A"], "location": ["X"], "date": ["2026-11-25"], "mean": [-1.0]}).to_csv(fc_path, index=False)
    result = runner.invoke(app, ["plan", "--config", str(config), "--forecast", str(fc_path), "--output", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "fc.csv" in result.output and "row 2" in result.output and "mean" in result.output
    # a ';'-separated export is named as such, as for the input tables
    fc_path.write_text("sku;location;date;mean\nA;X;2026-11-25;1\n")
    result = runner.invoke(app, ["plan", "--config", str(config), "--forecast", str(fc_path), "--output", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "found: 'sku;location;date;mean'" in result.output and "separated by ';'" in result.output


def test_forecast_command_rejects_an_unknown_frequency(history_csv, tmp_path):
    result = runner.invoke(app, ["forecast", "--history", str(history_csv), "--horizon", "4", "--freq", "fortnightly", "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "fortnightly" in result.output


def test_backtest_command_prints_and_publishes_the_comparison(small_demo_dir, tmp_path):
    config = make_config(tmp_path, small_demo_dir)
    result = runner.invoke(app, ["backtest", "--config", str(config), "--weeks", "6"])
    assert result.exit_code == 0, result.output
    published = pd.read_csv(tmp_path / "out" / "backtest" / "latest" / "backtest.csv")
    assert set(zip(published["policy"], published["echelon"])) == {
        ("baseline", "dealer"), ("baseline", "dc"), ("minmax", "dealer"), ("minmax", "dc"), ("vmi", "dealer"), ("vmi", "dc")
    }
    assert (tmp_path / "out" / "backtest" / "latest" / "order_amplification.png").is_file()
    assert "order_amplification.png" in result.output
    assert published[["bullwhip_ratio", "fill_rate", "avg_on_hand"]].notna().all().all()
    assert published["fill_rate"].between(0, 1).all()
    assert "baseline" in result.output and "vmi" in result.output and "bullwhip_ratio" in result.output
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=[f"test-{tmp_path.name}"], filter_string="tags.`supplyplan.kind` = 'backtest'")
    assert len(runs) == 1 and "metrics.vmi_dc_bullwhip_ratio" in runs.columns


def test_serve_refuses_to_start_without_an_api_key(small_demo_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPLYPLAN_API_KEY", raising=False)
    config = make_config(tmp_path, small_demo_dir)
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2 and "key" in result.output.lower()
