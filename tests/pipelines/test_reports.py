"""Variance review: hand-computed bias / WAPE on a tiny published run, and clear errors."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pipelines.publish import read_table
from pipelines.reports import (
    ReportError,
    compare_forecasts,
    largest_misses,
    variance_report,
    variance_table,
)
from pipelines.settings import load_settings
from published_fixture import RUN_A, RUN_B, build_workspace, publish_run, write_config, write_data_dir

# Run A forecasts every week (per SKU x dealer): N01 10/2, N02 5/1, S01 8/3 (SKU-0001/0002).
# Actuals over the three known weeks (see published_fixture.ACTUALS):
#   north: forecast 3 * (10 + 5 + 2 + 1) = 54, actual 35 + 15 + 5 + 1 = 56,
#          |e| = (2+2+5) + (0+1+1) + (2+1+0) + (0+1+1) = 16
#   south: forecast 3 * (8 + 3) = 33, actual 22 + 9 (one week has no row = 0) = 31,
#          |e| = (2+1+1) + (1+3+2) = 10
EXPECTED = {
    "north": {"forecast": 54.0, "actual": 56.0, "bias": (54 - 56) / 56, "wape": 16 / 56},
    "south": {"forecast": 33.0, "actual": 31.0, "bias": (33 - 31) / 31, "wape": 10 / 31},
}


@pytest.fixture()
def settings(tmp_path):
    return load_settings(build_workspace(tmp_path))


def _region_rows(page: str) -> dict[str, dict[str, float]]:
    table = re.search(r'<table id="by-region">(.*?)</table>', page, re.S).group(1)
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
        cells = dict(re.findall(r'data-col="(\w+)"(?: data-value="([^"]*)")?', tr))
        region = re.search(r'data-col="region">([^<]+)<', tr).group(1)
        rows[region] = {k: float(v) for k, v in cells.items() if v}
    return rows


def test_region_table_has_hand_computed_bias_and_wape(settings, tmp_path):
    out = variance_report(settings, output=tmp_path / "variance.html")
    page = out.read_text()
    assert f"Run <b>{RUN_A}</b>" in page  # B (latest) has no known actuals, so A is chosen
    rows = _region_rows(page)
    assert set(rows) == {"north", "south"}
    for region, expected in EXPECTED.items():
        for key, value in expected.items():
            assert rows[region][key] == pytest.approx(value, rel=1e-5), (region, key)
    # Displayed as rounded percentages for the meeting.
    assert ">28.6%<" in page and ">-3.6%<" in page and ">32.3%<" in page and ">6.5%<" in page
    assert "1 later forecast week without actuals yet" in page
    for table_id in ("by-region-week", "by-model", "largest-misses"):
        assert f'<table id="{table_id}">' in page
    assert page.count("<svg") == 2  # one chart per region, inline


def test_tables_by_week_and_misses(settings):
    from pipelines.loading import load_dataset

    ds = load_dataset(settings.data_dir, freq="W-MON")
    forecasts = read_table(settings.output_dir / "runs" / RUN_A, "forecasts")
    compared = compare_forecasts(forecasts, ds.demand, ds.locations)
    assert compared["date"].max() == pd.Timestamp("2024-01-29")  # the 4th week is not known yet
    assert len(compared) == 6 * 3
    week = variance_table(compared, ["region", "date"]).set_index(["region", "date"])
    first = week.loc[("north", pd.Timestamp("2024-01-15"))]
    # forecast 10+5+2+1 = 18, actual 12+5+0+1 = 18, |e| = 2+0+2+0
    assert (first["forecast"], first["actual"], first["bias"]) == (18.0, 18.0, 0.0)
    assert first["wape"] == pytest.approx(4 / 18)
    missing_row = week.loc[("south", pd.Timestamp("2024-01-22"))]
    assert missing_row["actual"] == 9.0  # SKU-0002 at DLR-S01 has no row that week: zero demand
    misses = largest_misses(compared)
    assert list(misses.loc[:1, "sku"] + "@" + misses.loc[:1, "location"]) == ["SKU-0001@DLR-N01", "SKU-0002@DLR-S01"]
    assert misses.loc[0, "abs_error"] == 9.0 and misses.loc[0, "model"] == "ets"
    assert misses.loc[1, "model"] == "seasonal_naive"
    total = variance_table(compared, [])
    assert total.loc[0, "bias"] == pytest.approx(0.0) and total.loc[0, "wape"] == pytest.approx(26 / 87)


def test_explicit_run_and_default_output(settings):
    out = variance_report(settings, run_id=RUN_A)
    assert out == settings.output_dir / "reports" / f"variance-{RUN_A}.html"
    assert out.is_file()


def test_no_overlap_is_a_clear_error(tmp_path):
    data_dir = write_data_dir(tmp_path / "data")
    publish_run(tmp_path / "out", RUN_B, "2024-02-05", data_dir, forecast_start="2024-02-05")
    settings = load_settings(write_config(tmp_path, data_dir, tmp_path / "out"))
    with pytest.raises(ReportError, match="has a forecast period with known actuals.*ends on 2024-01-29"):
        variance_report(settings, output=tmp_path / "v.html")
    with pytest.raises(ReportError, match="nothing to compare yet"):
        variance_report(settings, run_id=RUN_B, output=tmp_path / "v.html")
    with pytest.raises(ReportError, match="not found"):
        variance_report(settings, run_id="20990101T000000Z-ffffff", output=tmp_path / "v.html")
    assert not (tmp_path / "v.html").exists()


def test_nothing_published_is_a_clear_error(tmp_path):
    data_dir = write_data_dir(tmp_path / "data")
    settings = load_settings(write_config(tmp_path, data_dir, tmp_path / "out"))
    with pytest.raises(ReportError, match="no published run"):
        variance_report(settings, output=tmp_path / "v.html")
