"""Candidate sets, shape borrowing, the global model, coverage, effects, Dask."""

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast
from forecasting.backtest import default_backtest
from forecasting.core import DEFAULT_CANDIDATES, GLOBAL_MODEL, candidate_table
from forecasting.models import MODELS
from forecasting.models.global_model import GlobalBoosting, Panel
from forecasting.quantiles import calibrate_levels, coverage_by_class
from forecasting.shapes import BorrowedShape, pooled_profiles

from forecasting_sim import simulate_demand

H = 13
FAST_GLOBAL = {"max_iter": 30, "max_rows": 20_000}


def test_candidate_table_defaults_overrides_and_unknown_names():
    table = candidate_table()
    known = set(MODELS) | {"global", "seasonal_shape", "top_down"}
    for cls, names in table.items():
        assert set(names) <= known
        assert names == tuple(n for n in DEFAULT_CANDIDATES[cls] if n in known)
    # top_down (only with declared aggregates) leads; without them combo is the default
    assert table["smooth"][:2] == ("top_down", "combo") and "sba" in table["intermittent"]
    assert table["intermittent"][:3] == ("top_down", "sba_seasonal", "sba") and "top_down" not in table["short"]
    assert "combo" not in table["intermittent"] and "sba" not in table["smooth"]
    assert "seasonal_shape" in table["short"]
    assert candidate_table({"lumpy": ["croston"]})["lumpy"] == ("croston",)
    with pytest.raises(ValueError, match="unknown model"):
        candidate_table({"smooth": ["no_such_model"]})
    with pytest.raises(ValueError, match="unknown demand class"):
        candidate_table({"seasonal": ["ets"]})


def test_candidates_follow_the_demand_class():
    hist = simulate_demand(n_skus=6, n_locations=2, periods=120, intermittent_share=0.5, seed=4)
    res = forecast(hist, horizon=H, season_length=52, global_model=False)
    sc = res.scores.merge(res.selection[["sku", "location", "demand_class", "short"]], on=["sku", "location"])
    table = candidate_table()
    fallback = {"seasonal_naive", "moving_average"}
    for cls, frame in sc[~sc["short"]].groupby("demand_class"):
        assert set(frame["model"]) <= set(table[cls]) | fallback, cls
    regular = sc[sc["demand_class"].isin(["smooth", "erratic"])]
    sparse = sc[sc["demand_class"].isin(["intermittent", "lumpy"])]
    assert "combo" in set(regular["model"]) and "combo" not in set(sparse["model"])
    assert "sba" in set(sparse["model"]) and "sba" not in set(regular["model"])
    # every candidate is scored with all the metrics, and exactly one is chosen per series
    assert sc[["mase", "rmsse", "wape", "bias"]].notna().any().all()
    assert (res.scores.groupby(["sku", "location"])["chosen"].sum() == 1).all()


def test_daily_intermittent_demand_keeps_its_day_of_week_profile():
    # store-item demand by day (0.3 units a day on average, a weekday profile, closed
    # on Sundays): SBA under the shrunk season is the intermittent default, it forecasts
    # nothing for the closed day and more for the busy one; with weekly periods (m = 52,
    # less than two seasons before the first origin) it is not even a candidate
    rng = np.random.default_rng(12)
    days = pd.date_range("2024-01-01", periods=420, freq="D")  # starts on a Monday
    profile = np.array([0.6, 0.8, 0.8, 1.0, 1.4, 2.4, 0.0])
    hist = pd.concat([pd.DataFrame({"sku": f"S{i}", "location": "STORE", "date": days,
                                    "qty": rng.poisson(0.3 * profile[days.dayofweek]).astype(float)})
                      for i in range(12)], ignore_index=True)
    res = forecast(hist, horizon=14, freq="D", season_length=7, global_model=False)
    sel = res.selection
    assert set(sel["demand_class"]) <= {"intermittent", "lumpy"}
    assert (sel["model"] == "sba_seasonal").mean() >= 0.75
    fc = res.forecasts[res.forecasts["model"] == "sba_seasonal"]
    by_day = fc.groupby(fc["date"].dt.dayofweek)["mean"].mean()
    assert by_day[6] < 0.1 * by_day[5] and by_day[5] > 1.5 * by_day[[0, 1, 2, 3]].max()
    weekly = simulate_demand(n_skus=4, n_locations=2, periods=120, intermittent_share=1.0, seed=4)
    res = forecast(weekly, horizon=H, season_length=52, global_model=False)
    assert "sba_seasonal" not in set(res.scores["model"])


