"""The fill model of a lot-sized order-up-to (optimization.fill_model)."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from optimization.fill_model import (
    ProtectionPair,
    gamma_second_order_loss,
    lead_spread_ratio,
    overshoot_range,
    second_order_normal_loss,
    solve_fill,
    solve_group_fill,
)


@pytest.mark.parametrize("z", [-2.0, 0.0, 0.7, 2.5])
def test_second_order_normal_loss_integrates_the_loss(z):
    loss = lambda u: stats.norm.pdf(u) - u * stats.norm.sf(u)  # noqa: E731
    assert second_order_normal_loss(z) == pytest.approx(integrate.quad(loss, z, np.inf)[0], rel=1e-7)


@pytest.mark.parametrize("y", [-1.0, 0.0, 3.0, 12.0])
def test_gamma_second_order_loss_is_half_the_squared_excess(y):
    k, th = 1.7, 2.5
    d = stats.gamma(k, scale=th)
    expected = 0.5 * integrate.quad(lambda u: max(u - y, 0.0) ** 2 * d.pdf(u), 0, np.inf, limit=200)[0]
    assert gamma_second_order_loss(y, k, th) == pytest.approx(expected, rel=1e-6)


def _pair(kind, lot, mu=4.0, sd=3.0):
    """One row: i.i.d. demand per period (mean mu, sd sd), L = 1, R = 1."""
    return ProtectionPair(np.array([kind], dtype=object), np.array([2 * mu]), np.array([sd * np.sqrt(2)]),
                          np.array([mu]), np.array([sd]), np.array([lot]), np.array([1.0]))


@pytest.mark.parametrize("kind", ["gamma", "normal"])
@pytest.mark.parametrize("lot", [0.0, 12.0, 40.0])
def test_shortage_is_the_mean_increment_over_a_uniform_position(kind, lot):
    # Monte Carlo of the definition: position S + U (U uniform over [-1/2, q - 1/2) for
    # whole units, 0 without lots), new shortage (D1 + D2 - y)^+ - (D1 - y)^+.
    mu, sd, level = 4.0, 3.0, 9.0
    rng = np.random.default_rng(5)
    n = 2_000_000
    if kind == "gamma":
        k, th = (mu / sd) ** 2, sd**2 / mu
        d1, d2 = rng.gamma(k, th, n), rng.gamma(k, th, n)
    else:
        d1, d2 = rng.normal(mu, sd, n), rng.normal(mu, sd, n)
    y = level + (rng.uniform(-0.5, lot - 0.5, n) if lot >= 1 else 0.0)
    mc = np.mean(np.clip(d1 + d2 - y, 0, None) - np.clip(d1 - y, 0, None))
    se = np.std(np.clip(d1 + d2 - y, 0, None) - np.clip(d1 - y, 0, None)) / np.sqrt(n)
    got = _pair(kind, lot).shortage(np.array([level]))[0]
    assert got == pytest.approx(mc, abs=4 * se + 1e-9)
    # the slope is the derivative of the shortage
    h = 1e-4
    pair = _pair(kind, lot)
    numeric = (pair.shortage(np.array([level + h])) - pair.shortage(np.array([level - h])))[0] / (2 * h)
    assert pair.slope(np.array([level]))[0] == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_behind_a_supplier_that_runs_out_the_shortage_is_the_mixture():
    # Two rows; the second's supplier comes 6 units short with probability 0.1 per period.
    both = ProtectionPair(np.array(["gamma", "normal"], dtype=object), np.array([8.0, 8.0]), np.array([4.2, 4.2]),
                          np.array([4.0, 4.0]), np.array([3.0, 3.0]), np.array([12.0, 0.0]), np.array([1.0, 1.0]))
    risky = both.with_supply(np.array([0.0, 0.1]), np.array([0.0, 6.0]))
    level = np.array([9.0, 11.0])
    plain, mixed = both.shortage(level), risky.shortage(level)
    assert mixed[0] == plain[0]
    expected = 0.9 * plain[1] + 0.1 * both.take(np.array([1])).shortage(np.array([5.0]))[0]
    assert mixed[1] == pytest.approx(expected, rel=1e-12)
    assert mixed[1] > plain[1]
    # the slope is still the shortage's derivative, and a subset keeps its supplier
    h = 1e-4
    numeric = (risky.shortage(level + h) - risky.shortage(level - h)) / (2 * h)
    np.testing.assert_allclose(risky.slope(level), numeric, rtol=1e-4, atol=1e-8)
    assert risky.take(np.array([1])).shortage(level[1:])[0] == pytest.approx(mixed[1], rel=1e-12)
    # so the row needs more stock for the same target
    assert solve_fill(risky, plain)[1] > solve_fill(both, plain)[1] + 0.1


def test_a_larger_lot_needs_less_safety_stock_for_the_same_fill():
    pairs = [_pair("gamma", lot) for lot in (1.0, 8.0, 20.0)]
    safety = [solve_fill(p, np.array([0.03 * 4.0]))[0] for p in pairs]
    assert safety[0] > safety[1] > safety[2] >= 0.0
    for p, s in zip(pairs, safety):
        if s > 0:
            assert p.shortage(np.array([8.0 + s]))[0] == pytest.approx(0.03 * 4.0, rel=1e-6)


def test_overshoot_is_the_lot_when_it_exceeds_a_review_periods_demand():
    q = overshoot_range(np.array([4.0, 4.0, 4.0, 4.0]), np.array([1.0, 1.0, 2.0, 1.0]),
                        np.array([12.0, 3.0, 6.0, 0.0]), np.array([3.0, 3.0, 2.0, np.nan]))
    # 12 >= 4: the lot; 3 < 4: one case pack; 6 < 2 x 4: one case pack; no rules: 0
    np.testing.assert_allclose(q, [12.0, 3.0, 2.0, 0.0])
    # a lot without a case pack still means whole units
    assert overshoot_range(np.array([4.0]), np.array([1.0]), np.array([2.0]), None)[0] == 1.0


def _wide(shared_sd, own_sd, n_origins=40000, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    err = rng.normal(0, shared_sd, (n_origins, 1)) + rng.normal(0, own_sd, (n_origins, steps))
    index = pd.MultiIndex.from_arrays([["A"] * n_origins, ["D1"] * n_origins, np.arange(n_origins)],
                                      names=["sku", "location", "origin"])
    return pd.DataFrame(err, index=index, columns=range(1, steps + 1))


def test_lead_spread_ratio_follows_the_error_structure():
    lead, periods = np.array([1, 2, 0]), np.array([2, 3, 1])
    independent = lead_spread_ratio(_wide(0.0, 2.0), lead, periods)
    level = lead_spread_ratio(_wide(3.0, 0.0), lead, periods)
    np.testing.assert_allclose(independent, [np.sqrt(1 / 2), np.sqrt(2 / 3), 0.0], atol=0.01)
    np.testing.assert_allclose(level, [1 / 2, 2 / 3, 0.0], atol=1e-9)
    # without errors: independent steps
    np.testing.assert_allclose(lead_spread_ratio(None, lead, periods), [np.sqrt(1 / 2), np.sqrt(2 / 3), 0.0])


def test_group_fill_meets_the_aggregate_with_fewer_units_than_each_row():
    rng = np.random.default_rng(3)
    n = 200
    mu = rng.uniform(0.5, 40.0, n)
    sd = np.sqrt(mu) * rng.uniform(0.8, 2.5, n)
    lot = rng.choice([1.0, 10.0, 50.0], n)
    pair = ProtectionPair(np.array(["gamma"] * n, dtype=object), 2 * mu, sd * np.sqrt(2), mu, sd,
                          overshoot_range(mu, np.ones(n), lot, np.ones(n)), np.ones(n))
    beta = np.full(n, 0.97)
    each = solve_fill(pair, (1 - beta) * mu)
    group, short = solve_group_fill(pair, mu, beta)
    fill = 1 - short.sum() / mu.sum()
    assert 0.97 <= fill <= 0.9705
    np.testing.assert_allclose(short, pair.shortage(2 * mu + group), rtol=1e-9)
    assert group.sum() < 0.97 * each.sum()
    assert (group >= 0).all() and (each >= 0).all()


def test_docstring_examples():
    import doctest

    import optimization.fill_model as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 2 and result.failed == 0
