"""Promotion effects for the per-series models: base demand times a known lift.

Per-series models (exponential smoothing, Theta, ARIMA, Croston...) read nothing but the
series. Fitted on history with promotion spikes they chase them: the level jumps after
a promotion, the next weeks are over-forecast, and a promotion in the forecast window
is missed entirely. The classic remedy in promotional forecasting is a multiplicative
decomposition ``y_t = b_t * e_t``: the baseline ``b_t`` is what the series models
forecast, ``e_t`` the promotion's effect (Fildes, Goodwin, Lawrence and Nikolopoulos
2008; Trapero, Kourentzes and Fildes 2015, "On the identification of sales forecasting
models in the presence of promotions", JORS 66):

- ``e_t = L`` in a promotion period (the *lift*),
- ``e_t = P`` in the first period after a promotion (the post-promotion *dip*: customers
  bought ahead; van Heerde, Leeflang and Wittink 2000),
- ``e_t = 1`` otherwise.

The effects are estimated per group of series (by default the SKU: a promotion's
response is a property of the product, and one dealer sees too few promotions for a
stable estimate) as a ratio of sums against a local baseline, shrunk towards the
run-wide effect:

.. math::

    \\hat L_g = \\frac{\\sum_{t \\in P_g} y_t + \\kappa \\bar b_g \\hat L}
                     {\\sum_{t \\in P_g} b_t + \\kappa \\bar b_g},
    \\qquad b_t = \\operatorname{mean}\\{y_u : |u - t| \\le w,\\ u \\text{ clean}\\},

with ``P_g`` the group's promotion periods that have at least ``min_clean`` clean
periods (neither promotion nor post-promotion) within ``w`` periods, ``\\bar b_g`` their
mean baseline, ``\\hat L`` the same ratio over the whole run and ``\\kappa`` pseudo
periods of prior weight (a group with few promotions leans on the run-wide lift). The
dip ``P`` is estimated the same way over post-promotion periods. The ratio of sums is
the maximum-likelihood estimate of a common multiplier for Poisson counts, and it stays
finite for intermittent series where a mean of ratios would not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

#: bounds of an estimated lift and dip (multipliers of base demand): degenerate data
#: (a promotion on a series that was empty around it) must not make a forecast explode.
LIFT_BOUNDS = (0.5, 10.0)
DIP_BOUNDS = (0.1, 2.0)


@dataclass
class PromoEffects:
    """Estimated promotion effects, one value per series.

    Attributes
    ----------
    lift : numpy.ndarray, shape (S,)
        Multiplier of base demand in a promotion period (dimensionless, 1 = no effect).
    dip : numpy.ndarray, shape (S,)
        Multiplier in the first period after a promotion (dimensionless).
    n_promo, n_post : numpy.ndarray, shape (S,)
        Promotion and post-promotion periods with a usable baseline in the series' group
        (the evidence behind ``lift`` and ``dip``; 0 means the run-wide value).
    run_lift, run_dip : float
        Run-wide effects (the shrinkage targets).
    active : bool
        Whether the run had enough promotion periods (``min_events``) for effects
        other than 1.
    """

    lift: np.ndarray
    dip: np.ndarray
    n_promo: np.ndarray
    n_post: np.ndarray
    run_lift: float
    run_dip: float
    active: bool


def post_promotion(promo: np.ndarray) -> np.ndarray:
    """Periods right after a promotion that are not promotions themselves.

    Parameters
    ----------
    promo : numpy.ndarray, shape (S, T)
        1 (or True) in promotion periods.

    Returns
    -------
    numpy.ndarray of bool, shape (S, T)
    """
    p = np.asarray(promo) > 0
    out = np.zeros_like(p)
    out[:, 1:] = p[:, :-1] & ~p[:, 1:]
    return out


def local_baseline(Y: np.ndarray, clean: np.ndarray, window: int, min_clean: int) -> np.ndarray:
    """Local baseline ``b_t``: the mean of the clean periods within ``window`` periods.

    ``b_t = mean{y_u : |u - t| <= w, u clean}`` (module docstring), nan where fewer than
    ``min_clean`` clean periods are in reach.

    Parameters
    ----------
    Y : numpy.ndarray, shape (S, T)
        Demand per period (units), no nan.
    clean : numpy.ndarray of bool, shape (S, T)
        Periods that are neither a promotion nor right after one.
    window : int
        ``w``, periods either side.
    min_clean : int
        Fewest clean periods for a usable baseline.

    Returns
    -------
    numpy.ndarray, shape (S, T)
        Baseline demand (units per period).
    """
    S, T = Y.shape
    w = int(window)

    def window_sums(a: np.ndarray) -> np.ndarray:
        # running sums padded with w zeros in front and w copies of the total behind, so
        # that the sum over [t - w, t + w] clipped to the series is one slice difference
        # (slices are views; fancy indexing copied (S, T) twice per call)
        cs = np.cumsum(a, axis=1)
        pad = np.concatenate([np.zeros((S, w + 1)), cs, np.repeat(cs[:, -1:], w, axis=1)], axis=1)
        return pad[:, 2 * w + 1 : 2 * w + 1 + T] - pad[:, :T]

    total = window_sums(np.where(clean, Y, 0.0))
    count = window_sums(np.asarray(clean, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= min_clean, total / np.maximum(count, 1), np.nan)


def estimate_effects(
    Y: np.ndarray,
    promo: np.ndarray,
    groups: np.ndarray,
    *,
    window: int = 6,
    min_clean: int = 3,
    prior: float = 3.0,
    min_events: int = 5,
) -> PromoEffects:
    """Promotion lift and post-promotion dip per series, pooled within groups.

    Parameters
    ----------
    Y : numpy.ndarray, shape (S, T)
        Demand per period (units); nan before a series starts.
    promo : numpy.ndarray, shape (S, T)
        1 in promotion periods, 0 otherwise.
    groups : array-like, shape (S,)
        Group label of each series (e.g. the SKU): series of a group share the effects.
    window : int
        ``w``, periods either side of a period that form its local baseline.
    min_clean : int
        Fewest clean periods within the window for a usable baseline.
    prior : float
        ``kappa``, pseudo periods of weight on the run-wide effect (shrinkage).
    min_events : int
        Fewest promotion periods with a usable baseline in the whole run for any
        effect to be estimated; below it every effect is 1 (``active`` False).

    Returns
    -------
    PromoEffects
        Lift ``L_g`` and dip ``P_g`` per series (module docstring formula), clipped to
        :data:`LIFT_BOUNDS` and :data:`DIP_BOUNDS`.
    """
    Y = np.asarray(Y, dtype=float)
    S = Y.shape[0]
    ones = np.ones(S)
    zeros = np.zeros(S, dtype=int)
    if S == 0:
        return PromoEffects(ones, ones, zeros, zeros, 1.0, 1.0, False)
    live = np.isfinite(Y)
    p = (np.asarray(promo) > 0) & live
    post = post_promotion(p) & live
    clean = live & ~p & ~post
    base = local_baseline(np.where(live, Y, 0.0), clean, int(window), int(min_clean))
    codes, g = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    G = len(codes)

    def pooled(mask: np.ndarray, bounds: tuple[float, float]):
        use = mask & np.isfinite(base) & (base > 0)
        rows = np.broadcast_to(g[:, None], Y.shape)[use]
        y_sum = np.bincount(rows, weights=Y[use], minlength=G)
        b_sum = np.bincount(rows, weights=base[use], minlength=G)
        n = np.bincount(rows, minlength=G)
        total_b = b_sum.sum()
        run = float(y_sum.sum() / total_b) if total_b > 0 else 1.0
        run = float(np.clip(run, *bounds))
        with np.errstate(invalid="ignore", divide="ignore"):
            b_bar = np.where(n > 0, b_sum / np.maximum(n, 1), 0.0)
            est = np.where(b_sum > 0, (y_sum + prior * b_bar * run) / (b_sum + prior * b_bar), run)
        return np.clip(est, *bounds), n, run, int(n.sum())

    lift_g, n_lift, run_lift, events = pooled(p, LIFT_BOUNDS)
    dip_g, n_dip, run_dip, _ = pooled(post, DIP_BOUNDS)
    if events < int(min_events):
        return PromoEffects(ones, ones, zeros, zeros, 1.0, 1.0, False)
    return PromoEffects(lift_g[g], dip_g[g], n_lift[g], n_dip[g], run_lift, run_dip, True)


def effect_matrix(promo: np.ndarray, lift: np.ndarray, dip: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """Multiplier ``e_t`` of base demand per series and period.

    Parameters
    ----------
    promo : numpy.ndarray, shape (S, T)
        1 in promotion periods.
    lift, dip : numpy.ndarray, shape (S,)
        Effects per series (:func:`estimate_effects`).
    previous : numpy.ndarray, shape (S,), optional
        Promotion flag of the period before the first column (so that a promotion in
        the last history period puts the dip on the first forecast period).

    Returns
    -------
    numpy.ndarray, shape (S, T)
        ``lift`` in promotion periods, ``dip`` in the period after one, 1 elsewhere.
    """
    p = np.asarray(promo) > 0
    if previous is not None:
        full = np.concatenate([(np.asarray(previous) > 0)[:, None], p], axis=1)
        post = post_promotion(full)[:, 1:]
    else:
        post = post_promotion(p)
    lift = np.asarray(lift, dtype=float)[:, None]
    dip = np.asarray(dip, dtype=float)[:, None]
    return np.where(p, lift, np.where(post, dip, 1.0))


def backtest_multipliers(
    Y: np.ndarray,
    promo: np.ndarray,
    groups: np.ndarray,
    cuts: Iterable[int],
    horizon: int,
    **options,
) -> dict[int, np.ndarray]:
    """Promotion multipliers of each backtest origin's target periods, estimated from the
    data before the origin only.

    A backtest that multiplies its target periods by effects estimated on the whole
    history has fitted the lift to the very weeks it scores: the promotion weeks' errors
    come out too small, and the series models (which get the lift) are favoured over the
    global model (which learns promotions from the data before each cut-off). At cut
    ``c`` the effects are :func:`estimate_effects` of ``Y[:, :c]``; with too few
    promotions before ``c`` they are all 1, as a run on that history would have had.

    Parameters
    ----------
    Y : numpy.ndarray, shape (S, T)
        Demand per period (units); nan before a series starts.
    promo : numpy.ndarray, shape (S, T)
        1 in promotion periods.
    groups : array-like, shape (S,)
        Group label of each series, as for :func:`estimate_effects`.
    cuts : iterable of int
        Origins as positions on the common period grid (training data ``Y[:, :c]``).
    horizon : int
        ``H``, periods forecast from each origin.
    **options
        Passed to :func:`estimate_effects` (``window``, ``min_clean``, ``prior``,
        ``min_events``).

    Returns
    -------
    dict
        Cut -> multipliers, shape (S, H) (dimensionless); periods past ``T`` get the
        dip after a promotion in the last period, 1 otherwise.
    """
    Y = np.asarray(Y, dtype=float)
    p = np.asarray(promo, dtype=float)
    S, T = Y.shape
    padded = np.concatenate([p, np.zeros((S, int(horizon)))], axis=1)
    out: dict[int, np.ndarray] = {}
    for c in sorted({int(c) for c in cuts}):
        if not 0 < c <= T:
            raise ValueError(f"backtest cut {c} is outside the history's {T} periods")
        fx = estimate_effects(Y[:, :c], p[:, :c], groups, **options)
        out[c] = effect_matrix(padded[:, c:c + int(horizon)], fx.lift, fx.dip, previous=p[:, c - 1])
    return out