def _seasonal_group(n_members, periods, peak, seed, sku_prefix, start=0):
    rng = np.random.default_rng(seed)
    t = np.arange(periods)
    dates = pd.date_range("2022-01-03", periods=periods, freq="W-MON")
    rows = []
    for k in range(n_members):
        mu = 20 * (1 + 0.8 * np.cos(2 * np.pi * (t - peak) / 52))
        rows.append(pd.DataFrame({"sku": f"{sku_prefix}{k}", "location": "D1", "date": dates, "qty": rng.poisson(mu).astype(float)}).iloc[start:])
    return pd.concat(rows, ignore_index=True)


def test_new_sku_borrows_its_group_seasonal_shape():
    periods = 156 + H
    # two categories with opposite seasons; one new SKU of the "summer" category
    summer = _seasonal_group(8, periods, peak=26, seed=1, sku_prefix="S")
    winter = _seasonal_group(8, periods, peak=0, seed=2, sku_prefix="W")
    new = _seasonal_group(1, periods, peak=26, seed=3, sku_prefix="NEW", start=periods - H - 12)
    full = pd.concat([summer, winter, new], ignore_index=True)
    cut = full["date"].sort_values().unique()[-H]
    train, test = full[full["date"] < cut], full[full["date"] >= cut]
    groups = pd.DataFrame({"sku": full["sku"].unique()})
    groups["group"] = np.where(groups["sku"].str.startswith("W"), "winter", "summer")
    res = forecast(train, horizon=H, season_length=52, groups=groups, global_model=False,
                   candidates={"short": ["seasonal_shape"]})
    sel = res.selection.set_index("sku")
    assert sel.loc["NEW0", "short"] and sel.loc["NEW0", "model"] == "seasonal_shape"
    assert sel.loc["NEW0", "shape"] == "summer"
    fc = res.forecasts[res.forecasts["sku"] == "NEW0"]["mean"].to_numpy()
    truth = test[test["sku"] == "NEW0"]["qty"].to_numpy()
    # the borrowed summer shape tracks the new SKU's season (the run-wide average of
    # the two opposite seasons would be flat)
    assert np.corrcoef(fc, truth)[0, 1] > 0.6
    flat = forecast(train, horizon=H, season_length=52, global_model=False, candidates={"short": ["moving_average"]})
    flat_fc = flat.forecasts[flat.forecasts["sku"] == "NEW0"]["mean"].to_numpy()
    assert np.abs(fc - truth).mean() < np.abs(flat_fc - truth).mean()


def test_pooled_profiles_are_flat_for_noise_and_borrowed_shape_contract():
    rng = np.random.default_rng(0)
    noise = [rng.poisson(10, 156).astype(float) for _ in range(5)]
    prof = pooled_profiles(noise, np.zeros(5, dtype=int), np.array(["g"] * 5, dtype=object), 52)
    assert np.abs(prof["g"] - 1).max() < 0.1
    assert pooled_profiles(noise[:2], np.zeros(2, dtype=int), np.array(["g", "g"], dtype=object), 52) == {}
    model = BorrowedShape(np.r_[np.full(26, 0.5), np.full(26, 1.5)], window=8).fit(np.full(10, 4.0))
    f = model.predict(H)
    assert f.shape == (H,) and (f >= 0).all() and np.isfinite(f).all()


