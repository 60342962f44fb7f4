"""Safety stock and the closed-form inventory formulas behind it.

Pure functions first (standard normal loss, newsvendor, fill-rate safety factor), then
:func:`compute_safety_stock`, which turns a forecast table and the forecaster's
rolling-origin backtest errors into safety stock, reorder point and order-up-to level
per SKU x location.

Symbols follow Snyder and Shen, *Fundamentals of Supply Chain Theory* (2nd ed., 2019),
as stockpyl does: ``h`` holding cost per unit left over, ``p`` shortage (stockout) cost per
unit short, ``mu`` / ``sigma`` mean and standard deviation of demand, ``z`` safety factor,
``L`` lead time, ``R`` review period (both in periods).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy import optimize, stats

from optimization.fill_model import ProtectionPair, lead_spread_ratio, overshoot_range, solve_fill, solve_group_fill
from optimization.fill_model import bisect_decreasing as _bisect

logger = logging.getLogger(__name__)

__all__ = [
    "standard_normal_loss",
    "newsvendor_quantity",
    "newsvendor_cost",
    "fill_rate_safety_factor",
    "base_stock_level",
    "gamma_loss",
    "poisson_loss",
    "abc_classes",
    "compute_safety_stock",
    "level_exponent_of",
    "METHODS",
    "DISTRIBUTIONS",
    "FILL_MODELS",
]

#: ``method`` values of :func:`compute_safety_stock` (source of sigma_P), best first;
#: ``optimization.budget`` adds ``budget``.
METHODS = ("errors_summed", "errors_independent", "quantiles", "poisson", "no_data")
#: ``distribution`` values of :func:`compute_safety_stock`.
DISTRIBUTIONS = ("normal", "empirical", "gamma", "poisson")
#: ``fill_model`` values of :func:`compute_safety_stock`: the per-period shortage of an
#: order-up-to with lots (:mod:`optimization.fill_model`), or the classic shortage per cycle.
FILL_MODELS = ("increment", "cycle")


# --------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------


def standard_normal_loss(z):
    r"""Standard normal loss function :math:`G(z)`.

    .. math:: G(z) = E[(Z - z)^+] = \phi(z) - z\,(1 - \Phi(z))

    for :math:`Z \sim N(0, 1)` (Snyder and Shen 2019, eq. (C.9)). With demand over the
    protection period :math:`N(\mu, \sigma^2)` and order-up-to level
    :math:`S = \mu + z\sigma`, the expected shortage per cycle is :math:`\sigma G(z)`
    units (DESIGN.md, fill rate).

    Parameters
    ----------
    z : float or array_like
        Safety factor (dimensionless, standard deviations above the mean).

    Returns
    -------
    float or numpy.ndarray
        :math:`G(z)` (dimensionless, >= 0).

    Examples
    --------
    >>> round(standard_normal_loss(0.0), 6)
    0.398942
    """
    z_arr = np.asarray(z, dtype=float)
    out = stats.norm.pdf(z_arr) - z_arr * stats.norm.sf(z_arr)
    return float(out) if np.ndim(out) == 0 else out


def newsvendor_quantity(mean: float, sd: float, h: float, p: float) -> float:
    r"""Optimal newsvendor order quantity for normally distributed demand.

    .. math:: S^* = \mu + \sigma\,\Phi^{-1}\!\left(\frac{p}{p + h}\right)

    (critical ratio :math:`p/(p+h)`; Snyder and Shen 2019, Section 4.3, eq. (4.17)).

    Parameters
    ----------
    mean : float
        :math:`\mu`, mean demand (units per period).
    sd : float
        :math:`\sigma`, standard deviation of demand (units), >= 0.
    h : float
        Holding (overage) cost per unit left over at the end of the period (currency/unit), > 0.
    p : float
        Stockout (underage) cost per unit of unmet demand (currency/unit), > 0.

    Returns
    -------
    float
        :math:`S^*` in units.

    Examples
    --------
    Snyder and Shen (2019), Example 4.3:

    >>> round(newsvendor_quantity(50, 8, h=0.18, p=0.70), 2)
    56.6
    """
    _check_costs(h, p, sd)
    return float(mean + sd * stats.norm.ppf(p / (p + h)))


def newsvendor_cost(order_quantity: float, mean: float, sd: float, h: float, p: float) -> float:
    r"""Expected newsvendor cost of ordering ``order_quantity`` under normal demand.

    .. math:: g(S) = h\,E[(S - D)^+] + p\,E[(D - S)^+]
              = h\,(S - \mu) + (h + p)\,\sigma\,G\!\left(\frac{S - \mu}{\sigma}\right)

    At :math:`S^*` this equals :math:`(h + p)\,\sigma\,\phi(z^*)` (Snyder and Shen 2019,
    eq. (4.20)).

    Parameters
    ----------
    order_quantity : float
        :math:`S`, units stocked at the start of the period.
    mean, sd : float
        :math:`\mu`, :math:`\sigma` of demand (units).
    h, p : float
        Holding and stockout cost per unit (currency/unit).

    Returns
    -------
    float
        Expected cost per period (currency).

    Examples
    --------
    >>> s = newsvendor_quantity(50, 8, h=0.18, p=0.70)
    >>> round(newsvendor_cost(s, 50, 8, h=0.18, p=0.70), 2)
    2.0
    """
    _check_costs(h, p, sd)
    if sd == 0:
        return float(h * max(order_quantity - mean, 0.0) + p * max(mean - order_quantity, 0.0))
    z = (order_quantity - mean) / sd
    return float(h * (order_quantity - mean) + (h + p) * sd * standard_normal_loss(z))


def fill_rate_safety_factor(fill_rate: float, cycle_demand: float, sigma: float) -> float:
    r"""Safety factor :math:`z` that achieves a target fill rate (type-2 service level).

    Solves :math:`\sigma\,G(z) = (1 - \beta)\,Q` for :math:`z`, where :math:`Q` is the
    expected demand per replenishment cycle and :math:`\sigma G(z)` the expected shortage
    per cycle (DESIGN.md; Snyder and Shen 2019, Section 4.3.2, eq. (4.41)). :math:`G` is
    strictly decreasing, so the root is unique.

    Parameters
    ----------
    fill_rate : float
        :math:`\beta`, target share of demand met from stock, in (0, 1).
    cycle_demand : float
        :math:`Q`, expected demand between two replenishments (units), e.g. mean demand
        per period times the review period R.
    sigma : float
        :math:`\sigma_{L+R}`, standard deviation of demand over the protection period (units).

    Returns
    -------
    float
        :math:`z` (may be negative when a low fill rate is asked for a noisy item);
        ``-inf`` when ``sigma`` is 0 (no safety stock needed).

    Examples
    --------
    >>> z = fill_rate_safety_factor(0.99, cycle_demand=100, sigma=30)
    >>> round(30 * standard_normal_loss(z), 6)
    1.0
    """
    if not 0 < fill_rate < 1:
        raise ValueError(f"fill_rate must be in (0, 1), got {fill_rate}")
    if cycle_demand < 0 or sigma < 0:
        raise ValueError("cycle_demand and sigma must be >= 0")
    if sigma == 0:
        return -math.inf
    target = (1.0 - fill_rate) * cycle_demand / sigma
    if target <= 0:
        return math.inf
    # G(z) ~ -z for very negative z and ~ phi(z)/z^2 for large z: bracket widely.
    return float(optimize.brentq(lambda z: standard_normal_loss(z) - target, -50.0, 40.0, xtol=1e-12))


def base_stock_level(mean: float, sd: float, h: float, p: float, lead_time: int = 0) -> tuple[float, float]:
    r"""Optimal base-stock level and its expected cost per period (periodic review, backorders).

    With i.i.d. normal demand per period :math:`N(\mu, \sigma^2)` and lead time :math:`L`,
    the inventory level after :math:`L + 1` periods faces demand
    :math:`N((L+1)\mu, (L+1)\sigma^2)`, so the base-stock problem is a newsvendor over
    :math:`L + 1` periods (Snyder and Shen 2019, Section 4.3.4, Theorem 4.4):

    .. math::
        S^* = (L+1)\mu + z^*\sigma\sqrt{L+1}, \quad z^* = \Phi^{-1}\!\left(\frac{p}{p+h}\right),
        \qquad g(S^*) = (h + p)\,\sigma\sqrt{L+1}\,\phi(z^*).

    Parameters
    ----------
    mean : float
        :math:`\mu`, mean demand per period (units).
    sd : float
        :math:`\sigma`, standard deviation of demand per period (units), >= 0.
    h, p : float
        Holding and stockout (backorder) cost per unit per period (currency/unit), > 0.
    lead_time : int, default 0
        :math:`L` in periods (0 is the newsvendor).

    Returns
    -------
    (float, float)
        :math:`S^*` (units) and the expected holding-plus-backorder cost per period (currency).

    Examples
    --------
    >>> s, g = base_stock_level(50, 8, h=0.18, p=0.70, lead_time=4)
    >>> round(s, 4), round(g, 4)
    (264.7669, 4.4668)
    """
    if lead_time < 0:
        raise ValueError("lead_time must be >= 0")
    m, s = (lead_time + 1) * mean, sd * math.sqrt(lead_time + 1)
    level = newsvendor_quantity(m, s, h, p)
    return level, newsvendor_cost(level, m, s, h, p)


def gamma_loss(x, shape, scale):
    r"""Expected shortage :math:`n(x) = E[(X - x)^+]` of a gamma random variable.

    For :math:`X \sim \Gamma(k, \theta)` (shape :math:`k`, scale :math:`\theta`), with
    :math:`\bar F_k` the survival function of :math:`\Gamma(k, \theta)`,

    .. math:: n(x) = k\theta\,\bar F_{k+1}(x) - x\,\bar F_k(x)

    (Zipkin 2000, *Foundations of Inventory Management*, Section C.2.3; as stockpyl's
    ``gamma_loss``).

    Parameters
    ----------
    x : float or array_like
        Stock level (units).
    shape, scale : float or array_like
        :math:`k > 0` (dimensionless) and :math:`\theta > 0` (units).

    Returns
    -------
    float or numpy.ndarray
        Expected units short (>= 0).

    Examples
    --------
    >>> round(gamma_loss(4, 2, 3), 9)
    2.635971381
    """
    x, k, th = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, shape, scale)))
    out = k * th * stats.gamma.sf(x, k + 1, scale=th) - x * stats.gamma.sf(x, k, scale=th)
    out = np.where(x <= 0, k * th - x, out)
    return float(out) if out.ndim == 0 else out


def poisson_loss(x, mean):
    r"""Expected shortage :math:`E[(X - x)^+]` of a Poisson count at a real stock level ``x``.

    .. math::
        E[(X - x)^+] = \mu - x + x\,F(\lfloor x \rfloor) - \mu\,F(\lfloor x \rfloor - 1)

    since :math:`E[(x - X)^+] = \sum_{j \le \lfloor x \rfloor} (x - j)\,p(j)` and
    :math:`j\,p(j) = \mu\,p(j - 1)` (Zipkin 2000, Section C.2.1). Linear between integers.

    Parameters
    ----------
    x : float or array_like
        Stock level (units).
    mean : float or array_like
        :math:`\mu` >= 0 (units).

    Returns
    -------
    float or numpy.ndarray
        Expected units short.

    Examples
    --------
    >>> round(poisson_loss(0, 3.0), 12)
    3.0
    """
    x, mu = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(mean, dtype=float))
    fl = np.floor(x)
    out = mu - x + x * stats.poisson.cdf(fl, mu) - mu * stats.poisson.cdf(fl - 1, mu)
    out = np.where(x < 0, mu - x, np.clip(out, 0.0, None))
    return float(out) if out.ndim == 0 else out


def abc_classes(value: pd.Series, shares: tuple[float, float] = (0.8, 0.95)) -> pd.Series:
    r"""ABC (Pareto) class of each item from its annual value.

    Items sorted by value, descending: those within the first ``shares[0]`` of the
    cumulative value are ``A``, up to ``shares[1]`` ``B``, the rest ``C`` (Silver, Pyke
    and Peterson 1998, Section 3.2). The item that crosses a boundary belongs to the
    higher class.

    Parameters
    ----------
    value : pandas.Series
        Annual demand value per item (currency per year, >= 0), any index.
    shares : (float, float)
        Cumulative-value cut-offs of A and B, 0 < a < b <= 1.

    Returns
    -------
    pandas.Series
        ``"A"``, ``"B"`` or ``"C"`` with the index of ``value``.

    Examples
    --------
    >>> abc_classes(pd.Series({"x": 80.0, "y": 15.0, "z": 5.0})).tolist()
    ['A', 'B', 'C']
    """
    a, b = shares
    if not 0 < a < b <= 1:
        raise ValueError("shares must satisfy 0 < A < B <= 1")
    v = pd.to_numeric(value, errors="coerce").fillna(0.0).clip(lower=0)
    total = float(v.sum())
    if total <= 0:
        return pd.Series("C", index=value.index)
    order = v.sort_values(ascending=False, kind="mergesort")
    before = (order.cumsum() - order) / total  # share already covered before this item
    cls = np.where(before < a - 1e-12, "A", np.where(before < b - 1e-12, "B", "C"))
    return pd.Series(cls, index=order.index).reindex(value.index)


def _check_costs(h: float, p: float, sd: float) -> None:
    if h <= 0 or p <= 0:
        raise ValueError(f"h and p must be > 0, got h={h}, p={p}")
    if sd < 0:
        raise ValueError(f"sd must be >= 0, got {sd}")


# --------------------------------------------------------------------------------------
# Safety stock from forecasts and backtest errors
# --------------------------------------------------------------------------------------

_KEY = ["sku", "location"]


def compute_safety_stock(
    forecasts: pd.DataFrame,
    errors: pd.DataFrame | None,
    policy: pd.DataFrame,
    *,
    min_origins: int = 5,
    min_step_observations: int = 3,
    default_service_level: float = 0.95,
    start: pd.Timestamp | str | None = None,
    distribution: str = "auto",
    normal_min_origins: int = 20,
    max_skewness: float = 0.5,
    level_exponent: float | str = "auto",
    pool_spread: bool = True,
    fill_model: str = "increment",
    supplier_delay: bool = True,
) -> pd.DataFrame:
    r"""Safety stock, reorder point and order-up-to level per SKU x location.

    **Target.** Each policy row asks for either a cycle service level :math:`a`
    (``service_level``: probability of no stockout in a replenishment cycle) or, when its
    optional ``fill_rate`` column is set, a fill rate :math:`\beta` (type-2 service: share
    of demand met from stock), the latter taking precedence (``target_type``).

    **Protection period** :math:`P = L + R` (lead time plus review period, periods).
    Safety stock is the :math:`a`-quantile of demand over :math:`P` minus its mean
    (DESIGN.md, "Formulas to honour"); for a fill rate it is the stock level :math:`s`
    above the mean whose expected shortage per cycle equals :math:`(1 - \beta)\,Q`,
    :math:`Q = R\,\bar d` the mean demand per review cycle:

    .. math:: E[(X_P - \mu_P - s)^+] = (1 - \beta)\,Q

    (Snyder and Shen 2019, Section 4.3.2; DESIGN.md fill rate). When the policy has a
    ``lot_size`` column (smallest shipment, units), a replenishment brings at least a lot,
    so the demand per cycle is :math:`Q = \max(R\,\bar d, \text{lot})`, as for an
    (s, Q) policy whose expected shortage per replenishment cycle is :math:`(1-\beta)\,Q`
    (Silver, Pyke and Peterson 1998, Section 7.9): the ``fill_model="cycle"`` of the
    parameters. The default ``fill_model="increment"`` instead allows
    :math:`(1 - \beta)\,\bar d` units short per period of the shortage each review
    period adds, averaged over where a lot leaves the inventory position
    (:mod:`optimization.fill_model`). Safety stock is clipped at 0 (a large lot may
    serve the target below the mean; the plan's bands have no negative floor), and

    .. math::
        \text{reorder\_point} = \sum_{k=1}^{L} \hat d_k + SS, \qquad
        \text{order\_up\_to} = \sum_{k=1}^{P} \hat d_k + SS

    with :math:`\hat d_k` the forecast mean of the k-th period from ``start``.

    **Spread** :math:`\sigma_P` (column ``method``, the first that has enough data):

    ``errors_summed``
        From the rolling-origin backtest: per origin, the forecast errors of steps
        1..P are summed, :math:`E_P = \sum_{k=1}^P e_k`; :math:`\sigma_P` is the root mean
        square of :math:`E_P` over origins that have all P steps (at least
        ``min_origins`` of them). This keeps the autocorrelation of multi-step errors
        (a level error repeats every step), which :math:`\sigma\sqrt{P}` would ignore.
        When the errors carry their ``date`` and the origins lie :math:`s > 1` periods
        apart, every origin also gives the windows starting at steps 2..s (steps
        :math:`h .. h + P - 1`), so that every period of the backtest starts one
        window: with steps 1..P alone, 13 origins 4 weeks apart see half of the weeks
        of a year (P = 2), and whether a demand spike counts depends on where the
        origins fall (SKU-0015 at DLR-W01 of the demo, at the three quarterly
        re-forecasts of the 52-week replay: the RMS of its summed errors was 72, 32 and
        36 units; with all windows 54, 54 and 49). A window starting at step :math:`h`
        was forecast further ahead; the pooled factor :math:`c_h`
        (:func:`_horizon_factors`) brings it to the error of step 1.
        Root mean square about zero rather than the standard deviation, so a forecast
        bias widens the protection instead of being dropped. Errors grow with the
        level they were made at (a seasonal key errs more in its peak), so when the
        errors carry the backtest ``forecast``, each origin's :math:`E_P` is first
        brought to today's level, :math:`E_P (\mu_P / F_P)^b`, with :math:`F_P` that
        origin's forecast over P and :math:`\mu_P` today's; :math:`b` is estimated from
        the backtest (:func:`level_exponent_of`, ``level_exponent="auto"``). Without it, an
        RMS over origins spread through the year averages the season out: too little
        protection in the peak, too much in the trough.
        With ``pool_spread`` the row's own :math:`\sigma_P` is then shrunk towards
        what rows like it show (:func:`_pooled_spread`): 13 origins leave a relative
        sampling error of about 20 % on one row's RMS, and the fill-rate allocation
        would otherwise put stock where the noise happened to be high.
    ``errors_independent``
        Too few complete origins: :math:`\sigma_P = \sqrt{\sum_{k=1}^{P} \mathrm{MSE}_k}`
        from the per-step mean squared errors (each step needs
        ``min_step_observations``; steps beyond the backtest's last step reuse the last
        step's MSE). Assumes independent errors across steps.
    ``quantiles``
        No usable errors: per period :math:`\sigma_k = (q_{hi,k} - q_{50,k}) / z_{hi}`
        from the forecast's quantile columns (``q90`` preferred), then
        :math:`\sigma_P = \sqrt{\sum_{k=1}^P \sigma_k^2}`.
    ``poisson``
        Neither errors nor a quantile spread: demand over P is taken as Poisson with the
        forecast mean, :math:`\sigma_P = \sqrt{\mu_P}`.
    ``no_data``
        No forecast for the key: everything 0.

    **Aggregate fill rate** (``fill_group``). A service commitment over many keys (all
    VMI dealers of a contract) is met with fewer units than the same fill rate at every
    key: rows of a group get the least total stock whose demand-weighted expected fill,
    each row under its own distribution below, is the group's (exchange curve; each row
    stocks to the quantile where one more unit avoids the same shortage everywhere).

    **Lead-time variability.** When the policy has ``lead_time_sd`` :math:`\sigma_L`
    (periods) > 0, the variance of demand over a random protection period is

    .. math:: \sigma_P^2 \leftarrow \sigma_P^2 + \bar d^{\,2}\,\sigma_L^2

    with :math:`\bar d = \mu_P / P` the mean demand per period; the forecast-error term
    stands for :math:`E[P]\,\sigma_d^2` of Silver, Pyke and Peterson (1998, *Inventory
    Management and Production Planning and Scheduling*, 3rd ed., chapter 7, on
    probabilistic lead times: :math:`\sigma^2 = E(L)\sigma_D^2 + D^2 \sigma_L^2`).

    **Lot-sized outflow of a supplier.** A row that supplies other rows (their ``parent``,
    with pooled forecasts) ships them whole lots, not their consumer demand: a dealer with
    mean demand :math:`d_c` per period served in lots of :math:`Q_c` gets, over the
    supplier's protection period :math:`P`, :math:`\lfloor m/Q_c \rfloor` or
    :math:`\lceil m/Q_c \rceil` lots (:math:`m = P d_c`, the phase of its lot cycle
    uniform), so the supplier's outflow has the extra variance

    .. math:: \sigma_P^2 \leftarrow \sigma_P^2 + \sum_c r_c (Q_c - r_c),
              \qquad r_c = m_c \bmod Q_c

    (a lot with probability :math:`r_c/Q_c`; the batch-ordering retailers of Axsäter 2006,
    *Inventory Control*, 2nd ed., section 10.3, whose warehouse demand is a superposition
    of lot-sized orders). Without it a DC holds stock for its dealers' consumer demand
    but often less than the lot a dealer needs when its turn comes: on the 52-week demo
    replay, half the dealers' short units fell in weeks when their DC held less than one lot.

    **Supplier stock-outs.** A row supplied by another row of the table (a dealer whose
    DC's stock is planned here, through ``parent``) waits when that supplier is out of
    stock. With the supplier's expected backorders :math:`E[B_s]` (its expected shortage
    per review cycle at its own safety stock, units), its mean demand :math:`\bar d_s`
    and its probability :math:`\pi_s` of being short in a cycle (one minus its cdf at its
    level), the row's mean wait is, by Little's law,
    :math:`W = E[B_s] / \bar d_s` periods (column ``supplier_delay``; the METRIC
    approximation: Sherbrooke 1968, *Operations Research* 16(1); Axsäter 2006,
    *Inventory Control*, 2nd ed., section 10.2), of which :math:`T = W / \pi_s` when
    the supplier is short, capped at the supplier's protection period (the receipts it
    has ordered by then arrive within it; :func:`_supplier_risk`). Rows the lot-sized
    fill model sets (``fill_model="increment"``) take the stock-out as what it is, a
    replenishment that comes short all at once: with probability :math:`\pi_s` per
    period (column ``supplier_risk``) the position after ordering is :math:`S - u_c`
    instead of :math:`S`, :math:`u_c = \bar d_c T` the row's share of the supplier's
    backorders when it is short, so the shortage their fill rate limits is

    .. math:: (1 - \pi_s)\,ES_c(S) + \pi_s\,ES_c(S - u_c)

    whose mean shift :math:`\pi_s u_c = \bar d_c W` is METRIC's, but whose convexity
    is not lost. Other rows (cycle service levels, ``fill_model="cycle"``) get METRIC's
    mean: :math:`SS_c \leftarrow SS_c + \bar d_c W`. The supplier's backorders at the
    cycle's end stand for their time average: exact for :math:`R = 1`, an upper bound
    for longer cycles. Without it the children's targets assume a supplier that never
    runs out: on the 52-week demo replay (seed 0) the plan's own levels gave fill 0.9820
    with unlimited DC stock but 0.9797 behind the planned DCs, whose dealers ended 2.3 %
    of weeks below their levels with the DC holding less than a lot. With it 0.98001,
    for 0.6 % more dealer stock (METRIC's mean delay alone: 0.9798). The DCs' expected
    backorders (about 146 units a week) match the shortfall the replay measured (178);
    but the replay loses about 0.0026 of fill behind them where the mixture expects
    about 0.0006: a dealer-week the DC starved was followed by 1.6 units short over the
    protection period against 0.2 otherwise, although the demand after it ran below
    forecast (0.87 of it), so persistent demand is not why.

    **Distribution** (column ``distribution``; ``distribution="auto"``):

    ``normal``
        Only where justified: ``errors_summed`` with at least ``normal_min_origins``
        complete origins and sample skewness of the summed errors
        :math:`|g_1| \le` ``max_skewness``. Then :math:`SS = z_a \sigma_P` (CSL) or
        :math:`\sigma_P G(z) = (1-\beta) Q` (fill rate, standard normal loss).
    ``empirical``
        Enough origins for the test but skewed summed errors, no lead-time variance, and
        :math:`n (1 - a) \ge 1` (the quantile is inside the sample): the empirical
        :math:`a`-quantile of :math:`E_P` (linear interpolation), or for a fill rate the
        :math:`s` with :math:`\frac1n\sum_i (E_{P,i} - s)^+ = (1-\beta) Q`.
    ``gamma``
        Otherwise (too little evidence to test normality, or skewed errors with too few
        origins for the tail), demand over P is a gamma with mean :math:`\mu_P` and sd
        :math:`\sigma_P` (moments matched): right-skewed like demand, nearly normal when
        :math:`\sigma_P \ll \mu_P`, a common choice for slow and intermittent
        demand; its loss function is :func:`gamma_loss` (Zipkin 2000).
    ``poisson``
        For the ``poisson`` spread method: the Poisson quantile / loss.
    ``normal`` is also used when :math:`\mu_P = 0` (no shape to fit) and for every row
    when ``distribution="normal"`` (the classic :math:`z\sigma` rule).

    Parameters
    ----------
    forecasts : pandas.DataFrame
        sku, location, date, mean (units per period) and optional quantile columns
        ``q50``, ``q90`` ... (DESIGN.md forecasts contract).
    errors : pandas.DataFrame or None
        sku, location, origin, step, error (units; error = actual - forecast) from the
        forecaster's rolling-origin backtest; ``step`` = 1 is the first period after the
        origin.
    policy : pandas.DataFrame
        sku, location, lead_time (L, periods), review_period (R, periods), service_level
        (cycle service level a in (0, 1); NaN uses ``default_service_level``); optional
        fill_rate (:math:`\beta` in (0, 1); NaN = use the CSL) and lead_time_sd
        (:math:`\sigma_L`, periods, >= 0), lot_size (smallest shipment, units; the
        fill-rate cycle demand is at least one lot) and parent (the supplying location: a
        row at a location without forecasts of its own, e.g. a DC, gets the summed
        forecasts and backtest errors of the rows it supplies, origin by origin), and
        fill_group (rows with a fill rate and the same non-null group meet their fill
        rates together, demand-weighted, with the fewest units: :func:`_group_fill`;
        ``target_type`` ``aggregate_fill_rate``). One row per key. Non-integer ``L + R``
        is rounded up to whole periods.
    min_origins : int, default 5
        Complete origins needed for ``errors_summed``.
    min_step_observations : int, default 3
        Errors needed per step for ``errors_independent``.
    default_service_level : float, default 0.95
        Used where the policy's service level is missing.
    start : timestamp, optional
        First period of the protection window; forecasts before it are ignored. Default:
        each key's first forecast date.
    distribution : {"auto", "normal"}, default "auto"
        ``"normal"`` forces the normal approximation everywhere.
    normal_min_origins : int, default 20
        Complete origins needed to test normality of the summed errors.
    max_skewness : float, default 0.5
        Largest :math:`|g_1|` of the summed errors accepted as normal.
    level_exponent : float or "auto", default "auto"
        :math:`b` of the level adjustment of ``errors_summed`` (0 = none); ``"auto"``
        estimates it from ``errors`` (needs their ``forecast`` column; 0 without).
    pool_spread : bool, default True
        Shrink each ``errors_summed`` row's :math:`\sigma_P` towards a model fitted
        over all such rows (:func:`_pooled_spread`; rows that pool their children's
        errors, such as DCs, keep their own).
    fill_model : {"increment", "cycle"}, default "increment"
        How a fill-rate row's stock is set. ``increment``: the shortage each review
        period adds, :math:`E_U[G_{L+R}(S + U) - G_L(S + U)] / R`, with the inventory
        position after ordering uniform over the lot (or case pack) above the level
        (:mod:`optimization.fill_model`; needs the policy's ``lot_size`` and, optionally,
        ``case_pack`` columns, units); the target is
        :math:`(1 - \beta)\,\bar d` units short per period. ``cycle``: the classic
        shortage per cycle above, :math:`E[(X_P - S)^+] = (1 - \beta)\max(R\bar d,
        \text{lot})`, which counts the shortage of the lead time again and lets a lot
        protect only through a longer cycle; it overshoots the fill rate (on the demo
        replay the plan's levels gave 0.984-0.986 for 0.98).
    supplier_delay : bool, default True
        Plan the rows a supplying row serves against its stock-outs ("Supplier
        stock-outs" above); False: as if it always ships.

    Returns
    -------
    pandas.DataFrame
        One row per policy row: sku, location, safety_stock, reorder_point, order_up_to
        (units), service_level (the CSL target; for fill-rate rows the CSL implied by
        the stock level), sigma_protection (:math:`\sigma_P`, units, incl. lead-time
        variance), protection_periods (P), method, n_origins (complete backtest
        origins), mean_lead_time_demand, mean_protection_demand (units), target_type
        (``cycle_service_level`` or ``fill_rate``), fill_rate (target, NaN for CSL
        rows), distribution, skewness (:math:`g_1` of summed errors, NaN when not
        computed), lead_time_sd (periods), expected_shortage (units short per review
        cycle at the safety stock, under ``distribution`` and ``fill_model``; for a CSL
        row the classic per-cycle loss), level_exponent (the
        :math:`b` used for the row's ``errors_summed`` spread; 0 for other methods),
        sigma_own (the row's own :math:`\sigma_P` before pooling and before the
        lead-time and lot-phase terms, units) and
        spread_weight (its weight :math:`\lambda` in the pooled :math:`\sigma_P`; 1
        where not pooled), supplier_delay (:math:`W`, periods: the mean wait for the
        supplying row's backorders; 0 without a supplying row) and supplier_risk
        (:math:`\pi_s`, the probability per period that the supplier comes short, where
        the fill model planned against it; else 0).

    Examples
    --------
    >>> import pandas as pd
    >>> fc = pd.DataFrame({"sku": "A", "location": "D1",
    ...                    "date": pd.date_range("2024-01-01", periods=4, freq="W-MON"),
    ...                    "mean": 10.0, "q50": 10.0, "q90": 10 + 1.2815515655446004 * 3})
    >>> pol = pd.DataFrame({"sku": ["A"], "location": ["D1"], "lead_time": [1],
    ...                     "review_period": [1], "service_level": [0.95]})
    >>> ss = compute_safety_stock(fc, None, pol)
    >>> ss.loc[0, "method"], ss.loc[0, "distribution"], round(float(ss.loc[0, "sigma_protection"]), 4)
    ('quantiles', 'gamma', 4.2426)
    """
    _require(policy, ["sku", "location", "lead_time", "review_period"], "policy")
    _require(forecasts, ["sku", "location", "date", "mean"], "forecasts")
    if min_origins < 2:
        raise ValueError("min_origins must be >= 2")
    if distribution not in ("auto", "normal"):
        raise ValueError("distribution must be 'auto' or 'normal'")
    if fill_model not in FILL_MODELS:
        raise ValueError(f"fill_model must be one of {FILL_MODELS}, got {fill_model!r}")
    pol = policy.copy()
    if pol.duplicated(_KEY).any():
        raise ValueError("policy has duplicate sku x location rows")
    if "service_level" not in pol:
        pol["service_level"] = np.nan
    pol["service_level"] = pd.to_numeric(pol["service_level"], errors="coerce").fillna(default_service_level)
    bad = ~pol["service_level"].between(0, 1, inclusive="neither")
    if bad.any():
        raise ValueError(f"service_level must be in (0, 1); bad rows: {pol.loc[bad, _KEY].to_dict('records')[:5]}")
    fill = pd.to_numeric(pol["fill_rate"], errors="coerce") if "fill_rate" in pol else pd.Series(np.nan, index=pol.index)
    bad = fill.notna() & ~fill.between(0, 1, inclusive="neither")
    if bad.any():
        raise ValueError(f"fill_rate must be in (0, 1); bad rows: {pol.loc[bad, _KEY].to_dict('records')[:5]}")
    pol["fill_rate"] = fill
    sd_l = pd.to_numeric(pol["lead_time_sd"], errors="coerce") if "lead_time_sd" in pol else pd.Series(0.0, index=pol.index)
    if (sd_l < 0).any():
        raise ValueError("lead_time_sd must be >= 0")
    pol["lead_time_sd"] = sd_l.fillna(0.0)
    lead = pd.to_numeric(pol["lead_time"], errors="coerce")
    review = pd.to_numeric(pol["review_period"], errors="coerce")
    if lead.isna().any() or review.isna().any() or (lead < 0).any() or (review < 0).any():
        raise ValueError("lead_time and review_period must be numbers >= 0")
    pol["lead_time"] = lead.astype(float)
    pol["_R"] = review.astype(float)
    pol["protection_periods"] = np.ceil(lead + review - 1e-9).astype(int)
    pol["_L"] = np.ceil(lead - 1e-9).astype(int)
    pol = pol.reset_index(drop=True)

    forecasts, errors, pooled_link = _pool_to_parents(forecasts, errors, pol)
    fc = forecasts.copy()
    fc["date"] = pd.to_datetime(fc["date"])
    if start is not None:
        fc = fc.loc[fc["date"] >= pd.Timestamp(start)]
    fc = fc.sort_values(_KEY + ["date"], kind="mergesort")
    fc["_k"] = fc.groupby(_KEY, sort=False).cumcount() + 1  # period number 1, 2, ...

    mean_l = _sum_first_periods(fc, pol, "_L", "mean")
    mean_p = _sum_first_periods(fc, pol, "protection_periods", "mean")
    has_fc = pol.set_index(_KEY).index.isin(fc.set_index(_KEY).index)

    n = len(pol)
    sigma = np.full(n, np.nan)
    method = np.full(n, "no_data", dtype=object)
    n_origins = np.zeros(n, dtype=int)
    skew = np.full(n, np.nan)
    summed: dict[int, np.ndarray] = {}
    sigma_own = np.full(n, np.nan)
    spread_weight = np.ones(n)

    if level_exponent != "auto" and not 0.0 <= float(level_exponent) <= 2.0:
        raise ValueError(f"level_exponent must be 'auto' or in [0, 2], got {level_exponent}")
    b = 0.0
    wide = None
    if errors is not None and len(errors):
        _require(errors, ["sku", "location", "origin", "step", "error"], "errors")
        # the pivots are shared by the exponent estimate and the spread (once per call)
        wide = _wide_errors(errors)
        wide_f = _wide_errors(errors, "forecast") if "forecast" in errors else None
        if wide_f is not None:
            b = _level_exponent(wide, wide_f) if level_exponent == "auto" else float(level_exponent)
        s_sum, n_sum, skew, summed = _sigma_summed(wide, pol, wide_f, level=mean_p, exponent=b,
                                                   span=_origin_spacing(errors))
        n_origins = n_sum
        ok = (n_sum >= min_origins) & np.isfinite(s_sum)
        sigma[ok], method[ok] = s_sum[ok], "errors_summed"
        sigma_own = sigma.copy()
        if pool_spread:
            parents = set(zip(pooled_link.index.get_level_values(0), pooled_link.to_numpy())) if len(pooled_link) else set()
            own_rows = ok & ~np.array([k in parents for k in zip(pol["sku"], pol["location"])], dtype=bool)
            sigma, spread_weight = _pooled_spread(sigma, own_rows, n_sum, summed, pol, mean_p)
        s_ind = _sigma_independent(errors, pol, min_step_observations)
        ok = np.isnan(sigma) & np.isfinite(s_ind)
        sigma[ok], method[ok] = s_ind[ok], "errors_independent"

    b_used = np.where(method == "errors_summed", b, 0.0)
    qcol, zq = _spread_column(fc)
    if qcol is not None:
        fc["_var"] = ((fc[qcol] - fc["q50"]).clip(lower=0) / zq) ** 2
        var_q = _sum_first_periods(fc, pol, "protection_periods", "_var")
        spread_ok = _sum_first_periods(fc, pol, "protection_periods", "_var", reduce="count") > 0
        ok = np.isnan(sigma) & has_fc & spread_ok & (var_q > 0)
        sigma[ok], method[ok] = np.sqrt(var_q[ok]), "quantiles"

    ok = np.isnan(sigma) & has_fc
    sigma[ok], method[ok] = np.sqrt(np.clip(mean_p[ok], 0, None)), "poisson"
    sigma[np.isnan(sigma)] = 0.0
    sigma_own = np.where(np.isnan(sigma_own), sigma, sigma_own)

    # Lead-time variance (Silver, Pyke and Peterson): + (mean demand per period)^2 sigma_L^2.
    periods = pol["protection_periods"].to_numpy(float)
    per_period = np.divide(mean_p, periods, out=np.zeros(n), where=periods > 0)
    sig_l = pol["lead_time_sd"].to_numpy(float)
    lot = None
    if "lot_size" in pol:
        lot = pd.to_numeric(pol["lot_size"], errors="coerce").fillna(0.0).clip(lower=0.0).to_numpy(float)
    lead_var = (per_period * sig_l) ** 2
    sigma = np.sqrt(sigma**2 + lead_var + _lot_phase_variance(pol, pooled_link, lot, per_period, periods))

    a = pol["service_level"].to_numpy(float)
    beta = pol["fill_rate"].to_numpy(float)
    cycle = per_period * pol["_R"].to_numpy(float)  # Q: mean demand per review cycle
    if lot is not None:
        # Shipments in lots replenish at least a lot per cycle: Q = max(R d, lot).
        cycle = np.where(cycle > 0, np.maximum(cycle, lot), cycle)
    # A fill rate of no demand is vacuous: such rows keep their cycle service level.
    is_fill = np.isfinite(beta) & (cycle > 0)
    # The fill-rate target's allowed shortage per cycle; a zero-demand key needs none.
    allowed = np.where(is_fill, (1.0 - np.nan_to_num(beta)) * cycle, np.nan)

    dist = np.full(n, "normal", dtype=object)
    if distribution == "auto":
        tested = (method == "errors_summed") & (n_origins >= normal_min_origins) & np.isfinite(skew)
        normal_ok = tested & (np.abs(skew) <= max_skewness)
        tail_ok = np.where(is_fill, True, n_origins * (1.0 - a) >= 1.0)
        empirical = tested & ~normal_ok & (sig_l == 0) & tail_ok
        dist[(mean_p > 0) & (sigma > 0) & ~normal_ok] = "gamma"
        dist[empirical] = "empirical"
        dist[(method == "poisson") & (sig_l == 0) & (mean_p > 0)] = "poisson"
    dist[(method == "no_data") | (sigma == 0)] = "normal"

    safety = np.zeros(n)

    # The classic fill-rate solves run only where that model applies: the increment
    # model sets its rows below, and a CSL row needs only its quantile.
    classic = is_fill & (fill_model == "cycle")

    m = dist == "normal"
    if m.any():
        s, f = sigma[m], classic[m]
        z = stats.norm.ppf(a[m])
        if f.any():
            z[f] = _normal_fill_z(allowed[m][f], s[f])
        safety[m] = np.where(s > 0, np.clip(z, 0.0, None) * s, 0.0)

    m = dist == "gamma"
    if m.any():
        mu, s, f = mean_p[m], sigma[m], classic[m]
        k, th = (mu / s) ** 2, s**2 / mu
        level = stats.gamma.ppf(a[m], k, scale=th)
        if f.any():
            level[f] = _bisect(lambda x: gamma_loss(x, k[f], th[f]) - allowed[m][f], np.zeros(int(f.sum())),
                               mu[f] + 60 * s[f])
        safety[m] = np.maximum(level, mu) - mu

    m = dist == "poisson"
    if m.any():
        mu, f = mean_p[m], classic[m]
        level = stats.poisson.ppf(a[m], mu)
        if f.any():
            level[f] = _bisect(lambda x: poisson_loss(x, mu[f]) - allowed[m][f], np.zeros(int(f.sum())),
                               mu[f] + 60 * np.sqrt(mu[f]) + 10)
        safety[m] = np.maximum(level, mu) - mu

    rows = np.flatnonzero(dist == "empirical")
    if len(rows):
        mat = _padded(summed, rows, pol)
        f = classic[rows]
        x = np.array([np.nanquantile(mat[i], a[r]) if not f[i] else 0.0 for i, r in enumerate(rows)])
        if f.any():
            sub = mat[f]
            count = np.sum(np.isfinite(sub), axis=1)

            def loss(v):
                return np.nansum(np.clip(sub - v[:, None], 0.0, None), axis=1) / count

            x[f] = _bisect(lambda v: loss(v) - allowed[rows[f]], np.nanmin(sub, axis=1) - 1.0, np.nanmax(sub, axis=1) + 1.0)
        safety[rows] = np.clip(x, 0.0, None)

    # Shortage per cycle and the implied CSL at the chosen stock, under each row's
    # distribution (the same loss functions the fill-group allocation uses).
    everything = np.arange(n)
    mat_all = _padded(summed, everything, pol) if (dist == "empirical").any() else None
    shortage, cdf = _dist_loss(everything, dist, mean_p, sigma, mat_all, safety)
    implied = np.where(is_fill, cdf, a)

    target_type = np.where(is_fill, "fill_rate", "cycle_service_level").astype(object)
    groups = pol["fill_group"].to_numpy(object) if "fill_group" in pol else np.full(n, None, dtype=object)
    grouped = is_fill & pd.notna(groups)
    review = pol["_R"].to_numpy(float)
    child, parent = _supply_links(pol, pooled_link) if supplier_delay else (np.zeros(0, int), np.zeros(0, int))
    is_supplier = np.zeros(n, dtype=bool)
    is_supplier[parent] = True
    pair = None
    single = np.zeros(0, dtype=int)
    if fill_model == "increment" and is_fill.any():
        pair = _protection_pair(pol, dist, mean_p, sigma, mean_l, lead_var, per_period, lot, wide, mat_all)
        single = np.flatnonzero(is_fill & ~grouped)
        # suppliers first: the rows they supply are planned against their stock-outs
        first = single[is_supplier[single]]
        if len(first):
            suppliers = pair.take(first)
            safety[first] = solve_fill(suppliers, (1.0 - beta[first]) * per_period[first])
            shortage[first] = suppliers.shortage(mean_p[first] + safety[first]) * review[first]
            cdf[first] = _dist_loss(first, dist, mean_p, sigma, None if mat_all is None else mat_all[first],
                                    safety[first])[1]
        single = single[~is_supplier[single]]
    # a supplier whose stock a group sets below is not known yet: its rows plan without it
    known = ~(grouped[parent] & (pair is not None))
    delay, risk, gap = _supplier_risk(child[known], parent[known], n, shortage, cdf, per_period, periods)
    if pair is not None and risk.any():
        pair = pair.with_supply(risk, gap)
    if len(single):
        safety[single] = solve_fill(pair.take(single), (1.0 - beta[single]) * per_period[single])
    for g in pd.unique(groups[grouped]):
        rows = np.flatnonzero(grouped & (groups == g))
        if pair is not None:
            safety[rows], _ = solve_group_fill(pair.take(rows), per_period[rows], beta[rows])
        else:
            safety[rows], shortage[rows], implied[rows] = _group_fill(rows, dist, mean_p, sigma, per_period, cycle,
                                                                     beta, summed, pol)
        target_type[rows] = "aggregate_fill_rate"
    if pair is not None:
        # shortage per review cycle and the CSL implied at the chosen stock, as for the other rows
        fill_rows = np.flatnonzero(is_fill)
        shortage[fill_rows] = pair.take(fill_rows).shortage(mean_p[fill_rows] + safety[fill_rows]) * review[fill_rows]
        mat_fill = None if mat_all is None else mat_all[fill_rows]
        _, implied[fill_rows] = _dist_loss(fill_rows, dist, mean_p, sigma, mat_fill, safety[fill_rows])
    # Rows the lot-sized fill model sets carry the supplier's stock-outs in their shortage;
    # the others get the mean delay (METRIC): their lead time grows by W, their levels by d W.
    mixed = np.zeros(n, dtype=bool) if pair is None else is_fill
    delay_stock = np.where(mixed, 0.0, per_period * delay)
    risk = np.where(mixed, risk, 0.0)
    safety = safety + delay_stock
    if child.size:
        logger.info("supplier stock-outs: %d rows behind a planned supplier, mean wait %.3f periods, stock-out risk "
                    "%.3f per period; %.1f units of mean-delay stock", len(child), float(delay[child].mean()),
                    float(risk[child].mean()), float(delay_stock.sum()))
    counts = pd.Series(method).value_counts().to_dict()
    logger.info("safety stock for %d keys; methods %s; distributions %s", n, counts, pd.Series(dist).value_counts().to_dict())

    return pd.DataFrame(
        {
            "sku": pol["sku"],
            "location": pol["location"],
            "safety_stock": safety,
            "reorder_point": mean_l + safety,
            "order_up_to": mean_p + safety,
            "service_level": implied,
            "sigma_protection": sigma,
            "protection_periods": pol["protection_periods"],
            "method": method.astype(str),
            "n_origins": n_origins,
            "mean_lead_time_demand": mean_l,
            "mean_protection_demand": mean_p,
            "target_type": target_type.astype(str),
            "fill_rate": np.where(is_fill, beta, np.nan),
            "distribution": dist.astype(str),
            "skewness": skew,
            "lead_time_sd": sig_l,
            "expected_shortage": shortage,
            "level_exponent": b_used,
            "sigma_own": sigma_own,
            "spread_weight": spread_weight,
            "supplier_delay": delay,
            "supplier_risk": risk,
        }
    )


def _pooled_spread(sigma: np.ndarray, rows: np.ndarray, n_origins: np.ndarray, summed: dict, pol: pd.DataFrame,
                   mean_p: np.ndarray, min_rows: int = 30) -> tuple[np.ndarray, np.ndarray]:
    r"""Each row's :math:`\sigma_P` shrunk towards a model of all rows (empirical Bayes).

    One row's RMS of summed backtest errors rests on a dozen origins, so its own
    :math:`\sigma_P` is noisy: with 13 origins the relative sampling error is about
    :math:`\sqrt{(\kappa - 1) / (4 n)} \approx 20\,\%`. A fill-rate allocation over many
    rows (:func:`_group_fill`) treats a row whose spread came out low by chance as cheap
    to serve, and the stock it saves there is lost at rows that came out high. Rows of
    the same SKU share its demand's nature, rows of the same location its customers and
    lead time, and spreads grow with the level. So, over the eligible rows,

    .. math:: \log s_i + v_i = a_{sku(i)} + c_{loc(i)} + b_1 \log \mu_{P,i} + b_2 \log P_i
              + r_i

    (least squares by backfitting, :func:`_two_way_fit`; :math:`s_i` the own
    :math:`\sigma_P`, :math:`\mu_{P,i}` the mean demand over the protection period,
    :math:`v_i` below, added because
    :math:`E \log s \approx \log \sigma - v`), and each row keeps

    .. math:: \log \tilde\sigma_i = \widehat{\log \sigma_i} + \lambda_i r_i, \qquad
              \lambda_i = \frac{\tau^2}{\tau^2 + v_i}, \qquad
              v_i = \frac{\bar\kappa - 1}{4\, n_i}

    with :math:`v_i` the sampling variance of :math:`\log s_i` (delta method for the
    variance of a sample second moment, :math:`\bar\kappa` the mean kurtosis of the
    rows' summed errors, :math:`n_i` the larger of the row's complete origins and its
    summed windows over :math:`P`), and :math:`\tau^2 = \max(0, \sum r_i^2 / \nu - \bar v)`
    the variance of the rows' true spreads around the model beyond sampling noise
    (:math:`\nu` the residual degrees of freedom; method of moments, as in Fay and Herriot
    1979 and Morris 1983, "Parametric empirical Bayes inference", JASA 78). Rows whose
    spreads really differ keep their own (large :math:`\tau^2`); the shrinkage of
    seasonal factors by Miller and Williams (2003) is the same idea. The summed errors
    of a row (its empirical distribution) are scaled by :math:`\tilde\sigma_i / s_i`.

    Parameters
    ----------
    sigma : numpy.ndarray
        Own :math:`\sigma_P` per policy row (units).
    rows : numpy.ndarray of bool
        Eligible rows (own ``errors_summed`` spread).
    n_origins : numpy.ndarray
        Complete backtest origins per row.
    summed : dict
        Row -> its summed errors (units); rescaled in place.
    pol : pandas.DataFrame
        The policy rows (sku, location, protection_periods).
    mean_p : numpy.ndarray
        Mean demand over the protection period per row (units).
    min_rows : int
        Fewer eligible rows (with positive spread and level): no pooling.

    Returns
    -------
    sigma : numpy.ndarray
        :math:`\sigma_P` per row, pooled where eligible (units).
    weight : numpy.ndarray
        :math:`\lambda_i` (1 where not pooled).
    """
    weight = np.ones(len(sigma))
    periods = pol["protection_periods"].to_numpy(float)
    idx = np.flatnonzero(rows & np.isfinite(sigma) & (sigma > 0) & (mean_p > 0) & (periods > 0))
    if idx.size < min_rows:
        return sigma, weight
    windows = np.array([summed[int(i)].size if int(i) in summed else 0 for i in idx], dtype=float)
    n_eff = np.maximum(n_origins[idx], windows / periods[idx])
    kurt = [float(np.mean(e**4) / np.mean(e**2) ** 2) for e in (summed.get(int(i)) for i in idx)
            if e is not None and e.size >= 5 and np.mean(e**2) > 0]
    kappa = float(np.mean(kurt)) if kurt else 3.0
    v = (kappa - 1.0) / (4.0 * np.maximum(n_eff, 1.0))
    sku, n_sku = _codes(pol["sku"].to_numpy()[idx])
    loc, n_loc = _codes(pol["location"].to_numpy()[idx])
    covariates = np.column_stack([np.log(mean_p[idx]), np.log(periods[idx])])
    y = np.log(sigma[idx]) + v
    fit = _two_way_fit(y, sku, n_sku, loc, n_loc, covariates)
    resid = y - fit
    dof = idx.size - (n_sku + n_loc - 1 + covariates.shape[1])
    if dof < 1:
        return sigma, weight
    tau2 = max(0.0, float(resid @ resid) / dof - float(np.mean(v)))
    lam = tau2 / (tau2 + v)
    pooled = np.exp(fit + lam * resid)
    scale = pooled / sigma[idx]
    out = sigma.copy()
    out[idx] = pooled
    weight[idx] = lam
    for i, c in zip(idx, scale):
        if int(i) in summed:
            summed[int(i)] = summed[int(i)] * c
    logger.info("pooled spread: %d rows, kurtosis %.2f, sampling variance %.4f, between-row variance %.4f, "
                "mean own weight %.2f", idx.size, kappa, float(np.mean(v)), tau2, float(np.mean(lam)))
    return out, weight


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(values)
    return codes, len(uniques)


def _two_way_fit(y: np.ndarray, a: np.ndarray, n_a: int, b: np.ndarray, n_b: int, x: np.ndarray,
                 sweeps: int = 200, tol: float = 1e-10) -> np.ndarray:
    """Fitted values of least squares ``y ~ alpha[a] + beta[b] + x @ gamma`` (two factors
    with ``n_a`` and ``n_b`` levels and covariates ``x``), by backfitting: each block in
    turn fitted to the others' residual (Gauss-Seidel on the normal equations, Hastie and
    Tibshirani 1990, ch. 5), so that thousands of levels need no dense design matrix."""
    xc = x - x.mean(axis=0)
    count_a = np.maximum(np.bincount(a, minlength=n_a), 1)
    count_b = np.maximum(np.bincount(b, minlength=n_b), 1)
    fa = np.zeros_like(y)
    fb = np.zeros_like(y)
    fx = np.zeros_like(y)
    for _ in range(sweeps):
        before = fa + fb + fx
        fa = (np.bincount(a, y - fb - fx, n_a) / count_a)[a]
        fb = (np.bincount(b, y - fa - fx, n_b) / count_b)[b]
        fb -= fb.mean()
        gamma, *_ = np.linalg.lstsq(xc, y - fa - fb, rcond=None)
        fx = xc @ gamma
        if np.max(np.abs(fa + fb + fx - before)) < tol:
            break
    return fa + fb + fx


def _pool_to_parents(forecasts: pd.DataFrame, errors: pd.DataFrame | None, pol: pd.DataFrame):
    """Forecasts and errors of supplying locations as the sums over the rows they supply.

    A policy row at a location without forecasts of its own (a DC) whose location is the
    ``parent`` of other policy rows of the same SKU (its dealers) gets their summed
    forecast means and, per backtest origin and step, their summed errors: the DC's demand
    is its dealers' (echelon demand), and summing errors origin by origin keeps their
    correlation, so the pooled spread is the one risk pooling gives. Quantile columns are
    not pooled (a sum of quantiles is not a quantile).
    """
    none = pd.Series(dtype=object)
    if "parent" not in pol or forecasts.empty:
        return forecasts, errors, none
    child = pol.loc[pol["parent"].notna(), ["sku", "location", "parent"]]
    own = forecasts[["sku", "location"]].drop_duplicates()
    targets = pol[["sku", "location"]].merge(own, how="left", indicator=True)
    targets = targets.loc[targets["_merge"] == "left_only", ["sku", "location"]]
    child = child.merge(targets.rename(columns={"location": "parent"}), on=["sku", "parent"])
    if child.empty:
        return forecasts, errors, none
    link = child.set_index(["sku", "location"])["parent"]
    fc = forecasts.loc[:, ["sku", "location", "date", "mean"]]
    fc = fc.join(link, on=["sku", "location"], how="inner")
    pooled = fc.groupby(["sku", "parent", "date"], as_index=False, sort=False)["mean"].sum()
    pooled = pooled.rename(columns={"parent": "location"})
    forecasts = pd.concat([forecasts, pooled], ignore_index=True)
    if errors is not None and len(errors):
        cols = ["error"] + (["forecast"] if "forecast" in errors else [])
        err = errors.loc[:, ["sku", "location", "origin", "step", *cols]].join(link, on=["sku", "location"], how="inner")
        summed = err.groupby(["sku", "parent", "origin", "step"], as_index=False, sort=False)[cols].sum()
        errors = pd.concat([errors, summed.rename(columns={"parent": "location"})], ignore_index=True)
    return forecasts, errors, link


def _lot_phase_variance(pol: pd.DataFrame, link: pd.Series, lot_size: np.ndarray | None, per_period: np.ndarray,
                        periods: np.ndarray) -> np.ndarray:
    """Variance of a pooled supplier's lot-sized outflow beyond its rows' demand (units^2).

    ``sum_c r_c (Q_c - r_c)`` over the rows ``c`` it supplies (``link``: child key ->
    parent), with ``r_c = (P d_c) mod Q_c``, ``Q_c`` the child's ``lot_size`` (units, None:
    no lots), ``P`` the supplier's protection periods and ``d_c`` the child's mean demand
    per period (see :func:`compute_safety_stock`).
    """
    out = np.zeros(len(pol))
    if link.empty or lot_size is None:
        return out
    child, parent = _supply_links(pol, link)
    lot = lot_size[child]
    m = per_period[child] * periods[parent]
    use = lot > 1.0
    r = np.where(use, np.mod(m, np.where(use, lot, 1.0)), 0.0)
    np.add.at(out, parent, r * (lot - r) * use)
    return out


def _supply_links(pol: pd.DataFrame, link: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows supplied by another row of ``pol`` and of that supplier."""
    if link.empty:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    n = len(pol)
    key = pd.MultiIndex.from_frame(pol[["sku", "location"]].astype(str))
    pos = pd.Series(np.arange(n), index=key)
    ckey = pd.MultiIndex.from_arrays([link.index.get_level_values(0).astype(str), link.index.get_level_values(1).astype(str)])
    child = pos.reindex(ckey).to_numpy()
    parent = pos.reindex(pd.MultiIndex.from_arrays([ckey.get_level_values(0), link.astype(str).to_numpy()])).to_numpy()
    ok = ~(pd.isna(child) | pd.isna(parent))
    return child[ok].astype(int), parent[ok].astype(int)


def _supplier_risk(child: np.ndarray, parent: np.ndarray, n: int, shortage: np.ndarray, cdf: np.ndarray,
                   per_period: np.ndarray, periods: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean wait, stock-out risk and gap of each row behind a supplying row (0 without one).

    With the supplier's expected backorders :math:`E[B_s]` (its expected shortage per
    review cycle, units), its demand :math:`d_s` per period, its protection period
    :math:`P_s` and the probability :math:`\pi_s` that it is short in a cycle (1 - its
    cdf at its level), a row waits, when the supplier is short,
    :math:`T = \min(E[B_s] / (\pi_s d_s), P_s)` periods: the supplier's backorders
    over its demand rate (Little's law), but never longer than until the receipts it has
    ordered by then, which cover its protection period. The row's gap is its own demand
    over that wait, :math:`u_c = d_c T` (its share :math:`d_c / d_s` of the backorders),
    and its mean wait :math:`W = \pi_s T` (METRIC's :math:`E[B_s] / d_s` where the cap
    does not bind). Without the cap, a supplier with a heavy-tailed, lumpy demand (a
    few dealer orders of an intermittent SKU) would leave a dealer a gap of months of
    its demand, which no stock level on the fill model's grid could cover. See
    :func:`compute_safety_stock`, "Supplier stock-outs".

    Returns
    -------
    tuple of numpy.ndarray
        W (periods), :math:`\pi_s` and :math:`u_c` (units) per row.
    """
    delay, risk, gap = np.zeros(n), np.zeros(n), np.zeros(n)
    if not len(child):
        return delay, risk, gap
    backorders = np.nan_to_num(shortage[parent], nan=0.0).clip(min=0.0)
    rate = per_period[parent]
    pi = np.clip(1.0 - np.nan_to_num(cdf[parent], nan=1.0), 0.0, 1.0)
    live = (pi > 1e-9) & (backorders > 0) & (rate > 0)
    wait = np.divide(backorders, pi * rate, out=np.zeros(len(child)), where=live)
    wait = np.minimum(wait, np.maximum(periods[parent], 1.0))
    risk[child] = np.where(live, pi, 0.0)
    gap[child] = per_period[child] * wait
    delay[child] = risk[child] * wait
    return delay, risk, gap
    backorders = np.nan_to_num(shortage[parent], nan=0.0).clip(min=0.0)
    rate = per_period[parent]
    pi = np.clip(1.0 - np.nan_to_num(cdf[parent], nan=1.0), 0.0, 1.0)
    share = np.divide(per_period[child], rate, out=np.zeros(len(child)), where=rate > 0)
    delay[child] = np.divide(backorders, rate, out=np.zeros(len(child)), where=rate > 0)
    live = (pi > 1e-9) & (backorders > 0)
    risk[child] = np.where(live, pi, 0.0)
    gap[child] = np.divide(share * backorders, pi, out=np.zeros(len(child)), where=live)
    return delay, risk, gap


def _dist_level(rows, dist, mean_p, sigma, mat, p):
    """Stock above the mean (units, >= 0) at probability ``p`` of each row's distribution."""
    with np.errstate(invalid="ignore", divide="ignore"):  # p = 0 gives -inf: clipped to 0 below
        return _dist_level_raw(rows, dist, mean_p, sigma, mat, p)


def _dist_level_raw(rows, dist, mean_p, sigma, mat, p):
    x = np.zeros(len(rows))
    for kind in np.unique(dist[rows]):
        m = dist[rows] == kind
        r, q = rows[m], p[m]
        mu, s = mean_p[r], sigma[r]
        if kind == "normal":
            x[m] = np.where(s > 0, s * stats.norm.ppf(q), 0.0)
        elif kind == "gamma":
            x[m] = stats.gamma.ppf(q, (mu / s) ** 2, scale=s**2 / mu) - mu
        elif kind == "poisson":
            x[m] = stats.poisson.ppf(q, mu) - mu
        else:  # empirical: quantile of the summed errors (linear interpolation)
            sub = np.sort(mat[m], axis=1)  # NaNs sort last
            count = np.sum(np.isfinite(sub), axis=1)
            pos = np.clip(q, 0.0, 1.0) * (count - 1)
            lo = np.floor(pos).astype(int)
            hi = np.minimum(lo + 1, count - 1)
            take = np.arange(len(sub))
            x[m] = sub[take, lo] + (pos - lo) * (sub[take, hi] - sub[take, lo])
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0), 0.0, None)


def _dist_loss(rows, dist, mean_p, sigma, mat, x):
    """Expected shortage (units per cycle) and P(X <= mean + x) of each row at stock ``x`` above the mean."""
    loss, cdf = np.zeros(len(rows)), np.ones(len(rows))
    for kind in np.unique(dist[rows]):
        m = dist[rows] == kind
        r, v = rows[m], x[m]
        mu, s = mean_p[r], sigma[r]
        if kind == "normal":
            z = np.divide(v, s, out=np.zeros(len(r)), where=s > 0)
            loss[m] = np.where(s > 0, s * standard_normal_loss(z), 0.0)
            cdf[m] = np.where(s > 0, stats.norm.cdf(z), 1.0)
        elif kind == "gamma":
            k, th = (mu / s) ** 2, s**2 / mu
            loss[m] = gamma_loss(mu + v, k, th)
            cdf[m] = stats.gamma.cdf(mu + v, k, scale=th)
        elif kind == "poisson":
            loss[m] = poisson_loss(mu + v, mu)
            cdf[m] = stats.poisson.cdf(np.floor(mu + v), mu)
        else:
            sub = mat[m]
            count = np.sum(np.isfinite(sub), axis=1)
            loss[m] = np.nansum(np.clip(sub - v[:, None], 0.0, None), axis=1) / count
            cdf[m] = np.sum(sub <= v[:, None] + 1e-12, axis=1) / count
    return loss, cdf


def _group_fill(rows, dist, mean_p, sigma, per_period, cycle, beta, summed, pol, p_max=1.0 - 1e-7):
    r"""Fewest units of safety stock for a demand-weighted fill rate over ``rows``.

    .. math::
        \min_x \sum_i x_i \quad\text{s.t.}\quad
        \sum_i \frac{d_i}{Q_i} L_i(x_i) \le \sum_i (1 - \beta_i)\, d_i, \quad x_i \ge 0

    with :math:`L_i` the expected shortage per cycle of row ``i``'s demand distribution
    at stock :math:`x_i` above its mean, :math:`Q_i` its cycle demand and :math:`d_i` its
    demand per period (:math:`d_i L_i / Q_i` = shortage per period). The Lagrangian
    :math:`\sum_i x_i + \mu \sum_i w_i L_i(x_i)`, :math:`w_i = d_i / Q_i`, is minimised
    row by row where :math:`-L_i'(x_i) = P(X_i > \mu_i + x_i) = 1 / (\mu w_i)`: each row
    stocks up to its :math:`1 - 1/(\mu w_i)` quantile (the exchange curve of Silver, Pyke
    and Peterson 1998, ch. 7, with each row's own distribution instead of the normal);
    :math:`\mu` is found by bisection on :math:`\log\mu` so that the shortage meets the
    allowance. Returns safety stock, shortage per cycle and implied CSL per row.
    """
    mat = _padded(summed, rows, pol) if np.any(dist[rows] == "empirical") else None
    w = np.divide(per_period[rows], cycle[rows], out=np.zeros(len(rows)), where=cycle[rows] > 0)
    allowed = float(np.sum((1.0 - beta[rows]) * per_period[rows]))

    def at(log_mu):
        prob = np.clip(1.0 - np.exp(-log_mu) / np.maximum(w, 1e-300), 0.0, p_max)
        return _dist_level(rows, dist, mean_p, sigma, mat, prob)

    def short(x):
        loss, _ = _dist_loss(rows, dist, mean_p, sigma, mat, x)
        return float(np.sum(w * loss))

    zero = np.zeros(len(rows))
    if short(zero) <= allowed:
        x = zero
    else:
        lo = float(np.log(1.0 / np.max(w[w > 0]))) if np.any(w > 0) else 0.0
        hi = float(np.log(1.0 / (1.0 - p_max) / np.min(w[w > 0]))) + 1.0 if np.any(w > 0) else 1.0
        if short(at(hi)) > allowed:
            logger.warning("aggregate fill rate of %d rows out of reach: every row at its %.7f quantile", len(rows), p_max)
            x = at(hi)
        else:
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if short(at(mid)) > allowed:
                    lo = mid
                else:
                    hi = mid
            x = at(hi)
    loss, cdf = _dist_loss(rows, dist, mean_p, sigma, mat, x)
    return x, loss, cdf


def _protection_pair(pol, dist, mean_p, sigma, mean_l, lead_var, per_period, lot, wide, mat_all) -> ProtectionPair:
    r"""Demand over L + R and over L of every policy row, for the ``increment`` fill model.

    :math:`D_L` keeps the family of :math:`D_{L+R}`, the forecast's mean over L periods
    and the spread :math:`\sigma_L^2 = r^2 (\sigma_{L+R}^2 - v_{lt}) + v_{lt}`, with
    :math:`r` the errors' ratio (:func:`optimization.fill_model.lead_spread_ratio`) and
    :math:`v_{lt}` the lead-time variance term, which a random lead time adds to both.
    """
    lead = pol["_L"].to_numpy(int)
    review = pol["_R"].to_numpy(float)
    ratio = lead_spread_ratio(wide, lead, pol["protection_periods"].to_numpy(int))
    own = np.clip(sigma**2 - lead_var, 0.0, None)
    sigma_l = np.where(lead > 0, np.sqrt(ratio**2 * own + lead_var), 0.0)
    pack = pd.to_numeric(pol["case_pack"], errors="coerce").to_numpy(float) if "case_pack" in pol else None
    q = overshoot_range(per_period, review, lot, pack)
    return ProtectionPair(dist.astype(object), mean_p, sigma, np.where(lead > 0, mean_l, 0.0), sigma_l, q,
                          np.where(review > 0, review, 1.0), mat_all, ratio)


def _normal_fill_z(allowed: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    r"""z with :math:`\sigma G(z) = ` allowed shortage (vectorised; -inf when none is needed)."""
    target = np.divide(allowed, sigma, out=np.ones(len(sigma)), where=sigma > 0)
    target = np.where(np.isfinite(target) & (target > 0), target, 1.0)  # unused rows: any finite root
    return _bisect(lambda x: standard_normal_loss(x) - target, np.full(len(sigma), -50.0), np.full(len(sigma), 40.0))


def _padded(summed: dict, rows: np.ndarray, pol: pd.DataFrame) -> np.ndarray:
    """Summed errors of the given policy rows as a NaN-padded matrix (row x origin)."""
    arrays = [summed.get(int(r), np.array([])) for r in rows]
    width = max((len(v) for v in arrays), default=0)
    mat = np.full((len(rows), max(width, 1)), np.nan)
    for i, v in enumerate(arrays):
        mat[i, : len(v)] = v
    return mat


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}")


def _sum_first_periods(fc: pd.DataFrame, pol: pd.DataFrame, periods_col: str, value: str, reduce: str = "sum") -> np.ndarray:
    """Per policy row, the sum of ``value`` over that key's first ``pol[periods_col]`` periods.

    A key whose forecast is shorter than the window is extrapolated at its average per
    period (the window must be covered, or the reorder point would be too low).
    """
    out = np.zeros(len(pol))
    if fc.empty:
        return out
    for n in np.unique(pol[periods_col]):
        rows = np.flatnonzero(pol[periods_col].to_numpy() == n)
        if n == 0:
            continue
        part = fc.loc[fc["_k"] <= n].groupby(_KEY, sort=False)[value]
        if reduce == "count":
            agg = part.count()
        else:
            total, count = part.sum(), part.count()
            agg = total * (n / count.where(count > 0))
        keys = pd.MultiIndex.from_frame(pol.loc[rows, _KEY])
        out[rows] = agg.reindex(keys).fillna(0.0).to_numpy(float)
    return out


def _wide_errors(errors: pd.DataFrame, column: str = "error") -> pd.DataFrame:
    err = errors[["sku", "location", "origin", "step", column]].copy()
    err["step"] = err["step"].astype(int)
    # One error per (key, origin, step); a duplicate would double count a step.
    err = err.groupby(["sku", "location", "origin", "step"], sort=True)[column].mean()
    return err.unstack("step")


def _summed_by_key(wide: pd.DataFrame, p: int) -> pd.Series:
    """Per (key, origin) the sum over steps 1..p, for origins that have all p steps."""
    block = wide[list(range(1, p + 1))]
    return block.loc[block.notna().all(axis=1)].sum(axis=1)


def _summed_windows(wide: pd.DataFrame, p: int, span: int = 1) -> pd.Series:
    """Per (key, origin, start) the sum over steps ``start .. start + p - 1``.

    ``start`` runs over ``1 .. span`` (``span`` the periods between backtest origins, so
    that every period of the backtest starts exactly one window, each from its newest
    origin); windows with a missing step or beyond the backtest's last step are left
    out. Index levels: sku, location, origin, start.
    """
    parts = []
    for h in range(1, max(int(span), 1) + 1):
        steps = list(range(h, h + p))
        if not set(steps) <= set(wide.columns):
            break
        block = wide[steps]
        part = block.loc[block.notna().all(axis=1)].sum(axis=1)
        parts.append(pd.concat({h: part}, names=["start"]))
    if not parts:  # fewer steps than P: no window
        empty = pd.MultiIndex.from_tuples([], names=["sku", "location", "origin", "start"])
        return pd.Series([], index=empty, dtype=float)
    out = pd.concat(parts)
    return out.reorder_levels(["sku", "location", "origin", "start"]).sort_index()


def _origin_spacing(errors: pd.DataFrame) -> int:
    """Periods between consecutive backtest origins (1 when it cannot be told).

    Read from the errors' ``date`` column: a period is the median ``(date - origin) /
    step``, the spacing the median gap between consecutive distinct origins over it.
    """
    if "date" not in errors or "origin" not in errors or errors.empty:
        return 1
    try:
        origin = pd.to_datetime(errors["origin"])
        date = pd.to_datetime(errors["date"])
    except (TypeError, ValueError):
        return 1
    step = pd.to_numeric(errors["step"], errors="coerce")
    ok = step > 0
    period = ((date - origin)[ok] / step[ok]).median()
    origins = np.sort(pd.unique(origin))
    if len(origins) < 2 or not pd.notna(period) or period <= pd.Timedelta(0):
        return 1
    gap = pd.Series(np.diff(origins)).median()
    return max(int(round(gap / period)), 1)


def _horizon_factors(summed: pd.Series, min_keys: int = 30) -> pd.Series:
    r"""Scale of windows starting at step ``h`` relative to those starting at step 1.

    :math:`c_h = \sqrt{\bar r_1 / \bar r_h}` with :math:`\bar r_h` the mean over keys
    of :math:`\overline{E^2}_{k,h} / \overline{E^2}_{k}` (each key's mean square of
    windows starting at ``h`` over its mean square of all windows: scale-free, so large
    keys do not dominate), clipped to [1/2, 2]; keys need every start. A window starting
    later was forecast further ahead and errs more; :math:`c_h` brings it to the error
    of a forecast made the period before, as the nightly job's is. Fewer than
    ``min_keys`` keys with every start: no adjustment (a factor of 1), since a key's own
    ratios are mostly noise.
    """
    starts = summed.index.get_level_values("start")
    ms = (summed**2).groupby([summed.index.get_level_values("sku"), summed.index.get_level_values("location"), starts]).mean()
    wide = ms.unstack(-1).dropna()
    tot = wide.mean(axis=1)
    wide = wide.loc[tot > 0]
    if len(wide) < min_keys or 1 not in wide.columns:
        return pd.Series(1.0, index=pd.Index(np.unique(starts), name="start"))
    rel = wide.div(tot[tot > 0], axis=0).mean()
    return np.sqrt(rel[1] / rel.where(rel > 0)).fillna(1.0).clip(0.5, 2.0)


def level_exponent_of(errors: pd.DataFrame, periods: int = 2, min_origins: int = 5, min_keys: int = 30) -> float:
    r"""How forecast errors grow with the forecast level, from the backtest itself.

    Within each key, over its backtest origins :math:`i`, regress the log absolute error
    summed over ``periods`` steps on the log forecast summed over the same steps,

    .. math:: \log(|E_i| + \tfrac12) = a_k + b \log F_i + \varepsilon_i,

    with one intercept :math:`a_k` per key and one slope :math:`b` for all (the
    within-key, "fixed effects" estimator: keys differ in scale, the slope is how the
    error of one key moves with its own level, e.g. through the season). Demand that is
    Poisson-like gives :math:`b \approx 0.5`, errors proportional to the level
    :math:`b \approx 1`; Silver, Pyke and Peterson (1998, section 4.5.3) report
    :math:`\sigma \propto D^{b}` with :math:`b` mostly between 0.5 and 1 across items.
    The half unit keeps exact-zero errors of count data finite.

    Parameters
    ----------
    errors : pandas.DataFrame
        Backtest errors with sku, location, origin, step, error and forecast (units).
    periods : int
        Steps summed per origin (units over that many periods).
    min_origins : int
        Complete origins a key needs to take part.
    min_keys : int
        Keys needed for an estimate.

    Returns
    -------
    float
        :math:`b` clipped to [0, 1]; 0 (no level adjustment) without ``forecast``
        column or with too little data.
    """
    if errors is None or "forecast" not in errors or not len(errors):
        return 0.0
    return _level_exponent(_wide_errors(errors), _wide_errors(errors, "forecast"), periods, min_origins, min_keys)


def _level_exponent(wide: pd.DataFrame, wide_f: pd.DataFrame, periods: int = 2, min_origins: int = 5,
                    min_keys: int = 30) -> float:
    """:func:`level_exponent_of` on the (key, origin) x step error and forecast tables."""
    if not set(range(1, periods + 1)) <= set(wide.columns) & set(wide_f.columns):
        return 0.0
    e = _summed_by_key(wide, periods)
    f = _summed_by_key(wide_f, periods).reindex(e.index)
    ok = np.isfinite(f.to_numpy()) & (f.to_numpy() > 0)
    e, f = e[ok], f[ok]
    if not len(e):
        return 0.0
    keys = [e.index.get_level_values("sku"), e.index.get_level_values("location")]
    count = e.groupby(keys).transform("size")
    use = (count >= min_origins).to_numpy()
    if e.index[use].droplevel("origin").nunique() < min_keys:
        return 0.0
    e, f = e[use], f[use]
    keys = [e.index.get_level_values("sku"), e.index.get_level_values("location")]
    x = np.log(f)
    y = np.log(np.abs(e) + 0.5)
    xc = x - x.groupby(keys).transform("mean")
    yc = y - y.groupby(keys).transform("mean")
    den = float((xc**2).sum())
    if den <= 1e-9:
        return 0.0
    return float(np.clip((xc * yc).sum() / den, 0.0, 1.0))


def _sigma_summed(wide: pd.DataFrame, pol: pd.DataFrame, wide_f: pd.DataFrame | None = None,
                  level: np.ndarray | None = None, exponent: float = 0.0,
                  span: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Per policy row: RMS of errors summed over P consecutive steps (steps 1..P of every
    origin, and with ``span`` s > 1 also the windows starting at steps 2..s, see
    :func:`_summed_windows` and :func:`_horizon_factors`), the number of complete
    origins, the sample skewness g1 of the summed errors, and the summed errors.

    ``wide`` / ``wide_f``: errors / backtest forecasts as (key, origin) x step tables
    (:func:`_wide_errors`). With ``exponent`` b > 0 and ``wide_f``, each origin's summed error is first
    brought to today's level ``level`` (the forecast over P from now, units):
    ``E_i (mu_P / F_i)^b`` with ``F_i`` the origin's own forecast over P; the ratio is
    taken with a floor of a quarter of the key's mean ``F`` on both sides and clipped to
    [1/4, 4], so that a near-zero forecast at one origin cannot blow an error up."""
    if not (exponent > 0 and level is not None):
        wide_f = None
    sigma = np.full(len(pol), np.nan)
    skew = np.full(len(pol), np.nan)
    n = np.zeros(len(pol), dtype=int)
    summed_by_row: dict[int, np.ndarray] = {}
    for p in np.unique(pol["protection_periods"]):
        rows = np.flatnonzero(pol["protection_periods"].to_numpy() == p)
        steps = list(range(1, p + 1))
        if p == 0 or not set(steps) <= set(wide.columns):
            continue
        summed = _summed_windows(wide, p, span)
        if wide_f is not None and set(steps) <= set(wide_f.columns):
            summed = _to_level(summed, _summed_windows(wide_f, p, span), pol.iloc[rows], level[rows], exponent)
        if span > 1 and len(summed):
            summed = summed * _horizon_factors(summed).reindex(summed.index.get_level_values("start")).fillna(1.0).to_numpy()
        grouped = summed.groupby(level=["sku", "location"])
        mean = grouped.mean()
        centred = summed - mean.reindex(summed.droplevel(["origin", "start"]).index).to_numpy()
        m2, m3 = (centred**2).groupby(level=["sku", "location"]).mean(), (centred**3).groupby(level=["sku", "location"]).mean()
        origins = summed.index.droplevel("start").unique().to_frame(index=False)
        stats_ = pd.DataFrame({
            "ms": (summed**2).groupby(level=["sku", "location"]).mean(),
            "n": origins.groupby(["sku", "location"])["origin"].size(),
            # g1 = m3 / m2^1.5 (moment coefficient of skewness); 0 for a constant error.
            "g1": (m3 / m2.pow(1.5)).where(m2 > 1e-12 * (mean**2 + 1), 0.0),
        })
        keys = pd.MultiIndex.from_frame(pol.loc[rows, _KEY])
        got = stats_.reindex(keys)
        sigma[rows] = np.sqrt(got["ms"].to_numpy(float))
        n[rows] = got["n"].fillna(0).to_numpy(int)
        skew[rows] = got["g1"].to_numpy(float)
        values = {k: v.to_numpy(float) for k, v in summed.groupby(level=["sku", "location"])} if len(summed) else {}
        for r, key in zip(rows, keys):
            if key in values:
                summed_by_row[int(r)] = values[key]
    return sigma, n, skew, summed_by_row


def _to_level(summed: pd.Series, fsum: pd.Series, pol_rows: pd.DataFrame, level: np.ndarray, b: float) -> pd.Series:
    """Summed errors times ``(mu_P / F_i)^b`` (see :func:`_sigma_summed`)."""
    f = fsum.reindex(summed.index).to_numpy(float)
    keys = summed.index.droplevel([n for n in summed.index.names if n not in _KEY])
    now = pd.Series(level, index=pd.MultiIndex.from_frame(pol_rows[_KEY])).groupby(level=[0, 1]).first()
    mu = now.reindex(keys).to_numpy(float)
    f_mean = pd.Series(f, index=keys).groupby(level=[0, 1]).transform("mean").to_numpy(float)
    floor = 0.25 * np.where(np.isfinite(f_mean) & (f_mean > 0), f_mean, np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.maximum(mu, floor) / np.maximum(f, floor)
    ok = np.isfinite(ratio) & np.isfinite(f) & np.isfinite(mu) & (f_mean > 0)
    scale = np.where(ok, np.clip(ratio, 0.25, 4.0) ** b, 1.0)
    return summed * scale


def _sigma_independent(errors: pd.DataFrame, pol: pd.DataFrame, min_obs: int) -> np.ndarray:
    """sqrt(sum_k MSE_k) over steps 1..P, assuming independent errors across steps."""
    err = errors[["sku", "location", "step", "error"]].copy()
    err["step"] = err["step"].astype(int)
    g = (err.assign(sq=err["error"] ** 2)).groupby(["sku", "location", "step"])["sq"]
    mse = g.mean().where(g.count() >= min_obs).unstack("step").sort_index(axis=1)
    sigma = np.full(len(pol), np.nan)
    if mse.empty or 1 not in mse.columns:
        return sigma
    max_step = int(mse.columns.max())
    mse = mse.reindex(columns=range(1, max_step + 1))
    usable = mse[1].notna()
    # Steps the backtest did not reach (or lacked data for) reuse the last known MSE.
    filled = mse.ffill(axis=1)
    cum = filled.cumsum(axis=1)
    for p in np.unique(pol["protection_periods"]):
        rows = np.flatnonzero(pol["protection_periods"].to_numpy() == p)
        if p == 0:
            sigma[rows] = 0.0
            continue
        if p <= max_step:
            total = cum[p]
        else:
            total = cum[max_step] + (p - max_step) * filled[max_step]
        keys = pd.MultiIndex.from_frame(pol.loc[rows, _KEY])
        vals = total.where(usable).reindex(keys).to_numpy(float)
        sigma[rows] = np.sqrt(vals)
    return sigma


def _spread_column(fc: pd.DataFrame) -> tuple[str | None, float]:
    """The upper quantile column used for the quantile fallback and its z value."""
    if "q50" not in fc.columns:
        return None, float("nan")
    levels = {}
    for col in fc.columns:
        if isinstance(col, str) and col.startswith("q") and col != "q50":
            try:
                level = float(col[1:]) / 100.0
            except ValueError:
                continue
            if 0.5 < level < 1:
                levels[col] = level
    if not levels:
        return None, float("nan")
    col = "q90" if "q90" in levels else max(levels, key=levels.get)
    return col, float(stats.norm.ppf(levels[col]))
