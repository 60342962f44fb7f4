"""Bullwhip backtest benchmark: VMI vs the order-up-to baseline on the demo network.

Replays the last ``--weeks`` weeks (default 52) of the demo data (generated into a temp
folder with ``--seed``, or ``--data DIR``) under every policy, and prints the wall time
per policy and VMI stage, the comparison table, and the issue-5 targets as ratios against
the baseline measured in the same run:

- VMI bullwhip ratio for orders on the plant <= 0.5 x the baseline's,
- VMI dealer fill rate >= 0.98,
- VMI dealer average on hand <= the baseline's,
- whole replay < 600 s on 2 cores.

With generated demo data (no ``--data``) it also prints the oracle bound, measured in
the same run on the same data (:mod:`benchmarks._oracle`): order-up-to at every dealer
with the generator's TRUE demand distribution of the protection period, the same lot
rules, lead times, backorders and measured window, DC supply unlimited, and one common
quantile found by bisection so that dealer fill hits 0.98: the least dealer stock for
that fill a perfect forecaster could get by with if lots did not matter, as a ratio to
the baseline's stock, plus the fill / stock frontier at a few quantiles. With lots a
common quantile is not the least stock, so it also prints the lot-aware oracle
(:class:`benchmarks._oracle.LotAwareOracle`: the true distribution, levels from the
lot-sized fill model the plan uses, :mod:`optimization.fill_model`), which needs less.
With ``--data`` there is no hidden
truth and the oracle is skipped. Last, it splits VMI's excess over the oracle: the plan's
own order-up-to levels of every week, and the same held inside the dealers' min/max band
as the LP holds them, replayed as a plain order-up-to under the oracle's conditions
(:meth:`benchmarks._oracle.OracleProblem.run_levels`), each against the oracle at its
own fill; what VMI's own replay holds beyond the second line is the cost of executing
the targets (the LP's choices, the DCs' stock-outs, lot rounding); the last line says how
often VMI's dealers ended a week's shipments below the levels and how often their DC then
held less than one lot (:func:`benchmarks._oracle.shortfall_below_levels`). ``--forecasts truth``
feeds VMI the generator's true means instead of supplyplan's forecasts (a diagnostic:
what the plan makes of perfect forecasts, :class:`benchmarks._oracle.TrueMeanVmiPolicy`).

VMI re-forecasts in full every ``backtest.forecast_every`` weeks and refreshes the chosen
models every ``backtest.refresh_every`` weeks (``configs/demo.yaml``: 13 and 1); the
breakdown line shows forecast, refresh, safety stock and plan seconds.

Every policy orders under the items' lot rules (whole case packs, at least the MOQ), the
rules the plan honours (``backtest.order_lots``); with ``plan.vmi_moq`` false (the demo
config) VMI ships its dealers whole case packs below the MOQ (under VMI there is no dealer
order for the MOQ to apply to), while the baseline's and min/max dealers, ordering for
themselves, keep it; the oracle then orders in case packs too, and a line prints the order
lines into the dealers per week, what the smaller shipments cost in handling. The baseline
ordering any quantity is printed as a reference line. The table goes to ``--out``/backtest.csv and the
order-amplification chart to ``--out``/order_amplification.png.

Usage: ``python benchmarks/bullwhip_backtest.py [--weeks 52] [--data DIR] [--config FILE]
[--forecasts engine|truth]``.
Note the machine load beside the figures (``uptime``); timings are upper bounds on a
shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Dealer fill rate of the issue-5 target, which the oracle bound is computed for.
TARGET_FILL = 0.98


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: fresh demo data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policies", default="baseline,minmax,vmi")
    parser.add_argument("--out", type=Path, default=Path("bullwhip_backtest_out"),
                        help="folder for backtest.csv and the order-amplification chart")
    parser.add_argument("--forecasts", choices=("engine", "truth"), default="engine",
                        help="VMI's forecasts: supplyplan's forecaster (the benchmark), or the generator's true "
                             "means (a diagnostic: VMI with perfect forecasts; generated demo data only)")
    args = parser.parse_args()
    if args.forecasts == "truth" and args.data is not None:
        parser.error("--forecasts truth needs generated demo data (no --data): the truth is the generator's")

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
        factory = None
        if args.forecasts == "truth":
            from functools import partial

            from benchmarks._oracle import TrueMeanVmiPolicy
            from pipelines.demo_data import generate_demo_data

            factory = partial(TrueMeanVmiPolicy, truth=generate_demo_data(seed=args.seed, truth=True)["demand_truth"])
            print("DIAGNOSTIC: VMI forecasts are the generator's true means (perfect forecasts), not supplyplan's")
        rep = replay_policies(dataset, settings, weeks=args.weeks, policies=tuple(args.policies.split(",")),
                              vmi_factory=factory)
        total = time.perf_counter() - t0
        load_end = os.getloadavg()
        # Reference only (not a target): the baseline ordering any quantity, as before the
        # replay applied the items' lot rules (case pack, MOQ) to every policy.
        free = None
        if "baseline" in args.policies.split(",") and settings.backtest.order_lots:
            no_lots = settings.model_copy(update={"backtest": settings.backtest.model_copy(update={"order_lots": False})})
            free = replay_policies(dataset, no_lots, weeks=args.weeks, policies=("baseline",)).table()
    table = rep.table()
    from pipelines.backtest_flow import amplification_chart

    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "backtest.csv", index=False)
    chart = amplification_chart(rep.amplification(), args.out / "order_amplification.png", table)
    pd.set_option("display.width", 200)
    cols = ["policy", "echelon", "bullwhip_ratio", "bullwhip_ratio_consumer", "fill_rate", "cycle_service_level",
            "avg_on_hand", "turnover_days", "cost", "seconds"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print()
    print(f"replay of {args.weeks} weeks: {total:.1f} s total (load avg {load[0]:.1f} at start, {load_end[0]:.1f} at end, "
          f"{os.cpu_count()} cpus)")
    for name, sec in rep.seconds.items():
        extra = rep.details.get(name, {})
        print(f"  {name:8s} {sec:7.1f} s  " + "  ".join(f"{k} {v}" for k, v in extra.items()))
        if name == "vmi":
            parts = {k[len("seconds_"):]: v for k, v in extra.items() if k.startswith("seconds_")}
            rest = sec - sum(parts.values())
            print("           breakdown: " + ", ".join(f"{k} {v:.1f} s ({v / sec:.0%})" for k, v in parts.items())
                  + f", simulation and plan I/O {rest:.1f} s ({rest / sec:.0%})")
    print(f"table: {args.out / 'backtest.csv'}  chart: {chart}")
    if free is not None:
        f = free.set_index("echelon")
        print(f"reference, baseline ordering any quantity (no lot rules): dealer fill {f.loc['dealer', 'fill_rate']:.4f}, "
              f"dealer avg on hand {f.loc['dealer', 'avg_on_hand']:.0f}, dc bullwhip {f.loc['dc', 'bullwhip_ratio']:.3f}")
    # what smaller lots cost in handling: order lines (SKU x dealer with an order) per week
    lines = {name: float((res.records["dealer_orders"][rep.warmup:] > 0).sum(axis=(1, 2)).mean())
             for name, res in rep.results.items()}
    rule = "whole case packs (plan.vmi_moq false)" if not settings.plan.vmi_moq else "at least the MOQ"
    print("order lines into dealers per week: " + ", ".join(f"{k} {v:.0f}" for k, v in lines.items())
          + (f"; VMI ships {rule}" if "vmi" in lines else ""))
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
    print()
    if args.data is not None:
        print("oracle bound: skipped (--data has no hidden demand truth; run on generated demo data)")
    else:
        oracle_report(rep, settings, args.seed, table)


def oracle_report(rep, settings, seed: int, table) -> None:
    """Print the oracle bound and frontier of the replay ``rep`` (see the module docstring)."""
    import copy

    import numpy as np

    from benchmarks._oracle import OracleProblem, shortfall_below_levels
    from pipelines.demo_data import generate_demo_data

    t0 = time.perf_counter()
    truth = generate_demo_data(seed=seed, truth=True)["demand_truth"]
    setup = rep.setup
    if settings.backtest.order_lots and not settings.plan.vmi_moq:
        # VMI's dealers receive whole case packs: its oracle orders under the same rule
        setup = copy.copy(rep.setup)
        setup.lot_size = setup.case_pack
        print("oracle lots: whole case packs into the dealers, as VMI ships them (plan.vmi_moq false)")
    problem = OracleProblem.from_setup(setup, truth, rep.warmup, lost_sales=settings.backtest.lost_sales,
                                       order_lots=settings.backtest.order_lots)
    t = table.set_index(["policy", "echelon"])
    base = t.loc[("baseline", "dealer"), "avg_on_hand"] if ("baseline", "dealer") in t.index else None

    def vs_base(units: float, digits: int = 3) -> str:
        return f" = {units / base:.{digits}f} x baseline" if base else ""

    frontier = problem.frontier()
    bound = problem.for_fill(TARGET_FILL)
    runs = bound["runs"] + len(frontier)
    print("oracle frontier (true demand distribution, unlimited DC; common quantile alpha of the protection-period demand):")
    for row in frontier.itertuples(index=False):
        print(f"  alpha {row.alpha:.3f}: dealer fill {row.fill_rate:.4f}, avg on hand {row.avg_on_hand:8.0f}{vs_base(row.avg_on_hand)}")
    stock = f"on hand {bound['avg_on_hand']:.0f} units{vs_base(bound['avg_on_hand'], 4)}"
    if bound["fill_rate"] >= TARGET_FILL:
        print(f"oracle bound (true demand distribution, unlimited DC): fill {TARGET_FILL:.2f} needs {stock} "
              f"(alpha {bound['alpha']:.4f}, fill {bound['fill_rate']:.4f})")
    else:
        print(f"oracle bound (true demand distribution, unlimited DC): fill {TARGET_FILL:.2f} NOT reached: "
              f"alpha {bound['alpha']:.4f} gives fill {bound['fill_rate']:.4f} at {stock}")
    if ("vmi", "dealer") in t.index:
        vmi_fill = t.loc[("vmi", "dealer"), "fill_rate"]
        vmi_stock = t.loc[("vmi", "dealer"), "avg_on_hand"]
        at_vmi = problem.for_fill(min(vmi_fill, 0.9999))
        runs += at_vmi["runs"]
        print(f"oracle at VMI's fill {vmi_fill:.4f}: on hand {at_vmi['avg_on_hand']:.0f} units{vs_base(at_vmi['avg_on_hand'])}"
              f" (VMI holds {vmi_stock:.0f} = {vmi_stock / at_vmi['avg_on_hand']:.3f} x the oracle)")
    if problem.lot_size is not None:
        # With lots a common quantile is not the least stock: the lot-aware oracle is the bound.
        t1 = time.perf_counter()
        lot_aware = problem.lot_aware(points=61)
        low = lot_aware.for_fill(TARGET_FILL)
        runs += low["runs"]
        print(f"lot-aware oracle (true distribution, levels from the lot-sized fill model, optimization.fill_model): "
              f"fill {TARGET_FILL:.2f} needs on hand {low['avg_on_hand']:.0f} units{vs_base(low['avg_on_hand'], 4)} "
              f"(fill {low['fill_rate']:.4f}; {time.perf_counter() - t1:.0f} s)")
        if ("vmi", "dealer") in t.index:
            at_vmi_lot = lot_aware.for_fill(min(vmi_fill, 0.9999))
            runs += at_vmi_lot["runs"]
            print(f"lot-aware oracle at VMI's fill {vmi_fill:.4f}: on hand {at_vmi_lot['avg_on_hand']:.0f} units"
                  f"{vs_base(at_vmi_lot['avg_on_hand'])} (VMI holds {vmi_stock / at_vmi_lot['avg_on_hand']:.3f} x it)")
    targets = rep.targets.get("vmi")
    if targets is not None and not np.isfinite(targets["order_up_to"]).any(axis=(0, 2)).all():
        # a dealer VMI does not plan orders for itself: no level of the plan to replay
        print("VMI's excess stock, split: skipped (dealers outside VMI have no planned levels)")
        targets = None
    if targets is not None and ("vmi", "dealer") in t.index:
        # Split VMI's excess over the oracle: its targets vs their execution.
        vmi_x = vmi_stock / at_vmi["avg_on_hand"]
        print("VMI's excess stock, split (each line: replayed as a plain order-up-to with unlimited DC supply, "
              "x the oracle at its own fill):")
        for label, key in (("the plan's order_up_to levels", "order_up_to"),
                           ("the same within the dealers' min/max band, as the LP holds them", "band_order_up_to")):
            res = problem.run_levels(targets[key])
            at = problem.for_fill(min(res["fill_rate"], 0.9999))
            runs += 1 + at["runs"]
            print(f"  {label}: fill {res['fill_rate']:.4f}, on hand {res['avg_on_hand']:.0f} = "
                  f"{res['avg_on_hand'] / at['avg_on_hand']:.3f} x the oracle")
        print(f"  VMI's own replay (LP, DC stock, lot rounding): fill {vmi_fill:.4f}, on hand {vmi_stock:.0f} = "
              f"{vmi_x:.3f} x the oracle")
        gaps = shortfall_below_levels(rep.results["vmi"].records, targets["band_order_up_to"], rep.setup.network,
                                      setup.lot_size if settings.backtest.order_lots else None, rep.warmup,
                                      lost_sales=settings.backtest.lost_sales)
        print(f"  VMI's dealer positions after shipping, below those levels (in band): {gaps['share']:.1%} of "
              f"dealer-weeks, {gaps['units_per_period']:.0f} units a week; the DC held less than a lot at the end "
              f"of {gaps['dc_short_share']:.0%} of them")
    print(f"oracle: {runs} replays in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
