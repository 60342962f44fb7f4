"""A tiny hand-made workspace: a valid data folder and two published runs.

Used by the API, report and notebook tests so they do not depend on the nightly job.
Numbers are small and written out so expected results can be computed by hand.

Network: PLANT -> DC-NORTH (dealers DLR-N01, DLR-N02), DC-SOUTH (dealer DLR-S01).
Demand: weekly (W-MON) from 2023-10-02 to 2024-01-29 for SKU-0001, SKU-0002.

Run A ``RUN_A`` (as of 2024-01-15) forecasts 2024-01-15 .. 2024-02-05: the first three
weeks have actuals (``OVERLAP_WEEKS``), the last one does not.
Run B ``RUN_B`` (as of 2024-02-05, the latest) forecasts after the demand table ends.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipelines.publish import RunWriter

RUN_A = "20240115T020000Z-aaaaaa"
RUN_B = "20240205T020000Z-bbbbbb"
DEALERS = ["DLR-N01", "DLR-N02", "DLR-S01"]
SKUS = ["SKU-0001", "SKU-0002"]
OVERLAP_WEEKS = pd.to_datetime(["2024-01-15", "2024-01-22", "2024-01-29"])
API_KEY = "test-key-0123456789abcdef"

#: Run A's point forecast (``mean``) per (sku, dealer), the same every week.
FORECAST_A = {
    ("SKU-0001", "DLR-N01"): 10.0,
    ("SKU-0001", "DLR-N02"): 5.0,
    ("SKU-0001", "DLR-S01"): 8.0,
    ("SKU-0002", "DLR-N01"): 2.0,
    ("SKU-0002", "DLR-N02"): 1.0,
    ("SKU-0002", "DLR-S01"): 3.0,
}
#: Actual demand in the three overlap weeks; None = no demand row (zero demand).
ACTUALS = {
    ("SKU-0001", "DLR-N01"): [12, 8, 15],
    ("SKU-0001", "DLR-N02"): [5, 6, 4],
    ("SKU-0001", "DLR-S01"): [6, 9, 7],
    ("SKU-0002", "DLR-N01"): [0, 3, 2],
    ("SKU-0002", "DLR-N02"): [1, 0, 0],
    ("SKU-0002", "DLR-S01"): [4, None, 5],
}
MODELS = {"SKU-0001": "ets", "SKU-0002": "seasonal_naive"}


def write_data_dir(folder: Path) -> Path:
    """Write the six input tables of the tiny network into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "location": ["PLANT", "DC-NORTH", "DC-SOUTH", *DEALERS],
            "kind": ["plant", "dc", "dc", "dealer", "dealer", "dealer"],
            "region": ["central", "north", "south", "north", "north", "south"],
            "parent": ["", "PLANT", "PLANT", "DC-NORTH", "DC-NORTH", "DC-SOUTH"],
            "vmi": [False, False, False, True, True, True],
        }
    ).to_csv(folder / "locations.csv", index=False)
    pd.DataFrame(
        {"sku": SKUS, "unit_cost": [12.5, 40.0], "holding_rate": [0.25, 0.25], "case_pack": [1, 2], "moq": [1, 2]}
    ).to_csv(folder / "items.csv", index=False)
    rng = np.random.default_rng(3)
    history = pd.date_range("2023-10-02", "2024-01-08", freq="W-MON")
    rows = []
    for (sku, dealer), level in FORECAST_A.items():
        for day in history:
            rows.append((sku, dealer, day, int(rng.poisson(level))))
        for day, qty in zip(OVERLAP_WEEKS, ACTUALS[(sku, dealer)]):
            if qty is not None:
                rows.append((sku, dealer, day, qty))
    demand = pd.DataFrame(rows, columns=["sku", "location", "date", "qty"])
    demand.to_csv(folder / "demand.csv", index=False, date_format="%Y-%m-%d")
    inv = [(s, d, 6.0, 8.0, 30.0, 0.95) for s in SKUS for d in DEALERS]
    inv += [(s, dc, 200.0, None, None, 0.95) for s in SKUS for dc in ("DC-NORTH", "DC-SOUTH")]
    pd.DataFrame(inv, columns=["sku", "location", "on_hand", "min_qty", "max_qty", "service_level"]).to_csv(
        folder / "inventory.csv", index=False
    )
    pd.DataFrame(
        {"sku": ["SKU-0001"], "location": ["DLR-N01"], "arrival_date": ["2024-02-05"], "qty": [10]}
    ).to_csv(folder / "inbound.csv", index=False)
    pd.DataFrame(
        {
            "origin": ["PLANT", "PLANT", "DC-NORTH", "DC-NORTH", "DC-SOUTH", "DC-NORTH", "DC-SOUTH"],
            "destination": ["DC-NORTH", "DC-SOUTH", "DLR-N01", "DLR-N02", "DLR-S01", "DC-SOUTH", "DC-NORTH"],
            "lead_time": [2, 2, 1, 1, 1, 1, 1],
            "cost_per_unit": [1.0, 1.0, 0.5, 0.5, 0.5, 2.0, 2.0],
        }
    ).to_csv(folder / "lanes.csv", index=False)
    return folder


