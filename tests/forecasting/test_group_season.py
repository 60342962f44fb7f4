"""Group-informed seasonal indices and the grouped combination (models/group_season.py)."""

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast
from forecasting.core import ForecastConfig, _make
from forecasting.models import Combination, GroupSeasonCombination
from forecasting.models.seasonality import group_seasonal_indices

M = 52
H = 13
T = np.arange(3 * M)
WAVE = np.cos(2 * np.pi * np.arange(M) / M)


def test_indices_take_the_group_shape_at_the_series_strength():
    # noise-free: the series' season is the group's shape at half its depth
    g = 1 + 0.6 * WAVE
    y = 30 * (1 + 0.3 * WAVE)[T % M]
    np.testing.assert_allclose(group_seasonal_indices(y, M, g), 1 + 0.3 * WAVE, atol=1e-9)
    # a series with no season in a seasonal group is not given one
    np.testing.assert_allclose(group_seasonal_indices(np.full(3 * M, 7.0), M, g), np.ones(M), atol=1e-9)


def test_own_deviations_are_kept_only_when_they_stand_out_of_the_noise():
    rng = np.random.default_rng(3)
    g = 1 + 0.4 * WAVE
    # a slow shift of the season the group does not have, on a high-volume series
    true = 1 + 0.4 * WAVE + 0.3 * np.sin(2 * np.pi * np.arange(M) / M)
    strong = rng.poisson(500 * true[T % M]).astype(float)
    assert np.abs(group_seasonal_indices(strong, M, g) - true).max() < 0.1
    # at 2 units a week with no deviation of its own, what the series adds is noise
    # and is shrunk away: much closer to the truth than the series' own smoothed indices
    from forecasting.models.seasonality import smooth_circular

    true = 1 + 0.4 * WAVE
    weak = rng.poisson(2 * true[T % M]).astype(float)
    idx = group_seasonal_indices(weak, M, g)
    own = smooth_circular(np.bincount(T % M, weights=weak) / 3, 5)
    assert np.sum((idx - true) ** 2) < 0.2 * np.sum((own / own.mean() - true) ** 2)
    assert idx.min() > 0 and abs(idx.mean() - 1) < 1e-12


def test_a_sharp_week_of_the_group_profile_is_kept():
    g = (1 + 0.3 * WAVE) * np.where(np.arange(M) == 20, 2.5, 1.0)
    g = g / g.mean()
    y = np.random.default_rng(4).poisson(30 * g[T % M]).astype(float)
    idx = group_seasonal_indices(y, M, g)
    assert idx[20] > 1.8 * max(idx[19], idx[21])


def test_indices_beat_the_series_own_on_noisy_weekly_demand():
    rng = np.random.default_rng(7)
    true = 1 + 0.4 * np.cos(2 * np.pi * (np.arange(M) - 10) / M)
    # the group profile: pooled from 8 other members, so only mildly noisy
    group = np.mean([rng.poisson(50 * true[T % M]).reshape(3, M).mean(0) for _ in range(8)], axis=0)
    group = group / group.mean()
    err_group = err_own = 0.0
    for _ in range(20):
        y = rng.negative_binomial(4, 4 / (4 + 5 * true[T[:2 * M + 20] % M])).astype(float)
        err_group += np.sum((group_seasonal_indices(y, M, group) - true) ** 2)
        own = np.bincount(T[:y.size] % M, weights=y) / np.bincount(T[:y.size] % M)
        err_own += np.sum((own / own.mean() - true) ** 2)
    assert err_group < 0.2 * err_own


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="two seasons"):
        group_seasonal_indices(np.ones(M), M, np.ones(M))
    with pytest.raises(ValueError, match="finite factors"):
        group_seasonal_indices(np.ones(2 * M), M, np.ones(M - 1))


def test_under_one_season_is_the_plain_combination():
    rng = np.random.default_rng(0)
    y = rng.poisson(10, 40).astype(float)  # under one season
    grouped = GroupSeasonCombination(1 + 0.5 * WAVE, season_length=M).fit(y)
    plain = Combination(season_length=M).fit(y)
    np.testing.assert_array_equal(grouped.predict(H), plain.predict(H))
    assert grouped.seasonal_.size == 0 and "adjustment" not in grouped.fitted_params()


