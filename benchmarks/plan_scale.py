"""Planner at network scale: ``supplyplan plan``'s entry point on 5,000 SKUs x 30 dealers x 3 DCs.

Usage::

    .venv/bin/python benchmarks/plan_scale.py [--skus 5000] [--dealers 30] [--horizon 13]
                                               [--peer-skus 500] [--workers 2] [--no-peer]

What it measures
----------------
1. supplyplan: demo data (``pipelines.demo_data.write_demo_data``) written to a temporary
   folder, then ``pipelines.nightly.run_plan`` -- the function ``supplyplan plan
   --forecast CSV`` calls -- with ``configs/demo.yaml`` on that folder: loading and
   validating the six tables, safety stock, the LP (decomposed into SKU groups solved in
   ``--workers`` local processes), rounding, replay, reasons and the CSV outputs. The
   forecast is NOT the forecaster's: it is built here from the demo's own recent demand
   (8-week moving average per dealer x SKU, normal quantiles from the 8-week standard
   deviation), so the benchmark measures the planner, not forecasting.
   Printed: wall time, build time (LP matrices), solve time (HiGHS, summed over every
   group solve of every coordination round), peak memory of the process tree (RSS of this process plus its children, sampled every
   0.1 s) and the objective.
   Also printed: where the wall time went (loading and validating the tables, reading
   the forecast, safety stock, arrays, LP decomposition, rounding/replay/reasons, CSVs).
2. Peer: ONE PuLP + HiGHS model (``solver="pulp"``, no decomposition, HiGHS's default
   options as a plain PuLP user gets them) of the first ``--peer-skus`` SKUs of the same
   data and forecast, via ``plan_replenishment``: build time (matrices + PuLP objects),
   solve time, peak memory and objective; then supplyplan's own path (decomposed,
   ``--workers``) on the same slice, so the objectives compare directly.
3. Ratios: supplyplan's 5,000-SKU wall / peer's 500-SKU wall, and per SKU.

Targets (issue 4): supplyplan <= 120 s wall on 2 cores and <= 4 GiB peak.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]


class PeakMemory:
    """Peak RSS of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def _sample(self) -> int:
        me = psutil.Process()
        total = 0
        for p in [me] + me.children(recursive=True):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


class StageTimes:
    """A ``pipelines.progress.Progress`` stand-in that records each stage's wall time."""

    def __init__(self):
        self.seconds, self.spans, self.t0 = {}, [], time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name, detail=""):
        t = time.perf_counter()
        try:
            yield
        finally:
            end = time.perf_counter()
            self.seconds[name] = self.seconds.get(name, 0.0) + end - t
            self.spans.append((name, t - self.t0, end - self.t0))

    def info(self, message):
        pass

    def before_first(self, name):
        """Seconds between the end of the previous stage and the start of ``name``."""
        prev = 0.0
        for n, a, b in self.spans:
            if n == name:
                return a - prev
            prev = b
        return float("nan")

    def after_last(self, wall):
        return wall - self.spans[-1][2] if self.spans else float("nan")


