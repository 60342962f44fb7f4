r"""Fill rate of a periodic-review order-up-to policy whose shipments come in lots.

The classic fill-rate formula (DESIGN.md; Snyder and Shen 2019, section 4.3.2) charges a
review cycle with the whole expected shortage of the protection period,
:math:`E[(D_{L+R} - S)^+]`, and divides by the demand of a cycle, at least one lot
(Silver, Pyke and Peterson 1998, section 7.9). Two things make it pessimistic for a
planner's dealers, which are reviewed every period and served in lots:

1. Units already short before the cycle began are counted again. With backorders, the
   new shortage of a review cycle is the increment
   :math:`E[(D_{L+R} - y)^+] - E[(D_L - y)^+]`
   for an inventory position :math:`y` after ordering (Hadley and Whitin 1963, section
   4-10; Johnson, Lee, Davis and Hall 1995, *Naval Research Logistics* 42, 57-80, who
   show the classic approximation understates the fill rate at moderate service).
2. A shipment of at least a lot leaves the inventory position anywhere between the
   order-up-to level :math:`S` and :math:`S + q`: when a lot :math:`Q` exceeds the demand
   of a review period, the position after ordering is (nearly) uniform on
   :math:`[S, S + Q)`, as for an :math:`(R, Q)` policy (Axsäter 2006, *Inventory
   Control*, 2nd ed., section 5.3); otherwise the order is the shortfall rounded up to a
   case pack, and the overshoot is uniform over one case pack.

So the expected shortage per period is (:math:`U \sim U[0, q)`; for stock counted in
whole units :math:`U \sim U[-\tfrac12, q - \tfrac12)`, see :class:`ProtectionPair`)

.. math::
    ES(S) = \frac{1}{R}\, E_U\big[G_{L+R}(S + U) - G_L(S + U)\big]
          = \frac{1}{q R}\Big[\big(H_{L+R}(S) - H_{L+R}(S + q)\big)
                             - \big(H_L(S) - H_L(S + q)\big)\Big]

with :math:`G_k(y) = E[(D_k - y)^+]` the loss function and
:math:`H_k(y) = \int_y^\infty G_k = \tfrac12 E[((D_k - y)^+)^2]` the second-order loss
function (Zipkin 2000, *Foundations of Inventory Management*, appendix C), and its
slope :math:`ES'(S) = [G_{L+R}(S+q) - G_{L+R}(S) - G_L(S+q) + G_L(S)] / (qR)`; for
:math:`q \to 0` both reduce to the increment at :math:`S`.

Why it matters: with the generator's true demand distribution at every dealer of the
52-week demo replay (seed 0), levels from this model, allocated by the same Lagrangian,
reach a dealer fill of 0.98 with 0.91 x the moving-average baseline's dealer stock,
against 0.94 x with the classic model and 0.97 x with one common quantile (a scratch
computation outside the repository): a dealer served in lots already gets much of its
protection from the lot. In the benchmark itself (``benchmarks/bullwhip_backtest.py``,
seed 0) VMI went from fill 0.9812 at 1.087 x the baseline's dealer stock to 0.9809 at
1.065 x.

The demand of the lead time :math:`D_L` has the same family as :math:`D_{L+R}`, with
the forecast's mean over the first :math:`L` periods and the spread scaled by the
ratio of the backtest's errors summed over :math:`L` and over :math:`L + R` steps
(:func:`lead_spread_ratio`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

logger = logging.getLogger(__name__)

__all__ = ["ProtectionPair", "lead_spread_ratio", "overshoot_range", "second_order_normal_loss",
           "gamma_second_order_loss", "solve_fill", "solve_group_fill", "bisect_decreasing"]


def second_order_normal_loss(z):
    r"""Standard normal second-order loss :math:`G^{(2)}(z) = \tfrac12 E[((Z - z)^+)^2]`.

    .. math:: G^{(2)}(z) = \tfrac12\big[(1 + z^2)(1 - \Phi(z)) - z\,\phi(z)\big]

    (Zipkin 2000, appendix C.2.4). With demand :math:`N(\mu, \sigma^2)`,
    :math:`\int_y^\infty E[(D - u)^+]\,du = \sigma^2 G^{(2)}((y - \mu)/\sigma)` (units^2).

    Parameters
    ----------
    z : float or array_like
        Standardised stock level (dimensionless).

    Returns
    -------
    float or numpy.ndarray
        :math:`G^{(2)}(z)` (dimensionless, >= 0).

    Examples
    --------
    >>> round(second_order_normal_loss(0.0), 6)
    0.25
    """
    z = np.asarray(z, dtype=float)
    out = 0.5 * ((1.0 + z**2) * stats.norm.sf(z) - z * stats.norm.pdf(z))
    out = np.clip(out, 0.0, None)
    return float(out) if out.ndim == 0 else out


def gamma_second_order_loss(y, shape, scale):
    r"""Second-order loss :math:`\tfrac12 E[((X - y)^+)^2]` of :math:`X \sim \Gamma(k, \theta)`.

    .. math::
        \tfrac12\big[k(k+1)\theta^2\,\bar F_{k+2}(y) - 2 y k \theta\,\bar F_{k+1}(y)
        + y^2\,\bar F_k(y)\big]

    with :math:`\bar F_j` the survival function of :math:`\Gamma(j, \theta)`, from
    :math:`E[X^n; X > y] = \theta^n \frac{\Gamma(k + n)}{\Gamma(k)} \bar F_{k+n}(y)`.

    Parameters
    ----------
    y : float or array_like
        Stock level (units).
    shape, scale : float or array_like
        :math:`k > 0` and :math:`\theta > 0` (units).

    Returns
    -------
    float or numpy.ndarray
        units^2, >= 0.

    Examples
    --------
    >>> round(gamma_second_order_loss(0.0, 1.0, 2.0), 9)  # E[X^2] / 2 of an exponential, mean 2
    4.0
    """
    y, k, th = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (y, shape, scale)))
    q0, q1, q2 = _gamma_tails(np.clip(y, 0.0, None) / th, k)
    out = 0.5 * (k * (k + 1) * th**2 * q2 - 2 * y * k * th * q1 + y**2 * q0)
    # below 0 the whole distribution lies above y: E[(X - y)^2] / 2
    out = np.where(y < 0, 0.5 * (k * (k + 1) * th**2 - 2 * y * k * th + y**2), out)
    out = np.clip(out, 0.0, None)
    return float(out) if out.ndim == 0 else out


def _gamma_tails(x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Upper regularised incomplete gamma :math:`Q(k, x), Q(k+1, x), Q(k+2, x)`, x >= 0.

    One ``gammaincc`` call and the recurrence
    :math:`Q(a + 1, x) = Q(a, x) + x^a e^{-x} / \Gamma(a + 1)` (Abramowitz and Stegun
    6.5.21): the loss and second-order loss functions need all three, and
    ``gammaincc`` dominates the cost of the fill model.
    """
    q0 = special.gammaincc(k, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(x > 0, np.exp(k * np.log(np.where(x > 0, x, 1.0)) - x - special.gammaln(k + 1)), 0.0)
    q1 = q0 + t1
    q2 = q1 + t1 * x / (k + 1)
    return q0, np.minimum(q1, 1.0), np.minimum(q2, 1.0)


def lead_spread_ratio(wide: pd.DataFrame | None, lead: np.ndarray, periods: np.ndarray, min_pairs: int = 30) -> np.ndarray:
    r"""Ratio :math:`r = \sigma_L / \sigma_{L+R}` of forecast errors summed over L and L + R steps.

    Pooled over every key and origin of the backtest that has all :math:`L + R` steps:
    :math:`r = \sqrt{\sum E_L^2 / \sum E_{L+R}^2}` with :math:`E_k` the error summed over
    steps 1..k. A level error that repeats every step gives :math:`r = L / (L + R)`,
    independent steps :math:`\sqrt{L / (L + R)}`, which is also the answer without
    enough errors (fewer than ``min_pairs`` complete origins).

    Parameters
    ----------
    wide : pandas.DataFrame or None
        Errors (units) as a (key, origin) x step table (columns 1, 2, ...).
    lead, periods : numpy.ndarray of int
        :math:`L` and :math:`L + R` per policy row (periods).
    min_pairs : int
        Complete origins needed to estimate a ratio from the errors.

    Returns
    -------
    numpy.ndarray
        :math:`r` per row (dimensionless, in [0, 1]; 0 where :math:`L = 0`).
    """
    lead = np.asarray(lead, dtype=int)
    periods = np.asarray(periods, dtype=int)
    out = np.sqrt(np.divide(lead, periods, out=np.zeros(len(lead)), where=periods > 0))
    if wide is None or not len(wide):
        return out
    for l_, p_ in set(zip(lead.tolist(), periods.tolist())):
        if l_ <= 0 or p_ <= l_ or not set(range(1, p_ + 1)) <= set(wide.columns):
            continue
        block = wide[list(range(1, p_ + 1))]
        block = block.loc[block.notna().all(axis=1)]
        if len(block) < min_pairs:
            continue
        e_l = block[list(range(1, l_ + 1))].sum(axis=1).to_numpy(float)
        e_p = block.sum(axis=1).to_numpy(float)
        den = float(np.sum(e_p**2))
        if den > 0:
            out[(lead == l_) & (periods == p_)] = min(np.sqrt(float(np.sum(e_l**2)) / den), 1.0)
    return out


def overshoot_range(per_period: np.ndarray, review: np.ndarray, lot_size: np.ndarray | None,
                    case_pack: np.ndarray | None) -> np.ndarray:
    r"""Width :math:`q` of the inventory position's overshoot above the level after ordering (units).

    A lot larger than a review period's demand (:math:`Q \ge R\,\bar d`) leaves the
    position uniform on :math:`[S, S + Q)`; otherwise the order is the shortfall rounded
    up to a case pack, uniform over one pack. Without lot rules: 0.

    Parameters
    ----------
    per_period : numpy.ndarray
        Mean demand per period :math:`\bar d` (units).
    review : numpy.ndarray
        Review period :math:`R` (periods).
    lot_size, case_pack : numpy.ndarray or None
        Smallest shipment and units per case pack (units); NaN or None: none.

    Returns
    -------
    numpy.ndarray
        :math:`q` per row (units, >= 0; at least 1 where a lot or a case pack is given).
    """
    n = len(per_period)
    lot = np.zeros(n) if lot_size is None else np.nan_to_num(np.asarray(lot_size, dtype=float), nan=0.0)
    pack = np.zeros(n) if case_pack is None else np.nan_to_num(np.asarray(case_pack, dtype=float), nan=0.0)
    lot = np.clip(lot, 0.0, None)
    # a lot rule means whole units: at least one unit per pack
    pack = np.where(lot > 0, np.maximum(pack, 1.0), np.clip(pack, 0.0, None))
    cycle = np.asarray(per_period, dtype=float) * np.asarray(review, dtype=float)
    return np.where((lot > 0) & (lot >= cycle), lot, pack)


@dataclass
class ProtectionPair:
    r"""Demand over the protection period :math:`L + R` and over the lead time :math:`L`, per row.

    Attributes
    ----------
    kind : numpy.ndarray of str
        ``normal``, ``gamma``, ``poisson`` (taken as a gamma with variance = mean) or
        ``empirical`` per row, as :func:`optimization.safety_stock.compute_safety_stock`
        chose it for :math:`D_{L+R}`; :math:`D_L` has the same family.
    mean_p, sigma_p : numpy.ndarray
        Mean and sd of :math:`D_{L+R}` (units).
    mean_l, sigma_l : numpy.ndarray
        Mean and sd of :math:`D_L` (units; 0 where :math:`L = 0`).
    q : numpy.ndarray
        Overshoot range (units, :func:`overshoot_range`). Where :math:`q \ge 1` the
        stock moves in whole units: a policy orders once its position is half a unit
        below the level, so the position after ordering is taken as uniform on
        :math:`[S - \tfrac12, S + q - \tfrac12)` (the continuity correction of a
        discrete uniform over :math:`q` whole units).
    review : numpy.ndarray
        :math:`R` (periods, > 0).
    errors : numpy.ndarray or None
        ``empirical`` rows: summed errors of :math:`D_{L+R}` as a NaN-padded (row x
        origin) matrix, deviations from ``mean_p`` (units); :math:`D_L` uses them times
        ``ratio`` about ``mean_l``.
    ratio : numpy.ndarray or None
        :math:`\sigma_L / \sigma_{L+R}` of the errors (:func:`lead_spread_ratio`).
    supply_risk, supply_gap : numpy.ndarray or None
        A supplier that runs out: with probability :math:`\pi` per review period
        (``supply_risk``) a row's replenishment comes :math:`u` units short
        (``supply_gap``), so its position after ordering is :math:`S - u` instead of
        :math:`S` and :meth:`shortage` is :math:`(1 - \pi)\,ES(S) + \pi\,ES(S - u)`
        (see :func:`optimization.safety_stock.compute_safety_stock`, "Supplier
        stock-outs"). None: a supplier that always ships.
    """

    kind: np.ndarray
    mean_p: np.ndarray
    sigma_p: np.ndarray
    mean_l: np.ndarray
    sigma_l: np.ndarray
    q: np.ndarray
    review: np.ndarray
    errors: np.ndarray | None = None
    ratio: np.ndarray | None = None
    supply_risk: np.ndarray | None = None
    supply_gap: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.kind = np.asarray(self.kind, dtype=object)
        self._offset = np.where(self.q >= 1.0, 0.5, 0.0)
        self._parts = [(k, np.flatnonzero(self.kind == k)) for k in np.unique(self.kind)]
        self._behind = None  # (rows, their pair without the supplier), built on first use

    def take(self, rows: np.ndarray) -> "ProtectionPair":
        """The pair of a subset of rows (positions)."""
        def cut(a):
            return None if a is None else a[rows]
        return ProtectionPair(self.kind[rows], self.mean_p[rows], self.sigma_p[rows], self.mean_l[rows],
                              self.sigma_l[rows], self.q[rows], self.review[rows], cut(self.errors), cut(self.ratio),
                              cut(self.supply_risk), cut(self.supply_gap))

    def with_supply(self, risk: np.ndarray, gap: np.ndarray) -> "ProtectionPair":
        """The same rows behind a supplier that runs out (``supply_risk``, ``supply_gap``)."""
        return ProtectionPair(self.kind, self.mean_p, self.sigma_p, self.mean_l, self.sigma_l, self.q, self.review,
                              self.errors, self.ratio, np.asarray(risk, dtype=float), np.asarray(gap, dtype=float))

    def _mix(self, name: str, level: np.ndarray) -> np.ndarray:
        """Method ``name`` at ``level``, mixed with its value at ``level - gap`` where the supplier may run out."""
        out = getattr(self, name)(level)
        if self.supply_risk is None:
            return out
        if self._behind is None:
            risky = np.flatnonzero((self.supply_risk > 0) & (self.supply_gap > 0))
            plain = ProtectionPair(*(None if a is None else a[risky] for a in (
                self.kind, self.mean_p, self.sigma_p, self.mean_l, self.sigma_l, self.q, self.review,
                self.errors, self.ratio)))
            self._behind = (risky, plain)
        risky, part = self._behind
        if len(risky):
            pi = self.supply_risk[risky]
            lower = np.asarray(level, dtype=float)[risky] - self.supply_gap[risky]
            out[risky] = (1.0 - pi) * out[risky] + pi * getattr(part, name)(lower)
        return out

    def _moments(self, period: str):
        return (self.mean_p, self.sigma_p) if period == "P" else (self.mean_l, self.sigma_l)

    def _g_f_h(self, period: str, y: np.ndarray, need_h: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Loss G(y), cdf F(y) and second-order loss H(y) of D_P or D_L at levels ``y``."""
        mean, sd = self._moments(period)
        g, f = np.zeros(len(y)), np.ones(len(y))
        h = np.zeros(len(y)) if need_h else None
        for kind, rows in self._parts:
            mu, s, v = mean[rows], sd[rows], y[rows]
            det = (mu <= 0) | (s <= 0)
            short = np.clip(mu - v, 0.0, None)  # a known demand: short by mu - y
            gg, ff = short.copy(), (v >= mu).astype(float)
            hh = 0.5 * short**2 if need_h else None
            r = ~det
            if r.any():
                if kind == "normal":
                    z = (v[r] - mu[r]) / s[r]
                    gg[r] = s[r] * (stats.norm.pdf(z) - z * stats.norm.sf(z))
                    ff[r] = stats.norm.cdf(z)
                    if need_h:
                        hh[r] = s[r] ** 2 * second_order_normal_loss(z)
                elif kind in ("gamma", "poisson"):
                    k = (mu[r] / s[r]) ** 2
                    th = s[r] ** 2 / mu[r]
                    q0, q1, q2 = _gamma_tails(np.clip(v[r], 0.0, None) / th, k)
                    below = v[r] < 0  # the whole distribution lies above y
                    gg[r] = np.where(below, mu[r] - v[r], k * th * q1 - v[r] * q0)
                    ff[r] = np.where(below, 0.0, 1.0 - q0)
                    if need_h:
                        hh[r] = 0.5 * (k * (k + 1) * th**2 * q2 - 2 * v[r] * k * th * q1 + v[r] ** 2 * q0)
                else:  # empirical: the backtest's summed errors as the deviations from the mean
                    mat = self.errors[rows[r]]
                    if period == "L":
                        mat = mat * self.ratio[rows[r], None]
                    excess = np.clip(mat - (v[r] - mu[r])[:, None], 0.0, None)
                    count = np.sum(np.isfinite(mat), axis=1)
                    gg[r] = np.nansum(excess, axis=1) / count
                    ff[r] = np.sum(mat <= (v[r] - mu[r])[:, None] + 1e-12, axis=1) / count
                    if need_h:
                        hh[r] = 0.5 * np.nansum(excess**2, axis=1) / count
            g[rows], f[rows] = np.clip(gg, 0.0, None), ff
            if need_h:
                h[rows] = np.clip(hh, 0.0, None)
        return g, f, h

    def _at_ends(self, level: np.ndarray, need_h: bool):
        """G, F (and H) of D_P and D_L at the two ends of the overshoot, S and S + q.

        Returns ``small`` (rows in the limit q -> 0), the divisor q (1 where small) and the
        four (G, F, H) triples: P at S, L at S, P at S + q, L at S + q.
        """
        level = np.asarray(level, dtype=float) - self._offset
        small = self.q <= 1e-6 * (self.sigma_p + 1.0)
        top = level + np.where(small, 0.0, self.q)
        ends = [self._g_f_h(period, y, need_h) for y in (level, top) for period in ("P", "L")]
        return small, np.where(small, 1.0, self.q), ends

    def shortage(self, level: np.ndarray) -> np.ndarray:
        r"""Expected units short per period :math:`ES(S)` at order-up-to level ``level`` (units).

        See the module docstring; rows with :math:`q` below a millionth of the
        protection period's spread use the limit :math:`q \to 0`. Behind a supplier that
        may run out, the mixture of ``supply_risk``.
        """
        return self._mix("_shortage", level)

    def slope(self, level: np.ndarray) -> np.ndarray:
        r""":math:`dES/dS` (units short per period per unit of level, <= 0)."""
        return self._mix("_slope", level)

    def _shortage(self, level: np.ndarray) -> np.ndarray:
        small, q, ((gp, _, hp), (gl, _, hl), (_, _, hp2), (_, _, hl2)) = self._at_ends(level, True)
        spread = ((hp - hp2) - (hl - hl2)) / q
        return np.clip(np.where(small, gp - gl, spread) / self.review, 0.0, None)

    def _slope(self, level: np.ndarray) -> np.ndarray:
        small, q, ((gp, fp, _), (gl, fl, _), (gp2, _, _), (gl2, _, _)) = self._at_ends(level, False)
        out = np.where(small, fp - fl, (gp2 - gp - gl2 + gl) / q) / self.review
        return np.clip(out, None, 0.0)

    def upper(self) -> np.ndarray:
        """A level (units) above which no row is short in practice: the bracket's top."""
        tail = self.sigma_p * 60.0
        if self.errors is not None and self.errors.size:
            with np.errstate(all="ignore"):
                tail = np.maximum(tail, np.nan_to_num(np.nanmax(self.errors, axis=1), nan=0.0) + 1.0)
        return self.mean_p + tail + 1.0


def bisect_decreasing(f, lo: np.ndarray, hi: np.ndarray, iters: int = 100) -> np.ndarray:
    """Vectorised root of a decreasing ``f`` (f(lo) >= 0 >= f(hi)) by bisection, per row.

    Parameters
    ----------
    f : callable
        Maps an array of candidates (one per row) to values that fall as the candidate rises.
    lo, hi : numpy.ndarray
        Bracket per row (units of the candidate).
    iters : int
        At most this many halvings; stops early once every bracket is within 1e-10
        (relative).

    Returns
    -------
    numpy.ndarray
        The bracket's midpoint per row.
    """
    lo, hi = lo.astype(float).copy(), hi.astype(float).copy()
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        pos = f(mid) > 0
        lo = np.where(pos, mid, lo)
        hi = np.where(pos, hi, mid)
        if np.all(hi - lo <= 1e-10 * np.maximum(1.0, np.abs(hi))):
            break
    return 0.5 * (lo + hi)


def solve_fill(pair: ProtectionPair, allowed: np.ndarray) -> np.ndarray:
    r"""Lowest level per row whose expected shortage per period is at most ``allowed``.

    :math:`ES(S) = (1 - \beta)\,\bar d` for a fill rate :math:`\beta` per row (units per
    period); :math:`ES` falls as :math:`S` rises. The level is at least the mean of
    :math:`D_{L+R}` (no negative safety stock).

    Parameters
    ----------
    pair : ProtectionPair
    allowed : numpy.ndarray
        Units short per period allowed (>= 0).

    Returns
    -------
    numpy.ndarray
        Safety stock :math:`S - \mu_{L+R}` per row (units, >= 0).
    """
    lo = pair.mean_p.astype(float).copy()
    hi = pair.upper()
    x = bisect_decreasing(lambda s: pair.shortage(s) - allowed, lo, hi)
    done = pair.shortage(lo) <= allowed
    return np.where(done, 0.0, x - pair.mean_p)


def solve_group_fill(pair: ProtectionPair, demand: np.ndarray, beta: np.ndarray, points: int = 97,
                     span: float = 8.0):
    r"""Fewest units of safety stock for a demand-weighted fill rate over all rows.

    .. math::
        \min_S \sum_i S_i \quad\text{s.t.}\quad \sum_i ES_i(S_i) \le \sum_i (1 - \beta_i)\,\bar d_i,
        \quad S_i \ge \mu_i

    The Lagrangian is minimised row by row where :math:`ES_i'(S_i) = -1/\lambda`: one
    more unit avoids the same shortage in every row (the exchange curve of Silver, Pyke
    and Peterson 1998, ch. 7, on the per-period shortage of :class:`ProtectionPair`);
    :math:`\lambda` is found by bisection on :math:`\log\lambda`. Each row's shortage
    is evaluated once on a grid of ``points`` levels from its mean to ``span`` standard
    deviations above it (or its largest backtest error): a row's level is the grid point
    where the shortage curve's slope first reaches :math:`-1/\lambda`, so the search
    costs one evaluation of the loss functions instead of one per bisection step (the
    levels are exact to about 1/12 of a standard deviation; the cost of that is second
    order at the optimum).

    Parameters
    ----------
    pair : ProtectionPair
    demand : numpy.ndarray
        Mean demand per period :math:`\bar d_i` (units).
    beta : numpy.ndarray
        Fill-rate target per row.
    points : int
        Levels per row on the grid.
    span : float
        Top of the grid, standard deviations of :math:`D_{L+R}` above its mean.

    Returns
    -------
    tuple of numpy.ndarray
        Safety stock (units, >= 0) and expected shortage per period (units) per row.
    """
    n = len(pair.mean_p)
    allowed = float(np.sum((1.0 - beta) * demand))
    top = span * pair.sigma_p
    if pair.errors is not None and pair.errors.size:
        with np.errstate(all="ignore"):
            top = np.maximum(top, np.nan_to_num(np.nanmax(pair.errors, axis=1), nan=0.0))
    top = np.maximum(top, 1.0)
    x = top[:, None] * np.linspace(0.0, 1.0, points)[None, :]  # stock above the mean, n x points
    short = np.empty((n, points))
    for j in range(points):  # column by column: memory stays at a few row vectors
        short[:, j] = pair.shortage(pair.mean_p + x[:, j])
    short = np.minimum.accumulate(short, axis=1)  # more stock is never more short (rounding noise)
    slope = np.diff(short, axis=1) / np.diff(x, axis=1)  # <= 0, flattening towards the top

    def pick(log_lam: float) -> np.ndarray:
        # one past the last segment still steeper than -1/lambda (0: the mean is enough)
        steep = slope < -np.exp(-log_lam)
        last = points - 2 - np.argmax(steep[:, ::-1], axis=1)
        return np.where(steep.any(axis=1), last + 1, 0)

    rows = np.arange(n)
    if float(short[:, 0].sum()) <= allowed:
        k = np.zeros(n, dtype=int)
    else:
        lo, hi = np.log(float(np.min(pair.review))) - 1.0, 60.0
        if float(short[rows, pick(hi)].sum()) > allowed:
            logger.warning("aggregate fill rate of %d rows out of reach: every row at %.0f sd above its mean",
                           n, span)
            k = np.full(n, points - 1)
        else:
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if float(short[rows, pick(mid)].sum()) > allowed:
                    lo = mid
                else:
                    hi = mid
            k = pick(hi)
    return x[rows, k], short[rows, k]