def test_profiles_known_before_an_origin_ignore_later_periods():
    rng = np.random.default_rng(5)
    t = np.arange(156)
    members = [rng.poisson(20 * (1 + 0.8 * np.cos(2 * np.pi * t / 52))).astype(float) for _ in range(6)]
    groups = np.array(["g"] * 6, dtype=object)
    early = pooled_profiles(members, np.zeros(6, dtype=int), groups, 52, end=95, min_seasons=1)
    changed = [np.r_[y[:95], y[95:] * 5 + 100] for y in members]
    again = pooled_profiles(changed, np.zeros(6, dtype=int), groups, 52, end=95, min_seasons=1)
    np.testing.assert_array_equal(early["g"], again["g"])
    assert np.corrcoef(early["g"], 1 + 0.8 * np.cos(2 * np.pi * np.arange(52) / 52))[0, 1] > 0.9
    # two seasons are needed by default, none before week 95
    assert pooled_profiles(members, np.zeros(6, dtype=int), groups, 52, end=95) == {}


def test_borrowed_shape_uses_the_profile_of_its_time():
    old, new = np.full(4, 1.0), np.array([0.5, 1.5, 0.5, 1.5])
    model = BorrowedShape(np.stack([old, new]), window=4, known_from=(8, 12))
    np.testing.assert_allclose(model.fit(np.full(10, 2.0)).predict(2), [2.0, 2.0])  # n = 10: old
    np.testing.assert_allclose(model.fit(np.full(12, 2.0)).predict(2), [1.0, 3.0])  # n = 12: new
    with pytest.raises(ValueError, match="no seasonal profile"):
        model.fit(np.full(6, 2.0))


def test_grouped_runs_offer_the_group_shape_to_long_series():
    periods = 156
    summer = _seasonal_group(8, periods, peak=26, seed=1, sku_prefix="S")
    winter = _seasonal_group(8, periods, peak=0, seed=2, sku_prefix="W")
    hist = pd.concat([summer, winter], ignore_index=True)
    groups = pd.DataFrame({"sku": hist["sku"].unique()})
    groups["group"] = np.where(groups["sku"].str.startswith("W"), "winter", "summer")
    opts = dict(horizon=H, season_length=52, global_model=False, backtest_windows=6, backtest_step=8)
    grouped = forecast(hist, groups=groups, **opts)
    shape = grouped.scores[grouped.scores["model"] == "seasonal_shape"]
    assert len(shape) == 16 and shape["mase"].notna().all()
    assert set(grouped.selection["shape"]) == {"summer", "winter"}
    # without groups a long series keeps to its own models
    plain = forecast(hist, **opts)
    assert "seasonal_shape" not in set(plain.scores["model"])


def _panel(hist, season_length=52):
    keys = hist[["sku", "location"]].drop_duplicates().reset_index(drop=True)
    grid = pd.date_range(hist["date"].min(), hist["date"].max(), freq="W-MON")
    idx = keys.reset_index().merge(hist, on=["sku", "location"])
    Y = np.full((len(keys), len(grid)), np.nan)
    Y[idx["index"], grid.get_indexer(idx["date"])] = idx["qty"]
    promo = np.zeros_like(Y)
    promo[idx["index"], grid.get_indexer(idx["date"])] = idx["promo"]
    pos = Panel.season_positions(grid.append(pd.date_range(grid[-1], periods=H + 1, freq="W-MON")[1:]), season_length)
    return Panel(Y, promo, np.full_like(Y, np.nan), pos, season_length, has_promo=True)


