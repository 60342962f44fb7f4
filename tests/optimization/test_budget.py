"""Budget-aware safety stock: the LP against the optimality conditions of the continuous problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimization.budget import BudgetError, allocate_safety_stock, continuous_allocation, continuous_fill_allocation
from optimization.safety_stock import fill_rate_safety_factor


def _keys(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "sku": [f"s{i}" for i in range(n)],
        "location": np.where(np.arange(n) % 2, "D1", "D2"),
        "sigma_protection": rng.uniform(1, 30, n),
        "unit_cost": rng.uniform(1, 50, n),
        "weight": rng.uniform(0.5, 2, n),
    })


def _exact(frame, x):
    s = frame["sigma_protection"].to_numpy()
    z = x / s
    return float(np.sum(frame["weight"] * s * (stats.norm.pdf(z) - z * stats.norm.sf(z))))


def _full_cost(frame, z_max=4.0):
    return float((frame["sigma_protection"] * z_max * frame["unit_cost"]).sum())


def test_kkt_equal_marginal_value_per_money_and_binding_budget():
    f = _keys()
    budget = 0.3 * _full_cost(f)
    res = allocate_safety_stock(f, budget=budget)
    assert res.status == "Optimal" and res.sol_status == 1
    a = res.allocation
    # The budget binds: spending less would leave shortage that money could remove.
    assert res.budget_used == pytest.approx(budget, rel=1e-7)
    lam = res.budget_shadow_price
    assert lam > 0
    # KKT of the PWL problem: at an interior x the tangent slopes on both sides of x
    # bracket lambda; i.e. w (1 - Phi(z)) / c = lambda within one breakpoint step.
    zk = res.breakpoints
    interior = (a["z"] > 1e-7) & (a["z"] < zk[-1] - 1e-7)
    assert interior.sum() > 0.8 * len(f)
    k = np.clip(np.searchsorted(zk, a["z"], side="right") - 1, 0, len(zk) - 2)
    ratio = f["weight"] / f["unit_cost"]
    hi = ratio * stats.norm.sf(zk[k])
    lo = ratio * stats.norm.sf(zk[k + 1])
    assert np.all((lo[interior] <= lam * (1 + 1e-6)) & (lam <= hi[interior] * (1 + 1e-6)))
    # Hence the marginal values of interior keys are equal within the PWL tolerance.
    mv = a.loc[interior, "marginal_value"]
    assert mv.max() / mv.min() < stats.norm.sf(0) / stats.norm.sf(zk[1]) * 1.5
    # The continuous problem's own multiplier and allocation agree.
    x_c, lam_c = continuous_allocation(f, budget)
    assert lam == pytest.approx(lam_c, rel=0.02)
    step = zk[1] - zk[0]
    assert np.all(np.abs(a["safety_stock"] - x_c) <= step * f["sigma_protection"] + 1e-6)
    # Tangent lines under-estimate G: LP objective <= continuous optimum <= exact cost of
    # the LP's allocation, and the gap is the PWL error (phi(0) step^2 / 8 per unit sigma).
    opt = _exact(f, x_c)
    got = _exact(f, a["safety_stock"].to_numpy())
    assert res.objective <= opt + 1e-6 <= got + 2e-6
    bound = float((f["weight"] * f["sigma_protection"]).sum()) * stats.norm.pdf(0) * step**2 / 8
    assert got - opt <= bound


def test_more_expensive_items_get_lower_service_and_zero_budget_gives_zero():
    f = pd.DataFrame({"sku": ["cheap", "dear"], "location": "D", "sigma_protection": [10.0, 10.0],
                      "unit_cost": [1.0, 9.0]})
    res = allocate_safety_stock(f, budget=60.0)
    a = res.allocation.set_index("sku")
    assert a.loc["cheap", "z"] > a.loc["dear", "z"]
    # Stationarity: (1 - Phi(z_cheap)) / 1 = (1 - Phi(z_dear)) / 9 within the PWL step.
    assert stats.norm.sf(a.loc["cheap", "z"]) * 9 == pytest.approx(stats.norm.sf(a.loc["dear", "z"]), rel=0.25)
    zero = allocate_safety_stock(f, budget=0.0)
    assert zero.allocation["safety_stock"].abs().max() < 1e-9
    assert zero.allocation["expected_shortage"].to_numpy() == pytest.approx(10 * stats.norm.pdf(0), rel=1e-9)


def test_ample_budget_is_slack_and_everything_at_the_cap():
    f = _keys(30, seed=1)
    res = allocate_safety_stock(f, budget=2 * _full_cost(f), z_max=3.0)
    assert res.allocation["z"].to_numpy() == pytest.approx(3.0)
    assert res.budget_shadow_price == pytest.approx(0.0, abs=1e-9)
    assert res.budget_used < 2 * _full_cost(f)


def test_space_cap_in_units_and_both_constraints():
    f = _keys(40, seed=2)
    f["unit_space"] = np.random.default_rng(3).uniform(0.1, 2.0, len(f))
    cap = 0.25 * float((f["sigma_protection"] * 4 * f["unit_space"]).sum())
    res = allocate_safety_stock(f, space=cap)
    assert res.space_used == pytest.approx(cap, rel=1e-7)
    a = res.allocation
    interior = (a["z"] > 0.05) & (a["z"] < 3.95)
    # Space is now the scarce resource: w (1 - Phi(z)) / v is levelled, not / c.
    per_space = f["weight"] * stats.norm.sf(a["z"]) / f["unit_space"]
    assert per_space[interior].max() / per_space[interior].min() < 1.6
    both = allocate_safety_stock(f, space=cap, budget=0.1 * _full_cost(f))
    assert both.space_used <= cap * (1 + 1e-7) and both.budget_used <= 0.1 * _full_cost(f) * (1 + 1e-7)
    assert both.objective >= res.objective - 1e-9


def test_zero_sigma_rows_get_nothing_and_inputs_are_validated():
    f = _keys(5, seed=4)
    f.loc[0, "sigma_protection"] = 0.0
    res = allocate_safety_stock(f, budget=100.0)
    assert res.allocation.loc[0, "safety_stock"] == 0 and res.allocation.loc[0, "service_level"] == 1.0
    with pytest.raises(ValueError, match="unit_cost"):
        allocate_safety_stock(f.assign(unit_cost=0.0), budget=1.0)
    with pytest.raises(ValueError, match="budget"):
        allocate_safety_stock(f, budget=-1.0)
    with pytest.raises(ValueError, match="space cap"):
        allocate_safety_stock(f)
    assert issubclass(BudgetError, RuntimeError)


def test_a_non_optimal_solve_is_reported_not_assumed(monkeypatch):
    import pulp

    def not_solved(self, solver=None, **kw):
        self.status, self.sol_status = pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound
        return self.status

    monkeypatch.setattr(pulp.LpProblem, "solve", not_solved)
    with pytest.raises(BudgetError, match="Not Solved"):
        allocate_safety_stock(_keys(3), budget=10.0)


# --- aggregate fill rate: the least stock for a demand-weighted fill rate ---------------

def _mixed(n=60, seed=0, unit_cost=None):
    """Half fast movers (lot of 1), half slow movers whose lot covers several periods."""
    rng = np.random.default_rng(seed)
    h = n // 2
    d = np.r_[rng.uniform(20, 60, h), rng.uniform(0.2, 2, n - h)]
    sigma = np.sqrt(3 * d) * np.r_[np.full(h, 1.2), np.full(n - h, 1.5)]
    lot = np.r_[np.ones(h), np.full(n - h, 6.0)]
    return pd.DataFrame({
        "sku": [f"s{i}" for i in range(n)], "location": "D",
        "sigma_protection": sigma,
        "unit_cost": 1.0 if unit_cost is None else unit_cost,
        "demand": d, "cycle_periods": np.maximum(1.0, lot / d),
    })


def _agg_fill(frame, x):
    s, d, r = (frame[c].to_numpy(float) for c in ("sigma_protection", "demand", "cycle_periods"))
    z = x / s
    short = s * (stats.norm.pdf(z) - z * stats.norm.sf(z)) / r
    return 1.0 - short.sum() / d.sum()


@pytest.mark.parametrize("f", [0.9, 0.98])
def test_fill_mode_meets_the_aggregate_fill_exactly_at_least_cost(f):
    frame = _mixed(unit_cost=np.random.default_rng(1).uniform(1, 20, 60))
    res = allocate_safety_stock(frame, fill_rate=f)
    assert res.status == "Optimal" and res.sol_status == 1
    x = res.allocation["safety_stock"].to_numpy()
    # Exact G: the cutting planes close the tangent approximation's gap.
    assert _agg_fill(frame, x) == pytest.approx(f, abs=2e-6)
    assert res.fill_rate_achieved == pytest.approx(_agg_fill(frame, x), abs=1e-12)
    ref, mu = continuous_fill_allocation(frame, f)
    assert _agg_fill(frame, ref) == pytest.approx(f, abs=1e-9)
    cost = frame["unit_cost"].to_numpy()
    assert res.budget_used == pytest.approx(float(cost @ ref), rel=1e-4)
    assert res.fill_shadow_price == pytest.approx(mu, rel=1e-2)


def test_fill_mode_kkt_equal_marginal_shortage_per_money():
    frame = _mixed(unit_cost=np.random.default_rng(2).uniform(1, 20, 60))
    res = allocate_safety_stock(frame, fill_rate=0.97)
    a = res.allocation
    z = a["z"].to_numpy()
    inside = (z > 0.05) & (z < 3.95)
    assert inside.sum() >= 10
    # (1 - Phi(z_i)) / (R_i c_i): shortage per period avoided per unit of money, = 1 / mu.
    ratio = stats.norm.sf(z) / (frame["cycle_periods"].to_numpy() * frame["unit_cost"].to_numpy())
    assert np.allclose(ratio[inside], 1.0 / res.fill_shadow_price, rtol=0.02)
    assert np.allclose(a["marginal_value"].to_numpy()[inside], ratio[inside], rtol=1e-9)
    # Keys at z = 0 would buy less than 1 / mu per unit of money.
    zero = z < 1e-6
    assert zero.any() and np.all(ratio[zero] <= 1.0 / res.fill_shadow_price * 1.02)


def test_fill_mode_needs_fewer_units_than_per_item_targets():
    frame = _mixed()
    f = 0.98
    s, d, r = (frame[c].to_numpy(float) for c in ("sigma_protection", "demand", "cycle_periods"))
    # Per-item: sigma G(z_i) = (1 - f) R_i d_i at every key (z >= 0), as compute_safety_stock does.
    per_item = np.array([max(fill_rate_safety_factor(f, ri * di, si), 0.0) * si for si, di, ri in zip(s, d, r)])
    f_items = _agg_fill(frame, per_item)
    assert f_items >= f - 1e-9
    res = allocate_safety_stock(frame, fill_rate=f_items)
    assert res.fill_rate_achieved == pytest.approx(f_items, abs=2e-6)
    assert res.budget_used < 0.9 * per_item.sum()


def test_fill_mode_infeasible_and_input_errors():
    frame = _mixed()
    with pytest.raises(BudgetError, match="Infeasible"):
        allocate_safety_stock(frame, fill_rate=0.999999999)
    with pytest.raises(ValueError, match="out of reach"):
        continuous_fill_allocation(frame, 0.999999999)
    with pytest.raises(ValueError, match="not combined"):
        allocate_safety_stock(frame, fill_rate=0.9, budget=10.0)
    with pytest.raises(ValueError, match="cycle_periods"):
        allocate_safety_stock(frame.drop(columns="cycle_periods"), fill_rate=0.9)
    # No demand: nothing to protect, no stock.
    res = allocate_safety_stock(frame.assign(demand=np.r_[frame["demand"].iloc[:-1], 0.0]), fill_rate=0.95)
    assert res.allocation["safety_stock"].iloc[-1] == 0.0