def moving_average_forecast(demand: pd.DataFrame, start: pd.Timestamp, horizon: int, freq: str, window: int = 8) -> pd.DataFrame:
    """Per dealer x SKU: mean and sd of the last ``window`` periods, flat over the horizon."""
    d = demand.copy()
    d["sku"], d["location"] = d["sku"].astype(str), d["location"].astype(str)
    recent = d.loc[d["date"] >= start - window * pd.tseries.frequencies.to_offset(freq)]
    g = recent.groupby(["sku", "location"])["qty"]
    stats = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1).fillna(0.0)}).reset_index()
    dates = pd.date_range(start, periods=horizon, freq=freq)
    fc = stats.merge(pd.DataFrame({"date": dates}), how="cross")
    sd = np.maximum(fc["sd"], np.sqrt(fc["mean"]))
    fc["q50"] = fc["mean"]
    fc["q90"] = fc["mean"] + 1.2816 * sd
    fc["q95"] = fc["mean"] + 1.6449 * sd
    fc["model"] = f"moving_average_{window}"
    return fc.drop(columns="sd")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skus", type=int, default=5000)
    ap.add_argument("--dealers", type=int, default=30)
    ap.add_argument("--horizon", type=int, default=13)
    ap.add_argument("--peer-skus", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--group-size", type=int, default=None)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()

    from optimization.replenishment import PlanSettings, plan_replenishment
    from pipelines.demo_data import write_demo_data
    from pipelines.loading import load_dataset
    from pipelines.nightly import plan_start, run_plan
    from pipelines.progress import Progress
    from pipelines.settings import load_settings

    print(f"load average {os.getloadavg()}, cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        write_demo_data(tmp / "data", n_skus=args.skus, n_dealers=args.dealers)
        print(f"demo data {args.skus} SKUs x {args.dealers} dealers written in {time.perf_counter() - t:.1f} s")
        settings = load_settings(ROOT / "configs" / "demo.yaml").with_data_dir(tmp / "data")
        plan_cfg = settings.plan.model_copy(update={"horizon": args.horizon, "workers": args.workers}
                                            | ({"group_size": args.group_size} if args.group_size else {}))
        settings = settings.model_copy(update={"plan": plan_cfg, "output_dir": tmp / "out"})
        ds = load_dataset(settings.data_dir, freq=settings.freq)
        start = plan_start(ds.demand, settings.freq)
        fc = moving_average_forecast(ds.demand, start, args.horizon, settings.freq)
        fc_csv = tmp / "forecast.csv"
        fc.to_csv(fc_csv, index=False, date_format="%Y-%m-%d")
        del ds

        stages = StageTimes()
        t = time.perf_counter()
        with PeakMemory() as mem:
            res = run_plan(settings, forecast_csv=fc_csv, output=tmp / "plan", progress=stages)
        wall = time.perf_counter() - t
        k = res.kpis
        print(f"supplyplan plan: {args.skus} SKUs x {args.dealers} dealers x 3 DCs x {args.horizon} periods, "
              f"{args.workers} workers, {int(k.get('n_groups', 1))} groups, {int(k.get('coordination_rounds', 0))} rounds")
        print(f"  wall {wall:.1f} s (loading, safety stock, LP, rounding, outputs), build {k['build_seconds']:.1f} s, "
              f"solve {k['solve_seconds']:.1f} s (sum over all group solves of all rounds), peak memory {mem.peak / 2**30:.2f} GiB, "
              f"objective {res.objective:,.2f}, status {res.status}, gap {k.get('decomposition_gap', 0):.1e}, "
              f"variables {int(k['n_variables'])}, plan rows {len(res.plan)}")
        plan_s = stages.seconds.get("plan", np.nan)
        lp_s = k.get("decomposition_seconds", k["build_seconds"] + k["solve_seconds"])
        print(f"  where the wall went: validate/load {stages.seconds.get('validate', np.nan):.1f} s, forecast file + "
              f"safety stock {stages.seconds.get('safety stock', np.nan) + stages.before_first('safety stock'):.1f} s, "
              f"plan {plan_s:.1f} s (arrays {k['prepare_seconds']:.1f}, LP {lp_s:.1f}, rounding/replay/reasons/tables "
              f"{k['total_seconds'] - k['prepare_seconds'] - lp_s:.1f}), CSV writing {stages.after_last(wall):.1f} s")
        print(f"  status detail: fallback groups {int(k.get('n_fallback_groups', 0))}, time-limited groups "
              f"{int(k.get('n_time_limited_groups', 0))}, gap bound {k.get('decomposition_gap', 0):.1e}")
        print(f"  targets: wall <= 120 s -> {'met' if wall <= 120 else 'NOT met'}; "
              f"peak <= 4 GiB -> {'met' if mem.peak <= 4 * 2**30 else 'NOT met'}")
        ours = {"wall": wall, "peak": mem.peak, "skus": args.skus}

        if not args.no_peer:
            ds = load_dataset(settings.data_dir, freq=settings.freq)
            skus = sorted(ds.items["sku"].astype(str))[: args.peer_skus]
            from optimization.safety_stock import compute_safety_stock
            from pipelines.nightly import replenishment_policy

            safety = compute_safety_stock(fc, None, replenishment_policy(ds, settings))
            from pipelines.nightly import plan_settings

            peer = None
            for name in ("peer", "supplyplan"):
                if name == "peer":  # one model, PuLP, HiGHS with its default options
                    ps = PlanSettings(horizon=args.horizon, freq=settings.freq, time_limit=settings.plan.time_limit,
                                      solver="pulp", group_size=10**9, presolve="choose")
                else:  # what supplyplan plan runs, on the same slice
                    ps = plan_settings(settings)
                t = time.perf_counter()
                with PeakMemory() as mem:
                    r = plan_replenishment(fc, safety, ds.inventory, ds.inbound, ds.lanes, ds.locations, ds.items,
                                           start, settings=ps, skus=skus)
                wall = time.perf_counter() - t
                label = ("peer PuLP+HiGHS, one model" if name == "peer"
                         else f"supplyplan, {int(r.kpis.get('n_groups', 1))} groups, {ps.workers} workers")
                print(f"{label} of {len(skus)} SKUs: wall {wall:.1f} s, build {r.kpis['build_seconds']:.1f} s, "
                      f"solve {r.kpis['solve_seconds']:.1f} s, peak memory {mem.peak / 2**30:.2f} GiB, "
                      f"objective {r.objective:,.2f}, status {r.status}, variables {int(r.kpis['n_variables'])}")
                if name == "peer":
                    peer = {"wall": wall, "peak": mem.peak, "objective": r.objective}
                else:
                    print(f"  same slice: supplyplan / peer wall {wall / peer['wall']:.3f}, objective "
                          f"{r.objective / peer['objective'] - 1:+.2e} relative")
            print(f"ratios: supplyplan {ours['skus']} SKUs wall / peer {len(skus)} SKUs wall "
                  f"{ours['wall'] / peer['wall']:.3f}; per SKU {ours['wall'] / ours['skus'] / (peer['wall'] / len(skus)):.4f}; "
                  f"peak memory {ours['peak'] / peer['peak']:.2f}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