def test_global_model_does_not_look_past_its_cutoff():
    hist = simulate_demand(n_skus=8, n_locations=2, periods=130, intermittent_share=0.2, seed=8)
    panel = _panel(hist)
    cutoff = 110
    model = GlobalBoosting(horizon=H, **FAST_GLOBAL)
    base = model.fit_predict(panel, cutoff, quantiles=True)
    # wreck everything from the cutoff on: the fit and forecast from the cutoff must not move
    poisoned = Panel(panel.y.copy(), panel.promo.copy(), panel.price, panel.season_pos, 52, has_promo=True)
    poisoned.y[:, cutoff:] = 1e6
    poisoned.promo[:, cutoff:] = 1
    again = model.fit_predict(poisoned, cutoff, quantiles=True)
    np.testing.assert_array_equal(base.mean, again.mean)
    np.testing.assert_array_equal(base.quantiles, again.quantiles)
    # every training row's target lies before the cutoff
    start = np.argmax(np.isfinite(panel.y), axis=1)
    rows, t, h = model.training_rows(panel, cutoff, start)
    assert rows.size and (t + h - 1 < cutoff).all()
    # while changing the past does move it
    changed = Panel(panel.y.copy(), panel.promo, panel.price, panel.season_pos, 52, has_promo=True)
    changed.y[:, cutoff - 5 : cutoff] *= 3
    assert not np.allclose(model.fit_predict(changed, cutoff).mean, base.mean)
    # one fit forecasting later origins (the backtest scheme): training stays before
    # the cutoff, each forecast reads only the periods before its own origin
    multi = model.fit_predict(panel, cutoff, origins=(cutoff, cutoff + 4))
    np.testing.assert_array_equal(multi.mean[0], base.mean[0])
    poisoned_later = Panel(panel.y.copy(), panel.promo, panel.price, panel.season_pos, 52, has_promo=True)
    poisoned_later.y[:, cutoff + 4 :] = 1e6
    np.testing.assert_array_equal(model.fit_predict(poisoned_later, cutoff, origins=(cutoff, cutoff + 4)).mean, multi.mean)
    with pytest.raises(ValueError, match="leak"):
        model.fit_predict(panel, cutoff, origins=(cutoff - 1,))


def test_global_model_is_a_scored_candidate_and_promo_effect_is_visible():
    rng = np.random.default_rng(5)
    periods = 130
    dates = pd.date_range("2022-01-03", periods=periods, freq="W-MON")
    rows = []
    for s in range(40):
        level = rng.lognormal(2.0, 0.5)
        promo = (rng.random(periods) < 0.12).astype(int)
        price = np.where(promo == 1, 8.0, 10.0)
        qty = rng.poisson(level * np.where(promo == 1, 2.0, 1.0))
        rows.append(pd.DataFrame({"sku": f"S{s}", "location": "D", "date": dates, "qty": qty.astype(float), "promo": promo, "price": price}))
    hist = pd.concat(rows, ignore_index=True)
    res = forecast(hist, horizon=H, season_length=52, global_params=FAST_GLOBAL)
    assert "mase_global" in res.selection.columns
    assert res.selection["mase_global"].notna().all()
    scored = res.scores[res.scores["model"] == GLOBAL_MODEL]
    assert len(scored) == 40 and scored["n_origins"].eq(default_backtest(H, 52)[0]).all()
    eff = res.effects
    assert list(eff.columns) == ["sku", "location", "group", "n_promo_periods", "promo_lift", "price_elasticity",
                                 "promo_factor", "post_promo_factor"]
    # the simulated promotion doubles demand: the model sees a clear lift, and so does
    # the per-series models' ratio estimate (no post-promotion dip was simulated)
    assert 1.4 < eff["promo_lift"].median() < 2.8
    assert 1.7 < eff["promo_factor"].median() < 2.3
    assert 0.8 < eff["post_promo_factor"].median() < 1.2
    assert (eff["n_promo_periods"] > 0).all()
    assert res.metrics["promo_lift_median"] == pytest.approx(eff["promo_lift"].median())
    assert "promo_lift" in res.selection.columns
    # no promo, no price columns: no effects, still a forecast
    plain = forecast(hist.drop(columns=["promo", "price"]), horizon=H, season_length=52, global_params=FAST_GLOBAL)
    assert plain.effects["promo_lift"].isna().all()


