"""Runs of missing rows: found, judged against the series' own demand, and logged."""

import logging

import numpy as np
import pandas as pd

from forecasting import forecast
from forecasting.gaps import absent_runs, implausible_gaps


def test_absent_runs_longest_and_earliest_per_series():
    # grid of 10 periods; series 0: rows 0, 1, 5, 6 -> runs 2-4 (3) and 7-9 (3): the earliest
    # series 1: rows 3..9 -> none; series 2: rows 2, 4 -> runs 3 (1) and 5-9 (5)
    rows = [(0, 0), (0, 6), (0, 1), (0, 5), *[(1, p) for p in range(3, 10)], (2, 4), (2, 2)]
    series, pos = np.array(rows).T
    length, start = absent_runs(series, pos, 3, 10)
    assert length.tolist() == [3, 0, 5]
    assert start.tolist() == [2, -1, 5]


def _judge(y, absent, m=1, h=1):
    """implausible_gaps of one series whose periods ``absent`` (a slice) have no rows."""
    y = np.asarray(y, dtype=float)
    keys = pd.DataFrame({"sku": ["A"], "location": ["L"]})
    grid = pd.date_range("2024-01-01", periods=y.size, freq="D")
    return implausible_gaps(keys, [y], grid, np.array([0]), np.array([absent.stop - absent.start]),
                            np.array([absent.start]), m, h)


def test_an_outage_in_a_dense_series_is_flagged():
    rng = np.random.default_rng(0)
    y = rng.poisson(8.0, 300).astype(float)
    y[120:140] = 0.0
    out = _judge(y, slice(120, 140), m=7)
    assert out[["periods", "to_end"]].values.tolist() == [[20, False]]
    assert out["first_missing"].iloc[0] == pd.Timestamp("2024-01-01") + pd.Timedelta(days=120)
    # an extract cut short: the last 6 days of a series that sells every day
    y = rng.poisson(8.0, 300).astype(float)
    y[-6:] = 0.0
    assert _judge(y, slice(294, 300), m=7, h=28)["to_end"].tolist() == [True]


def test_what_the_series_own_demand_explains_is_not_flagged():
    rng = np.random.default_rng(1)
    # intermittent: demand in one period of ten, a run of 30 is not rare enough
    y = ((rng.random(400) < 0.1) * 5.0)
    y[200:230] = 0.0
    assert _judge(y, slice(200, 230)).empty
    # sold only in summer: the winter rows are missing every year (rule 2)
    week = np.arange(156) % 52
    y = np.where(week < 26, rng.poisson(6.0, 156), 0).astype(float)
    assert _judge(y, slice(130, 156), m=52, h=13).empty
    # phased out: no rows for longer than the classification window, to the end
    y = rng.poisson(6.0, 200).astype(float)
    y[140:] = 0.0
    assert _judge(y, slice(140, 200), m=7, h=14).empty


def test_forecast_logs_the_flagged_series_and_reads_the_run_as_zero_demand(caplog):
    rng = np.random.default_rng(2)
    dates = pd.date_range("2024-01-01", periods=200, freq="D")
    rows = []
    for loc in ("S1", "S2", "S3"):
        qty = rng.poisson(20.0, dates.size)
        keep = np.ones(dates.size, bool)
        if loc == "S2":
            keep[150:175] = False  # the store's feed stopped for 25 days
        rows.append(pd.DataFrame({"sku": "P", "location": loc, "date": dates[keep], "qty": qty[keep]}))
    history = pd.concat(rows, ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="forecasting.core"):
        result = forecast(history, horizon=7, freq="D", season_length=7, global_model=False)
    assert result.metrics["n_gap_series"] == 1.0
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "1 series have a run of periods without rows" in text
    assert "P/S2: 25 periods from 2024-05-30" in text
    # the contract's reading stands: the same forecasts as with explicit zero rows
    full = pd.concat([history, pd.DataFrame({"sku": "P", "location": "S2", "date": dates[150:175], "qty": 0})])
    zeros = forecast(full, horizon=7, freq="D", season_length=7, global_model=False)
    pd.testing.assert_frame_equal(result.forecasts, zeros.forecasts)
    assert zeros.metrics["n_gap_series"] == 0.0


def test_refresh_reports_each_flagged_series_once(caplog):
    from forecasting import refresh

    rng = np.random.default_rng(3)
    dates = pd.date_range("2024-01-01", periods=200, freq="D")

    def rows(loc, gap):
        keep = np.ones(dates.size, bool)
        keep[gap] = False
        return pd.DataFrame({"sku": "P", "location": loc, "date": dates[keep], "qty": rng.poisson(20.0, dates.size)[keep]})

    history = pd.concat([rows("S1", slice(150, 175)), rows("S2", slice(0, 0)), rows("S3", slice(120, 140))],
                        ignore_index=True)
    first = forecast(history[history["location"] != "S3"], horizon=7, freq="D", season_length=7, global_model=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = refresh(history, first, horizon=7, freq="D", season_length=7, global_model=False)
    assert sorted(again.gaps["location"]) == ["S1", "S3"]  # S1 refreshed, S3 new
    assert again.metrics["n_gap_series"] == 2.0
    text = " ".join(r.getMessage() for r in caplog.records)
    assert text.count("P/S1: 25 periods") == 1 and text.count("P/S3: 20 periods") == 1


def test_a_run_to_the_end_is_flagged_exactly_when_the_series_is_not_phased_out():
    rng = np.random.default_rng(4)
    dates = pd.date_range("2024-01-01", periods=200, freq="D")
    qty = rng.poisson(8.0, dates.size)
    # classification window here: max(2 m, 2 H, 5 n / d) = 14 days
    history = pd.concat([pd.DataFrame({"sku": "P", "location": loc, "date": dates[:-cut], "qty": qty[:-cut]})
                         for loc, cut in (("gone", 30), ("cut", 10))]
                        + [pd.DataFrame({"sku": "P", "location": "full", "date": dates, "qty": qty})], ignore_index=True)
    result = forecast(history, horizon=7, freq="D", season_length=7, global_model=False)
    classes = result.selection.set_index("location")["demand_class"]
    assert classes["gone"] == "no_demand" and classes["cut"] != "no_demand"
    assert result.gaps["location"].tolist() == ["cut"] and result.gaps["to_end"].tolist() == [True]