def test_one_to_two_seasons_take_the_group_season_at_the_series_strength():
    """80 weeks: the group's shape at the strength the series shows, estimated beside a
    level and a trend; a series without a season is not given the group's."""
    g = 1 + 0.6 * WAVE
    t = np.arange(80)
    half = 30 * (1 + 0.3 * WAVE)[t % M] * (1 + 0.002 * t)  # half the group's depth, a slow rise
    fit = GroupSeasonCombination(g, season_length=M).fit(half)
    np.testing.assert_allclose(fit.seasonal_, 1 + 0.3 * WAVE, atol=0.02)
    assert fit.fitted_params()["adjustment"] == "group_season"
    assert fit.fitted_params()["season_source"] == "group_at_own_strength"
    f = fit.predict(H)
    truth = 30 * (1 + 0.3 * WAVE)[(80 + np.arange(H)) % M] * (1 + 0.002 * (80 + np.arange(H)))
    assert np.abs(f / truth - 1).max() < 0.05
    # a flat series in a seasonal group: (almost) no season, and no trend made of one
    rng = np.random.default_rng(0)
    flat = rng.poisson(10, 80).astype(float)
    fit = GroupSeasonCombination(g, season_length=M).fit(flat)
    assert np.ptp(fit.seasonal_) < 0.3 * np.ptp(g)
    assert np.all(np.abs(fit.predict(H) - 10) < 2.5)


def test_uses_the_profile_of_its_time_and_a_frozen_refit_reproduces_the_fit():
    rng = np.random.default_rng(1)
    y = rng.poisson(20 * (1 + 0.5 * WAVE)[T % M]).astype(float)
    early, late = np.ones(M), 1 + 0.5 * WAVE
    model = GroupSeasonCombination(np.stack([early, late]), season_length=M, known_from=(110, 156))
    a = model.fit(y[:120])
    np.testing.assert_array_equal(a.seasonal_, group_seasonal_indices(y[:120], M, early))
    f = a.predict(H)
    again = a.frozen().fit(y[:120])
    np.testing.assert_allclose(again.predict(H), f, rtol=1e-10)
    b = model.fit(y)
    np.testing.assert_array_equal(b.seasonal_, group_seasonal_indices(y, M, late))
    params = b.fitted_params()
    assert params["adjustment"] == "group_season" and set(params["members"]) == {"ets_auto", "theta", "stl"}
    assert params["season_source"] == "group_and_own"
    with pytest.raises(ValueError, match="no seasonal profile"):
        model.fit(y[:105])


def test_combo_uses_the_group_season_only_with_a_profile():
    cfg = ForecastConfig(horizon=H, season_length=M)
    assert type(_make("combo", cfg, None)) is Combination
    made = _make("combo", cfg, (np.ones((1, M)), (0,)))
    assert isinstance(made, GroupSeasonCombination) and made.members == ("ets_auto", "theta", "stl")


def test_grouped_run_forecasts_closer_to_the_true_season():
    # 3 groups with their own season calendar, members at their own seasonal strength
    rng = np.random.default_rng(11)
    n, periods = 156, 156 + H
    t = np.arange(periods)
    dates = pd.date_range("2022-01-03", periods=periods, freq="W-MON")
    rows, truth = [], {}
    for gi, peak in enumerate((5, 20, 40)):
        for k in range(6):
            amp = rng.uniform(0.2, 0.7)
            mu = rng.uniform(3, 15) * (1 + amp * np.cos(2 * np.pi * (t - peak) / 52))
            sku = f"G{gi}S{k}"
            rows.append(pd.DataFrame({"sku": sku, "location": "D1", "date": dates[:n], "qty": rng.poisson(mu[:n]).astype(float)}))
            truth[sku] = mu[n:]
    hist = pd.concat(rows, ignore_index=True)
    groups = pd.DataFrame({"sku": list(truth), "group": [s[:2] for s in truth]})
    opts = dict(horizon=H, season_length=52, global_model=False, backtest_windows=4, backtest_step=8,
                candidates={"smooth": ["combo"], "erratic": ["combo"]})
    err = {}
    for name, kw in (("grouped", {"groups": groups}), ("plain", {})):
        res = forecast(hist, **opts, **kw)
        fc = res.forecasts.set_index("sku")
        err[name] = sum(np.sum((fc.loc[s, "mean"].to_numpy() - mu) ** 2) for s, mu in truth.items())
        if name == "grouped":
            params = res.selection.loc[res.selection["model"] == "combo", "params"]
            assert params.str.contains("group_season").all() and len(params) == 18
    assert err["grouped"] < 0.7 * err["plain"]


def test_backtest_copies_optimise_each_mode_once():
    # origin 0 under one season (plain), later origins over one (95: the group's season at
    # the series' strength) and over two seasons (grouped)
    rng = np.random.default_rng(2)
    y = rng.poisson(20 * (1 + 0.5 * WAVE)[T % M]).astype(float)
    first = GroupSeasonCombination(1 + 0.5 * WAVE, season_length=M).fit(y[:45])
    assert first.seasonal_.size == 0
    mid = first.frozen().fit(y[:95])
    a = first.frozen().fit(y[:110])
    b = first.frozen().fit(y[:120])
    assert mid.seasonal_.size == M and a.seasonal_.size == M and b.seasonal_.size == M
    # the adjusted origins reuse the parameters of the plain fit at origin 0
    alpha = [m.fitted_params()["members"]["theta"]["alpha"] for m in (first.inner_, mid.inner_, a.inner_, b.inner_)]
    assert alpha[0] == alpha[1] == alpha[2] == alpha[3]
    assert a.inner_.season_length == 1 and all(mm.season_length == 1 for mm in a.inner_.members_)
    fresh = GroupSeasonCombination(1 + 0.5 * WAVE, season_length=M).fit(y[:120])
    np.testing.assert_array_equal(fresh.seasonal_, b.seasonal_)


