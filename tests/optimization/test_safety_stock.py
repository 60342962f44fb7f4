"""Safety stock and closed forms: published examples, scipy references, error structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from optimization.safety_stock import (
    abc_classes,
    base_stock_level,
    compute_safety_stock,
    fill_rate_safety_factor,
    gamma_loss,
    level_exponent_of,
    newsvendor_cost,
    newsvendor_quantity,
    poisson_loss,
    standard_normal_loss,
)


def test_newsvendor_reproduces_snyder_shen_example_4_3():
    # Snyder and Shen (2019) Example 4.3, as printed by stockpyl's newsvendor_normal:
    # S* = 56.603955927, g(S*) = 1.997605193 (printed 56.60 and 1.9976).
    s_star = newsvendor_quantity(50, 8, h=0.18, p=0.70)
    cost = newsvendor_cost(s_star, 50, 8, h=0.18, p=0.70)
    assert s_star == pytest.approx(56.60, rel=1e-3)
    assert s_star == pytest.approx(56.603955927, rel=1e-6)
    assert cost == pytest.approx(1.9976, rel=1e-3)
    assert cost == pytest.approx(1.997605193, rel=1e-6)
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
    # Normality is untested for a quantile spread: moment-matched gamma over P = 2.
    sd, mu = 3.0 * np.sqrt(2), 20.0
    gam = stats.gamma((mu / sd) ** 2, scale=sd**2 / mu)
    assert a["distribution"] == "gamma"
    assert a["safety_stock"] == pytest.approx(gam.ppf(0.95) - mu, rel=1e-9)
    assert a["safety_stock"] > stats.norm.ppf(0.95) * sd  # right skew: more than z sigma
    assert a["reorder_point"] == pytest.approx(10.0 + a["safety_stock"])
    assert a["order_up_to"] == pytest.approx(20.0 + a["safety_stock"])
    # No spread in B's quantiles: Poisson demand with the protection-period mean (4 x 4).
    assert b["method"] == "poisson" and b["distribution"] == "poisson"
    assert b["sigma_protection"] == pytest.approx(4.0)
    assert b["order_up_to"] == pytest.approx(stats.poisson.ppf(0.9, 16.0))
    assert b["reorder_point"] == pytest.approx(8.0 + stats.poisson.ppf(0.9, 16.0) - 16.0)
    assert c["method"] == "no_data" and c["safety_stock"] == 0 and c["service_level"] == 0.95
    # The classic z sigma rule on request.
    normal = compute_safety_stock(fc, None, pol, distribution="normal").set_index("sku")
    assert normal.loc["A", "safety_stock"] == pytest.approx(stats.norm.ppf(0.95) * sd)
    assert normal.loc["B", "order_up_to"] == pytest.approx(16.0 + stats.norm.ppf(0.9) * 4.0)


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


# --------------------------------------------------------------------------------------
# Published examples (Snyder and Shen 2019, as printed in stockpyl's documentation)
# --------------------------------------------------------------------------------------


def test_published_loss_function_values():
    # stockpyl docs: standard_normal_loss(1.3) -> 0.04552796208651397 (S&S Table C.1: 0.0455).
    assert standard_normal_loss(1.3) == pytest.approx(0.04552796208651397, rel=1e-9)
    # normal_loss(18.6, 15, 3) -> 0.1683073521514889: sigma G((x - mu) / sigma).
    assert 3 * standard_normal_loss((18.6 - 15) / 3) == pytest.approx(0.1683073521514889, rel=1e-9)
    # gamma_loss(4, 2, 3) -> (2.635971381157268, 0.635971381157268) (shape 2, scale 3).
    assert gamma_loss(4, 2, 3) == pytest.approx(2.635971381157268, rel=1e-9)
    assert 4 - 6 + gamma_loss(4, 2, 3) == pytest.approx(0.635971381157268, rel=1e-9)
    # newsvendor_normal_cost(60, 0.18, 0.70, 50, 8) -> 2.156131552870387.
    assert newsvendor_cost(60, 50, 8, 0.18, 0.70) == pytest.approx(2.156131552870387, rel=1e-9)


def test_fill_rate_inverts_the_published_normal_loss():
    # N(15, 3) stocked at 18.6 is short 0.1683 per cycle (stockpyl normal_loss example):
    # with Q = 20 that is a fill rate of 1 - 0.1683 / 20, whose safety factor is 1.2.
    beta = 1 - 0.1683073521514889 / 20
    assert fill_rate_safety_factor(beta, 20, 3) == pytest.approx(1.2, rel=1e-6)


def test_base_stock_matches_closed_form_and_stockpyl():
    s, g = base_stock_level(50, 8, h=0.18, p=0.70, lead_time=0)
    assert (s, g) == pytest.approx((56.60395592743389, 1.9976051931766445), rel=1e-9)
    s, g = base_stock_level(50, 8, h=0.18, p=0.70, lead_time=4)
    z = stats.norm.ppf(0.70 / 0.88)
    assert s == pytest.approx(250 + z * 8 * np.sqrt(5), rel=1e-12)
    assert g == pytest.approx(0.88 * 8 * np.sqrt(5) * stats.norm.pdf(z), rel=1e-12)
    newsvendor = pytest.importorskip("stockpyl.newsvendor")
    ref = newsvendor.newsvendor_normal(0.18, 0.70, 50, 8, lead_time=4)
    assert (s, g) == pytest.approx((float(ref[0]), float(ref[1])), rel=1e-9)


def test_poisson_newsvendor_example_through_compute_safety_stock():
    # stockpyl newsvendor_poisson(0.18, 0.70, 50) -> S* = 56: the smallest S with F(S) >= p / (p + h).
    fc = _forecast(periods=3, mean=50.0)
    ss = compute_safety_stock(fc, None, _policy([("A", "D1", 0, 1, 0.70 / 0.88)]))
    assert ss.loc[0, "distribution"] == "poisson"
    assert ss.loc[0, "order_up_to"] == pytest.approx(56.0)


@pytest.mark.parametrize("x", [0.0, 2.5, 3.0, 7.2])
def test_poisson_loss_against_direct_sum(x):
    j = np.arange(0, 200)
    ref = np.sum(np.clip(j - x, 0, None) * stats.poisson.pmf(j, 4.5))
    assert poisson_loss(x, 4.5) == pytest.approx(ref, rel=1e-10, abs=1e-12)


def test_gamma_loss_against_integral():
    ref, _ = integrate.quad(lambda t: (t - 7.0) * stats.gamma.pdf(t, 1.7, scale=2.5), 7.0, np.inf)
    assert gamma_loss(7.0, 1.7, 2.5) == pytest.approx(ref, rel=1e-8)


def test_abc_classes_by_cumulative_value():
    value = pd.Series({"a": 500.0, "b": 300.0, "c": 100.0, "d": 60.0, "e": 40.0})
    # before-shares: 0, .5, .8, .9, .96 -> A, A, B, B, C
    assert abc_classes(value).tolist() == ["A", "A", "B", "B", "C"]
    assert abc_classes(pd.Series({"x": 0.0})).tolist() == ["C"]


# --------------------------------------------------------------------------------------
# Targets, distributions and lead-time variability
# --------------------------------------------------------------------------------------


def _iid_errors(draw, n_origins, steps, seed, sku="A", loc="D1"):
    rng = np.random.default_rng(seed)
    e = draw(rng, (n_origins, steps))
    origins = pd.Timestamp("2020-01-06") + pd.to_timedelta(np.arange(n_origins) * 7, unit="D")
    return pd.DataFrame({"sku": sku, "location": loc, "origin": np.repeat(origins, steps),
                         "step": np.tile(np.arange(1, steps + 1), n_origins), "error": e.ravel()})


def test_normal_only_where_the_skewness_test_passes():
    normal = _iid_errors(lambda r, s: r.normal(0, 2, s), 400, 3, seed=4)
    skewed = _iid_errors(lambda r, s: r.exponential(2, s) - 2, 400, 3, seed=5, sku="B")
    few = _iid_errors(lambda r, s: r.normal(0, 2, s), 8, 3, seed=6, sku="C")
    fc = pd.concat([_forecast(s, mean=20.0) for s in "ABC"], ignore_index=True)
    pol = _policy([(s, "D1", 1, 1, 0.95) for s in "ABC"])
    ss = compute_safety_stock(fc, pd.concat([normal, skewed, few]), pol).set_index("sku")
    assert ss.loc["A", "distribution"] == "normal" and abs(ss.loc["A", "skewness"]) < 0.5
    assert ss.loc["A", "safety_stock"] == pytest.approx(stats.norm.ppf(0.95) * ss.loc["A", "sigma_protection"])
    # Sum of two exponentials (skewness sqrt(2)): the empirical 95 % quantile of summed errors.
    assert ss.loc["B", "distribution"] == "empirical" and ss.loc["B", "skewness"] > 0.9
    summed = skewed.loc[skewed["step"] <= 2].groupby("origin")["error"].sum()
    assert ss.loc["B", "safety_stock"] == pytest.approx(np.quantile(summed, 0.95), rel=1e-12)
    # True 95 % quantile of Gamma(2, 2) - 4 is 5.487; normal z sigma would give 4.65.
    assert ss.loc["B", "safety_stock"] == pytest.approx(stats.gamma.ppf(0.95, 2, scale=2) - 4, rel=0.1)
    # 8 origins cannot test normality: gamma.
    assert ss.loc["C", "distribution"] == "gamma" and ss.loc["C", "method"] == "errors_summed"


def test_fill_rate_target_normal_meets_expected_shortage():
    err = _iid_errors(lambda r, s: r.normal(0, 3, s), 2000, 4, seed=7)
    fc = _forecast(mean=25.0)
    pol = _policy([("A", "D1", 2, 2, np.nan)])
    pol["fill_rate"] = 0.99
    row = compute_safety_stock(fc, err, pol).iloc[0]
    assert row["target_type"] == "fill_rate" and row["distribution"] == "normal"
    q = 2 * 25.0  # R x mean demand per period
    assert row["expected_shortage"] == pytest.approx(0.01 * q, rel=1e-6)
    z = fill_rate_safety_factor(0.99, q, row["sigma_protection"])
    assert row["safety_stock"] == pytest.approx(z * row["sigma_protection"], rel=1e-6)
    assert row["service_level"] == pytest.approx(stats.norm.cdf(z), rel=1e-6)


def test_gamma_fill_rate_achieved_in_simulation():
    # L = 0, R = 1: each period starts at S and is short (D - S)^+, so the fill rate is
    # exactly 1 - E[(D - S)^+] / E[D]. Quantile-spread sigma -> gamma demand.
    mu, sd = 6.0, 4.0
    fc = _forecast(mean=mu)
    fc["q90"] = mu + stats.norm.ppf(0.9) * sd
    pol = _policy([("A", "D1", 0, 1, np.nan)])
    pol["fill_rate"] = 0.97
    row = compute_safety_stock(fc, None, pol).iloc[0]
    assert row["distribution"] == "gamma"
    k, th = (mu / sd) ** 2, sd**2 / mu
    d = np.random.default_rng(8).gamma(k, th, 1_000_000)
    fill = 1 - np.mean(np.clip(d - row["order_up_to"], 0, None)) / np.mean(d)
    assert fill == pytest.approx(0.97, abs=1.5e-3)


def test_empirical_fill_rate_solves_the_sample_loss():
    skewed = _iid_errors(lambda r, s: r.exponential(3, s) - 3, 300, 2, seed=9)
    pol = _policy([("A", "D1", 1, 1, 0.9)])
    pol["fill_rate"] = 0.98
    row = compute_safety_stock(_forecast(mean=10.0), skewed, pol).iloc[0]
    assert row["distribution"] == "empirical"
    summed = skewed.groupby("origin")["error"].sum().to_numpy()
    assert np.mean(np.clip(summed - row["safety_stock"], 0, None)) == pytest.approx(0.02 * 10.0, rel=1e-6)


def test_lead_time_variability_adds_mean_squared_sigma_l():
    fc = _forecast(mean=12.0, sigma_step=2.0)
    pol = _policy([("A", "D1", 3, 1, 0.95)])
    base = compute_safety_stock(fc, None, pol, distribution="normal").iloc[0]
    pol["lead_time_sd"] = 1.5
    row = compute_safety_stock(fc, None, pol, distribution="normal").iloc[0]
    # Silver, Pyke and Peterson: sigma^2 = E[P] sigma_d^2 + d^2 sigma_L^2.
    assert base["sigma_protection"] == pytest.approx(2.0 * 2.0)
    assert row["sigma_protection"] == pytest.approx(np.sqrt(4 * 2.0**2 + 12.0**2 * 1.5**2))
    assert row["safety_stock"] == pytest.approx(stats.norm.ppf(0.95) * row["sigma_protection"])
    assert row["lead_time_sd"] == 1.5


def test_fill_rate_and_lead_time_sd_are_validated():
    pol = _policy([("A", "D1", 1, 1, 0.9)])
    with pytest.raises(ValueError, match="fill_rate"):
        compute_safety_stock(_forecast(), None, pol.assign(fill_rate=1.0))
    with pytest.raises(ValueError, match="lead_time_sd"):
        compute_safety_stock(_forecast(), None, pol.assign(lead_time_sd=-1.0))
    # A fill rate for a key without demand is vacuous: the CSL applies.
    row = compute_safety_stock(_forecast(mean=0.0), None, pol.assign(fill_rate=0.99)).iloc[0]
    assert row["target_type"] == "cycle_service_level"


def test_dc_row_pools_its_dealers_forecasts_and_errors_origin_by_origin():
    # Two dealers under DC with independent errors: the DC's spread is the spread of the
    # summed errors (about sqrt(2) x one dealer's), not the sum of the two spreads.
    fc = pd.concat([_forecast("A", loc, 4, 10.0) for loc in ("D1", "D2")], ignore_index=True)
    err = pd.concat([_errors(0.0, 3.0, 40, 4, seed, loc=loc) for seed, loc in ((1, "D1"), (2, "D2"))])
    pol = _policy([("A", "D1", 1, 1, 0.95), ("A", "D2", 1, 1, 0.95), ("A", "DC", 2, 1, 0.95)])
    pol["parent"] = ["DC", "DC", "PLANT"]
    ss = compute_safety_stock(fc, err, pol, distribution="normal").set_index("location")
    assert ss.loc["DC", "mean_protection_demand"] == pytest.approx(2 * 3 * 10.0)
    summed = err.groupby(["origin", "step"])["error"].sum().unstack()
    expected = np.sqrt((summed[[1, 2, 3]].sum(axis=1) ** 2).mean())
    assert ss.loc["DC", "sigma_protection"] == pytest.approx(expected)
    assert ss.loc["DC", "method"] == "errors_summed"
    assert ss.loc["DC", "sigma_protection"] < ss.loc["D1", "sigma_protection"] * 1.5 * 1.5
    # without the parent column the DC row has no demand
    alone = compute_safety_stock(fc, err, pol.drop(columns="parent")).set_index("location")
    assert alone.loc["DC", "safety_stock"] == 0 and alone.loc["DC", "method"] == "no_data"


def test_a_dc_shipping_lots_protects_the_lumpiness_of_its_outflow():
    # Dealers D1, D2 sell 10 / period and are served in lots of 25; the DC's protection
    # period is 3 (lead 2 + review 1): each dealer's expected draw m = 30 is one lot plus
    # r = 5 units, i.e. one or two lots (a second with probability 5 / 25), variance
    # r (Q - r) = 5 x 20 = 100 per dealer on top of the pooled consumer-demand spread.
    fc = pd.concat([_forecast("A", loc, 4, 10.0) for loc in ("D1", "D2")], ignore_index=True)
    err = pd.concat([_errors(0.0, 3.0, 40, 4, seed, loc=loc) for seed, loc in ((1, "D1"), (2, "D2"))])
    pol = _policy([("A", "D1", 1, 1, 0.95), ("A", "D2", 1, 1, 0.95), ("A", "DC", 2, 1, 0.95)])
    pol["parent"] = ["DC", "DC", "PLANT"]
    pieces = compute_safety_stock(fc, err, pol.assign(lot_size=1.0), distribution="normal").set_index("location")
    lots = compute_safety_stock(fc, err, pol.assign(lot_size=[25.0, 25.0, 1.0]), distribution="normal").set_index("location")
    assert lots.loc["DC", "sigma_protection"] ** 2 == pytest.approx(pieces.loc["DC", "sigma_protection"] ** 2 + 2 * 100.0)
    assert lots.loc["DC", "safety_stock"] > pieces.loc["DC", "safety_stock"]
    # the dealers' own spreads do not change (their lots only lengthen their cycles)
    assert lots.loc["D1", "sigma_protection"] == pytest.approx(pieces.loc["D1", "sigma_protection"])
    # a lot that divides the draw exactly (m = 30 = 3 lots of 10) adds nothing
    exact = compute_safety_stock(fc, err, pol.assign(lot_size=[10.0, 10.0, 1.0]), distribution="normal").set_index("location")
    assert exact.loc["DC", "sigma_protection"] == pytest.approx(pieces.loc["DC", "sigma_protection"])


def test_fill_rate_cycle_demand_is_at_least_one_lot():
    fc = _forecast("A", "D1", 4, 2.0)
    err = _errors(0.0, 2.0, 40, 4, 5)
    pol = _policy([("A", "D1", 1, 1, 0.95)]).assign(fill_rate=0.98)
    one = compute_safety_stock(fc, err, pol, distribution="normal", fill_model="cycle").iloc[0]
    lot = compute_safety_stock(fc, err, pol.assign(lot_size=12.0), distribution="normal", fill_model="cycle").iloc[0]
    # the classic model: expected shortage per cycle = (1 - fill rate) x Q, with Q = 2
    # (one period) or 12 (the lot)
    assert one["expected_shortage"] == pytest.approx(0.02 * 2.0, rel=1e-6)
    assert lot["expected_shortage"] == pytest.approx(0.02 * 12.0, rel=1e-6)
    assert lot["safety_stock"] < one["safety_stock"]


def test_increment_fill_model_allows_the_target_shortage_per_period():
    fc = _forecast("A", "D1", 4, 2.0)
    err = _errors(0.0, 2.0, 40, 4, 5)
    pol = _policy([("A", "D1", 1, 1, 0.95)]).assign(fill_rate=0.98)
    one = compute_safety_stock(fc, err, pol, distribution="normal").iloc[0]
    lot = compute_safety_stock(fc, err, pol.assign(lot_size=12.0), distribution="normal").iloc[0]
    classic = compute_safety_stock(fc, err, pol, distribution="normal", fill_model="cycle").iloc[0]
    # (1 - fill rate) x mean demand per period (R = 1) is short, lot or not
    assert one["expected_shortage"] == pytest.approx(0.02 * 2.0, rel=1e-6)
    assert lot["expected_shortage"] == pytest.approx(0.02 * 2.0, rel=1e-6)
    # the lot protects most of the cycle; the classic model counts the lead time's
    # shortage again, so it holds more for the same target
    assert lot["safety_stock"] < one["safety_stock"] < classic["safety_stock"]
    with pytest.raises(ValueError, match="fill_model"):
        compute_safety_stock(fc, err, pol, fill_model="exact")


def _seasonal_errors(b, n_keys=60, n_origins=13, steps=2, seed=0):
    """Errors whose spread is proportional to level^b, the level moving with a season."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_keys):
        base = rng.uniform(5, 200)
        for o in range(n_origins):
            level = base * (1 + 0.6 * np.sin(2 * np.pi * o / n_origins))  # per period
            for step in range(1, steps + 1):
                sd = 0.5 * level**b
                rows.append(("A", f"D{k}", pd.Timestamp("2020-01-06") + pd.Timedelta(weeks=4 * o), step,
                             rng.normal(0, sd), level))
    return pd.DataFrame(rows, columns=["sku", "location", "origin", "step", "error", "forecast"])


