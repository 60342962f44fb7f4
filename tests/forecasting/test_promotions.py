"""Promotion effects of the per-series models (forecasting.promotions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast, refresh
from forecasting.promotions import effect_matrix, estimate_effects, post_promotion

H = 8


def _panel(seed=0, n_skus=6, n_locs=4, periods=120, lift=2.0, dip=0.6, rate=0.06, level=(5.0, 20.0)):
    rng = np.random.default_rng(seed)
    S = n_skus * n_locs
    promo = (rng.random((S, periods)) < rate).astype(float)
    promo[:, -H:] = 0.0
    base = rng.uniform(*level, S)[:, None] * np.ones((1, periods))
    effect = effect_matrix(promo, np.full(S, lift), np.full(S, dip))
    Y = rng.poisson(base * effect).astype(float)
    groups = np.repeat([f"S{k}" for k in range(n_skus)], n_locs)
    return Y, promo, groups, base


def test_post_promotion_marks_the_period_after_a_run():
    promo = np.array([[0, 1, 1, 0, 0, 1, 0]])
    assert post_promotion(promo).astype(int).tolist() == [[0, 0, 0, 1, 0, 0, 1]]


def test_effect_matrix_carries_a_last_period_promotion_into_the_first_forecast_period():
    plan = np.array([[0, 1, 0], [0, 0, 0]])
    e = effect_matrix(plan, np.array([2.0, 2.0]), np.array([0.5, 0.5]), previous=np.array([0, 1]))
    np.testing.assert_allclose(e, [[1.0, 2.0, 0.5], [0.5, 1.0, 1.0]])


def test_estimate_effects_recovers_lift_and_dip():
    Y, promo, groups, _ = _panel(seed=1)
    fx = estimate_effects(Y, promo, groups)
    assert fx.active
    assert fx.run_lift == pytest.approx(2.0, rel=0.08)
    assert fx.run_dip == pytest.approx(0.6, rel=0.1)
    assert np.all(np.abs(fx.lift - 2.0) < 0.35)
    assert np.all(np.abs(fx.dip - 0.6) < 0.2)
    # series of a SKU share its effect
    assert np.all(fx.lift.reshape(6, 4) == fx.lift.reshape(6, 4)[:, :1])


def test_a_sku_with_little_evidence_leans_on_the_run_wide_effect():
    Y, promo, groups, base = _panel(seed=2)
    # SKU S0: one promotion only, with an implausible lift of 6
    rows = groups == "S0"
    promo[rows] = 0.0
    promo[np.flatnonzero(rows)[0], 50] = 1.0
    Y[np.flatnonzero(rows)[0], 50] = 6.0 * base[np.flatnonzero(rows)[0], 50]
    fx = estimate_effects(Y, promo, groups)
    raw = 6.0
    # shrunk most of the way from 6 towards the run-wide lift (3 pseudo periods vs 1)
    assert fx.lift[rows][0] < fx.run_lift + 0.3 * (raw - fx.run_lift)
    assert fx.n_promo[rows][0] == 1


def test_no_promotions_means_no_effect():
    Y, promo, groups, _ = _panel(seed=3)
    fx = estimate_effects(Y, np.zeros_like(promo), groups)
    assert not fx.active and np.all(fx.lift == 1.0) and np.all(fx.dip == 1.0)
    few = np.zeros_like(promo)
    few[0, 30] = 1.0
    assert not estimate_effects(Y, few, groups, min_events=5).active


def test_effects_ignore_periods_before_a_series_starts():
    Y, promo, groups, _ = _panel(seed=4)
    Y[:, :20] = np.nan
    fx = estimate_effects(Y, promo, groups)
    assert np.all(np.isfinite(fx.lift)) and fx.run_lift == pytest.approx(2.0, rel=0.1)


def _frames(seed=5, rate=0.06):
    Y, promo, groups, _ = _panel(seed=seed, n_skus=4, n_locs=3, rate=rate)
    S, T = Y.shape
    dates = pd.date_range("2022-01-03", periods=T, freq="W-MON")
    locs = np.tile([f"D{j}" for j in range(3)], 4)
    frame = pd.DataFrame({
        "sku": np.repeat(groups, T), "location": np.repeat(locs, T), "date": np.tile(dates, S),
        "qty": Y.ravel(), "promo": promo.ravel().astype(int),
    })
    cut = dates[-H - 1]
    hist = frame[frame["date"] <= cut]
    plan = frame.loc[frame["date"] > cut, ["sku", "location", "date"]].copy()
    plan["promo"] = 0
    # every series has a promotion in its 3rd forecast period: the 4th gets the dip
    plan.loc[plan["date"] == dates[-H - 1 + 3], "promo"] = 1
    return hist, plan, dates[-H - 1 + 3], dates[-H - 1 + 4]


def test_planned_promotions_lift_the_series_models_forecasts():
    hist, plan, promo_date, dip_date = _frames()
    opts = dict(horizon=H, season_length=1, global_model=False, backtest_windows=3)
    base = forecast(hist, **opts)
    planned = forecast(hist, future=plan, **opts)
    b = base.forecasts.set_index(["sku", "location", "date"])["mean"]
    p = planned.forecasts.set_index(["sku", "location", "date"])["mean"]
    ratio = (p / b).groupby(level="date").median()
    assert ratio[promo_date] == pytest.approx(2.0, rel=0.15)
    assert ratio[dip_date] == pytest.approx(0.6, rel=0.2)
    others = ratio.drop([promo_date, dip_date])
    np.testing.assert_allclose(others.to_numpy(), 1.0, atol=1e-9)
    # quantiles follow the lift, everything finite and >= 0
    fc = planned.forecasts
    assert np.all(np.isfinite(fc[["mean", "q50", "q90", "q95"]].to_numpy())) and (fc["mean"] >= 0).all()
    on_promo = fc["date"] == promo_date
    assert (fc.loc[on_promo, "q90"] > base.forecasts.loc[on_promo.to_numpy(), "q90"].to_numpy()).all()
    # the effects used are on record
    assert planned.selection["promo_factor"].between(1.6, 2.4).all()
    assert planned.metrics["promo_adjusted"] == 1.0


def test_backtest_errors_stay_on_the_demand_scale():
    hist, plan, *_ = _frames(seed=6, rate=0.12)
    res = forecast(hist, horizon=H, season_length=1, global_model=False, backtest_windows=8, backtest_step=4, future=plan)
    err = res.errors.merge(hist, on=["sku", "location", "date"])
    np.testing.assert_allclose(err["actual"], err["qty"])
    np.testing.assert_allclose(err["error"], err["actual"] - err["forecast"])
    # promotion periods of the backtest are forecast with their (known) lift: no big bias there
    promo_rows = err["promo"] == 1
    assert promo_rows.sum() > 30
    bias = (err.loc[promo_rows, "forecast"].sum() - err.loc[promo_rows, "actual"].sum()) / err.loc[promo_rows, "actual"].sum()
    assert abs(bias) < 0.2


def test_promo_effects_off_matches_a_history_without_promotions():
    hist, plan, *_ = _frames(seed=7)
    opts = dict(horizon=H, season_length=1, global_model=False, backtest_windows=3)
    off = forecast(hist, promo_effects=False, **opts)
    plain = forecast(hist.drop(columns="promo"), **opts)
    np.testing.assert_allclose(off.forecasts["mean"], plain.forecasts["mean"])
    assert off.metrics["promo_adjusted"] == 0.0


def test_refresh_applies_the_previous_runs_effects_to_the_plan():
    hist, plan, promo_date, _ = _frames(seed=8)
    opts = dict(horizon=H, season_length=1, global_model=False, backtest_windows=3)
    older = hist[hist["date"] < hist["date"].max()]
    first = forecast(older, future=plan, **opts)
    plain = refresh(hist, first, **opts)
    planned = refresh(hist, first, future=plan, **opts)
    b = plain.forecasts.set_index(["sku", "location", "date"])["mean"]
    p = planned.forecasts.set_index(["sku", "location", "date"])["mean"]
    ratio = (p / b).groupby(level="date").median()
    assert ratio[promo_date] == pytest.approx(first.selection["promo_factor"].median(), rel=1e-6)


def test_backtest_multipliers_use_only_the_data_before_each_cut():
    from forecasting.promotions import backtest_multipliers

    T = 60
    promo = np.zeros((1, T))
    promo[0, [10, 20, 30, 40, 50]] = 1.0
    Y = np.full((1, T), 100.0)
    Y[0, [10, 20, 30]] = 200.0  # lift 2 before week 35
    Y[0, [40, 50]] = 400.0      # lift 4 after it
    out = backtest_multipliers(Y, promo, np.array(["a"]), [35, 45], 10, min_events=3)
    # cut 35 knows the three 2x weeks only; its targets 35..44 hold the promotion of week 40
    assert out[35][0, 40 - 35] == pytest.approx(2.0)
    assert out[35][0].tolist().count(1.0) == 9
    # cut 45 also saw week 40 at 4x: ratio of sums (200 * 3 + 400) / 400
    assert out[45][0, 50 - 45] == pytest.approx(1000 / 400)
    # too few promotions before a cut: no effect, as a run on that history would have had
    assert np.all(backtest_multipliers(Y, promo, np.array(["a"]), [25], 10, min_events=3)[25] == 1.0)
    with pytest.raises(ValueError, match="outside"):
        backtest_multipliers(Y, promo, np.array(["a"]), [T + 1], 10)


def _lift_change(T=156, h=13, locations=(("L", 1.0),)):
    """Flat base 100 (times each location's size); promotions every 8 weeks lift 2x until
    week 124 and 4x from week 125 on: a backtest origin at 117 has seen 2x only, the whole
    history says about 2.4x. Returns the dates (history and horizon), history and plan."""
    dates = pd.date_range("2020-01-06", periods=T + h, freq="W-MON")
    promo = np.zeros(T + h)
    promo[8::8] = 1.0
    y = np.where(promo[:T] > 0, np.where(np.arange(T) < 125, 200.0, 400.0), 100.0)
    hist = pd.concat([pd.DataFrame({"sku": "A", "location": loc, "date": dates[:T], "qty": y * k, "promo": promo[:T]})
                      for loc, k in locations], ignore_index=True)
    plan = pd.DataFrame({"sku": "A", "location": locations[0][0], "date": dates[T:], "promo": promo[T:]})
    return dates, hist, plan


def _by_origin(res, dates):
    """Backtest errors with the target's position ``t`` and the origin ``o`` (training y[:o])."""
    err = res.errors.assign(t=lambda d: d["date"].map({d_: i for i, d_ in enumerate(dates)}))
    err["o"] = err["t"] - err["step"] + 1
    return err


def test_the_backtest_scores_a_promotion_with_the_lift_known_at_its_origin():
    dates, hist, plan = _lift_change()
    res = forecast(hist, horizon=13, season_length=1, global_model=False, backtest_windows=3, backtest_step=13,
                   future=plan, candidates={"smooth": ("moving_average",), "erratic": ("moving_average",)})
    assert res.selection["promo_factor"].iloc[0] > 2.3  # the final forecast uses the whole history
    err = _by_origin(res, dates)
    at = err[(err["o"] == 117) & (err["t"] == 120)]
    base = err[(err["o"] == 117) & (err["t"] == 119)]["forecast"].iloc[0]
    assert at["forecast"].iloc[0] / base == pytest.approx(2.0, rel=1e-6)


def test_the_backtest_fits_base_demand_with_the_effects_known_at_its_earliest_origin():
    # At origin 117 a moving average of base demand must see a flat 100: the promotion of
    # week 112 divided by the 2x known then (divided by the whole history's ~2.4x it
    # would read 83)
    dates, hist, plan = _lift_change()
    res = forecast(hist, horizon=13, season_length=1, global_model=False, backtest_windows=3, backtest_step=13,
                   future=plan, candidates={"smooth": ("moving_average",), "erratic": ("moving_average",)},
                   model_params={"moving_average": {"window": 8}})
    err = _by_origin(res, dates)
    first = err[(err["o"] == 117) & (err["t"] == 119)]["forecast"].iloc[0]
    assert first == pytest.approx(100.0, rel=1e-6)
    # the final forecast fits the whole history's base demand: the 4x weeks divided by
    # the whole history's lift leave a base above 100
    assert res.selection["promo_factor"].iloc[0] > 2.3
    assert res.forecasts["mean"].iloc[0] > 100.0


def test_the_backtest_shapes_see_base_demand_as_known_at_the_earliest_origin(monkeypatch):
    import forecasting.core as core

    _, hist, _ = _lift_change(locations=(("L1", 1.0), ("L2", 2.0)))
    seen = []
    real = core.pooled_profiles

    def spy(series, *args, **kwargs):
        seen.append((kwargs.get("end"), [np.asarray(s).copy() for s in series]))
        return real(series, *args, **kwargs)

    monkeypatch.setattr(core, "pooled_profiles", spy)
    groups = pd.DataFrame({"sku": ["A"], "group": ["g"]})
    forecast(hist, horizon=13, season_length=4, global_model=False, backtest_windows=3, backtest_step=13, groups=groups)
    early = [series for end, series in seen if end is not None]
    final = [series for end, series in seen if end is None]
    assert early and final
    # up to the earliest origin (117) the promotions are divided by the 2x known then: the
    # early profiles' input is the flat base; the final ones' (the whole history's ~2.4x) is not
    np.testing.assert_allclose(early[0][0][:117], 100.0, rtol=1e-6)
    assert final[0][0][:117].min() < 90.0