def _forecasts(dates: pd.DatetimeIndex, scale: float = 1.0) -> pd.DataFrame:
    rows = []
    for (sku, dealer), level in FORECAST_A.items():
        for day in dates:
            mean = level * scale
            rows.append((sku, dealer, day, mean, mean, mean * 1.5, mean * 1.8, MODELS[sku]))
    return pd.DataFrame(rows, columns=["sku", "location", "date", "mean", "q50", "q90", "q95", "model"])


def _plan(ship: list[str], qty: list[float]) -> pd.DataFrame:
    ship_dates = pd.to_datetime(ship)
    return pd.DataFrame(
        {
            "sku": ["SKU-0001", "SKU-0002", "SKU-0001", "SKU-0001", "SKU-0002"],
            "origin": ["DC-NORTH", "DC-NORTH", "DC-NORTH", "DC-SOUTH", "DC-NORTH"],
            "destination": ["DLR-N01", "DLR-N01", "DLR-N02", "DLR-S01", "DC-SOUTH"],
            "ship_date": ship_dates,
            "arrival_date": ship_dates + pd.Timedelta(weeks=1),
            "qty": qty,
            "kind": ["replenishment"] * 4 + ["transfer"],
            "reason": ["below safety stock", "below min", "cover forecast", "below min", "south short"],
        }
    )


def _projection(start: pd.Timestamp, weeks: int) -> pd.DataFrame:
    dates = pd.date_range(start, periods=weeks, freq="W-MON")
    rows = []
    for (sku, dealer), level in FORECAST_A.items():
        on_hand = 6.0
        for i, day in enumerate(dates):
            arrivals = 12.0 if i == 1 else 0.0
            on_hand = max(on_hand + arrivals - level, 0.0)
            rows.append((sku, dealer, day, level, arrivals, 0.0, on_hand, 4.0, 8.0, 30.0, 0.0))
    return pd.DataFrame(
        rows,
        columns=["sku", "location", "date", "demand", "arrivals", "shipments_out", "on_hand",
                 "safety_stock", "min_qty", "max_qty", "shortage"],
    )


def _alerts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku": ["SKU-0002", "SKU-0001", "*"],
            "location": ["DLR-S01", "DLR-N01", "DLR-N01"],
            "kind": ["below_min", "below_min", "turnover_days"],
            "severity": ["high", "medium", "info"],
            "value": [2.0, 6.0, 21.0],
            "threshold": [8.0, 8.0, 180.0],
            "message": ["on hand 2 below min 8", "on hand 6 below min 8", "21 turnover days"],
        }
    )


def publish_run(output_dir: Path, run_id: str, as_of: str, data_dir: Path, *, forecast_start: str,
                weeks: int = 4, plan_ship: list[str] | None = None, plan_qty: list[float] | None = None,
                forecast_scale: float = 1.0) -> Path:
    """Publish one hand-made run with all tables the readers use."""
    writer = RunWriter(output_dir, run_id, manifest={"run_id": run_id, "as_of": as_of, "data_dir": str(data_dir)})
    dates = pd.date_range(forecast_start, periods=weeks, freq="W-MON")
    plan_ship = plan_ship or [forecast_start] * 5
    plan_qty = plan_qty or [12.0, 4.0, 6.0, 10.0, 20.0]
    writer.write("forecasts", _forecasts(dates, forecast_scale))
    writer.write("safety_stock", pd.DataFrame(
        [(s, d, 4.0, 12.0, 20.0, 0.95) for (s, d) in FORECAST_A],
        columns=["sku", "location", "safety_stock", "reorder_point", "order_up_to", "service_level"],
    ))
    writer.write("plan", _plan(plan_ship, plan_qty))
    writer.write("alerts", _alerts())
    writer.write("projection", _projection(dates[0], weeks))
    writer.write("selection", pd.DataFrame(
        [(s, d, MODELS[s], "smooth", 15, "") for (s, d) in FORECAST_A],
        columns=["sku", "location", "model", "demand_class", "n_obs", "fallback"],
    ))
    return writer.publish()


def write_config(folder: Path, data_dir: Path, output_dir: Path, api_key: str | None = None) -> Path:
    """A YAML configuration pointing at the tiny workspace."""
    raw = {"name": "tiny", "data_dir": str(data_dir), "output_dir": str(output_dir), "freq": "W-MON"}
    if api_key:
        raw["api"] = {"api_key": api_key}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def build_workspace(root: Path, api_key: str | None = API_KEY) -> Path:
    """Data folder, runs A and B published (B is latest), and a config; returns the config."""
    data_dir = write_data_dir(root / "data")
    output_dir = root / "out"
    publish_run(output_dir, RUN_A, "2024-01-15", data_dir, forecast_start="2024-01-15")
    publish_run(output_dir, RUN_B, "2024-02-05", data_dir, forecast_start="2024-02-05",
                plan_ship=["2024-02-05", "2024-02-12", "2024-02-05", "2024-02-05", "2024-02-05"],
                plan_qty=[14.0, 4.0, 6.0, 9.0, 20.0])
    return write_config(root, data_dir, output_dir, api_key)
