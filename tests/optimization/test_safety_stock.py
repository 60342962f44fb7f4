"""Safety stock and closed forms: published examples, scipy references, error structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from optimization.safety_stock import (
    compute_safety_stock,
    fill_rate_safety_factor,
    newsvendor_cost,
    newsvendor_quantity,
    standard_normal_loss,
)


def test_newsvendor_reproduces_snyder_shen_example_4_3():
    # Snyder and Shen (2019) Example 4.3, as printed by stockpyl's newsvendor_normal:
    # S* = 56.603955927, g(S*) = 1.997605193 (the book rounds to 56.60 and 2.00).
    s_star = newsvendor_quantity(50, 8, h=0.18, p=0.70)
    cost = newsvendor_cost(s_star, 50, 8, h=0.18, p=0.70)
    assert s_star == pytest.approx(56.60, rel=1e-3)
    assert s_star == pytest.approx(56.603955927, rel=1e-6)
    assert cost == pytest.approx(1.997605193, rel=1e-6)
    assert cost == pytest.approx(2.00, rel=2e-3)
    # Closed form at the optimum: (h + p) sigma phi(z*).
    z = (s_star - 50) / 8
    assert cost == pytest.approx(0.88 * 8 * stats.norm.pdf(z), rel=1e-9)


def test_newsvendor_cost_is_minimal_at_critical_fractile():
    s_star = newsvendor_quantity(50, 8, h=0.18, p=0.70)
    grid = np.linspace(40, 70, 301)
    costs = [newsvendor_cost(s, 50, 8, 0.18, 0.70) for s in grid]
    assert min(costs) >= newsvendor_cost(s_star, 50, 8, 0.18, 0.70) - 1e-12


def test_newsvendor_cost_matches_monte_carlo():
    rng = np.random.default_rng(0)
    d = rng.normal(50, 8, 400_000)
    s = 55.0
    mc = np.mean(0.18 * np.clip(s - d, 0, None) + 0.70 * np.clip(d - s, 0, None))
    assert newsvendor_cost(s, 50, 8, 0.18, 0.70) == pytest.approx(mc, rel=1e-2)


@pytest.mark.parametrize("z", [-3.0, -1.0, 0.0, 0.5, 1.2815515655446004, 2.5, 4.0])
def test_standard_normal_loss_against_scipy_integral(z):
    ref, _ = integrate.quad(lambda x: (x - z) * stats.norm.pdf(x), z, np.inf)
    assert standard_normal_loss(z) == pytest.approx(ref, rel=1e-8, abs=1e-12)


def test_standard_normal_loss_vectorised_and_identity():
    z = np.linspace(-4, 4, 17)
    g = standard_normal_loss(z)
    # G(z) - G(-z) = -z (Snyder and Shen, eq. C.10)
    assert np.allclose(g - standard_normal_loss(-z), -z)
    assert np.all(np.diff(g) < 0)


def test_fill_rate_safety_factor_meets_target_shortage():
    z = fill_rate_safety_factor(0.98, cycle_demand=200.0, sigma=40.0)
    assert 40.0 * standard_normal_loss(z) == pytest.approx(0.02 * 200.0, rel=1e-9)
    # A higher fill rate needs a higher safety factor.
    assert fill_rate_safety_factor(0.995, 200.0, 40.0) > z
    assert fill_rate_safety_factor(0.9, 100.0, 0.0) == -np.inf
    with pytest.raises(ValueError):
        fill_rate_safety_factor(1.0, 100.0, 10.0)


# --------------------------------------------------------------------------------------
# compute_safety_stock
# --------------------------------------------------------------------------------------


def _forecast(sku="A", loc="D1", periods=6, mean=10.0, sigma_step=None, start="2024-01-01"):
    dates = pd.date_range(start, periods=periods, freq="W-MON")
    fc = pd.DataFrame({"sku": sku, "location": loc, "date": dates, "mean": mean, "q50": mean})
    if sigma_step is not None:
        fc["q90"] = mean + stats.norm.ppf(0.9) * sigma_step
        fc["q95"] = mean + stats.norm.ppf(0.95) * sigma_step
    fc["model"] = "test"
    return fc


def _policy(rows):
    return pd.DataFrame(rows, columns=["sku", "location", "lead_time", "review_period", "service_level"])


def _errors(shared_sd, own_sd, n_origins, steps, seed, sku="A", loc="D1"):
    """Backtest errors e_k = u + v_k: u is common to all steps of an origin (level error)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0, shared_sd, n_origins)
    rows = []
    for o in range(n_origins):
        v = rng.normal(0, own_sd, steps)
        for k in range(steps):
            rows.append((sku, loc, pd.Timestamp("2020-01-06") + pd.Timedelta(weeks=o), k + 1, u[o] + v[k]))
    return pd.DataFrame(rows, columns=["sku", "location", "origin", "step", "error"])