def test_a_refresh_keeps_the_group_season():
    # forecasting.refresh rebuilds a grouped combination from its recorded parameters:
    # the group's season around members fitted on the adjusted series. Rebuilt as a
    # plain combination, those non-seasonal members forecast a flat line through the
    # season (the weekly refreshes of the bullwhip replay lagged the season by 14-25 %).
    from forecasting import refresh

    rng = np.random.default_rng(5)
    n, periods = 156, 156 + H
    t = np.arange(periods)
    dates = pd.date_range("2022-01-03", periods=periods, freq="W-MON")
    rows = []
    for gi, peak in enumerate((5, 30)):
        for k in range(5):
            mu = rng.uniform(5, 15) * (1 + rng.uniform(0.3, 0.6) * np.cos(2 * np.pi * (t - peak) / 52))
            rows.append(pd.DataFrame({"sku": f"G{gi}S{k}", "location": "D1", "date": dates[:n],
                                      "qty": rng.poisson(mu[:n]).astype(float)}))
    hist = pd.concat(rows, ignore_index=True)
    groups = pd.DataFrame({"sku": hist["sku"].unique(), "group": [s[:2] for s in hist["sku"].unique()]})
    opts = dict(horizon=H, season_length=52, global_model=False, backtest_windows=3, backtest_step=4,
                candidates={"smooth": ["combo"], "erratic": ["combo"]}, groups=groups)
    before = forecast(hist.loc[hist["date"] < dates[n - 1]], **opts)
    assert before.selection["params"].str.contains('"adjustment":"group_season"').all()
    again = refresh(hist, before, **opts)
    full = forecast(hist, **opts)
    assert set(again.selection["refresh"]) == {"states"}
    assert again.selection["params"].str.contains('"adjustment":"group_season"').all()
    both = again.forecasts.merge(full.forecasts, on=["sku", "location", "date"], suffixes=("", "_full"))
    assert len(both) == 10 * H
    for sku, g in both.groupby("sku"):
        # the same season as a full re-forecast, not a flat line through it
        assert np.abs(g["mean"] - g["mean_full"]).max() < 0.05 * g["mean_full"].mean(), sku
        assert np.ptp(g["mean"]) > 0.5 * np.ptp(g["mean_full"]), sku


def test_two_years_of_weekly_history_still_forecast_the_season():
    """Exactly two seasons of history with a year of backtest origins (the demo's
    13 x 4 weeks) left the first origin 43 weeks: nothing seasonal could be scored and
    every forecast was the recent level (here 25 % under the truth over the 13 weeks).
    The run now keeps a season before its first origin and pools its members' single
    seasons."""
    rng = np.random.default_rng(5)
    n, periods = 2 * M, 2 * M + H
    t = np.arange(periods)
    dates = pd.date_range("2023-01-02", periods=periods, freq="W-MON")
    rows, truth = [], {}
    for gi, peak in enumerate((10, 20, 30)):
        for k in range(6):
            mu = rng.uniform(8, 20) * (1 + 0.5 * np.cos(2 * np.pi * (t - peak) / M))
            sku = f"G{gi}S{k}"
            rows.append(pd.DataFrame({"sku": sku, "location": "D1", "date": dates[:n], "qty": rng.poisson(mu[:n]).astype(float)}))
            truth[sku] = mu[n:]
    hist = pd.concat(rows, ignore_index=True)
    groups = pd.DataFrame({"sku": list(truth), "group": [s[:2] for s in truth]})
    res = forecast(hist, horizon=H, season_length=M, global_model=False, backtest_windows=13, backtest_step=4,
                   groups=groups)
    assert res.selection["n_origins"].max() == 10  # first origin at 104 - 13 - 9 * 4 = 55 weeks
    fc = res.forecasts.set_index("sku")
    err = sum(np.sum((fc.loc[s, "mean"].to_numpy() - mu) ** 2) for s, mu in truth.items())
    flat = sum(np.sum((hist.loc[hist["sku"] == s, "qty"].to_numpy()[-8:].mean() - mu) ** 2) for s, mu in truth.items())
    assert err < 0.5 * flat
    total = sum(fc.loc[s, "mean"].sum() for s in truth) / sum(mu.sum() for mu in truth.values())
    assert abs(total - 1) < 0.1
