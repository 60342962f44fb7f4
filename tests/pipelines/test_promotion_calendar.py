"""The planned promotion calendar (``promotions`` input): its contract, every kind of bad
row, and how the nightly forecast stage passes it to the forecaster."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.loading import InputError, load_dataset

# ---- helpers -----------------------------------------------------------------------------


def last_week(folder) -> pd.Timestamp:
    return pd.to_datetime(pd.read_csv(folder / "demand.csv", usecols=["date"])["date"]).max()


def write_calendar(folder, rows, columns=("sku", "location", "date", "promo", "price")):
    """Write promotions.csv (replacing any calendar the demo wrote) from text cells."""
    frame = pd.DataFrame([[str(c) for c in r] for r in rows], columns=list(columns), dtype=str)
    frame.to_csv(folder / "promotions.csv", index=False)


def week(folder, k: int) -> str:
    """The k-th period after the last demand period (k = 0: that period itself)."""
    return str((last_week(folder) + pd.Timedelta(weeks=k)).date())


def errors_of(folder) -> list:
    with pytest.raises(InputError) as info:
        load_dataset(folder)
    return info.value


def reported(err: InputError, row: int, column: str, rule: str, value: str):
    found = [v for v in err.violations if (v.file, v.row, v.column, v.rule) == ("promotions.csv", row, column, rule)]
    assert found, f"no {rule} at promotions.csv row {row} column {column} in:\n{err}"
    assert found[0].value == value
    line = f"promotions.csv row {row}, column {column}, value {value!r}: {found[0].message} [{rule}]"
    assert line in str(err).splitlines()
    return found[0]


# ---- the contract ------------------------------------------------------------------------


def test_absent_calendar_is_none_and_a_header_only_one_is_empty(valid_dir):
    (valid_dir / "promotions.csv").unlink(missing_ok=True)
    ds = load_dataset(valid_dir)
    assert ds.promotions is None and "promotions" not in ds.tables()
    write_calendar(valid_dir, [])
    ds = load_dataset(valid_dir)
    assert ds.promotions is not None and len(ds.promotions) == 0
    assert list(ds.tables())[-1] == "promotions"


def test_a_valid_calendar_loads_typed_and_price_stays_optional(valid_dir):
    write_calendar(
        valid_dir,
        [("SKU-0001", "DLR-N01", week(valid_dir, 1), 1, "9.5"), ("SKU-0001", "DLR-N01", week(valid_dir, 2), 0, "")],
    )
    cal = load_dataset(valid_dir).promotions
    assert list(cal.columns) == ["sku", "location", "date", "promo", "price"]
    assert cal["promo"].dtype == "int64" and cal["date"].dtype == "datetime64[ns]" and cal["price"].dtype == "float64"
    assert cal["promo"].tolist() == [1, 0] and cal["price"].iloc[0] == 9.5 and np.isnan(cal["price"].iloc[1])
    # without a price column the calendar plans promotions only (no price column invented)
    write_calendar(valid_dir, [("SKU-0001", "DLR-N01", week(valid_dir, 1), 1)], columns=("sku", "location", "date", "promo"))
    assert "price" not in load_dataset(valid_dir).promotions.columns


def test_calendar_as_parquet(valid_dir):
    (valid_dir / "promotions.csv").unlink(missing_ok=True)
    frame = pd.DataFrame({"sku": ["SKU-0002", "SKU-0002"], "location": ["DLR-N01"] * 2,
                          "date": [pd.Timestamp(week(valid_dir, 1)), pd.Timestamp(week(valid_dir, 1))],
                          "promo": [1, 1]})
    frame.to_parquet(valid_dir / "promotions.parquet")
    err = errors_of(valid_dir)
    v = [v for v in err.violations if v.rule == "duplicate_key"]
    assert len(v) == 1 and v[0].file == "promotions.parquet" and v[0].row == 3


def test_missing_columns(valid_dir):
    write_calendar(valid_dir, [("SKU-0001", "DLR-N01", week(valid_dir, 1))], columns=("sku", "location", "date"))
    err = errors_of(valid_dir)
    v = [v for v in err.violations if v.rule == "missing_column"]
    assert [(x.file, x.row, x.column) for x in v] == [("promotions.csv", 1, "promo")]
    assert "expected columns: sku, location, date, promo" in v[0].message


def test_bad_and_off_grid_dates(valid_dir):
    tuesday = str((last_week(valid_dir) + pd.Timedelta(days=8)).date())
    write_calendar(valid_dir, [
        ("SKU-0001", "DLR-N01", "2026-13-40", 1, 5),
        ("SKU-0001", "DLR-N01", tuesday, 1, 5),
        ("SKU-0001", "DLR-N01", "", 1, 5),
    ])
    err = errors_of(valid_dir)
    reported(err, 2, "date", "not_a_date", "2026-13-40")
    assert "not a period start of W-MON" in reported(err, 3, "date", "off_grid", tuesday).message
    reported(err, 4, "date", "required", "")
    assert len(err.violations) == 3  # a bad date is not also reported as in the history


def test_duplicate_rows(valid_dir):
    d = week(valid_dir, 2)
    write_calendar(valid_dir, [("SKU-0001", "DLR-N01", d, 1, 5), ("SKU-0001", "DLR-N02", d, 1, 5), ("SKU-0001", "DLR-N01", d, 0, "")])
    err = errors_of(valid_dir)
    assert "same as row 2" in reported(err, 4, "date", "duplicate_key", d).message
    assert len(err.violations) == 1


@pytest.mark.parametrize(
    ("promo", "rule"), [("2", "binary"), ("-1", "binary"), ("0.5", "binary"), ("yes", "not_a_number"), ("", "required")]
)
def test_promo_must_be_0_or_1(valid_dir, promo, rule):
    write_calendar(valid_dir, [("SKU-0001", "DLR-N01", week(valid_dir, 1), promo, 5)])
    err = errors_of(valid_dir)
    reported(err, 2, "promo", rule, promo)
    assert len(err.violations) == 1


@pytest.mark.parametrize(
    ("price", "rule"), [("0", "positive"), ("-3.5", "positive"), ("abc", "not_a_number"), ("inf", "finite")]
)
def test_price_must_be_a_positive_number(valid_dir, price, rule):
    write_calendar(valid_dir, [("SKU-0001", "DLR-N01", week(valid_dir, 1), 1, price)])
    err = errors_of(valid_dir)
    reported(err, 2, "price", rule, price)
    assert len(err.violations) == 1


def test_unknown_sku_and_location(valid_dir):
    write_calendar(valid_dir, [("SKU-9999", "DLR-N01", week(valid_dir, 1), 1, 5), ("SKU-0001", "DLR-X99", week(valid_dir, 1), 1, 5)])
    err = errors_of(valid_dir)
    assert "items.csv" in reported(err, 2, "sku", "unknown_sku", "SKU-9999").message
    assert "locations.csv" in reported(err, 3, "location", "unknown_location", "DLR-X99").message


def test_rows_dated_in_the_demand_history_belong_there(valid_dir):
    last = week(valid_dir, 0)
    write_calendar(valid_dir, [
        ("SKU-0001", "DLR-N01", week(valid_dir, -3), 1, 5),
        ("SKU-0001", "DLR-N01", last, 1, 5),
        ("SKU-0001", "DLR-N01", week(valid_dir, 1), 1, 5),
    ])
    err = errors_of(valid_dir)
    v = reported(err, 3, "date", "in_history", last)
    reported(err, 2, "date", "in_history", week(valid_dir, -3))
    assert f"({last})" in v.message and "demand's promo and price columns" in v.message
    assert len(err.violations) == 2


def test_calendar_errors_come_with_the_other_files_and_nothing_is_loaded(valid_dir, edit):
    edit.set("demand", 5, "qty", "-2")
    write_calendar(valid_dir, [("SKU-0001", "DLR-N01", week(valid_dir, 1), 3, 5)])
    err = errors_of(valid_dir)
    assert [v.file for v in err.violations] == ["demand.csv", "promotions.csv"]


# ---- the nightly forecast stage ----------------------------------------------------------


def _settings(tmp_path, data_dir, **overrides):
    from pipelines.settings import load_settings
    from tests.conftest import make_config

    return load_settings(make_config(tmp_path, data_dir, **overrides))


@pytest.fixture
def promo_dir(small_demo_dir, tmp_path):
    """A copy of the session's small network without any promotion calendar."""
    data = tmp_path / "data"
    shutil.copytree(small_demo_dir, data)
    (data / "promotions.csv").unlink(missing_ok=True)
    return data


