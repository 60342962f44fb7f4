"""The oracle bound of the bullwhip benchmark: levels, hand-checked replays, the bisection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks._oracle import OracleProblem, TrueDistributionOrderUpTo, protection_quantile
from optimization.simulation import Network

ROOT = Path(__file__).resolve().parents[2]


def test_protection_quantile_is_the_moment_matched_gamma_quantile():
    mean = np.array([4.0, 10.0, 0.3, 7.0, 0.0])
    var = np.array([4.0, 30.0, 0.5, 0.0, 0.0])
    got = protection_quantile(mean, var, 0.9)
    k = mean[:3] ** 2 / var[:3]
    np.testing.assert_allclose(got[:3], stats.gamma.ppf(0.9, k, scale=var[:3] / mean[:3]), rtol=1e-10)
    assert got[3] == 7.0 and got[4] == 0.0  # no uncertainty: the mean; no demand: nothing
    higher = protection_quantile(mean, var, 0.95)
    assert (higher[:3] > got[:3]).all()
    with pytest.raises(ValueError):
        protection_quantile(mean, var, 1.0)


def _single_pair(lead: int, demand: np.ndarray, mean: float, var: float, alpha: float, start: int, warmup: int):
    net = Network(skus=["A"], dealers=["D"], dcs=["C"], dealer_dc=[0], dealer_lead=[lead], dc_lead=[2])
    n_t = demand.size
    cube = demand.reshape(1, 1, n_t).astype(float)
    return OracleProblem(net, cube, np.full_like(cube, mean), np.full_like(cube, var), start=start, warmup=warmup,
                         case_pack=np.ones(1), lot_size=np.ones(1), lead_in=start)


@pytest.mark.parametrize("lead", [0, 1])
def test_a_single_pair_replays_as_computed_by_hand(lead):
    # Poisson(5) weeks, the truth mean = var = 5 per week. alpha is chosen so that the
    # level is just below a whole number (12 - 1e-7 for two weeks, 6 - 1e-7 for one):
    # with whole-unit orders the position after ordering is that whole number, S*.
    rng = np.random.default_rng(4)
    n_t, start, warmup = 400, 10, 3
    demand = rng.poisson(5.0, n_t)
    periods = lead + 1
    s_star = 6 * periods
    alpha = stats.gamma.cdf(s_star - 1e-7, 5.0 * periods)
    problem = _single_pair(lead, demand, 5.0, 5.0, alpha, start, warmup)
    levels = TrueDistributionOrderUpTo(problem.network, problem.mean, problem.var, alpha).levels
    np.testing.assert_allclose(levels[0, 0, : n_t - lead], s_star - 1e-7, atol=1e-9)
    got = problem.run(alpha)
    d = demand.astype(float)
    first = start + warmup
    if lead == 0:
        # every week starts with S* on hand after the backlog is cleared
        served = np.minimum(s_star, d)
        on_hand = np.maximum(s_star - d, 0.0)
    else:
        # net stock at the end of t is S* - D_{t-1} - D_t; what is on hand before D_t is
        # (S* - D_{t-1})^+ once the backlog is cleared
        before = np.maximum(s_star - np.roll(d, 1), 0.0)
        served = np.minimum(before, d)
        on_hand = np.maximum(s_star - np.roll(d, 1) - d, 0.0)
    window = slice(first, n_t)
    assert got["fill_rate"] == pytest.approx(served[window].sum() / d[window].sum(), abs=1e-12)
    assert got["avg_on_hand"] == pytest.approx(on_hand[window].mean(), abs=1e-9)
    # and the realised figures are close to the theory of Poisson demand
    pois = stats.poisson(5.0 * periods)
    expected_stock = sum(pois.pmf(j) * (s_star - j) for j in range(s_star))
    assert got["avg_on_hand"] == pytest.approx(expected_stock, rel=0.1)


@pytest.fixture(scope="module")
def small_problem(tmp_path_factory) -> OracleProblem:
    from pipelines.backtest import prepare_backtest
    from pipelines.demo_data import generate_demo_data, write_demo_data
    from pipelines.loading import load_dataset
    from pipelines.settings import load_settings

    folder = tmp_path_factory.mktemp("oracle_demo")
    kwargs = dict(seed=2, n_skus=24, n_dealers=4, n_weeks=70)
    write_demo_data(folder, **kwargs)
    settings = load_settings(ROOT / "configs" / "demo.yaml").with_data_dir(folder)
    setup = prepare_backtest(load_dataset(folder, freq=settings.freq), settings, 26)
    truth = generate_demo_data(truth=True, **kwargs)["demand_truth"]
    return OracleProblem.from_setup(setup, truth, warmup=1, lead_in=20)


def test_truth_lands_in_the_replay_cells(small_problem):
    p = small_problem
    has_demand_row = p.mean > 0
    # every cell with a demand row has a truth, cells without one (unstocked, before a
    # launch) have neither demand nor truth
    assert (p.demand[~has_demand_row] == 0).all()
    assert has_demand_row.mean() > 0.3
    assert p.demand.sum() == pytest.approx(p.mean.sum(), rel=0.05)


def test_more_stock_buys_more_fill_and_the_bisection_hits_the_target(small_problem):
    frontier = small_problem.frontier((0.7, 0.85, 0.95, 0.99))
    assert np.all(np.diff(frontier["avg_on_hand"]) > 0)
    assert np.all(np.diff(frontier["fill_rate"]) >= 0)
    assert frontier["fill_rate"].iloc[-1] > frontier["fill_rate"].iloc[0]
    target = 0.97
    found = small_problem.for_fill(target, tol=1e-3)
    assert found["fill_rate"] >= target
    # the smallest such quantile (to the bisection's resolution): a bit less misses it
    below = small_problem.run(found["alpha"] - 2e-3)
    assert below["fill_rate"] < target
    assert below["avg_on_hand"] <= found["avg_on_hand"]
    higher = small_problem.for_fill(0.99, tol=1e-3)
    assert higher["avg_on_hand"] > found["avg_on_hand"]


def test_the_lot_aware_oracle_reaches_the_fill_with_less_stock(small_problem):
    # the demo's lots: the cells served in lots need less than one common quantile gives
    assert small_problem.lot_size is not None and (small_problem.lot_size > 1).any()
    target = 0.97
    common = small_problem.for_fill(target, tol=1e-3)
    lot_aware = small_problem.lot_aware()
    found = lot_aware.for_fill(target)
    assert found["fill_rate"] >= target
    assert found["avg_on_hand"] < common["avg_on_hand"]
    # more multiplier, more stock and fill; levels never below the protection period's mean
    low, high = lot_aware.run(found["log_lambda"] - 1.0), lot_aware.run(found["log_lambda"] + 1.0)
    assert low["fill_rate"] < target <= high["fill_rate"] and low["avg_on_hand"] < high["avg_on_hand"]
    assert (lot_aware.levels(0.0)[:, :, lot_aware.begin:] >= lot_aware.mean_p - 1e-9).all()


def test_given_levels_replay_like_the_oracle_at_the_same_levels():
    rng = np.random.default_rng(5)
    n_t, start, warmup = 300, 12, 2
    demand = rng.poisson(5.0, n_t)
    alpha = stats.gamma.cdf(12 - 1e-7, 10.0)
    problem = _single_pair(1, demand, 5.0, 5.0, alpha, start, warmup)
    oracle = problem.run(alpha)
    same = problem.run_levels(np.full((1, 1, n_t - start), 12 - 1e-7))
    assert same == {k: v for k, v in oracle.items() if k != "alpha"}
    lower = problem.run_levels(np.full((1, 1, 40), 9.0))  # shorter targets: the last level holds on
    assert lower["fill_rate"] < same["fill_rate"] and lower["avg_on_hand"] < same["avg_on_hand"]
    with_gap = problem.run_levels(np.where(np.arange(n_t - start) == 30, np.nan, 12.0)[None, None, :])
    assert with_gap["fill_rate"] <= same["fill_rate"]  # no target = no stock that period
    with pytest.raises(ValueError):
        problem.run_levels(np.full((2, 1, 10), 5.0))


def test_vmi_with_perfect_forecasts_sees_the_true_means_and_only_past_errors(tmp_path):
    from types import SimpleNamespace

    from benchmarks._oracle import TrueMeanVmiPolicy
    from pipelines.backtest import prepare_backtest
    from pipelines.demo_data import generate_demo_data, write_demo_data
    from pipelines.loading import load_dataset
    from pipelines.settings import load_settings

    kwargs = dict(seed=2, n_skus=6, n_dealers=3, n_weeks=70)
    write_demo_data(tmp_path, **kwargs)
    settings = load_settings(ROOT / "configs" / "demo.yaml").with_data_dir(tmp_path)
    dataset = load_dataset(tmp_path, freq=settings.freq)
    setup = prepare_backtest(dataset, settings, 20)
    truth = generate_demo_data(truth=True, **kwargs)["demand_truth"]
    policy = TrueMeanVmiPolicy(setup, dataset, settings, fallback=None, truth=truth)
    t = setup.start + 2
    today = setup.dates[t]
    policy._refresh_forecast(SimpleNamespace(t=t))
    fc, err = policy._forecast.forecasts, policy._forecast.errors
    # the forecast is the truth from today on, quantiles ordered
    joined = fc.merge(truth.assign(date=pd.to_datetime(truth["date"])), on=["sku", "location", "date"])
    assert len(joined) == len(fc) > 0 and pd.to_datetime(fc["date"]).min() == today
    np.testing.assert_allclose(joined["mean_x"], joined["mean_y"])
    assert (fc["q50"] <= fc["q90"] + 1e-9).all() and (fc["q90"] <= fc["q95"] + 1e-9).all()
    # backtest errors: actual - true mean, from windows that end before today
    assert pd.to_datetime(err["date"]).max() < today
    np.testing.assert_allclose(err["error"], err["actual"] - err["forecast"])
    origins = np.sort(pd.to_datetime(err["origin"].unique()))
    step = settings.forecast.backtest_step
    assert (np.diff(origins) == pd.Timedelta(weeks=step)).all()
    assert err["step"].between(1, settings.forecast.horizon).all()
    demand = dataset.demand.assign(date=pd.to_datetime(dataset.demand["date"]))
    row = err.iloc[0]
    actual = demand.loc[(demand["sku"].astype(str) == row["sku"]) & (demand["location"].astype(str) == row["location"])
                        & (demand["date"] == pd.Timestamp(row["date"])), "qty"]
    assert float(actual.iloc[0]) == row["actual"]


@pytest.mark.parametrize("lead", [0, 1, 2])
def test_shortfall_below_levels_is_zero_for_an_order_up_to_and_names_an_empty_dc(lead):
    from benchmarks._oracle import LevelOrderUpTo, UNLIMITED, shortfall_below_levels
    from optimization.simulation import simulate, steady_state_start

    rng = np.random.default_rng(11)
    n_t, level = 120, 14.0
    net = Network(skus=["A"], dealers=["D"], dcs=["C"], dealer_dc=[0], dealer_lead=[lead], dc_lead=[2])
    demand = rng.poisson(4.0, n_t).reshape(1, 1, n_t).astype(float)
    levels = np.full((1, 1, n_t), level)
    policy = LevelOrderUpTo(net, levels)

    def replay(dc_stock):
        start = steady_state_start(net, levels[:, :, 0], np.full((1, 1), dc_stock), np.full((1, 1), 4.0), np.zeros((1, 1)))
        start.dc_on_hand = np.full((1, 1), dc_stock)
        return simulate(net, demand, policy, 0, initial=start).records

    full = shortfall_below_levels(replay(UNLIMITED), levels, net, np.ones(1), warmup=3)
    assert full["share"] == 0.0 and full["units_per_period"] == 0.0
    # a DC that starts with 100 units and never reorders runs dry after about 25 weeks
    dry = shortfall_below_levels(replay(100.0), levels, net, np.ones(1), warmup=3)
    assert 0.5 < dry["share"] < 1.0 and dry["units_per_period"] > 1.0
    assert dry["dc_short_share"] == 1.0
