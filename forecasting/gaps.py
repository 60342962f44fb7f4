"""Runs of missing rows that a series' own demand makes implausible.

The demand contract lets a history leave out the periods without demand: inside a
series' span, and after its last row, a period without a row is zero demand. That is how
most ERP extracts arrive, and for an intermittent item it is the right reading. For an
item that sells in most periods a long run of missing rows more likely means lost data
(a store's feed that stopped, a sensor outage, an extract cut short), and read as zero
demand it drags the level down or sends the item to ``no_demand``. The forecast keeps the
contract's reading; this module finds the runs that deserve a look, so that the run log
says so instead of fixing or hiding it.

A run of ``L`` periods without a row in a series of ``n`` periods, ``d`` of them with
demand, is flagged when both hold:

1. ``n (1 - d/n)^L < level`` (default ``1e-6``): were each period's demand an independent
   draw with the series' own rate ``p = d / n``, a run of ``L`` empty periods anywhere in
   ``n`` would have probability at most about ``n (1 - p)^L``;
2. the ``L`` periods a whole number of seasons earlier (the fewest seasons that reach
   before the run: ``k m >= L``; ``L`` periods earlier without a season) had demand in
   at least half as many periods as the rate ``p`` gives, or lie before the series'
   start: an item sold only in summer has an empty winter every year, which the first
   rule alone would flag every night.

A run that reaches the end of the history and is at least the series' classification
window long (:func:`~forecasting.classify.classification_window`) is not flagged: the
item is classed ``no_demand`` (phased out, forecast zero), which the selection table
already reports.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .classify import classification_window

__all__ = ["absent_runs", "implausible_gaps"]


def absent_runs(row_series: np.ndarray, pos: np.ndarray, n_series: int, n_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Longest run of periods without a row in every series, and where it starts.

    Parameters
    ----------
    row_series : numpy.ndarray
        Series index (``0 .. n_series - 1``) of every row of the history.
    pos : numpy.ndarray
        Period index (``0 .. n_periods - 1``) of every row on the common grid.
    n_series, n_periods : int
        Series and periods of the grid; every series runs from its first row to the last
        period of the grid.

    Returns
    -------
    tuple of numpy.ndarray
        ``(length, start)``: periods of the longest run per series (``0``: none) and the
        grid index of its first period (``-1``: none). Ties go to the earliest run.

    Examples
    --------
    Series 0 has rows at periods 0, 1 and 5 of 8: runs 2-4 (3 periods) and 6-7 (2).

    >>> absent_runs(np.array([0, 0, 0]), np.array([0, 1, 5]), 1, 8)
    (array([3]), array([2]))
    """
    rs = np.asarray(row_series, dtype=np.int64)
    ps = np.asarray(pos, dtype=np.int64)
    order = np.lexsort((ps, rs))
    rs, ps = rs[order], ps[order]
    same = np.r_[False, rs[1:] == rs[:-1]]
    is_last = np.r_[rs[1:] != rs[:-1], True]
    # every run: the one before each row (none before a series' first row) and the one
    # after each series' last row, to the end of the grid
    run_series = np.r_[rs, rs[is_last]]
    run_length = np.r_[np.where(same, ps - np.r_[-1, ps[:-1]] - 1, 0), n_periods - 1 - ps[is_last]]
    run_start = np.r_[np.r_[-1, ps[:-1]] + 1, ps[is_last] + 1]
    pick = np.lexsort((run_start, -run_length, run_series))  # per series: longest, then earliest
    first = pick[np.r_[True, run_series[pick][1:] != run_series[pick][:-1]]]
    length = np.zeros(n_series, dtype=np.int64)
    start = np.full(n_series, -1, dtype=np.int64)
    found = run_length[first] > 0
    length[run_series[first][found]] = run_length[first][found]
    start[run_series[first][found]] = run_start[first][found]
    return length, start


def implausible_gaps(keys: pd.DataFrame, series: list[np.ndarray], grid: pd.DatetimeIndex, start_pos: np.ndarray,
                     length: np.ndarray, start: np.ndarray, season_length: int = 1, horizon: int = 1,
                     level: float = 1e-6) -> pd.DataFrame:
    """The runs of missing rows that the module's two rules flag.

    Parameters
    ----------
    keys : pandas.DataFrame
        sku, location of every series.
    series : list of numpy.ndarray
        Demand per period of every series from its first row (missing rows as zeros).
    grid : pandas.DatetimeIndex
        The common period grid.
    start_pos : numpy.ndarray
        Grid index of every series' first period.
    length, start : numpy.ndarray
        :func:`absent_runs` of the same history.
    season_length : int
        ``m``, periods per season (rule 2).
    horizon : int
        ``H``, periods forecast (the classification window of a run to the end).
    level : float
        Probability bound of rule 1 (dimensionless).

    Returns
    -------
    pandas.DataFrame
        sku, location, periods (run length), first_missing (its first period), to_end
        (``True`` when the run reaches the end of the history), rate (share of the
        series' periods with demand), allowed (the longest run rule 1 lets pass at that
        rate: the largest ``L`` with ``n (1 - p)^L >= level``), one row per flagged series.

    Examples
    --------
    Demand on 9 of 10 days, except for 20 days without rows: flagged.

    >>> y = np.r_[np.tile([3.0] * 9 + [0.0], 6), np.zeros(20), np.full(20, 3.0)]
    >>> keys = pd.DataFrame({"sku": ["A"], "location": ["L"]})
    >>> grid = pd.date_range("2024-01-01", periods=100, freq="D")
    >>> implausible_gaps(keys, [y], grid, np.array([0]), np.array([20]), np.array([60]), 7)[["periods", "to_end"]]
       periods  to_end
    0       20   False
    """
    rows = []
    log_level = math.log(level)
    m = max(int(season_length), 1)
    for i in np.flatnonzero(length > 0):
        y = series[i]
        n, run = y.size, int(length[i])
        d = int(np.count_nonzero(y > 0))
        p = d / n if n else 0.0
        if p <= 0.0 or (p < 1.0 and math.log(n) + run * math.log1p(-p) >= log_level):
            continue
        lo = int(start[i] - start_pos[i])
        to_end = lo + run == n
        if to_end and run >= classification_window(y, m, horizon):
            continue  # no demand in the classification window: no_demand, reported by the selection
        back = m * math.ceil(run / m)
        if lo - back >= 0:
            before = y[lo - back: lo - back + run]
            if np.count_nonzero(before > 0) < 0.5 * p * run:
                continue  # the same season phase was empty before: a seasonal pause
        allowed = int(math.floor((log_level - math.log(n)) / math.log1p(-p)))
        rows.append((keys["sku"].iloc[i], keys["location"].iloc[i], run, grid[start[i]], bool(to_end), p, allowed))
    return pd.DataFrame(rows, columns=["sku", "location", "periods", "first_missing", "to_end", "rate", "allowed"])
