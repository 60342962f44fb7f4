"""Demand classification by ADI and CV² (Syntetos, Boylan and Croston 2005).

The four classes decide which candidate models a series gets: smooth and erratic demand
suits exponential smoothing; intermittent and lumpy demand (many zero periods) suits
Croston-type models such as SBA.

==========  ===============  ==============
class       ADI              CV²
==========  ===============  ==============
smooth      < 1.32           < 0.49
erratic     < 1.32           >= 0.49
intermittent >= 1.32         < 0.49
lumpy       >= 1.32          >= 0.49
==========  ===============  ==============

A series without any non-zero demand gets the extra class ``"no_demand"``: ADI and CV²
are undefined for it and no model can be judged on it.

The orchestrator classifies the *recent* history (:func:`classification_window`): the
class chooses the models that forecast the next periods, so it must describe the demand
of the current life-cycle phase. Over the whole history an item launched two years ago
after a decade of stray single units reads as intermittent (and gets a Croston-type
rate that lags its real level threefold), and an item phased out two years ago reads as
smooth (and gets seasonal models that carry its old swings forward).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ADI_CUTOFF", "CV2_CUTOFF", "DEMAND_CLASSES", "DemandClass", "adi", "cv2", "classify_demand",
           "recent_window", "classification_window"]

#: ADI cut-off, periods (Syntetos, Boylan and Croston 2005).
ADI_CUTOFF = 1.32
#: CV² cut-off, dimensionless (Syntetos, Boylan and Croston 2005).
CV2_CUTOFF = 0.49
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "no_demand")


class DemandClass(NamedTuple):
    """Result of :func:`classify_demand`: ``adi`` (periods), ``cv2`` (-), ``label``."""

    adi: float
    cv2: float
    label: str


def adi(y: ArrayLike) -> float:
    """Average inter-demand interval.

    ``ADI = mean(t_{k+1} - t_k)`` over consecutive periods ``t_k`` with non-zero demand
    (DESIGN.md: "mean interval between non-zero demands").

    Parameters
    ----------
    y : array-like
        Demand per period, units, one value per period with zeros included.

    Returns
    -------
    float
        Periods. With exactly one non-zero demand there is no interval; the number of
        observed periods is returned (one demand seen in ``n`` periods). ``inf`` without
        any non-zero demand.

    Examples
    --------
    >>> adi([0, 0, 3, 0, 0, 4, 0, 0, 5])
    3.0
    >>> adi([1, 2, 3])
    1.0
    """
    values = np.asarray(y, dtype=float).ravel()
    nonzero = np.flatnonzero(values > 0)
    if nonzero.size == 0:
        return float("inf")
    if nonzero.size == 1:
        return float(values.size)
    return float(np.mean(np.diff(nonzero)))


def cv2(y: ArrayLike) -> float:
    """Squared coefficient of variation of the non-zero demand sizes.

    ``CV² = (sigma / mu)²`` with ``mu`` and ``sigma`` the mean and population standard
    deviation (``ddof = 0``) of the non-zero demands.

    Parameters
    ----------
    y : array-like
        Demand per period, units.

    Returns
    -------
    float
        Dimensionless; 0 with a single non-zero demand, ``nan`` without any.

    Examples
    --------
    >>> cv2([0, 2, 0, 4])
    0.1111111111111111
    """
    values = np.asarray(y, dtype=float).ravel()
    sizes = values[values > 0]
    if sizes.size == 0:
        return float("nan")
    return float(np.var(sizes) / np.mean(sizes) ** 2)


def classify_demand(y: ArrayLike, adi_cutoff: float = ADI_CUTOFF, cv2_cutoff: float = CV2_CUTOFF) -> DemandClass:
    """Classify a demand series as smooth, erratic, intermittent, lumpy or no_demand.

    Parameters
    ----------
    y : array-like
        Demand per period, units, zeros included.
    adi_cutoff : float
        ADI boundary, periods (1.32 in Syntetos, Boylan and Croston 2005).
    cv2_cutoff : float
        CV² boundary, dimensionless (0.49 in Syntetos, Boylan and Croston 2005).

    Returns
    -------
    DemandClass
        ``(adi, cv2, label)``.

    Examples
    --------
    >>> classify_demand([5, 6, 5, 7, 6]).label
    'smooth'
    >>> classify_demand([0, 0, 4, 0, 0, 5, 0, 4]).label
    'intermittent'
    >>> classify_demand([0, 0, 1, 0, 0, 20, 0, 2]).label
    'lumpy'
    """
    a = adi(y)
    c = cv2(y)
    if not np.isfinite(a):
        return DemandClass(a, c, "no_demand")
    frequent = a < adi_cutoff
    regular = c < cv2_cutoff
    if frequent:
        label = "smooth" if regular else "erratic"
    else:
        label = "intermittent" if regular else "lumpy"
    return DemandClass(a, c, label)


def recent_window(y: ArrayLike, floor: int, intervals: float = 5.0) -> int:
    """Periods of recent history that hold several demands of a live series.

    ``w = min(n, max(floor, ceil(intervals * n / d)))`` with ``n`` periods and ``d`` of
    them with demand. ``n / d`` is the mean number of periods per demand over the whole
    history; unlike the ADI (:func:`adi`) it counts the zero runs before the first and
    after the last demand, which for a series with a handful of demands are most of its
    history. A live series demanding in each period with probability ``p = d / n`` goes
    without any demand for ``w >= intervals / p`` periods with probability
    ``(1 - p)^w <= e^-intervals`` (under 1 % for the default 5): a window without demand
    says the series has stopped, not that it is slow.

    Parameters
    ----------
    y : array-like
        Demand per period, units, oldest first.
    floor : int
        Fewest periods, e.g. a seasonal cycle.
    intervals : float
        Mean periods per demand that the window spans at least.

    Returns
    -------
    int
        ``w``, periods (``n`` without any demand).

    Examples
    --------
    >>> recent_window(np.ones(100), 12)
    12
    >>> recent_window(np.tile([0, 0, 0, 0, 0, 0, 0, 0, 0, 4.0], 10), 12)
    50
    """
    values = np.asarray(y, dtype=float).ravel()
    d = int(np.count_nonzero(values > 0))
    if d == 0:
        return int(values.size)
    return int(min(values.size, max(int(floor), math.ceil(intervals * values.size / d))))


def classification_window(y: ArrayLike, season_length: int, horizon: int, intervals: float = 5.0) -> int:
    """Periods of recent history a series is classified on.

    :func:`recent_window` with a floor of two seasonal cycles (every season phase twice)
    and twice the horizon: ``w = min(n, max(2 m, 2 H, ceil(intervals * n / d)))``. An
    item without any demand in the window is ``no_demand``: phased out, for the models
    that forecast its next periods.

    Parameters
    ----------
    y, intervals
        As in :func:`recent_window`.
    season_length, horizon : int
        ``m`` and ``H``, periods.

    Returns
    -------
    int
        ``w``, periods.

    Examples
    --------
    >>> classification_window(np.ones(200), 12, 6)
    24
    """
    return recent_window(y, max(2 * int(season_length), 2 * int(horizon)), intervals)
