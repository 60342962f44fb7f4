"""Loading and validation: every bad-input kind is reported with file, row, column and
value, all files together, and nothing is returned half-loaded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pipelines.contracts import CONTRACTS, OUTPUT_COLUMNS, RULES, forecast_columns
from pipelines.demo_data import generate_demo_data
from pipelines.loading import (
    MAX_SHOWN_PER_FILE,
    Dataset,
    InputError,
    Violation,
    infer_freq,
    load_dataset,
    load_history,
)


def load_error(folder, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        load_dataset(folder, **kwargs)
    return info.value


def assert_reported(err: InputError, file: str, row: int, column: str, value: str, rule: str) -> Violation:
    """The violation exists and its line in ``str(err)`` names file, row, column, value."""
    found = [v for v in err.violations if (v.file, v.row, v.column, v.rule) == (file, row, column, rule)]
    assert found, f"no {rule} at {file} row {row} column {column} in:\n{err}"
    v = found[0]
    assert v.value == value
    line = f"{file} row {row}, column {column}, value {value!r}: {v.message} [{rule}]"
    assert line in str(err).splitlines()
    return v


# ---- the happy path ----------------------------------------------------------------------


def test_demo_data_loads_cleanly_with_normalised_dtypes(valid_dir):
    ds = load_dataset(valid_dir)
    assert isinstance(ds, Dataset)
    assert ds.freq == "W-MON"
    # the demo may write the optional promotion calendar; tables() lists it only when supplied
    calendar = ["promotions"] if (valid_dir / "promotions.csv").exists() else []
    assert list(ds.tables()) == ["demand", "items", "locations", "inventory", "inbound", "lanes", *calendar]
    assert (ds.promotions is None) == (not calendar)
    for name, frame in ds.tables().items():
        assert list(frame.columns[: len(CONTRACTS[name].names)]) == [
            c for c in CONTRACTS[name].names if c in frame.columns
        ]
    # "str" under pandas 3, object holding str under pandas 2 (both are supported)
    assert pd.api.types.is_string_dtype(ds.demand["sku"]) and pd.api.types.is_string_dtype(ds.lanes["origin"])
    assert ds.locations.loc[ds.locations["kind"] == "plant", "parent"].isna().all()
    assert ds.demand["date"].dtype == "datetime64[ns]"
    assert ds.inbound["arrival_date"].dtype == "datetime64[ns]"
    for frame, col in ((ds.demand, "qty"), (ds.inventory, "on_hand"), (ds.inventory, "min_qty"), (ds.inbound, "qty"), (ds.lanes, "capacity")):
        assert frame[col].dtype == "float64", col
    assert ds.lanes["lead_time"].dtype == "int64" and ds.items["case_pack"].dtype == "int64"
    assert ds.locations["vmi"].dtype == bool
    assert ds.locations.set_index("location").loc["PLANT", "parent"] is np.nan or pd.isna(
        ds.locations.set_index("location").loc["PLANT", "parent"]
    )
    # The loaded tables equal what the generator produced (same rows, same values).
    gen = generate_demo_data(seed=3, n_skus=12, n_dealers=6, n_weeks=30)
    assert len(ds.demand) == len(gen["demand"])
    np.testing.assert_array_equal(ds.demand["qty"].to_numpy(), gen["demand"]["qty"].to_numpy())
    assert (ds.demand["sku"].to_numpy() == gen["demand"]["sku"].astype(str).to_numpy()).all()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.demand = ds.items


def test_inbound_is_optional_and_optional_columns_are_added(valid_dir, edit):
    (valid_dir / "inbound.csv").unlink()
    edit.drop_column("lanes", "capacity")
    edit.drop_column("inventory", "service_level")
    edit.drop_column("demand", "promo")
    ds = load_dataset(valid_dir)
    assert ds.inbound.empty and list(ds.inbound.columns) == ["sku", "location", "arrival_date", "qty"]
    assert ds.lanes["capacity"].isna().all()
    assert ds.inventory["service_level"].isna().all()
    # promo/price stay absent: "no promotion data" is not "never on promotion".
    assert "promo" not in ds.demand and "price" in ds.demand


def test_identifiers_stay_text_and_spaces_are_trimmed(valid_dir, edit):
    row = edit.find("items", sku="SKU-0001")
    edit.set("items", row, "sku", "007")
    # the demo's promotion calendar (when written) names the SKU too
    for table in ("demand", "inventory", "promotions")[: 3 if edit.path("promotions").exists() else 2]:
        rows = edit.rows(table)
        for r in rows[1:]:
            if r[0] == "SKU-0001":
                r[0] = "007"
        edit.path(table).write_text("\n".join(",".join(r) for r in rows) + "\n")
    inbound = edit.rows("inbound")
    edit.path("inbound").write_text(
        "\n".join(",".join(["007" if c == "SKU-0001" else c for c in r]) for r in inbound) + "\n"
    )
    edit.set("lanes", 2, "origin", " " + edit.get("lanes", 2, "origin") + " ")
    ds = load_dataset(valid_dir)
    assert "007" in set(ds.items["sku"])
    assert not ds.lanes["origin"].str.startswith(" ").any()


def test_blank_lines_are_skipped_without_shifting_row_numbers(valid_dir, edit):
    edit.insert_line("demand", 5, "")
    edit.insert_line("demand", 5, ",,,,,")
    # Original row 9 is now spreadsheet row 11.
    edit.set("demand", 11, "qty", "-4")
    err = load_error(valid_dir)
    assert_reported(err, "demand.csv", 11, "qty", "-4", "non_negative")
    assert len(err.violations) == 1


def test_parquet_tables_are_read_and_rows_numbered_like_a_sheet(valid_dir):
    demand = pd.read_csv(valid_dir / "demand.csv", dtype={"sku": str, "location": str})
    demand.loc[6, "qty"] = -2.0  # record 7 -> spreadsheet row 8
    demand.to_parquet(valid_dir / "demand.parquet", index=False)
    (valid_dir / "demand.csv").unlink()
    err = load_error(valid_dir)
    assert_reported(err, "demand.parquet", 8, "qty", "-2", "non_negative")
    demand.loc[6, "qty"] = 2.0
    demand.to_parquet(valid_dir / "demand.parquet", index=False)
    ds = load_dataset(valid_dir)
    assert ds.demand["date"].dtype == "datetime64[ns]" and len(ds.demand) == len(demand)


# ---- one test per bad-input kind ------------------------------------------------------


def test_missing_file(valid_dir):
    (valid_dir / "items.csv").unlink()
    err = load_error(valid_dir)
    v = assert_reported(err, "items.csv", 0, "-", "", "missing_file")
    assert "items.parquet" in v.message
    # Without items, SKU references are not checked (no flood of unknown_sku).
    assert {x.rule for x in err.violations} == {"missing_file"}


def test_missing_column(valid_dir, edit):
    edit.drop_column("demand", "qty")
    err = load_error(valid_dir)
    v = assert_reported(err, "demand.csv", 1, "qty", "", "missing_column")
    assert "sku, location, date, qty" in v.message


@pytest.mark.parametrize(
    ("table", "column", "bad", "rule"),
    [
        ("demand", "qty", "abc", "not_a_number"),
        ("demand", "qty", "1,5", "not_a_number"),
        ("items", "unit_cost", "12 EUR", "not_a_number"),
        ("lanes", "lead_time", "two", "not_a_number"),
        ("demand", "date", "2026-13-45", "not_a_date"),
        ("inbound", "arrival_date", "next week", "not_a_date"),
        ("locations", "vmi", "maybe", "not_a_bool"),
    ],
)
def test_unparseable_values(valid_dir, edit, table, column, bad, rule):
    edit.set(table, 3, column, bad)
    err = load_error(valid_dir)
    assert_reported(err, f"{table}.csv", 3, column, bad, rule)
    # The unparseable cell is reported once, not again as "missing".
    assert [v.rule for v in err.violations if v.row == 3 and v.column == column] == [rule]


def test_negative_quantity_message_format(valid_dir, edit):
    edit.set("demand", 14, "qty", "-3")
    err = load_error(valid_dir)
    assert_reported(err, "demand.csv", 14, "qty", "-3", "non_negative")
    assert "demand.csv row 14, column qty, value '-3': must be >= 0 [non_negative]" in str(err)


@pytest.mark.parametrize(
    ("table", "column"),
    [("inventory", "on_hand"), ("inbound", "qty"), ("items", "moq"), ("lanes", "cost_per_unit"), ("inventory", "max_qty")],
)
def test_negative_quantities_in_other_tables(valid_dir, edit, table, column):
    edit.set(table, 2, column, "-1")
    err = load_error(valid_dir)
    assert_reported(err, f"{table}.csv", 2, column, "-1", "non_negative")


def test_duplicate_key(valid_dir, edit):
    rows = edit.rows("demand")
    edit.replace_row("demand", 6, rows[3])  # row 6 repeats row 4's sku, location, date
    err = load_error(valid_dir)
    v = assert_reported(err, "demand.csv", 6, "date", rows[3][2], "duplicate_key")
    assert "same as row 4" in v.message


def test_duplicate_location(valid_dir, edit):
    rows = edit.rows("locations")
    edit.replace_row("locations", 5, rows[3])
    err = load_error(valid_dir)
    assert_reported(err, "locations.csv", 5, "location", rows[3][0], "duplicate_key")


@pytest.mark.parametrize("table", ["demand", "inventory", "inbound"])
def test_unknown_sku(valid_dir, edit, table):
    edit.set(table, 2, "sku", "SKU-9999")
    err = load_error(valid_dir)
    v = assert_reported(err, f"{table}.csv", 2, "sku", "SKU-9999", "unknown_sku")
    assert "items.csv" in v.message


@pytest.mark.parametrize("table", ["demand", "inventory", "inbound"])
def test_unknown_location(valid_dir, edit, table):
    edit.set(table, 2, "location", "DLR-X99")
    err = load_error(valid_dir)
    assert_reported(err, f"{table}.csv", 2, "location", "DLR-X99", "unknown_location")


@pytest.mark.parametrize("column", ["origin", "destination"])
def test_lane_from_or_to_unknown_location(valid_dir, edit, column):
    edit.set("lanes", 3, column, "DC-EAST")
    err = load_error(valid_dir)
    assert_reported(err, "lanes.csv", 3, column, "DC-EAST", "unknown_location")


def test_lane_to_itself(valid_dir, edit):
    edit.set("lanes", 2, "destination", edit.get("lanes", 2, "origin"))
    err = load_error(valid_dir)
    assert_reported(err, "lanes.csv", 2, "destination", edit.get("lanes", 2, "origin"), "self_lane")


def test_dealer_whose_parent_is_not_a_dc(valid_dir, edit):
    row = edit.find("locations", location="DLR-N01")
    edit.set("locations", row, "parent", "PLANT")
    err = load_error(valid_dir)
    v = assert_reported(err, "locations.csv", row, "parent", "PLANT", "parent_not_dc")
    assert "parent is a plant" in v.message


def test_dealer_without_parent_and_dc_under_a_dc(valid_dir, edit):
    dealer = edit.find("locations", location="DLR-S01")
    dc = edit.find("locations", location="DC-WEST")
    edit.set("locations", dealer, "parent", "")
    edit.set("locations", dc, "parent", "DC-NORTH")
    err = load_error(valid_dir)
    assert_reported(err, "locations.csv", dealer, "parent", "", "parent_not_dc")
    assert_reported(err, "locations.csv", dc, "parent", "DC-NORTH", "parent_not_plant")


def test_unknown_parent(valid_dir, edit):
    row = edit.find("locations", location="DLR-W01")
    edit.set("locations", row, "parent", "DC-MOON")
    err = load_error(valid_dir)
    assert_reported(err, "locations.csv", row, "parent", "DC-MOON", "unknown_parent")


def test_min_above_max(valid_dir, edit):
    row = edit.find("inventory", location="DLR-N01")
    edit.set("inventory", row, "min_qty", "9")
    edit.set("inventory", row, "max_qty", "4")
    err = load_error(valid_dir)
    v = assert_reported(err, "inventory.csv", row, "min_qty", "9", "min_gt_max")
    assert "max_qty is 4" in v.message


@pytest.mark.parametrize(("table", "column"), [("demand", "date"), ("inbound", "arrival_date")])
def test_dates_off_the_period_grid(valid_dir, edit, table, column):
    monday = pd.Timestamp(edit.get(table, 2, column))
    tuesday = (monday + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    edit.set(table, 2, column, tuesday)
    err = load_error(valid_dir)
    v = assert_reported(err, f"{table}.csv", 2, column, tuesday, "off_grid")
    assert "W-MON" in v.message


def test_time_of_day_is_off_the_grid(valid_dir, edit):
    edit.set("demand", 4, "date", edit.get("demand", 4, "date") + "T12:00:00")
    err = load_error(valid_dir)
    assert_reported(err, "demand.csv", 4, "date", edit.get("demand", 4, "date"), "off_grid")


def test_other_grid_is_respected(valid_dir):
    err = load_error(valid_dir, freq="W-SUN")
    assert {v.rule for v in err.violations} == {"off_grid"}
    calendar = {"promotions.csv"} if (valid_dir / "promotions.csv").exists() else set()
    assert {v.file for v in err.violations} == {"demand.csv", "inbound.csv", *calendar}
    # every demand date is off the configured grid: the first line says which grid they are on
    first = err.violations[0]
    assert (first.file, first.row, first.column) == ("demand.csv", 0, "date")
    assert "look like W-MON periods: set the configuration's freq to W-MON" in first.message


def test_one_bad_date_gets_no_grid_hint(valid_dir, edit):
    edit.set("demand", 2, "date", "2024-01-02")
    err = load_error(valid_dir)
    assert not any("look like" in v.message for v in err.violations)


@pytest.mark.parametrize("bad", ["1.2", "0", "1", "-0.5"])
def test_service_level_outside_unit_interval(valid_dir, edit, bad):
    edit.set("inventory", 5, "service_level", bad)
    err = load_error(valid_dir)
    assert_reported(err, "inventory.csv", 5, "service_level", bad, "open_unit_interval")


@pytest.mark.parametrize(("table", "column"), [("demand", "sku"), ("inventory", "location"), ("lanes", "origin"), ("items", "sku")])
def test_empty_ids(valid_dir, edit, table, column):
    edit.set(table, 3, column, "  ")
    err = load_error(valid_dir)
    assert_reported(err, f"{table}.csv", 3, column, "  ", "empty_id")


@pytest.mark.parametrize(
    ("table", "column", "bad", "rule"),
    [
        ("lanes", "lead_time", "1.5", "integer"),
        ("lanes", "lead_time", "-1", "non_negative"),
        ("items", "case_pack", "0", "at_least_one"),
        ("demand", "promo", "2", "binary"),
        ("locations", "kind", "warehouse", "allowed_values"),
        ("demand", "qty", "inf", "finite"),
        ("demand", "qty", "", "required"),
        ("locations", "vmi", "", "required"),
    ],
)
def test_value_rules(valid_dir, edit, table, column, bad, rule):
    edit.set(table, 2, column, bad)
    err = load_error(valid_dir)
    assert_reported(err, f"{table}.csv", 2, column, bad, rule)


def test_malformed_row_keeps_later_row_numbers(valid_dir, edit):
    rows = edit.rows("demand")
    edit.replace_row("demand", 4, rows[3] + ["extra"])
    edit.set("demand", 9, "qty", "-7")
    err = load_error(valid_dir)
    v = [x for x in err.violations if x.rule == "malformed_row"]
    assert [(x.file, x.row) for x in v] == [("demand.csv", 4)]
    assert "expected 6, found 7" in v[0].message
    assert_reported(err, "demand.csv", 9, "qty", "-7", "non_negative")


# ---- all together -----------------------------------------------------------------------


def test_all_violations_of_all_files_come_together(valid_dir, edit):
    edit.set("demand", 3, "qty", "-1")
    edit.set("demand", 7, "date", "2020-02-30")
    edit.set("items", 4, "case_pack", "0")
    edit.set("lanes", 2, "destination", "NOWHERE")
    (valid_dir / "locations.csv").write_text(
        (valid_dir / "locations.csv").read_text().replace("DLR-N02,dealer,north,DC-NORTH", "DLR-N02,dealer,north,PLANT")
    )
    edit.set("inventory", 2, "service_level", "95")
    err = load_error(valid_dir)
    got = {(v.file, v.row, v.column, v.rule) for v in err.violations}
    assert ("demand.csv", 3, "qty", "non_negative") in got
    assert ("demand.csv", 7, "date", "not_a_date") in got
    assert ("items.csv", 4, "case_pack", "at_least_one") in got
    assert ("lanes.csv", 2, "destination", "unknown_location") in got
    assert any(f == "locations.csv" and r == "parent_not_dc" for f, _, _, r in got)
    assert ("inventory.csv", 2, "service_level", "open_unit_interval") in got
    files = [v.file for v in err.violations]
    # Grouped by file in contract order, rows ascending inside a file.
    assert files == sorted(files, key=["demand.csv", "items.csv", "locations.csv", "inventory.csv", "inbound.csv", "lanes.csv"].index)
    demand_rows = [v.row for v in err.violations if v.file == "demand.csv"]
    assert demand_rows == sorted(demand_rows)
    assert str(err).splitlines()[0].startswith(f"{len(err.violations)} input violation(s) in 5 file(s)")


def test_message_list_is_capped_but_violations_are_kept(valid_dir, edit):
    rows = edit.rows("demand")
    for r in rows[1:121]:
        r[3] = "-1"
    edit.path("demand").write_text("\n".join(",".join(r) for r in rows) + "\n")
    err = load_error(valid_dir)
    assert len(err.violations) == 120
    text = str(err).splitlines()
    assert len([line for line in text if line.startswith("demand.csv row")]) == MAX_SHOWN_PER_FILE
    assert f"... and {120 - MAX_SHOWN_PER_FILE} more in demand.csv" in text


def test_rule_identifiers_are_documented():
    for contract in CONTRACTS.values():
        for col in contract.columns:
            for check in col.all_checks:
                assert check.name in RULES


# ---- history for `supplyplan forecast` ------------------------------------------------


def _history(tmp_path, dates, name="history.csv"):
    frame = pd.DataFrame(
        {
            "sku": "A1",
            "location": "L1",
            "date": pd.to_datetime(dates).strftime("%Y-%m-%d"),
            "qty": np.arange(len(dates), dtype=float),
        }
    )
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_load_history_infers_weekly_and_monthly_grids(tmp_path, valid_dir):
    hist = load_history(valid_dir / "demand.csv")
    assert hist.attrs["freq"] == "W-MON"
    assert list(hist.columns) == ["sku", "location", "date", "qty", "promo", "price"]
    assert hist["date"].dtype == "datetime64[ns]" and hist["qty"].dtype == "float64"
    monthly = pd.date_range("2024-01-01", periods=18, freq="MS")
    assert load_history(_history(tmp_path, monthly)).attrs["freq"] == "MS"
    # Gaps in the union of dates still reveal the grid.
    gappy = pd.DatetimeIndex(["2024-01-01", "2024-03-01", "2024-07-01", "2024-08-01"])
    assert load_history(_history(tmp_path, gappy, "gappy.csv")).attrs["freq"] == "MS"
    assert infer_freq(pd.to_datetime(["2024-01-02", "2024-01-16", "2024-02-13"])) == "W-TUE"


def test_load_history_with_explicit_freq_checks_the_grid(tmp_path):
    path = _history(tmp_path, pd.date_range("2024-01-01", periods=10, freq="W-MON"))
    assert load_history(path, freq="W-MON").attrs["freq"] == "W-MON"
    with pytest.raises(InputError) as info:
        load_history(path, freq="MS")
    assert info.value.violations[0].rule == "off_grid"
    assert "9 of 10 dates are not period starts of MS; the dates look like W-MON periods: set --freq to W-MON" \
        in str(info.value)


def test_load_history_fails_clearly_when_the_grid_cannot_be_told(tmp_path):
    path = _history(tmp_path, pd.to_datetime(["2024-01-01"]))
    with pytest.raises(InputError) as info:
        load_history(path)
    v = info.value.violations[0]
    assert (v.file, v.column, v.rule) == ("history.csv", "date", "unknown_freq")
    assert "--freq" in str(info.value)


def test_load_history_reports_bad_rows(tmp_path):
    path = tmp_path / "hist.csv"
    path.write_text(
        "sku,location,date,qty\n"
        "A,L,2024-01-01,1\n"
        "A,L,2024-01-08,-2\n"
        "A,L,2024-01-15,x\n"
        "A,L,2024-01-15,3\n"
        ",L,2024-01-22,3\n"
    )
    with pytest.raises(InputError) as info:
        load_history(path, freq="W-MON")
    err = info.value
    assert_reported(err, "hist.csv", 3, "qty", "-2", "non_negative")
    assert_reported(err, "hist.csv", 4, "qty", "x", "not_a_number")
    assert_reported(err, "hist.csv", 5, "date", "2024-01-15", "duplicate_key")
    assert_reported(err, "hist.csv", 6, "sku", "", "empty_id")
    with pytest.raises(InputError) as info:
        load_history(tmp_path / "nope.csv")
    assert info.value.violations[0].rule == "missing_file"
    (tmp_path / "cols.csv").write_text("sku,date,qty\nA,2024-01-01,1\n")
    with pytest.raises(InputError) as info:
        load_history(tmp_path / "cols.csv", freq="W-MON")
    assert [(v.row, v.column, v.rule) for v in info.value.violations] == [(1, "location", "missing_column")]
    assert "found: 'sku', 'date', 'qty'" in info.value.violations[0].message


@pytest.mark.parametrize(
    ("header", "sep", "hint"),
    [
        ("sku;location;date;qty", ";", "the file seems separated by ';', expected ','"),
        ("sku\tlocation\tdate\tqty", "\t", "the file seems separated by tabs, expected ','"),
        ("SKU,location,date,Qty", ",", "'SKU' differs only in case: column names are lower case"),
    ],
)
def test_missing_column_names_what_the_header_holds(tmp_path, header, sep, hint):
    # ERP exports in European locales use ';'; spreadsheets capitalise headers
    (tmp_path / "hist.csv").write_text(header + "\n" + sep.join(["A", "L", "2024-01-01", "1"]) + "\n")
    with pytest.raises(InputError) as info:
        load_history(tmp_path / "hist.csv", freq="W-MON")
    first = info.value.violations[0]
    assert (first.row, first.column, first.rule) == (1, "sku", "missing_column")
    assert hint in first.message and "found: " in first.message


def test_output_column_lists():
    assert forecast_columns((0.5, 0.9, 0.975)) == ("sku", "location", "date", "mean", "q50", "q90", "q97.5", "model")
    assert OUTPUT_COLUMNS["plan"][-2:] == ("kind", "reason")
    assert OUTPUT_COLUMNS["alerts"] == ("sku", "location", "kind", "severity", "value", "threshold", "message")
    with pytest.raises(ValueError):
        forecast_columns((1.5,))
