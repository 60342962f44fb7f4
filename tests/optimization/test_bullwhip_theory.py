"""Theory checks: the simulated baseline reproduces the bullwhip formulas of DESIGN.md.

Chen, Drezner, Ryan and Simchi-Levi (2000) and Chen, Ryan and Simchi-Levi (2000): with an
order-up-to policy whose level is ``S_t = L * forecast + constant`` (negative orders
allowed, constant safety stock), the order variance over the demand variance is

- moving average over ``p`` periods, AR(1) demand with correlation ``rho`` (``rho = 0``:
  i.i.d.): ``1 + (2L/p + 2L^2/p^2)(1 - rho^p)``;
- exponential smoothing with constant ``alpha``, i.i.d. demand:
  ``1 + 2 L alpha + 2 L^2 alpha^2 / (2 - alpha)``.

Their ``L`` is the protection period of an order; with the simulator's timing (orders at
the start of a period, before its demand) that is lane lead time + review period
(``OrderUpToMovingAverage`` docstring). The replications run side by side as the SKU axis
of one simulation (independent demand streams), so the whole module stays fast; the
standard error comes from the spread over replications (ratio estimator, delta method).
Variances are taken about the known demand mean (the orders' mean too), so the estimator
has no small-sample demeaning bias.
"""

from __future__ import annotations

import numpy as np
import pytest

from optimization.policies import OrderUpToExponentialSmoothing, OrderUpToMovingAverage
from optimization.simulation import InitialState, Network, simulate

MU, SIGMA = 100.0, 10.0
REPLICATIONS = 400
PERIODS = 1500
HISTORY = 60
BURN_IN = 60


def ar1_demand(n_rep: int, n_periods: int, rho: float, seed: int) -> np.ndarray:
    """AR(1) demand ``D_t = mu + rho (D_{t-1} - mu) + e_t`` started in its stationary law."""
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, SIGMA * np.sqrt(1.0 - rho**2), size=(n_rep, n_periods))
    x = np.empty((n_rep, n_periods))
    x[:, 0] = rng.normal(0.0, SIGMA, size=n_rep)
    for t in range(1, n_periods):
        x[:, t] = rho * x[:, t - 1] + eps[:, t]
    return np.maximum(MU + x, 0.0)[:, None, :]  # (reps, 1 dealer, periods); < 0 has p ~ 1e-23


def simulated_ratio(policy, lead: int, rho: float, seed: int) -> tuple[float, float]:
    """Dealer Var(q)/Var(D) and its standard error over independent replications."""
    net = Network(
        skus=[f"r{i}" for i in range(REPLICATIONS)], dealers=["D"], dcs=["C"],
        dealer_dc=[0], dealer_lead=[lead], dc_lead=[1],
    )
    demand = ar1_demand(REPLICATIONS, HISTORY + PERIODS, rho, seed)
    start_stock = np.full((REPLICATIONS, 1), MU * (lead + 2))
    initial = InitialState(dealer_on_hand=start_stock, dc_on_hand=start_stock * 10)
    res = simulate(net, demand, policy, HISTORY, initial=initial, allow_returns=True)
    q = res.records["dealer_orders"][BURN_IN:, :, 0]
    d = res.records["dealer_demand"][BURN_IN:, :, 0]
    vq = ((q - MU) ** 2).mean(axis=0)
    vd = ((d - MU) ** 2).mean(axis=0)
    ratio = vq.sum() / vd.sum()
    z = (vq - ratio * vd) / vd.mean()
    return float(ratio), float(z.std(ddof=1) / np.sqrt(len(z)))


def ma_formula(big_l: int, p: int, rho: float) -> float:
    return 1.0 + (2.0 * big_l / p + 2.0 * big_l**2 / p**2) * (1.0 - rho**p)


def es_formula(big_l: int, alpha: float) -> float:
    return 1.0 + 2.0 * big_l * alpha + 2.0 * big_l**2 * alpha**2 / (2.0 - alpha)


@pytest.mark.parametrize(
    "lead, p, rho",
    [(1, 2, 0.0), (2, 4, 0.0), (0, 1, 0.0), (3, 8, 0.0), (1, 2, 0.5), (2, 3, 0.7), (1, 4, -0.4)],
)
def test_moving_average_baseline_matches_chen_et_al(lead, p, rho):
    policy = OrderUpToMovingAverage(ma_periods=p, service_level=0.9, dc_service_level=0.9,
                                    negative_orders=True, fixed_sigma=True)
    ratio, se = simulated_ratio(policy, lead, rho, seed=100 * lead + p)
    big_l = lead + 1  # protection period L + R with R = 1
    expected = ma_formula(big_l, p, rho)
    assert abs(ratio - expected) <= 3 * se, f"ratio {ratio:.4f} vs {expected:.4f} (se {se:.4f})"
    # decisive: the formula read with the lane lead time alone, or (for AR(1)) without the
    # (1 - rho^p) factor, lies many standard errors away
    wrong = ma_formula(lead, p, rho) if rho == 0 else ma_formula(big_l, p, 0.0)
    assert abs(ratio - wrong) > 10 * se


@pytest.mark.parametrize("lead, alpha", [(1, 0.2), (2, 0.5), (0, 0.3), (3, 0.1)])
def test_exponential_smoothing_baseline_matches_chen_ryan_simchi_levi(lead, alpha):
    policy = OrderUpToExponentialSmoothing(alpha=alpha, service_level=0.9, dc_service_level=0.9,
                                           negative_orders=True, fixed_sigma=True)
    ratio, se = simulated_ratio(policy, lead, 0.0, seed=7 + lead)
    expected = es_formula(lead + 1, alpha)
    assert abs(ratio - expected) <= 3 * se, f"ratio {ratio:.4f} vs {expected:.4f} (se {se:.4f})"
    assert abs(ratio - es_formula(lead, alpha)) > 10 * se


def test_default_baseline_truncates_and_re_estimates_so_it_departs_from_the_formula():
    """Without Chen et al.'s setting the ratio is not the formula: the option matters."""
    policy = OrderUpToMovingAverage(ma_periods=2, service_level=0.95, dc_service_level=0.95)
    net = Network(skus=[f"r{i}" for i in range(200)], dealers=["D"], dcs=["C"],
                  dealer_dc=[0], dealer_lead=[2], dc_lead=[1])
    demand = ar1_demand(200, HISTORY + 600, 0.0, seed=3)
    res = simulate(net, demand, policy, HISTORY,
                   initial=InitialState(np.full((200, 1), 400.0), np.full((200, 1), 4000.0)))
    q = res.records["dealer_orders"][BURN_IN:, :, 0]
    d = res.records["dealer_demand"][BURN_IN:, :, 0]
    assert (q >= 0).all()
    ratio = q.var(axis=0).sum() / d.var(axis=0).sum()
    assert ratio > ma_formula(3, 2, 0.0) * 1.05  # the moving sigma adds variance
