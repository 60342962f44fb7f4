"""Variance review: forecast versus actual for the supply-chain meeting.

An earlier run's forecasts are compared with the demand that has since been recorded in
the data folder, by region and week, with bias, WAPE and the largest misses, and written
as one self-contained HTML page (tables plus small inline SVG charts, no external files).

Conventions (DESIGN.md, "Formulas to honour"):

- point forecast ``f`` = the ``mean`` column of ``forecasts``; actual ``y`` = demand qty,
  units per period; a period inside the demand table's span without a row is zero demand.
- error ``f - y`` (positive = forecast too high, the sign of bias);
- bias = ``sum(f - y) / sum(y)``, WAPE = ``sum|y - f| / sum|y|`` computed with
  :func:`forecasting.metrics.bias` and :func:`forecasting.metrics.wape` over all
  SKU x location x week cells of a group (so a region's WAPE weights items by volume).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.metrics import bias as bias_metric
from forecasting.metrics import wape as wape_metric
from pipelines.publish import NoPublishedRun, list_runs, read_manifest, read_table, run_dir
from pipelines.settings import Settings

logger = logging.getLogger(__name__)

#: Rows in the largest-misses table.
TOP_MISSES = 20
UNKNOWN_REGION = "(unknown)"


class ReportError(Exception):
    """The report cannot be made (no run with known actuals, unknown run); CLI exit 2."""


# ----------------------------------------------------------------------------- pure parts


def compare_forecasts(
    forecasts: pd.DataFrame,
    demand: pd.DataFrame,
    locations: pd.DataFrame | None = None,
    actuals_end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Pair each forecast cell with its actual demand.

    Parameters
    ----------
    forecasts : DataFrame
        sku, location, date, mean, model (optional q-columns), units per period.
    demand : DataFrame
        sku, location, date, qty (units per period). Missing rows up to ``actuals_end``
        are zero demand (the demand contract).
    locations : DataFrame, optional
        location, region; forecast locations not listed get region ``"(unknown)"``.
    actuals_end : Timestamp, optional
        Last period whose actuals are known; default the last date in ``demand``.

    Returns
    -------
    DataFrame
        One row per forecast cell with a known actual: sku, location, region, date,
        model, forecast, actual, error (``forecast - actual``), abs_error, and
        ``q*`` columns copied from ``forecasts``. Empty when nothing overlaps.
    """
    if actuals_end is None:
        actuals_end = pd.Timestamp(demand["date"].max()) if len(demand) else pd.Timestamp.min
    known = forecasts[forecasts["date"] <= actuals_end]
    qcols = [c for c in forecasts.columns if c.startswith("q") and c[1:].replace(".", "", 1).isdigit()]
    actual = demand.groupby(["sku", "location", "date"], as_index=False)["qty"].sum()
    out = known[["sku", "location", "date", "model", "mean", *qcols]].merge(
        actual, on=["sku", "location", "date"], how="left"
    )
    out = out.rename(columns={"mean": "forecast", "qty": "actual"})
    out["actual"] = out["actual"].fillna(0.0).astype(float)
    out["forecast"] = out["forecast"].astype(float)
    out["error"] = out["forecast"] - out["actual"]
    out["abs_error"] = out["error"].abs()
    regions = {} if locations is None else dict(zip(locations["location"], locations["region"]))
    out.insert(2, "region", out["location"].map(regions).fillna(UNKNOWN_REGION).astype(str))
    return out.sort_values(["region", "date", "sku", "location"], kind="stable").reset_index(drop=True)


