"""Scale benchmark: 20,000 weekly SKU x dealer series through ``forecasting.forecast``.

One command prints, from one run on one machine, supplyplan's throughput (series per
second, wall time) and peak memory of the whole process tree (the parent plus every
worker process, sampled every 20 ms with psutil), beside statsforecast's ``AutoETS``
(season 52) on the same series with the same number of worker processes::

    .venv/bin/python benchmarks/forecast_scale.py            # 20,000 series, 2 workers
    .venv/bin/python benchmarks/forecast_scale.py --series 2000 --skip-peer

Data: :func:`pipelines.demo_data.generate_demo_data` (seeded, 156 weeks): the demo
network's mix of seasonal, promoted, trending, intermittent/lumpy and newly launched
SKUs at big and small dealers, with promo and price columns; the first ``--series``
SKU x dealer pairs (sorted) are kept. Horizon 13. supplyplan runs with its nightly
defaults (3 rolling origins, every candidate of the class, the global gradient-boosting
model with quantile regressors, pooled seasonal shapes for short series, calibrated
quantiles); statsforecast fits one AutoETS per series and forecasts its mean only (its
prediction intervals are not requested, which only makes the peer faster).

Targets (issue 3): >= 100 series/s on 2 cores and peak memory < 4 GiB. The machine may
be shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecasting import forecast  # noqa: E402
from pipelines.demo_data import generate_demo_data  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _accuracy import PeakMemory  # noqa: E402  (process-tree peak RSS, bytes)


def make_history(n_series: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About ``n_series`` demo-network series (156 weeks) and their shape groups."""
    # ~16 stocked dealers per SKU at 30 dealers: draw enough SKUs, keep n_series pairs
    n_skus = max(10, int(np.ceil(n_series / 14)))
    tables = generate_demo_data(seed=seed, n_skus=n_skus, n_dealers=30, n_weeks=156)
    demand = tables["demand"]
    pairs = demand[["sku", "location"]].drop_duplicates().sort_values(["sku", "location"]).head(n_series)
    demand = demand.merge(pairs, on=["sku", "location"])
    groups = pairs.merge(tables["items"][["sku", "category"]], on="sku").merge(
        tables["locations"][["location", "region"]], on="location")
    groups["group"] = groups["category"].astype(str) + "|" + groups["region"].astype(str)
    return demand, groups[["sku", "location", "group"]]


def run_statsforecast(demand: pd.DataFrame, horizon: int, n_jobs: int) -> float:
    """Wall seconds of statsforecast AutoETS(season 52) on the same series."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, Naive

    df = demand.rename(columns={"date": "ds", "qty": "y"})
    df["unique_id"] = df["sku"].astype(str) + "/" + df["location"].astype(str)
    # the same gap filling as supplyplan: every series runs to the last week with zeros
    full = []
    last = df["ds"].max()
    for uid, g in df.groupby("unique_id", sort=False, observed=True):
        idx = pd.date_range(g["ds"].min(), last, freq="W-MON")
        full.append(pd.DataFrame({"unique_id": uid, "ds": idx, "y": g.set_index("ds")["y"].reindex(idx, fill_value=0.0).to_numpy()}))
    df = pd.concat(full, ignore_index=True)
    # AutoETS refuses series shorter than its parameters need (new SKUs): Naive there,
    # as supplyplan also forecasts every series
    sf = StatsForecast(models=[AutoETS(season_length=52)], freq="W-MON", n_jobs=n_jobs, fallback_model=Naive())
    started = time.perf_counter()
    sf.forecast(df=df, h=horizon)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=13)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-peer", action="store_true", help="do not run statsforecast")
    args = parser.parse_args()

    t0 = time.perf_counter()
    demand, groups = make_history(args.series, args.seed)
    n = demand.groupby(["sku", "location"]).ngroups
    print(f"data: {n} series, {len(demand)} rows, generated in {time.perf_counter() - t0:.1f} s")
    print(f"machine: {os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}")

    with PeakMemory() as mem:
        started = time.perf_counter()
        res = forecast(demand, horizon=args.horizon, freq="W-MON", season_length=52, n_jobs=args.jobs,
                       seed=args.seed, groups=groups)
        wall = time.perf_counter() - started
    rate = n / wall
    print(f"supplyplan: {wall:.1f} s wall ({res.metrics['global_seconds']:.1f} s global model), "
          f"{rate:.1f} series/s, peak memory {mem.peak / 2**30:.2f} GiB (process tree), "
          f"mean MASE {res.metrics['mean_mase']:.3f}, load average after {os.getloadavg()[0]:.2f}")
    print("  models:", ", ".join(f"{k[8:]}={int(v)}" for k, v in res.metrics.items() if k.startswith("n_model_")))
    print(f"  target: >= 100 series/s -> {'met' if rate >= 100 else 'NOT met'}; "
          f"peak < 4 GiB -> {'met' if mem.peak < 4 * 2**30 else 'NOT met'}")
    if not args.skip_peer:
        try:
            with PeakMemory() as peer_mem:
                peer = run_statsforecast(demand, args.horizon, args.jobs)
        except ImportError:
            print("statsforecast: not installed (pip install 'supplyplan[bench]')")
            return
        print(f"statsforecast AutoETS: {peer:.1f} s wall, {n / peer:.1f} series/s, peak memory "
              f"{peer_mem.peak / 2**30:.2f} GiB, load average after {os.getloadavg()[0]:.2f}")
        print(f"ratio supplyplan / statsforecast wall time: {wall / peer:.2f} (below 1 = supplyplan faster)")


if __name__ == "__main__":
    main()
