"""The global model's fit / predict split: no leakage per origin, same forecasts as one call."""

import numpy as np
import pandas as pd
import pytest

from forecasting.models.global_model import GlobalBoosting, GlobalFit, Panel, fit_task, predict_task, quantile_task

H = 6
FAST = {"max_iter": 20, "max_rows": 5_000, "min_samples_leaf": 20}


def _panel(seed: int = 3, S: int = 40, T: int = 90) -> Panel:
    """Seasonal Poisson demand with promotions, prices (unknown early on, an inf once),
    a series that starts after the first origin and one that stops selling."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    level = rng.gamma(2.0, 3.0, (S, 1)) * (1.3 + np.sin(2 * np.pi * (t + rng.integers(0, 12, (S, 1))) / 12))
    promo = (rng.random((S, T)) < 0.1).astype(float)
    price = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.02, (S, T)), axis=1))
    y = rng.poisson(level * (1 + promo) * (10.0 / price) ** 1.5).astype(float)
    y[0, :75] = np.nan  # starts after the first origin (62) below
    y[1, 5:] = 0.0  # level 0 at every origin (the level reads the last 52 periods)
    price[2:6, :30] = np.nan
    price[7, 50] = np.inf
    dates = pd.date_range("2018-01-01", periods=T + H, freq="MS")
    return Panel(y, promo, price, Panel.season_positions(dates, 12), 12, has_promo=True, has_price=True)


def test_predict_reads_only_periods_before_each_origin():
    panel = _panel()
    model = GlobalBoosting(horizon=H, **FAST)
    cutoff, origins = 62, (62, 70, 78, 84)
    fit = model.fit(panel, cutoff, quantiles=True)
    assert isinstance(fit, GlobalFit) and fit.mean_model is not None and len(fit.quantile_models) == 3
    together = model.predict(fit, panel, origins)
    assert together.mean.shape == (4, 40, H) and together.quantiles.shape == (4, 40, H, 3)
    # the one-call path (what the tests and refit_backtest use) is the same computation
    one_call = model.fit_predict(panel, cutoff, origins=origins, quantiles=True)
    np.testing.assert_array_equal(one_call.mean, together.mean)
    np.testing.assert_array_equal(one_call.quantiles, together.quantiles)
    rng = np.random.default_rng(0)
    for k, o in enumerate(origins):
        # demand, promotions and prices from the origin on wrecked: that origin's
        # forecast, quantiles and level do not move, alone or among other origins
        wrecked = Panel(panel.y.copy(), panel.promo.copy(), panel.price.copy(), panel.season_pos, 12, True, True)
        wrecked.y[:, o:] = rng.poisson(500.0, wrecked.y[:, o:].shape)
        wrecked.promo[:, o:] = 1.0 - wrecked.promo[:, o:]
        wrecked.price[:, o:] = np.where(rng.random(wrecked.price[:, o:].shape) < 0.5, np.nan, 0.5)
        again = model.predict(fit, wrecked, (o,))
        np.testing.assert_array_equal(again.mean[0], together.mean[k])
        np.testing.assert_array_equal(again.quantiles[0], together.quantiles[k])
        np.testing.assert_array_equal(again.scale[0], together.scale[k])
        # (and the check can fail: the period just before the origin does move it)
        moved = Panel(panel.y.copy(), panel.promo, panel.price, panel.season_pos, 12, True, True)
        moved.y[:, o - 1] += 50.0
        assert not np.allclose(model.predict(fit, moved, (o,)).mean[0], together.mean[k])
    # a series without any period before an origin, or with level 0 there, forecasts 0
    assert (together.mean[:2, 0] == 0).all() and (together.scale[:2, 0] == 0).all()
    assert (together.mean[:, 1] == 0).all() and (together.quantiles[:, 1] == 0).all()
    assert (together.mean[2:, 0] > 0).any()
    with pytest.raises(ValueError, match="leak"):
        model.predict(fit, panel, (cutoff - 1,))


def test_tasks_never_raise_and_carry_the_reason():
    panel = _panel()
    model = GlobalBoosting(horizon=H, **FAST)
    broken = Panel(panel.y[:, :50], panel.promo, panel.price, panel.season_pos, 12, True, True)  # wrong shapes
    fit = fit_task(model, broken, 80, True)
    assert fit.error and fit.mean_model is None
    out = predict_task(model, fit, panel, (80, 84), False, False)
    assert out.error == fit.error and np.isnan(out.mean).all() and out.mean.shape == (2, 40, H)
    good = fit_task(model, panel, 70, True)
    out = predict_task(model, good, panel, (69,), False, False)  # before the cutoff: refused, not raised
    assert "leak" in out.error and np.isnan(out.mean).all()
    ok = predict_task(model, good, panel, (70, 80), True, False)
    assert not ok.error and np.isfinite(ok.mean).all() and ok.promo_lift.shape == (40,)
    assert set(good.seconds) == {"features", "fit_mean", "fit_quantiles"}
    assert set(ok.seconds) == {"features", "predict"}


# The backtest origins split into one share per worker (forecast()'s default scheme)
# give the forecasts of one process: test_orchestration's Dask test (2 workers vs serial).


def test_compiled_forest_predicts_what_scikit_learn_predicts():
    from forecasting.models.global_model import _forest_kernel, _pack_forest, _predict_models

    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 5)).astype(np.float32)
    X[rng.random(X.shape) < 0.15] = np.nan  # missing values in training: learned missing sides
    z = rng.poisson(np.exp(0.5 * np.nan_to_num(X[:, 0]) - 0.3 * np.nan_to_num(X[:, 1]) + 1.0)).astype(float)
    model = GlobalBoosting(horizon=1, max_iter=30, min_samples_leaf=10)
    models = [model._regressor("poisson").fit(X, z), model._regressor("quantile", 0.9).fit(X, z)]
    Xt = rng.normal(scale=2.0, size=(5000, 5)).astype(np.float32)
    Xt[rng.random(Xt.shape) < 0.2] = np.nan
    Xt[:50, 2] = np.inf
    Xt[50:100, 3] = -np.inf
    packed = _pack_forest(models)
    assert packed is not None
    *arrays, links = packed
    raw = np.empty((Xt.shape[0], 2))
    _forest_kernel(Xt, *arrays, raw)  # the kernel itself, without the fallback
    np.testing.assert_array_equal(np.exp(np.ascontiguousarray(raw[:, 0])), models[0].predict(Xt))
    np.testing.assert_array_equal(raw[:, 1], models[1].predict(Xt))
    for fast, ref in zip(_predict_models(models, Xt), (m.predict(Xt) for m in models)):
        np.testing.assert_array_equal(fast, ref)
    assert [p.shape for p in _predict_models(models, Xt[:0])] == [(0,), (0,)]


def test_quantile_regressors_sharing_the_mean_fits_bins_grow_the_same_trees():
    from sklearn.ensemble import HistGradientBoostingRegressor

    panel = _panel(seed=4)
    model = GlobalBoosting(horizon=H, **FAST)
    fit = model.fit(panel, 70, quantiles=True)
    params = fit.quantile_models[0].get_params()
    start = np.argmax(np.isfinite(panel.y), axis=1)
    rows, t, h = model.training_rows(panel, 70, start)
    prep = model._prepare(panel, 70)
    prices = model._prices(panel, model._forward_filled_prices(panel), 70)
    X, scale = model._features(panel, prep, rows, t, h, known_until=70, prices=prices)
    ok = scale > 0
    X, z = X[ok], np.minimum(prep[0][rows, t + h - 1][ok] / scale[ok], 50.0)
    X[:, fit.empty] = 0.0
    Xt = X[::7]
    for q, shared in zip(model.quantiles, fit.quantile_models):
        assert shared._bin_mapper is fit.mean_model._bin_mapper and "_shared_bins" not in shared.__dict__
        alone = HistGradientBoostingRegressor(**{**params, "quantile": q}).fit(X, z)
        np.testing.assert_array_equal(shared.predict(Xt), alone.predict(Xt))


def test_forecasts_of_a_subset_of_series_are_those_of_all_series():
    # the backtest's calibration sample and the final quantiles of the series that
    # chose the global model: the same values there, nan elsewhere
    panel = _panel(seed=5)
    model = GlobalBoosting(horizon=H, **FAST)
    fit = model.fit(panel, 62, quantiles=True)
    full = model.predict(fit, panel, (62, 70, 78))
    sample = np.array([1, 3, 4, 17, 30, 39])
    part = predict_task(model, fit, panel, (62, 70, 78), False, False, series=sample)
    np.testing.assert_array_equal(part.scale[:, sample], full.scale[:, sample])
    np.testing.assert_array_equal(part.mean[:, sample], full.mean[:, sample])
    np.testing.assert_array_equal(part.quantiles[:, sample], full.quantiles[:, sample])
    others = np.setdiff1d(np.arange(40), sample)
    assert np.isnan(part.quantiles[:, others]).all() and np.isnan(part.mean[:, others]).all()
    assert np.isnan(part.scale[:, others]).all()
    # with planned promotions and prices of the horizon and the effects, too
    promo, price = (np.arange(40 * H).reshape(40, H) % 3 == 0).astype(float), np.full((40, H), 9.0)
    whole = model.predict(fit, panel, (90,), effects=True, future_promo=promo, future_price=price)
    some = model.predict(fit, panel, (90,), effects=True, future_promo=promo, future_price=price, series=sample)
    for name in ("mean", "scale", "quantiles", "promo_lift", "price_elasticity"):
        a, b = getattr(some, name), getattr(whole, name)
        np.testing.assert_array_equal(np.take(a, sample, axis=int(a.ndim > 1)), np.take(b, sample, axis=int(b.ndim > 1)))
        assert np.isnan(np.take(a, others, axis=int(a.ndim > 1))).all()
    assert np.isfinite(part.quantiles[:, sample]).all() and np.isfinite(part.mean[:, sample]).all()
    assert (full.mean[:, others] > 0).any()  # (the others were not all zero to begin with)


def test_quantile_regressors_added_later_are_those_of_one_fit():
    # the orchestrator fits the mean first and the quantiles only once a series chose
    # the global model: the two steps give the regressors of one fit with quantiles
    panel = _panel(seed=6)
    model = GlobalBoosting(horizon=H, **FAST)
    mean_only = fit_task(model, panel, 66, False)
    assert mean_only.quantile_models == () and model.predict(mean_only, panel, (66,)).quantiles is None
    later = quantile_task(model, mean_only)
    once = model.fit(panel, 66, quantiles=True)
    assert later.mean_model is mean_only.mean_model and len(later.quantile_models) == 3
    assert "fit_quantiles" in later.seconds and later.training is None and mean_only.training is not None
    a, b = model.predict(later, panel, (66, 72)), model.predict(once, panel, (66, 72))
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.quantiles, b.quantiles)
    # nothing to add to: a fit that has them, a failed fit, a model without quantiles
    assert model.add_quantiles(later) is later
    failed = GlobalFit(66, None, error="MemoryError: x")
    assert model.add_quantiles(failed) is failed
    plain = GlobalBoosting(horizon=H, quantiles=(), **FAST)
    assert plain.add_quantiles(mean_only) is mean_only
    with pytest.raises(ValueError, match="no training matrix"):
        model.add_quantiles(GlobalFit(66, mean_only.mean_model))
    # the task never raises: the reason comes back in the fit
    lost = quantile_task(model, GlobalFit(66, mean_only.mean_model))
    assert lost.mean_model is None and "no training matrix" in lost.error