class _Stop(Exception):
    pass


def _spy_forecast(monkeypatch):
    """Record the forecaster's arguments and stop the night there (nothing to compute)."""
    import pipelines.nightly as nightly

    calls = []

    def spy(history, **kwargs):
        calls.append(kwargs)
        raise _Stop

    monkeypatch.setattr(nightly, "forecast", spy)
    return calls


def test_without_a_calendar_the_forecaster_is_called_as_before(promo_dir, tmp_path, monkeypatch):
    from pipelines.nightly import compute_night, forecast_options, plan_start
    from pipelines.progress import Progress

    settings = _settings(tmp_path, promo_dir)
    ds = load_dataset(promo_dir)
    calls = _spy_forecast(monkeypatch)
    with pytest.raises(_Stop):
        compute_night(ds, settings, plan_start(ds.demand, settings.freq), Progress(live=False))
    assert calls[0]["future"] is None and calls[0]["top_down"] is None  # no forecast.top_down configured
    assert {k: v for k, v in calls[0].items() if k not in ("future", "groups", "top_down")} == forecast_options(settings)


def test_the_window_of_the_calendar_goes_to_the_forecaster(promo_dir, tmp_path, monkeypatch):
    from pipelines.nightly import compute_night, plan_start, promotion_calendar, run_plan
    from pipelines.progress import Progress

    settings = _settings(tmp_path, promo_dir, forecast={"horizon": 4}, plan={"horizon": 4})
    sku, loc = pd.read_csv(promo_dir / "demand.csv", usecols=["sku", "location"], nrows=1).iloc[0]
    rows = [(sku, loc, week(promo_dir, k), int(k % 2), 7.5) for k in range(1, 9)]
    rows.append((sku, "PLANT", week(promo_dir, 2), 1, 7.0))  # no demand history there
    write_calendar(promo_dir, rows)
    ds = load_dataset(promo_dir)
    start = plan_start(ds.demand, settings.freq)
    cal = promotion_calendar(ds, ds.demand, start, 4, settings.freq)
    assert cal.future["date"].tolist() == [pd.Timestamp(week(promo_dir, k)) for k in (1, 2, 3, 4, 2)]
    assert cal.metrics == {"promotion_rows": 5, "promotion_periods": 3, "promotion_series": 2,
                           "promotion_rows_beyond_horizon": 4, "promotion_rows_without_history": 1}
    for run in (lambda: compute_night(ds, settings, start, Progress(live=False)), lambda: run_plan(settings, progress=Progress(live=False))):
        calls = _spy_forecast(monkeypatch)
        with pytest.raises(_Stop):
            run()
        pd.testing.assert_frame_equal(calls[0]["future"], cal.future)