def test_autocorrelated_errors_give_larger_sigma_than_sqrt_p():
    p, shared, own = 3, 4.0, 1.0
    err = _errors(shared, own, n_origins=4000, steps=6, seed=1)
    ss = compute_safety_stock(_forecast(), err, _policy([("A", "D1", 2, 1, 0.95)]))
    row = ss.iloc[0]
    assert row["method"] == "errors_summed"
    assert row["protection_periods"] == p
    # Var(sum_k (u + v_k)) = P^2 shared^2 + P own^2, not P (shared^2 + own^2).
    exact = np.sqrt(p**2 * shared**2 + p * own**2)
    naive = np.sqrt(p) * np.sqrt(shared**2 + own**2)
    assert row["sigma_protection"] == pytest.approx(exact, rel=0.04)
    assert row["sigma_protection"] > 1.5 * naive
    assert row["safety_stock"] == pytest.approx(stats.norm.ppf(0.95) * row["sigma_protection"])


def test_independent_errors_give_sqrt_p_sigma():
    err = _errors(0.0, 2.0, n_origins=4000, steps=6, seed=2)
    ss = compute_safety_stock(_forecast(), err, _policy([("A", "D1", 3, 1, 0.9)]))
    row = ss.iloc[0]
    assert row["method"] == "errors_summed"
    assert row["sigma_protection"] == pytest.approx(2.0 * np.sqrt(4), rel=0.04)


def test_few_origins_fall_back_to_independent_steps_and_say_so():
    err = _errors(4.0, 1.0, n_origins=3, steps=2, seed=3)
    ss = compute_safety_stock(_forecast(), err, _policy([("A", "D1", 2, 1, 0.95)]), min_origins=5)
    row = ss.iloc[0]
    assert row["method"] == "errors_independent"
    assert row["n_origins"] == 0  # P = 3 > the backtest's 2 steps: no complete origin
    mse = err.groupby("step")["error"].apply(lambda e: np.mean(e**2))
    # Step 3 is beyond the backtest: it reuses step 2's MSE.
    expected = np.sqrt(mse[1] + mse[2] + mse[2])
    assert row["sigma_protection"] == pytest.approx(expected, rel=1e-12)


def test_quantile_and_poisson_fallbacks_and_levels():
    fc = pd.concat([_forecast("A", "D1", sigma_step=3.0), _forecast("B", "D1", mean=4.0)])
    fc = fc.reset_index(drop=True)
    for col in ("q90", "q95"):
        fc.loc[fc["sku"] == "B", col] = fc.loc[fc["sku"] == "B", "mean"]
    pol = _policy([("A", "D1", 1, 1, 0.95), ("B", "D1", 2, 2, 0.9), ("C", "D1", 1, 1, np.nan)])
    ss = compute_safety_stock(fc, pd.DataFrame(columns=["sku", "location", "origin", "step", "error"]), pol)
    a, b, c = (ss.set_index("sku").loc[k] for k in "ABC")
    assert a["method"] == "quantiles"
    assert a["sigma_protection"] == pytest.approx(3.0 * np.sqrt(2))
    assert a["safety_stock"] == pytest.approx(stats.norm.ppf(0.95) * 3.0 * np.sqrt(2))
    assert a["reorder_point"] == pytest.approx(10.0 + a["safety_stock"])
    assert a["order_up_to"] == pytest.approx(20.0 + a["safety_stock"])
    # No spread in B's quantiles: Poisson sigma of the protection-period mean (4 x 4).
    assert b["method"] == "poisson"
    assert b["sigma_protection"] == pytest.approx(4.0)
    assert b["order_up_to"] == pytest.approx(16.0 + stats.norm.ppf(0.9) * 4.0)
    assert b["reorder_point"] == pytest.approx(8.0 + stats.norm.ppf(0.9) * 4.0)
    assert c["method"] == "no_data" and c["safety_stock"] == 0 and c["service_level"] == 0.95


def test_short_forecast_is_extrapolated_and_low_service_gives_zero():
    fc = _forecast(periods=2, mean=5.0, sigma_step=1.0)
    ss = compute_safety_stock(fc, None, _policy([("A", "D1", 3, 1, 0.4)]))
    row = ss.iloc[0]
    assert row["mean_protection_demand"] == pytest.approx(20.0)
    assert row["safety_stock"] == 0.0  # z_0.4 < 0: never negative


def test_start_skips_earlier_forecast_periods():
    fc = _forecast(periods=6, mean=1.0)
    fc.loc[fc.index[:2], "mean"] = 100.0
    ss = compute_safety_stock(fc, None, _policy([("A", "D1", 1, 1, 0.9)]), start=fc["date"].iloc[2])
    assert ss.loc[0, "mean_protection_demand"] == pytest.approx(2.0)


def test_bad_policy_is_rejected():
    with pytest.raises(ValueError, match="service_level"):
        compute_safety_stock(_forecast(), None, _policy([("A", "D1", 1, 1, 1.5)]))
    with pytest.raises(ValueError, match="duplicate"):
        compute_safety_stock(_forecast(), None, _policy([("A", "D1", 1, 1, 0.9)] * 2))
