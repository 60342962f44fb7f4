"""Budget-aware safety stock: the LP against the optimality conditions of the continuous problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimization.budget import BudgetError, allocate_safety_stock, continuous_allocation


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