def test_an_as_of_replay_takes_its_window_from_demand_and_the_calendar(promo_dir, tmp_path):
    from pipelines.nightly import history_before, promotion_calendar

    sku, loc = pd.read_csv(promo_dir / "demand.csv", usecols=["sku", "location"], nrows=1).iloc[0]
    write_calendar(promo_dir, [(sku, loc, week(promo_dir, 1), 1, 7.5)])
    ds = load_dataset(promo_dir)
    start = pd.Timestamp(week(promo_dir, -1))  # two periods of the window are in the demand table
    cal = promotion_calendar(ds, history_before(ds.demand, start), start, 3, "W-MON")
    in_demand = ds.demand[ds.demand["date"] >= start]
    assert len(cal.future) == len(in_demand) + 1
    assert "qty" not in cal.future.columns  # never a quantity of the replayed periods
    assert cal.future["promo"].sum() == in_demand["promo"].sum() + 1


def test_a_nightly_run_with_a_calendar_lifts_the_promoted_weeks(promo_dir, tmp_path):
    """The published forecast rises in the planned promo weeks, and the run records it."""
    import mlflow

    from pipelines.cli import app
    from pipelines.publish import latest_run, read_manifest, read_table
    from tests.conftest import make_config

    demand = pd.read_csv(promo_dir / "demand.csv", parse_dates=["date"])
    recent = demand[demand["date"] > demand["date"].max() - pd.Timedelta(weeks=26)]
    volume = recent.groupby(["sku", "location"])["qty"].mean()
    promoted = volume[volume >= 3].sort_values(ascending=False).index[:12]
    promo_price = demand.groupby("sku")["price"].min()
    promo_weeks = (3, 4)  # the 3rd and 4th forecast periods
    write_calendar(promo_dir, [(s, loc, week(promo_dir, k), 1, promo_price[s]) for s, loc in promoted for k in promo_weeks])

    config = make_config(tmp_path, promo_dir)
    result = CliRunner().invoke(app, ["nightly", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "promotion calendar: 24 rows in the forecast window, 24 promo periods over 12 series" in result.output
    run = latest_run(tmp_path / "out")

    fc = read_table(run, "forecasts")
    fc["k"] = ((fc["date"] - last_week(promo_dir)) / pd.Timedelta(weeks=1)).round().astype(int)
    weekly = fc.pivot_table(index=["sku", "location", "model"], columns="k", values="mean").reset_index()
    # promo weeks over the two weeks before them, per series
    weekly["lift"] = weekly[list(promo_weeks)].mean(axis=1) / weekly[[1, 2]].mean(axis=1)
    is_promoted = weekly.set_index(["sku", "location"]).index.isin(promoted)
    on, off = weekly[is_promoted], weekly[~is_promoted]
    # Every model reads the calendar (forecasting.forecast's ``future``: the global model
    # as features, the series models through forecasting.promotions' effects): every
    # promoted series jumps in the promo weeks, whichever model it chose (calendar
    # ignored: ~1.0).
    assert len(on) == 12 and (on["lift"] > 1.05).all() and on["lift"].mean() > 1.2, on
    # and so do the promoted series together, well beyond what the season (and the
    # post-promotion dips of the history's last campaigns) moves the others by
    together = on[list(promo_weeks)].sum().mean() / on[[1, 2]].sum().mean()
    others = off[list(promo_weeks)].sum().mean() / off[[1, 2]].sum().mean()
    assert together / others > 1.25, (together, others)

    published = read_table(run, "promotions")
    assert len(published) == 24 and set(published["promo"]) == {1}
    manifest = read_manifest(run)
    assert manifest["promotion_calendar"] == "supplied" and manifest["tables"]["promotions"] == 24
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    tracked = mlflow.get_run(manifest["mlflow_run_id"])
    assert tracked.data.params["promotion_calendar"] == "supplied"
    assert tracked.data.metrics["promotion_rows"] == 24 and tracked.data.metrics["promotion_periods"] == 24
    assert tracked.data.metrics["promotion_series"] == 12


def test_the_registered_forecaster_takes_the_calendar_as_rows_without_qty(tmp_path, monkeypatch):
    import mlflow

    import forecasting
    from tests.pipelines.test_tracking import log_version, settings_for

    settings = settings_for(tmp_path)
    log_version(settings, 0.9)
    model = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}@champion")
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=60, freq="W-MON")
    promo = (rng.random(60) < 0.15).astype(int)
    history = pd.concat([
        pd.DataFrame({"sku": f"S{i}", "location": "D1", "date": dates, "qty": rng.poisson(5 * (1 + 2 * promo)).astype(float),
                      "promo": promo, "price": 10.0 - 2 * promo})
        for i in range(3)
    ], ignore_index=True)
    ahead = pd.date_range(dates[-1] + pd.Timedelta(weeks=1), periods=4, freq="W-MON")
    calendar = pd.concat([
        pd.DataFrame({"sku": f"S{i}", "location": "D1", "date": ahead, "qty": np.nan, "promo": [0, 1, 0, 0], "price": [10.0, 8, 10, 10]})
        for i in range(3)
    ], ignore_index=True)
    seen = []
    real = forecasting.forecast

    def spy(history, **kwargs):
        seen.append((history, kwargs.get("future")))
        return real(history, **kwargs)

    monkeypatch.setattr(forecasting, "forecast", spy)
    out = model.predict(pd.concat([history, calendar], ignore_index=True), params={"horizon": 4})
    assert len(out) == 12 and out["date"].min() == ahead[0]
    given_history, future = seen[-1]
    # MLflow's schema keeps the optional promo / price columns; the calendar rows become
    # ``future`` (no qty), the rest the history with its own promotions
    assert len(given_history) == len(history) and given_history["promo"].sum() == history["promo"].sum()
    assert list(future.columns) == ["sku", "location", "date", "promo", "price"]
    assert future["promo"].tolist() == calendar["promo"].tolist() and future["price"].tolist() == calendar["price"].tolist()
    model.predict(history, params={"horizon": 4})
    assert seen[-1][1] is None  # without calendar rows: as before
    with pytest.raises(Exception, match="empty qty are dated at or before the last history"):
        model.predict(pd.concat([history, calendar.assign(date=list(dates[-4:]) * 3)], ignore_index=True))