def test_coverage_by_class_on_simulated_draws():
    rng = np.random.default_rng(0)
    n = 20_000
    cls = rng.choice(["smooth", "lumpy"], n)
    actual = rng.normal(0, 1, n)
    frame = pd.DataFrame({"actual": actual, "demand_class": cls,
                          "q90": np.where(cls == "smooth", 1.2816, 0.0), "q95": 1.6449})
    cov = coverage_by_class(frame, (0.9, 0.95)).set_index("demand_class")
    assert cov.loc["smooth", "coverage_q90"] == pytest.approx(0.90, abs=0.01)
    assert cov.loc["lumpy", "coverage_q90"] == pytest.approx(0.50, abs=0.02)
    assert cov.loc["all", "n"] == n
    assert cov.loc["smooth", "gap_q95"] == pytest.approx(0.0, abs=0.01)
    with pytest.raises(ValueError, match="lacks"):
        coverage_by_class(frame.drop(columns="q95"), (0.9, 0.95))


def test_calibrate_levels_widens_when_origins_disagree():
    # each fold (origin) has its own offset: pooled quantiles under-cover a new fold
    rng = np.random.default_rng(1)
    folds = np.repeat(np.arange(8), 500)
    z = rng.normal(0, 1, folds.size) + np.linspace(-2.0, 2.0, 8)[folds]
    levels, table = calibrate_levels(z, np.array(["a"] * z.size), folds, (0.9,))
    row = table.set_index("demand_class").loc["a"]
    assert row["nominal_coverage_q90"] < 0.88
    assert levels["a"][0] > 0.9
    assert abs(row["coverage_q90"] - 0.9) < abs(row["nominal_coverage_q90"] - 0.9)


def test_holdout_coverage_per_class_is_reported():
    hist = simulate_demand(n_skus=12, n_locations=3, periods=150, intermittent_share=0.3, seed=12)
    res = forecast(hist, horizon=H, season_length=52, backtest_windows=5, global_model=False)
    cov = res.coverage.set_index("demand_class")
    assert "all" in cov.index and {"coverage_q90", "nominal_coverage_q90", "level_q90"} <= set(cov.columns)
    assert any(k.startswith("holdout_coverage_q90_") for k in res.metrics)
    assert {"pinball_q50", "pinball_q90", "pinball_q95"} <= set(res.selection.columns)
    assert set(res.errors_by_step["step"]) <= set(range(1, H + 1))