@pytest.mark.parametrize("b", [0.0, 0.5, 1.0])
def test_level_exponent_recovers_how_errors_grow_with_the_level(b):
    err = _seasonal_errors(b)
    assert level_exponent_of(err) == pytest.approx(b, abs=0.12)
    # without the forecast column there is nothing to estimate from: no adjustment
    assert level_exponent_of(err.drop(columns="forecast")) == 0.0


def test_errors_are_brought_to_todays_level():
    # one key, errors made at a level of 10 per period with sd 2 per step, today 20 per period
    rng = np.random.default_rng(3)
    n = 4000
    rows = [("A", "D1", pd.Timestamp("2020-01-06") + pd.Timedelta(weeks=o), k, e, 10.0)
            for o, errs in enumerate(rng.normal(0, 2.0, (n, 2))) for k, e in zip((1, 2), errs)]
    err = pd.DataFrame(rows, columns=["sku", "location", "origin", "step", "error", "forecast"])
    pol = _policy([("A", "D1", 1, 1, 0.95)])
    fc = _forecast(mean=20.0)
    flat = compute_safety_stock(fc, err, pol, level_exponent=0.0).iloc[0]
    half = compute_safety_stock(fc, err, pol, level_exponent=0.5).iloc[0]
    full = compute_safety_stock(fc, err, pol, level_exponent=1.0).iloc[0]
    assert flat["sigma_protection"] == pytest.approx(2.0 * np.sqrt(2), rel=0.04)
    assert half["sigma_protection"] == pytest.approx(flat["sigma_protection"] * np.sqrt(2), rel=1e-9)
    assert full["sigma_protection"] == pytest.approx(flat["sigma_protection"] * 2, rel=1e-9)
    assert full["level_exponent"] == 1.0 and flat["level_exponent"] == 0.0
    # an errors table without the backtest forecast: no adjustment whatever b is
    plain = compute_safety_stock(fc, err.drop(columns="forecast"), pol, level_exponent=1.0).iloc[0]
    assert plain["sigma_protection"] == pytest.approx(flat["sigma_protection"], rel=1e-12)
    assert plain["level_exponent"] == 0.0
    # the ratio is bounded: a level 100x the backtest's scales errors by 4^b at most
    huge = compute_safety_stock(_forecast(mean=1000.0), err, pol, level_exponent=1.0).iloc[0]
    assert huge["sigma_protection"] == pytest.approx(flat["sigma_protection"] * 4, rel=1e-9)


