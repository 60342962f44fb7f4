"""Bullwhip backtest benchmark: VMI vs the order-up-to baseline on the demo network.

Replays the last ``--weeks`` weeks (default 52) of the demo data (generated into a temp
folder with ``--seed``, or ``--data DIR``) under every policy, and prints the wall time
per policy and VMI stage, the comparison table, and the issue-5 targets as ratios against
the baseline measured in the same run:

- VMI bullwhip ratio for orders on the plant <= 0.5 x the baseline's,
- VMI dealer fill rate >= 0.98,
- VMI dealer average on hand <= the baseline's,
- whole replay < 600 s on 2 cores.

Usage: ``python benchmarks/bullwhip_backtest.py [--weeks 52] [--data DIR] [--config FILE]``.
Note the machine load beside the figures (``uptime``); timings are upper bounds on a
shared machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: fresh demo data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policies", default="baseline,minmax,vmi")
    args = parser.parse_args()

    import pandas as pd

    from pipelines.backtest import replay_policies
    from pipelines.demo_data import write_demo_data
    from pipelines.loading import load_dataset
    from pipelines.settings import load_settings

    settings = load_settings(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "demo"
            write_demo_data(data, seed=args.seed)
        settings = settings.with_data_dir(data)
        dataset = load_dataset(settings.data_dir, freq=settings.freq)
        load = os.getloadavg()
        t0 = time.perf_counter()
        rep = replay_policies(dataset, settings, weeks=args.weeks, policies=tuple(args.policies.split(",")))
        total = time.perf_counter() - t0
    table = rep.table()
    pd.set_option("display.width", 200)
    cols = ["policy", "echelon", "bullwhip_ratio", "bullwhip_ratio_consumer", "fill_rate", "cycle_service_level",
            "avg_on_hand", "turnover_days", "cost", "seconds"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print()
    print(f"replay of {args.weeks} weeks: {total:.1f} s total (load avg at start {load[0]:.1f}, {os.cpu_count()} cpus)")
    for name, sec in rep.seconds.items():
        extra = rep.details.get(name, {})
        print(f"  {name:8s} {sec:7.1f} s  " + "  ".join(f"{k} {v}" for k, v in extra.items()))
    t = table.set_index(["policy", "echelon"])
    if {"baseline", "vmi"} <= set(table["policy"]):
        ratio = t.loc[("vmi", "dc"), "bullwhip_ratio"] / t.loc[("baseline", "dc"), "bullwhip_ratio"]
        ratio_c = t.loc[("vmi", "dc"), "bullwhip_ratio_consumer"] / t.loc[("baseline", "dc"), "bullwhip_ratio_consumer"]
        fill = t.loc[("vmi", "dealer"), "fill_rate"]
        stock = t.loc[("vmi", "dealer"), "avg_on_hand"] / t.loc[("baseline", "dealer"), "avg_on_hand"]
        print()
        print(f"VMI / baseline bullwhip ratio, orders on the plant: {ratio:.3f} (target <= 0.5)"
              f"  [vs consumer demand: {ratio_c:.3f}]  {'PASS' if ratio <= 0.5 else 'FAIL'}")
        print(f"VMI dealer fill rate: {fill:.4f} (target >= 0.98)  {'PASS' if fill >= 0.98 else 'FAIL'}")
        print(f"VMI / baseline dealer average on hand: {stock:.3f} (target <= 1)  {'PASS' if stock <= 1 else 'FAIL'}")
    print(f"wall time {total:.1f} s (target < 600 s on 2 cores)  {'PASS' if total < 600 else 'FAIL'}")


if __name__ == "__main__":
    main()
