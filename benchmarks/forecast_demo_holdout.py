"""Held-out accuracy and quantile coverage on the demo dealer network.

The last 13 weeks of ``data/demo`` are hidden; the forecast is made from the rest with
the nightly job's options and shape groups (``pipelines.nightly.forecast_options`` and
``forecast_groups``, the same call as ``supplyplan nightly``) and scored against the
hidden actuals. The hidden weeks' promotion calendar (promo and price, never quantities)
is passed as ``future``, as the nightly job passes ``promotions.csv``. Run from the repository root after ``supplyplan demo-data``:

    .venv/bin/python benchmarks/forecast_demo_holdout.py [--compare-alpha 1.0]

Prints, overall and per demand class (the class the quantiles are calibrated in, with
``short`` for series of less than ``2 H`` periods):

- MASE (seasonal naive scale, m = 52, per series, then mean and median), RMSSE (per
  series, then mean; the M5 score, which rates the mean where MASE rates the median: for
  a series that sells in few weeks MASE favours forecasting zero), WAPE and bias
  (``sum(f - y) / sum(y)``) of the mean forecast;
- ``SPL``, the scaled pinball loss of q90 and q95 (their mean; per series over the
  MASE scale, then mean), which charges a band for a miss and for being wider than it
  need be (``benchmarks._accuracy.scores``);
- coverage of q50 / q90 / q95 (``forecasting.quantiles.coverage_by_class``): ``q90<=``
  is the share of actuals at or below the quantile, ``P(Y <= Q)``, the figure the
  issue's target is about; ``q90<`` the share strictly below, ``P(Y < Q)``. Demand is
  counted in whole units and the quantiles of count series are whole units, so for a
  series with many zero weeks any quantile >= 0 covers every zero: a calibrated integer
  quantile has ``P(Y < Q) <= q <= P(Y <= Q)``, and only the pair shows whether a class
  is mis-calibrated or merely discrete. ``p0`` is the class's share of zero actuals;
- wall time of the forecast call (seconds) and the load average.

The hold-out is one 13-week window: every series sees the same weeks (same season phase,
same promotions), so its coverage is one draw of a strongly correlated sample; treat a
difference of a few points between two runs with care.
``--compare-select-intermittent`` runs it again with intermittent and lumpy series ranked
by ``select_by`` like the others (``select_by_intermittent=None``).
``--history-weeks N`` keeps only the last ``N`` weeks of history before the hidden weeks
(``104``: a customer whose extract holds two years, exactly two seasons).
``--compare-windows K`` runs it again with ``K`` backtest origins.
``--compare-alpha A`` runs the forecast a second time with ``selection_alpha=A``
(``1.0`` = plain minimum of the backtest scores) and prints the same table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import pandas as pd

H = 13
QUANTILES = (0.5, 0.9, 0.95)


def score(res, hist: pd.DataFrame, act: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-class table and per-series MASE and RMSSE of one forecast result."""
    from forecasting.metrics import mase, mase_scale, pinball_loss, rmsse
    from forecasting.quantiles import coverage_by_class, quantile_column

    sel = res.selection
    cls = np.where(sel["short"] & (sel["demand_class"] != "no_demand"), "short", sel["demand_class"])
    sel = sel.assign(cls=cls)[["sku", "location", "cls", "model"]]
    fc = res.forecasts.drop(columns="model").merge(act[["sku", "location", "date", "qty"]], on=["sku", "location", "date"], how="left")
    # a series without a row in the hidden weeks had zero demand there (contract: gaps are zeros)
    fc = fc.fillna({"qty": 0.0}).merge(sel, on=["sku", "location"], how="left")
    train = {k: g["qty"].to_numpy(float) for k, g in hist.groupby(["sku", "location"], sort=False)}
    per_series = []
    for (sku, loc), g in fc.groupby(["sku", "location"], sort=False):
        y, f = g["qty"].to_numpy(float), g["mean"].to_numpy(float)
        scale = mase_scale(train[(sku, loc)], 52)
        pin = np.mean([pinball_loss(y, g[quantile_column(q)].to_numpy(float), q) for q in (0.9, 0.95)])
        per_series.append((g["cls"].iloc[0], g["model"].iloc[0], mase(y, f, train[(sku, loc)], 52),
                           rmsse(y, f, train[(sku, loc)]), pin / scale if scale > 0 else np.nan))
    ps = pd.DataFrame(per_series, columns=["cls", "model", "mase", "rmsse", "spl"])
    rows = []
    for name, f in [*fc.groupby("cls", sort=True), ("all", fc)]:
        part = ps if name == "all" else ps.loc[ps["cls"] == name]
        m = part["mase"].to_numpy(float)
        # (no MASE where the history has no scale: the no_demand class has none at all)
        ok, r = m[np.isfinite(m)], part["rmsse"].to_numpy(float)
        r = r[np.isfinite(r)]
        sp = part["spl"].to_numpy(float)
        sp = sp[np.isfinite(sp)]
        y, mean = f["qty"].to_numpy(float), f["mean"].to_numpy(float)
        rows.append({"class": name, "series": int(m.size), "p0": float(np.mean(y == 0)),
                     "MASE": float(ok.mean()) if ok.size else np.nan,
                     "MASE_med": float(np.median(ok)) if ok.size else np.nan,
                     "RMSSE": float(r.mean()) if r.size else np.nan,
                     "SPL": float(sp.mean()) if sp.size else np.nan,
                     "WAPE": float(np.abs(y - mean).sum() / y.sum()) if y.sum() > 0 else np.nan,
                     "bias": float((mean - y).sum() / y.sum()) if y.sum() > 0 else np.nan})
    cov = coverage_by_class(fc.rename(columns={"qty": "actual"}), QUANTILES, by="cls")
    for q in QUANTILES:
        c = quantile_column(q)
        cov = cov.rename(columns={f"coverage_{c}": f"{c}<=", f"below_{c}": f"{c}<"})
    cov = cov[["cls", *[f"{quantile_column(q)}{op}" for q in QUANTILES for op in ("<=", "<")]]]
    table = pd.DataFrame(rows).merge(cov.rename(columns={"cls": "class"}), on="class", how="left")
    return table, ps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/demo.yaml")
    p.add_argument("--compare-alpha", type=float, default=None,
                   help="also run with this selection_alpha (1.0 = plain minimum)")
    p.add_argument("--compare-no-plan", action="store_true",
                   help="also run without the promotion calendar of the hidden weeks")
    p.add_argument("--compare-select-intermittent", action="store_true",
                   help="also run with intermittent and lumpy series ranked by select_by (MASE) like the others")
    p.add_argument("--compare-no-top-down", action="store_true",
                   help="also run without the configured forecast.top_down aggregates")
    p.add_argument("--compare-windows", type=int, default=None,
                   help="also run with this many backtest origins (forecast.backtest_windows; the step as configured)")
    p.add_argument("--history-weeks", type=int, default=0,
                   help="keep only the last N weeks of history before the hidden weeks (a customer with a short "
                        "extract, e.g. 104: two years); default all")
    args = p.parse_args()

    from forecasting import forecast
    from pipelines.loading import load_dataset
    from pipelines.nightly import forecast_groups, forecast_options, forecast_top_down
    from pipelines.settings import load_settings

    settings = load_settings(args.config)
    ds = load_dataset(settings.data_dir)
    d = ds.demand
    cut = d["date"].max() - pd.Timedelta(weeks=H - 1)
    hist, act = d[d["date"] < cut], d[d["date"] >= cut]
    if args.history_weeks:
        hist = hist[hist["date"] >= cut - pd.Timedelta(weeks=args.history_weeks)]
    opts = forecast_options(settings)
    groups = forecast_groups(ds, settings)
    # The manufacturer plans its promotions: the nightly job reads their calendar
    # (promotions.csv), so the hidden weeks' promo/price flags (never their quantities)
    # are known here too.
    plan_cols = [c for c in ("promo", "price") if c in act.columns]
    plan = act[["sku", "location", "date", *plan_cols]] if "promo" in plan_cols else None
    runs = [("default (promotion calendar known)" if plan is not None else "default", {"future": plan})]
    if args.compare_alpha is not None:
        runs.append((f"selection_alpha={args.compare_alpha:g}", {"selection_alpha": args.compare_alpha, "future": plan}))
    if args.compare_no_plan and plan is not None:
        runs.append(("no promotion calendar", {"future": None}))
    if args.compare_select_intermittent:
        runs.append(("intermittent and lumpy ranked by select_by", {"future": plan, "select_by_intermittent": None}))
    if args.compare_windows is not None:
        runs.append((f"backtest_windows={args.compare_windows}", {"future": plan, "backtest_windows": args.compare_windows}))
    aggregates = forecast_top_down(ds, settings)
    if args.compare_no_top_down and aggregates is not None:
        runs.append(("no top-down aggregates", {"future": plan, "top_down": None}))
    pd.set_option("display.width", 200)
    for name, kw in runs:
        t0 = time.perf_counter()
        res = forecast(hist, groups=groups, **{"top_down": aggregates, **opts, **kw})
        secs = time.perf_counter() - t0
        table, ps = score(res, hist, act)
        load = os.getloadavg()
        kept = f", history cut to its last {args.history_weeks} weeks" if args.history_weeks else ""
        print(f"\n{name}: {len(ps)} series, last {H} weeks held out (from {cut.date()}){kept}, {secs:.0f} s, "
              f"load {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} CPUs")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print("mean MASE by model:", ps.groupby("model")["mase"].agg(["mean", "size"]).round(3).to_dict("index"))


if __name__ == "__main__":
    main()