def test_bad_level_exponent_is_rejected():
    with pytest.raises(ValueError, match="level_exponent"):
        compute_safety_stock(_forecast(), None, _policy([("A", "D1", 1, 1, 0.95)]), level_exponent=-1)


def test_fill_group_meets_the_aggregate_fill_with_fewer_units():
    rng = np.random.default_rng(7)
    n = 40
    rows, fcs, errs = [], [], []
    for i in range(n):
        loc = f"D{i}"
        level = float(rng.choice([0.5, 3.0, 20.0, 80.0]))
        fcs.append(_forecast(loc=loc, mean=level))
        e = _errors(0.0, np.sqrt(level) * rng.uniform(0.8, 2.0), n_origins=60, steps=4, seed=i, loc=loc)
        errs.append(e.assign(error=e["error"] + rng.normal(0, 0.2, len(e)) * level))  # some skewless noise
        rows.append(("A", loc, 1, 1, 0.95))
    fc, err = pd.concat(fcs), pd.concat(errs)
    pol = _policy(rows).assign(fill_rate=0.97, lot_size=rng.choice([1.0, 10.0, 50.0], n))
    for model in ("cycle", "increment"):
        each = compute_safety_stock(fc, err, pol, fill_model=model)
        group = compute_safety_stock(fc, err, pol.assign(fill_group="vmi"), fill_model=model)
        assert (group["target_type"] == "aggregate_fill_rate").all() and (each["target_type"] == "fill_rate").all()
        d = group["mean_protection_demand"] / group["protection_periods"]
        # units short per period: the classic model's shortage per cycle of max(d, lot)
        # units, the increment model's shortage per review period (R = 1)
        per_period = d / np.maximum(d, pol["lot_size"]) if model == "cycle" else 1.0
        for res in (each, group):
            fill = 1 - (res["expected_shortage"] * per_period).sum() / d.sum()
            assert fill >= 0.97 - 1e-6
            if res is group:
                # met, not overshot (the empirical rows' steps allow a little slack)
                assert fill == pytest.approx(0.97, abs=2e-4 if model == "cycle" else 6e-4)
        assert group["safety_stock"].sum() < each["safety_stock"].sum()
        assert set(group["distribution"]) == set(each["distribution"])  # each row keeps its own distribution
        # rows outside the group, or without a group, keep their own targets
        mixed = compute_safety_stock(fc, err, pol.assign(fill_group=["vmi"] * 20 + [None] * 20), fill_model=model)
        pd.testing.assert_series_equal(mixed["safety_stock"].iloc[20:], each["safety_stock"].iloc[20:])