def test_dask_cluster_gives_identical_forecasts():
    distributed = pytest.importorskip("dask.distributed")
    hist = simulate_demand(n_skus=5, n_locations=2, periods=110, short_share=0.2, intermittent_share=0.3, seed=9)
    # a promotion plan: the backtest's per-origin promotion multipliers travel to the workers too
    keys = hist[["sku", "location"]].drop_duplicates()
    dates = pd.date_range(hist["date"].max(), periods=H + 1, freq="W-MON")[1:]
    plan = keys.merge(pd.DataFrame({"date": dates, "promo": (np.arange(H) % 5 == 2).astype(int)}), how="cross")
    kwargs = dict(horizon=H, season_length=52, seed=3, global_params=FAST_GLOBAL, future=plan)
    local = forecast(hist, n_jobs=1, **kwargs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote = forecast(hist, scheduler=client, **kwargs)
            by_address = forecast(hist, scheduler=cluster.scheduler_address, **kwargs)
    for other in (remote, by_address):
        pd.testing.assert_frame_equal(local.forecasts, other.forecasts)
        pd.testing.assert_frame_equal(local.selection, other.selection)
        pd.testing.assert_frame_equal(local.errors, other.errors)
    assert (local.selection["mase_global"].notna()).any()
    assert local.metrics["promo_adjusted"] == 1.0


def test_failed_global_fit_falls_back_and_says_why(monkeypatch, caplog):
    hist = simulate_demand(n_skus=3, n_locations=2, periods=110, intermittent_share=0.0, seed=2)

    def broken(self, *args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(GlobalBoosting, "fit", broken)
    with caplog.at_level("WARNING", logger="forecasting.core"):
        res = forecast(hist, horizon=H, season_length=52, candidates={"smooth": ["global", "ets"], "erratic": ["global", "ets"]})
    assert "global model failed" in caplog.text
    assert (res.selection["model"] != "global").all()
    assert res.selection["fallback"].str.contains("global failed in backtest").all()
    assert res.metrics["n_fallback_nonfinite"] == len(res.selection)
    assert np.isfinite(res.forecasts[["mean", "q90"]].to_numpy()).all()


def test_bad_history_is_rejected_with_a_clear_message():
    dates = pd.date_range("2024-01-01", periods=10, freq="W-MON")
    good = pd.DataFrame({"sku": "A", "location": "B", "date": dates, "qty": 1.0})
    cases = [
        (good.assign(qty=[1.0, np.nan] * 5), "missing or non-numeric"),
        (good.assign(qty=["1", "x"] * 5), "non-numeric"),
        (good.assign(date=[None] + list(dates[1:])), "missing dates"),
        (good.assign(sku=[None] + ["A"] * 9), "missing sku or location"),
        (good.iloc[:0], "no rows"),
    ]
    for frame, message in cases:
        with pytest.raises(ValueError, match=message):
            forecast(frame, horizon=2, global_model=False)
    with pytest.raises(ValueError, match="must be a pandas DataFrame"):
        forecast(good.to_dict("list"), horizon=2)
    with pytest.raises(ValueError, match="backtest_windows"):
        forecast(good, horizon=2, backtest_windows=0)
    with pytest.raises(ValueError, match="select_by"):
        forecast(good, horizon=2, select_by="r2")
    with pytest.raises(ValueError, match="groups must be"):
        forecast(good, horizon=2, groups=pd.DataFrame({"sku": ["A"]}))


def test_global_quantiles_calibrate_on_the_sampled_series_only(monkeypatch):
    from forecasting import core
    from forecasting.models.global_model import GlobalForecast

    rng = np.random.default_rng(2)
    S, T, o, qs = 6, 40, 27, (0.5, 0.9)
    Y = rng.poisson(10.0, (S, T)).astype(float)
    qhat = np.repeat(np.array([[[9.0, 14.0]]]), S, axis=0).repeat(H, axis=1)  # (S, H, Q)
    scale = np.full(S, 10.0)
    classes = np.array(["smooth"] * S)
    models = np.array(["global"] + ["combo"] * (S - 1))
    final = GlobalForecast(T, np.full((1, S, H), 10.0), np.full((1, S), 10.0), origins=(T,),
                           quantiles=np.repeat(qhat[None], 1, axis=0))
    values = np.zeros((S, H, len(qs)))
    caps = np.full(S, 1e6)
    full = core._global_quantiles(values, models, classes, final, [(o, qhat, scale)], Y, qs, caps, 5)
    # series 5 not in the sample: its quantiles are nan and its wild actuals do not count
    wild = Y.copy()
    wild[5, o:] = 500.0
    sampled = qhat.copy()
    sampled[5] = np.nan
    part = core._global_quantiles(values, models, classes, final, [(o, sampled, scale)], wild, qs, caps, 5)
    keep = Y.copy()
    keep[5] = np.nan  # (the same scores without series 5 at all)
    want = core._global_quantiles(values, models, classes, final, [(o, qhat, scale)], keep, qs, caps, 5)
    np.testing.assert_array_equal(part, want)
    # (and they would count if series 5 had been sampled: the check can fail)
    counted = core._global_quantiles(values, models, classes, final, [(o, qhat, scale)], wild, qs, caps, 5)
    assert (counted[0] > part[0]).any() and np.isfinite(full).all()
    monkeypatch.setattr(core, "GLOBAL_CALIBRATION_SERIES", 4)
    sample = core._calibration_sample(S, 7)
    assert sample.size == 4 and np.array_equal(sample, core._calibration_sample(S, 7))
    assert core._calibration_sample(4, 7) is None


def _global_run() -> tuple[pd.DataFrame, dict]:
    """Demand and options of a small run in which some series choose the global model."""
    hist = simulate_demand(n_skus=8, n_locations=3, periods=110, intermittent_share=0.3, seed=6)
    return hist, dict(horizon=H, season_length=52, seed=1, global_params=FAST_GLOBAL,
                      candidates={"smooth": ["global", "combo"], "erratic": ["global", "combo"]})


def test_a_run_with_a_calibration_sample_changes_only_the_global_series_quantiles(monkeypatch):
    from forecasting import core

    hist, kwargs = _global_run()
    full = forecast(hist, **kwargs)
    monkeypatch.setattr(core, "GLOBAL_CALIBRATION_SERIES", 10)
    part = forecast(hist, **kwargs)
    assert (full.selection["model"] == "global").any()
    np.testing.assert_array_equal(part.forecasts["mean"], full.forecasts["mean"])
    other = (full.forecasts["model"] != "global").to_numpy()
    for col in ("q50", "q90", "q95"):
        np.testing.assert_array_equal(part.forecasts[col][other], full.forecasts[col][other])
        assert np.isfinite(part.forecasts[col]).all()
    assert (part.forecasts["q95"] >= part.forecasts["q90"]).all()


def test_global_quantile_regressors_are_fitted_only_when_a_series_uses_them(monkeypatch):
    hist, kwargs = _global_run()
    calls = []
    fit_quantiles = GlobalBoosting._fit_quantiles

    def counted(self, *args):
        calls.append(1)
        return fit_quantiles(self, *args)

    monkeypatch.setattr(GlobalBoosting, "_fit_quantiles", counted)
    used = forecast(hist, **kwargs)
    chosen = (used.selection["model"] == "global").to_numpy()
    assert chosen.any() and len(calls) == 2  # the fit before the first origin and the final one

    # a global model no series can use (no finite forecast): its quantile regressors
    # are never fitted
    calls.clear()
    predict = GlobalBoosting.predict

    def poor(self, *args, **kw):
        out = predict(self, *args, **kw)
        out.mean = np.full_like(out.mean, np.nan)
        return out

    monkeypatch.setattr(GlobalBoosting, "predict", poor)
    unused = forecast(hist, **kwargs)
    assert (unused.selection["model"] != "global").all() and calls == []
    assert np.isfinite(unused.forecasts[["q50", "q90", "q95"]].to_numpy()).all()


def test_failed_global_quantile_fit_keeps_pooled_quantiles_and_says_why(monkeypatch, caplog):
    hist, kwargs = _global_run()
    good = forecast(hist, **kwargs)

    def broken(self, *args):
        raise MemoryError("out of memory")

    monkeypatch.setattr(GlobalBoosting, "_fit_quantiles", broken)
    with caplog.at_level("WARNING", logger="forecasting.core"):
        res = forecast(hist, **kwargs)
    assert "quantile regressors failed (MemoryError: out of memory)" in caplog.text
    # the means and the model choice stand; the global series' quantiles are the pooled
    # backtest-error ones, finite and ordered, and differ from the regressors' ones
    np.testing.assert_array_equal(res.forecasts["mean"], good.forecasts["mean"])
    assert (res.selection["model"] == good.selection["model"]).all()
    glob = (res.forecasts["model"] == "global").to_numpy()
    assert glob.any() and np.isfinite(res.forecasts[["q50", "q90", "q95"]].to_numpy()).all()
    assert (res.forecasts["q95"] >= res.forecasts["q90"]).all()
    assert not np.array_equal(res.forecasts["q90"][glob], good.forecasts["q90"][glob])
    np.testing.assert_array_equal(res.forecasts["q90"][~glob], good.forecasts["q90"][~glob])