def variance_table(compared: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Forecast, actual, error, bias and WAPE per group.

    Parameters
    ----------
    compared : DataFrame
        Output of :func:`compare_forecasts`.
    by : list of str
        Grouping columns, e.g. ``["region"]`` or ``["region", "date"]``; ``[]`` gives one
        total row.

    Returns
    -------
    DataFrame
        ``by`` columns, cells (SKU x location x week count), forecast, actual, error
        (sums, units), bias = sum(f - y)/sum(y) and wape = sum|y - f|/sum|y| (fractions;
        NaN when the group's actuals sum to zero). DESIGN.md formulas.
    """
    groups = compared.groupby(by, sort=True) if by else [((), compared)]
    rows = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        rows.append({
            **dict(zip(by, key)),
            "cells": len(part),
            "forecast": part["forecast"].sum(),
            "actual": part["actual"].sum(),
            "error": part["error"].sum(),
            "bias": bias_metric(part["actual"], part["forecast"]),
            "wape": wape_metric(part["actual"], part["forecast"]),
        })
    return pd.DataFrame(rows, columns=[*by, "cells", "forecast", "actual", "error", "bias", "wape"])


def largest_misses(compared: pd.DataFrame, n: int = TOP_MISSES) -> pd.DataFrame:
    """The SKU x location series with the largest absolute error over the compared weeks.

    Returns
    -------
    DataFrame
        sku, location, region, model, forecast, actual, error, abs_error (sums, units),
        bias and wape (fractions), the ``n`` largest ``abs_error`` first.
    """
    keys = ["sku", "location", "region", "model"]
    table = variance_table(compared, keys)
    abs_err = compared.groupby(keys, sort=True)["abs_error"].sum().reset_index()
    table = table.merge(abs_err, on=keys)
    table = table.sort_values(["abs_error", "sku", "location"], ascending=[False, True, True], kind="stable")
    return table.drop(columns="cells").head(n).reset_index(drop=True)


def interval_coverage(compared: pd.DataFrame) -> dict[str, float]:
    """Share of actuals at or below each forecast quantile column (``q90`` -> 0.9 ideal)."""
    qcols = [c for c in compared.columns if c.startswith("q") and c[1:].replace(".", "", 1).isdigit()]
    return {c: float((compared["actual"] <= compared[c]).mean()) for c in qcols if len(compared)}


# ------------------------------------------------------------------------------- I/O parts


def _load_actuals(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    from pipelines.loading import load_dataset

    ds = load_dataset(settings.data_dir, freq=settings.freq)
    return ds.demand, ds.locations


def choose_run(output_dir: Path, actuals_end: pd.Timestamp, run_id: str | None = None) -> tuple[Path, pd.DataFrame]:
    """The run to review and its forecasts.

    With ``run_id`` None: the latest published run with at least one forecast period on
    or before ``actuals_end``. Runs whose manifest ``as_of`` is after ``actuals_end`` are
    skipped without reading their forecasts.

    Raises
    ------
    ReportError
        Unknown ``run_id``, no published run, or no run with known actuals.
    """
    if run_id is not None:
        try:
            folder = run_dir(output_dir, run_id)
        except NoPublishedRun as exc:
            raise ReportError(str(exc)) from None
        forecasts = read_table(folder, "forecasts")
        if not (forecasts["date"] <= actuals_end).any():
            raise ReportError(
                f"run {run_id} forecasts from {forecasts['date'].min().date()} but the actuals end on "
                f"{actuals_end.date()}: nothing to compare yet"
            )
        return folder, forecasts
    runs = list_runs(output_dir)
    if not runs:
        raise ReportError(f"no published run in {output_dir} (run `supplyplan nightly` first)")
    for rid in reversed(runs):
        folder = Path(output_dir) / "runs" / rid
        try:
            as_of = read_manifest(folder).get("as_of")
        except (OSError, ValueError):
            as_of = None
        if as_of and pd.Timestamp(as_of) > actuals_end:
            continue
        try:
            forecasts = read_table(folder, "forecasts")
        except FileNotFoundError:
            continue
        if (forecasts["date"] <= actuals_end).any():
            return folder, forecasts
    raise ReportError(
        f"none of the {len(runs)} published runs in {output_dir} has a forecast period with known "
        f"actuals (the demand table ends on {actuals_end.date()}); rerun when newer demand is loaded"
    )


def variance_report(settings: Settings, run_id: str | None = None, output: Path | None = None) -> Path:
    """Write the variance review of a run as a self-contained HTML page.

    Parameters
    ----------
    settings : Settings
        ``output_dir`` holds the runs; the actuals are the demand table in ``data_dir``
        (read and validated with :func:`pipelines.loading.load_dataset`).
    run_id : str, optional
        Run to review; default the latest run with at least one forecast period whose
        actuals are known (on or before the last date of the demand table).
    output : Path, optional
        HTML file; default ``<output_dir>/reports/variance-<run_id>.html``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ReportError
        No run with known actuals (or the given run has none / does not exist).
    pipelines.loading.InputError
        The data folder breaks its contract.
    """
    demand, locations = _load_actuals(settings)
    if demand.empty:
        raise ReportError(f"the demand table in {settings.data_dir} is empty: no actuals to compare")
    actuals_end = pd.Timestamp(demand["date"].max())
    folder, forecasts = choose_run(settings.output_dir, actuals_end, run_id)
    manifest = read_manifest(folder)
    compared = compare_forecasts(forecasts, demand, locations, actuals_end)
    rid = str(manifest.get("run_id", folder.name))
    page = render_variance_html(
        compared,
        run_id=rid,
        as_of=manifest.get("as_of"),
        actuals_end=actuals_end,
        data_dir=settings.data_dir,
        weeks_pending=int(forecasts.loc[forecasts["date"] > actuals_end, "date"].nunique()),
    )
    output = Path(output) if output is not None else settings.output_dir / "reports" / f"variance-{rid}.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(output)
    logger.info("variance report for run %s (%d cells) -> %s", rid, len(compared), output)
    return output


# ------------------------------------------------------------------------------ rendering


def _fmt_num(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:,.1f}"


def _fmt_pct(value: float) -> str:
    return "–" if pd.isna(value) else f"{100 * value:.1f}%"


def _svg_chart(dates: list[pd.Timestamp], forecast: np.ndarray, actual: np.ndarray, title: str) -> str:
    """A small line chart (forecast dashed, actual solid), inline SVG."""
    w, h, pad = 320, 140, 28
    top = max(float(np.max(forecast, initial=0)), float(np.max(actual, initial=0)), 1.0) * 1.1
    n = len(dates)

    def pts(values: np.ndarray) -> str:
        xs = [pad + (w - 2 * pad) * (i / max(n - 1, 1)) for i in range(n)]
        ys = [h - pad - (h - 2 * pad) * (v / top) for v in values]
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))

    label = html.escape(title)
    return (
        f'<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
        f'<text x="{pad}" y="14" class="t">{label}</text>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" class="axis"/>'
        f'<text x="{pad}" y="{h - 8}" class="l">{dates[0]:%Y-%m-%d}</text>'
        f'<text x="{w - pad}" y="{h - 8}" class="l" text-anchor="end">{dates[-1]:%Y-%m-%d}</text>'
        f'<text x="{pad - 4}" y="{pad}" class="l" text-anchor="end">{top:,.0f}</text>'
        f'<polyline points="{pts(actual)}" class="actual"/>'
        f'<polyline points="{pts(forecast)}" class="forecast"/>'
        "</svg>"
    )


def _rows(table: pd.DataFrame, columns: list[tuple[str, str, str]]) -> list[list[dict]]:
    """Table cells as dicts: text, raw value and whether the cell is numeric."""
    out = []
    for rec in table.to_dict("records"):
        cells = []
        for col, _label, kind in columns:
            value = rec[col]
            if kind == "num":
                text = _fmt_num(value)
            elif kind == "pct":
                text = _fmt_pct(value)
            elif kind == "date":
                text = f"{pd.Timestamp(value):%Y-%m-%d}"
            else:
                text = str(value)
            raw = "" if kind in ("text", "date") or pd.isna(value) else f"{value:.6g}"
            cells.append({"col": col, "text": text, "raw": raw, "numeric": kind in ("num", "pct", "int")})
        out.append(cells)
    return out


def render_variance_html(
    compared: pd.DataFrame,
    run_id: str,
    as_of: str | None,
    actuals_end: pd.Timestamp,
    data_dir: Path | str,
    weeks_pending: int = 0,
) -> str:
    """The variance page as an HTML string (see :func:`variance_report`)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    metric_cols = [("forecast", "Forecast", "num"), ("actual", "Actual", "num"), ("error", "Error (f − y)", "num"),
                   ("bias", "Bias", "pct"), ("wape", "WAPE", "pct")]
    total = variance_table(compared, [])
    by_region = variance_table(compared, ["region"])
    by_week = variance_table(compared, ["region", "date"])
    by_model = variance_table(compared, ["model"])
    misses = largest_misses(compared)
    series_per_model = compared.groupby("model")[["sku", "location"]].apply(lambda g: len(g.drop_duplicates()))
    by_model.insert(1, "series", by_model["model"].map(series_per_model).astype(int))

    charts = []
    weekly = compared.groupby(["region", "date"])[["forecast", "actual"]].sum()
    for region in by_region["region"]:
        part = weekly.loc[region]
        charts.append(_svg_chart(list(part.index), part["forecast"].to_numpy(), part["actual"].to_numpy(), region))

    tables = {
        "region": {"id": "by-region", "title": "By region",
                   "columns": [("region", "Region", "text"), ("cells", "Cells", "int"), *metric_cols]},
        "week": {"id": "by-region-week", "title": "By region and week",
                 "columns": [("region", "Region", "text"), ("date", "Week", "date"), *metric_cols]},
        "model": {"id": "by-model", "title": "By model",
                  "columns": [("model", "Model", "text"), ("series", "Series", "int"), *metric_cols]},
        "misses": {"id": "largest-misses", "title": f"Largest misses (top {TOP_MISSES} SKU × location by |error|)",
                   "columns": [("sku", "SKU", "text"), ("location", "Location", "text"), ("region", "Region", "text"),
                               ("model", "Model", "text"), *metric_cols[:3], ("abs_error", "|Error|", "num"),
                               *metric_cols[3:]]},
    }
    frames = {"region": by_region, "week": by_week, "model": by_model, "misses": misses}
    for key, spec in tables.items():
        spec["header"] = [label for _col, label, _kind in spec["columns"]]
        spec["rows"] = _rows(frames[key], spec["columns"])

    t = total.iloc[0]
    # Next to this module (shipped as package data), found without package-name lookups.
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("variance.html").render(
        run_id=run_id,
        as_of=as_of or "unknown",
        actuals_end=f"{actuals_end:%Y-%m-%d}",
        data_dir=str(data_dir),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        weeks=compared["date"].nunique(),
        first_week=f"{compared['date'].min():%Y-%m-%d}",
        last_week=f"{compared['date'].max():%Y-%m-%d}",
        weeks_pending=weeks_pending,
        series=len(compared[["sku", "location"]].drop_duplicates()),
        total={"forecast": _fmt_num(t["forecast"]), "actual": _fmt_num(t["actual"]), "error": _fmt_num(t["error"]),
               "bias": _fmt_pct(t["bias"]), "wape": _fmt_pct(t["wape"])},
        coverage={k: _fmt_pct(v) for k, v in interval_coverage(compared).items()},
        charts=charts,
        tables=[tables[k] for k in ("region", "week", "model", "misses")],
    )