def _spaced_errors(weekly, phase, spacing=4, horizon=13, sku="A", loc="D1", forecast=None):
    """Backtest errors with origins every ``spacing`` weeks from week ``phase``: the error
    of origin ``o`` at step ``h`` is ``weekly[o + h]`` (the same calendar week errs the
    same whichever origin forecast it), with the calendar ``date`` of every step."""
    start = pd.Timestamp("2020-01-06")
    rows = []
    for o in range(phase, len(weekly) - horizon, spacing):
        for h in range(1, horizon + 1):
            rows.append((sku, loc, start + pd.Timedelta(weeks=o), h, float(weekly[o + h]),
                         start + pd.Timedelta(weeks=o + h)))
    err = pd.DataFrame(rows, columns=["sku", "location", "origin", "step", "error", "date"])
    if forecast is not None:
        err["forecast"] = forecast
    return err


def test_every_period_of_a_spaced_backtest_starts_a_window():
    # Origins 4 weeks apart: steps 1..P of each origin see only half the weeks (P = 2), so
    # whether a demand spike counts depends on where the origins happen to fall. Windows
    # starting at every step up to the spacing see every week once, whatever the phase.
    rng = np.random.default_rng(11)
    weekly = rng.normal(0.0, 1.0, 120)
    weekly[[21, 22, 61, 62, 101]] += 25.0  # spikes at steps 1-2 of phase-0 origins, 3-4 of phase-2 ones
    pol = _policy([("A", "D1", 1, 1, 0.95)])
    fc = _forecast()
    got = {}
    for phase in (0, 2):
        err = _spaced_errors(weekly, phase)
        new = compute_safety_stock(fc, err, pol).iloc[0]
        old = compute_safety_stock(fc, err.drop(columns="date"), pol).iloc[0]  # no calendar: steps 1..P only
        origins = err["origin"].unique()
        offsets = [(o - pd.Timestamp("2020-01-06")).days // 7 for o in origins]
        # every origin's windows starting at steps 1..4: weeks o+h, o+h+1
        windows = [weekly[o + h] + weekly[o + h + 1] for o in offsets for h in range(1, 5)]
        assert new["sigma_protection"] == pytest.approx(np.sqrt(np.mean(np.square(windows))), rel=1e-9)
        assert new["n_origins"] == len(origins) == old["n_origins"]
        got[phase] = (new["sigma_protection"], old["sigma_protection"])
    (new0, old0), (new2, old2) = got[0], got[2]
    assert old0 > 2.0 * old2  # the old estimate is a lottery of the origins' phase
    assert new0 == pytest.approx(new2, rel=0.1)


def test_windows_starting_later_are_brought_to_the_first_step_error():
    # 40 keys whose step-h errors have sd 1 + 0.25 (h - 1), independent: windows starting
    # at step 4 err more than the protection period's steps 1..2, and are scaled back.
    rng = np.random.default_rng(5)
    frames = []
    for k in range(40):
        err = _spaced_errors(np.zeros(400), 0, sku=f"S{k}")
        err["error"] = rng.normal(0.0, 1.0 + 0.25 * (err["step"] - 1))
        frames.append(err)
    err = pd.concat(frames, ignore_index=True)
    pol = pd.DataFrame({"sku": [f"S{k}" for k in range(40)], "location": "D1", "lead_time": 1,
                        "review_period": 1, "service_level": 0.95})
    fc = pd.concat([_forecast().assign(sku=f"S{k}") for k in range(40)], ignore_index=True)
    ss = compute_safety_stock(fc, err, pol)
    exact = np.sqrt(1.0**2 + 1.25**2)  # steps 1 and 2
    assert ss["sigma_protection"].mean() == pytest.approx(exact, rel=0.03)
    # a single key has no pool to learn the growth from: its windows count as they are
    one = compute_safety_stock(_forecast(), err.loc[err["sku"] == "S0"].assign(sku="A"), _policy([("A", "D1", 1, 1, 0.95)]))
    unscaled = err.loc[err["sku"] == "S0"].pivot_table(index="origin", columns="step", values="error")
    windows = np.concatenate([(unscaled[h] + unscaled[h + 1]).to_numpy() for h in range(1, 5)])
    assert one.iloc[0]["sigma_protection"] == pytest.approx(np.sqrt(np.mean(windows**2)), rel=1e-9)


def _panel(spread, n_origins=13, seed=0, mean=20.0):
    """Rows (sku, location) with iid normal errors of per-step sd ``spread[s, l]``, P = 2."""
    rng = np.random.default_rng(seed)
    S, L = spread.shape
    keys = [(f"S{s}", f"L{l}") for s in range(S) for l in range(L)]
    fc = pd.concat([_forecast(sku, loc, mean=mean) for sku, loc in keys], ignore_index=True)
    origins = pd.Timestamp("2023-01-02") + pd.to_timedelta(np.arange(n_origins), unit="W")
    e = rng.normal(size=(S, L, n_origins, 4)) * spread[:, :, None, None]
    idx = pd.MultiIndex.from_product([range(S), range(L), range(n_origins), range(4)], names=["s", "l", "o", "k"]).to_frame(index=False)
    err = pd.DataFrame({"sku": "S" + idx["s"].astype(str), "location": "L" + idx["l"].astype(str),
                        "origin": origins[idx["o"]], "step": idx["k"] + 1, "error": e.ravel()})
    pol = _policy([(sku, loc, 1, 1, 0.95) for sku, loc in keys])
    true = pd.Series(spread.ravel() * np.sqrt(2.0), index=pd.MultiIndex.from_tuples(keys, names=["sku", "location"]))
    return fc, err, pol, true


def _log_error(ss, true, column):
    got = ss.set_index(["sku", "location"])[column].reindex(true.index)
    return float(np.sqrt(np.mean(np.log(got / true) ** 2)))


def test_pooled_spread_takes_what_a_row_shares_with_its_sku_and_location():
    rng = np.random.default_rng(1)
    spread = np.exp(rng.normal(0, 0.5, (30, 1)) + rng.normal(0, 0.3, (1, 8)))  # sku x location effects only
    fc, err, pol, true = _panel(spread)
    ss = compute_safety_stock(fc, err, pol)
    own, pooled = _log_error(ss, true, "sigma_own"), _log_error(ss, true, "sigma_protection")
    assert own > 0.12  # 13 origins: about 20 % noise on one row's RMS
    assert pooled < 0.5 * own
    assert ss["spread_weight"].mean() < 0.3
    plain = compute_safety_stock(fc, err, pol, pool_spread=False)
    np.testing.assert_allclose(plain["sigma_protection"], ss["sigma_own"])
    assert (plain["spread_weight"] == 1).all()


def test_spreads_that_really_differ_by_row_stay_the_rows_own():
    rng = np.random.default_rng(2)
    spread = np.exp(rng.normal(0, 1.0, (30, 8)))  # nothing shared: every row its own
    fc, err, pol, true = _panel(spread, n_origins=40)
    ss = compute_safety_stock(fc, err, pol)
    assert ss["spread_weight"].mean() > 0.85
    assert _log_error(ss, true, "sigma_protection") <= 1.05 * _log_error(ss, true, "sigma_own")


def test_few_rows_are_not_pooled():
    fc, err, pol, _ = _panel(np.full((2, 3), 2.0))
    ss = compute_safety_stock(fc, err, pol)
    np.testing.assert_allclose(ss["sigma_protection"], ss["sigma_own"])
    assert (ss["spread_weight"] == 1).all()


def test_a_dc_pooling_its_dealers_keeps_its_own_spread():
    rng = np.random.default_rng(3)
    fc, err, pol, _ = _panel(np.exp(rng.normal(0, 0.5, (30, 1)) + rng.normal(0, 0.3, (1, 8))))
    pol["parent"] = "DC"
    dc = _policy([(f"S{s}", "DC", 2, 1, 0.95) for s in range(30)]).assign(parent=None)
    ss = compute_safety_stock(fc, err, pd.concat([pol, dc], ignore_index=True)).set_index("location")
    assert (ss.loc["DC", "spread_weight"] == 1).all() and (ss.loc["DC", "method"] == "errors_summed").all()
    np.testing.assert_allclose(ss.loc["DC", "sigma_protection"], ss.loc["DC", "sigma_own"])
    assert (ss.drop(index="DC")["spread_weight"] < 1).all()


def _order_up_to_fill(level, lead, lot, pack, demand):
    """Fill rate of a periodic order-up-to at ``level`` with backorders, simulated.

    Each period: order ``level - position`` (whole packs, at least the lot; it arrives
    ``lead`` periods later), receive what is due, then serve the demand from stock.
    """
    net, pipeline, short = level, [0.0] * (lead + 1), 0.0
    for t, d in enumerate(demand):
        gap = level - net - sum(pipeline)
        order = max(np.ceil(gap / pack - 1e-9) * pack, lot) if gap >= 0.5 else 0.0
        pipeline[lead] += order
        net += pipeline.pop(0)
        pipeline.append(0.0)
        short += d - min(d, max(net, 0.0))
        net -= d
    return 1.0 - short / demand.sum()


@pytest.mark.parametrize("lot", [1.0, 12.0, 20.0, 40.0])
def test_increment_fill_model_meets_the_fill_rate_of_a_lot_sized_order_up_to(lot):
    # Demand i.i.d. (negative binomial) with mean 4 and sd 3 per week, lead time 1 week,
    # review every week, orders of at least 1, 12, 20 or 40 units (up to 10 weeks): the
    # simulated fill of the level the model sets is the target within half a point (the
    # model's approximations: a gamma for a count, a uniform position after ordering;
    # sampling error of 150,000 weeks is ~0.1 point), where the classic per-cycle formula
    # overshoots by more. A lot of 10 weeks
    # serves the target with no safety stock at all (safety stock is never negative).
    mu, sd, target = 4.0, 3.0, 0.95
    fc = _forecast(mean=mu, periods=4, sigma_step=sd)
    pol = _policy([("A", "D1", 1, 1, np.nan)]).assign(fill_rate=target, lot_size=lot, case_pack=1.0)
    rng = np.random.default_rng(11)
    n_nb = mu**2 / (sd**2 - mu)
    demand = rng.negative_binomial(n_nb, n_nb / (n_nb + mu), 150_000).astype(float)
    fills, rows = {}, {}
    for model in ("increment", "cycle"):
        rows[model] = row = compute_safety_stock(fc, None, pol, fill_model=model).iloc[0]
        assert row["distribution"] == "gamma"
        fills[model] = _order_up_to_fill(row["order_up_to"], 1, lot, 1.0, demand)
    if lot < 40:
        assert rows["increment"]["safety_stock"] > 0
        assert fills["increment"] == pytest.approx(target, abs=0.005)
        assert fills["cycle"] > fills["increment"] + 0.003
    else:
        assert rows["increment"]["safety_stock"] == 0 and fills["increment"] >= target


def _dealers_under_a_dc(dc_service=0.8):
    """Three dealers with normal demand under one DC whose stock is planned in the same table."""
    mus, sds = np.array([10.0, 20.0, 40.0]), np.array([3.0, 5.0, 10.0])
    dealers = ["D0", "D1", "D2"]
    fc = pd.concat([_forecast("A", loc, 6, m) for loc, m in zip(dealers, mus)], ignore_index=True)
    err = pd.concat([_errors(0.0, s, 400, 6, i, loc=loc) for i, (loc, s) in enumerate(zip(dealers, sds))])
    pol = _policy([("A", loc, 1, 1, 0.9) for loc in dealers] + [("A", "DC", 2, 1, dc_service)])
    pol["parent"] = ["DC"] * 3 + ["PLANT"]
    pol["fill_rate"] = [0.95] * 3 + [np.nan]
    return mus, sds, fc, err, pol


def test_a_dealer_waits_for_its_dcs_backorders():
    # W = E[B_DC] / d_DC periods for every dealer of the DC. A dealer with a cycle service
    # level gets METRIC's mean delay: its levels rise by its own demand over W. Fill-rate
    # dealers (the lot-sized fill model) plan against the DC's stock-out itself: with
    # probability pi (1 - the DC's cdf at its level) their replenishment comes short by
    # their share of the DC's backorders when it is short, and their fill target holds
    # for that mixture. The DC and rows without a planned supplier wait 0.
    mus, _, fc, err, pol = _dealers_under_a_dc()
    pol.loc[pol["location"] == "D1", "fill_rate"] = np.nan  # D1 keeps its cycle service level
    ss = compute_safety_stock(fc, err, pol).set_index("location")
    plain = compute_safety_stock(fc, err, pol, supplier_delay=False).set_index("location")
    wait = ss.loc["DC", "expected_shortage"] / mus.sum()
    assert wait > 0.01
    np.testing.assert_allclose(ss.loc[["D0", "D1", "D2"], "supplier_delay"], wait)
    for col in ("safety_stock", "reorder_point", "order_up_to"):
        assert ss.loc["D1", col] == pytest.approx(plain.loc["D1", col] + mus[1] * wait)
    assert ss.loc["D1", "supplier_risk"] == 0
    np.testing.assert_allclose(ss.loc[["D0", "D2"], "supplier_risk"], 1 - 0.8, rtol=1e-6)
    for loc, mu in (("D0", mus[0]), ("D2", mus[2])):
        # the target shortage (5 % of a period's demand), now including the DC's stock-outs
        assert ss.loc[loc, "expected_shortage"] == pytest.approx(0.05 * mu, rel=1e-3)
        assert plain.loc[loc, "expected_shortage"] == pytest.approx(0.05 * mu, rel=1e-3)
        # at least METRIC's mean shift (the shortage is convex in the gap)
        assert ss.loc[loc, "order_up_to"] > plain.loc[loc, "order_up_to"] + mu * wait
    assert ss.loc["DC", "supplier_delay"] == 0 and ss.loc["DC", "order_up_to"] == plain.loc["DC", "order_up_to"]
    assert (plain["supplier_delay"] == 0).all() and (plain["supplier_risk"] == 0).all()
    # a DC that rarely runs out delays its dealers less
    safer = compute_safety_stock(fc, err, _dealers_under_a_dc(0.99)[4]).set_index("location")
    assert 0 < safer.loc["D0", "supplier_delay"] < 0.2 * wait
    # without the parent link there is no supplier to wait for
    alone = compute_safety_stock(fc, err, pol.drop(columns="parent"))
    assert (alone["supplier_delay"] == 0).all()


def test_a_dealer_waits_no_longer_than_its_dcs_protection_period():
    # Lumpy demand at the DC (errors 8x the mean; a gamma with a heavy tail, since 15
    # origins are too few for the normality test) puts the DC's expected backorders when
    # short at many periods of its demand. Its receipts arrive within its protection
    # period (2 + 1), so a dealer's gap is at most 3 periods of its own demand, and its
    # target stays within reach.
    dealers = ["D0", "D1"]
    fc = pd.concat([_forecast("A", loc, 6, 0.5) for loc in dealers], ignore_index=True)
    err = pd.concat([_errors(0.0, 4.0, 15, 6, i, loc=loc) for i, loc in enumerate(dealers)])
    pol = _policy([("A", loc, 1, 1, 0.9) for loc in dealers] + [("A", "DC", 2, 1, 0.9)])
    pol["parent"] = ["DC", "DC", "PLANT"]
    pol["fill_rate"] = [0.95, 0.95, np.nan]
    ss = compute_safety_stock(fc, err, pol).set_index("location")
    assert ss.loc["DC", "distribution"] == "gamma"
    uncapped = ss.loc["DC", "expected_shortage"] / 1.0
    risk = ss.loc[dealers, "supplier_risk"].to_numpy()
    np.testing.assert_allclose(risk, 0.1, rtol=1e-6)
    assert uncapped / 0.1 > 3  # E[B] / (pi d) would be longer than the protection period
    np.testing.assert_allclose(ss.loc[dealers, "supplier_delay"], 0.1 * 3)
    assert ss.loc[dealers, "expected_shortage"].to_numpy() == pytest.approx(0.05 * 0.5, rel=1e-3)


def _two_echelon_fill(levels, dc_level, demand, lead_dealer=1, lead_dc=2):
    """Dealer fill rate behind a DC, both periodic order-up-to with backorders, simulated.

    Each period the DC receives what is due and orders what it shipped the period before
    (so its position after ordering covers its lead time plus one review period, the
    protection period of its row), the dealers order up to their levels, the DC ships
    what it owes them, pro rata when short, shipments arrive ``lead_dealer`` periods
    later, and the dealers serve the period's demand from stock.
    """
    n_t, n = demand.shape
    net, pipe, owed = levels.astype(float).copy(), np.zeros((lead_dealer + 1, n)), np.zeros(n)
    dc_on, dc_pipe, shipped_before, short = float(dc_level), np.zeros(lead_dc + 1), 0.0, 0.0
    for t in range(n_t):
        order = np.maximum(levels - (net + pipe.sum(axis=0) + owed), 0.0)
        dc_on += dc_pipe[0]
        dc_pipe = np.roll(dc_pipe, -1)
        dc_pipe[-1] = 0.0
        due = owed + order
        ship = due * min(1.0, dc_on / due.sum()) if due.sum() > 0 else due
        owed, dc_on = due - ship, dc_on - ship.sum()
        dc_pipe[lead_dc - 1] += shipped_before
        shipped_before = order.sum()
        pipe[lead_dealer] += ship
        net += pipe[0]
        pipe = np.roll(pipe, -1, axis=0)
        pipe[-1] = 0.0
        short += (demand[t] - np.minimum(demand[t], np.maximum(net, 0.0))).sum()
        net -= demand[t]
    return 1.0 - short / demand.sum()


def test_counting_the_dcs_delay_keeps_the_dealers_fill_rate_behind_a_dc_that_runs_out():
    # The dealers' fill-rate levels assume a supplier that always ships; behind a DC at a
    # cycle service level of 0.8 they lose about a point of their 0.95. Planned against
    # the DC's stock-outs, most of it comes back. 120,000 periods: sampling error ~0.05
    # point.
    mus, sds, fc, err, pol = _dealers_under_a_dc(0.8)
    demand = np.clip(np.random.default_rng(5).normal(mus, sds, (120_000, 3)), 0.0, None)
    fills = {}
    for flag in (False, True):
        ss = compute_safety_stock(fc, err, pol, supplier_delay=flag).set_index("location")
        assert (ss["distribution"] == "normal").all()
        fills[flag] = _two_echelon_fill(ss.loc[["D0", "D1", "D2"], "order_up_to"].to_numpy(),
                                        ss.loc["DC", "order_up_to"], demand)
    assert fills[False] < 0.95 - 0.007
    assert fills[True] > 0.95 - 0.003
    assert 0.95 - fills[True] < 0.3 * (0.95 - fills[False])
