import numpy as np
import pytest

from forecasting.models import ETS, MODELS, SBA, Croston, MovingAverage, Naive, SeasonalNaive, make_model, seasonal_indices

rng = np.random.default_rng(42)
T = np.arange(156)
SERIES = {
    "seasonal": np.round(np.maximum(0, 20 + 8 * np.sin(2 * np.pi * T / 52) + rng.normal(0, 2, 156))),
    "low_volume": rng.poisson(0.6, 156).astype(float),
    "intermittent": np.where(rng.random(156) < 0.15, rng.integers(1, 9, 156), 0).astype(float),
    "all_zero": np.zeros(156),
    "short": np.array([3.0, 5, 4, 6, 2, 5, 7, 4, 5, 6, 4, 3]),
    "trend_down": np.maximum(0, 60 - 0.45 * T + rng.normal(0, 1, 156)),
}
MODELS_UNDER_TEST = [
    Naive(),
    SeasonalNaive(season_length=4),
    MovingAverage(window=8),
    ETS(season_length=52),
    ETS(season_length=4),
    ETS(season_length=1, damped=False),
    Croston(alpha=0.1),
    SBA(alpha=0.1),
]


@pytest.mark.parametrize("model", MODELS_UNDER_TEST, ids=repr)
@pytest.mark.parametrize("name", sorted(SERIES))
@pytest.mark.parametrize("h", [1, 13, 60])
def test_per_series_contract(model, name, h):
    y = SERIES[name]
    fitted = model.fit(y)
    assert fitted is model
    f = model.predict(h)
    assert f.shape == (h,)
    assert np.all(np.isfinite(f))
    assert np.all(f >= 0)
    # refitting gives the same result (no hidden state, no randomness)
    again = type(model)(**model.get_params()).fit(y.copy()).predict(h)
    np.testing.assert_array_equal(f, again)
    # fitted attributes end in "_"; __init__ stores parameters only
    assert "n_obs_" in vars(model) and vars(type(model)(**model.get_params())).keys() == model.get_params().keys()


@pytest.mark.parametrize("cls", sorted(MODELS.values(), key=lambda c: c.name), ids=lambda c: c.name)
def test_validation(cls):
    model = make_model(cls.name, season_length=4)
    with pytest.raises(RuntimeError):
        model.predict(3)
    for bad in ([1.0, np.nan, 2.0], [1.0, -1.0, 2.0], [[1.0, 2.0]]):
        with pytest.raises(ValueError):
            model.fit(bad)
    model.fit(np.arange(10, dtype=float))
    for h in (0, -1, 2.5):
        with pytest.raises(ValueError):
            model.predict(h)


def test_baselines_hand_computed():
    y = np.array([1.0, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(Naive().fit(y).predict(3), [7, 7, 7])
    np.testing.assert_array_equal(SeasonalNaive(season_length=3).fit(y).predict(5), [5, 6, 7, 5, 6])
    np.testing.assert_array_equal(MovingAverage(window=3).fit(y).predict(2), [6, 6])
    np.testing.assert_array_equal(MovingAverage(window=30).fit(y).predict(1), [4])
    with pytest.raises(ValueError):
        SeasonalNaive(season_length=10).fit(y)


def test_sba_is_croston_times_one_minus_half_alpha():
    y = SERIES["intermittent"]
    c = Croston(alpha=0.2).fit(y).predict(1)[0]
    s = SBA(alpha=0.2).fit(y).predict(1)[0]
    assert s == pytest.approx(0.9 * c)
    # demand of 6 every 3rd period: Croston estimates the rate 2, SBA (1 - 0.05) * 2
    y = np.tile([0.0, 0.0, 6.0], 30)
    assert Croston(alpha=0.1).fit(y).predict(1)[0] == pytest.approx(2.0)
    assert SBA(alpha=0.1).fit(y).predict(1)[0] == pytest.approx(1.9)
    assert SBA().fit(np.zeros(10)).predict(2).tolist() == [0.0, 0.0]


def test_ets_recovers_a_clear_season():
    t = np.arange(156 + 13)
    truth = 30 + 10 * np.sin(2 * np.pi * t / 52)
    y = truth[:156] + np.random.default_rng(1).normal(0, 1, 156)
    f = ETS(season_length=52).fit(y).predict(13)
    assert np.mean(np.abs(f - truth[156:])) < 1.5
    # and beats a flat forecast by a wide margin
    assert np.mean(np.abs(f - truth[156:])) < 0.3 * np.mean(np.abs(y[-8:].mean() - truth[156:]))


def test_seasonal_indices_shrink_noise_to_nothing():
    noise = np.random.default_rng(3).normal(20, 3, 156)
    s = seasonal_indices(noise, 52)
    assert s.shape == (52,)
    assert np.abs(s).max() < 1.0  # raw indices of pure noise would be ~ +-3
    assert abs(s.sum()) < 1e-9
    # fewer than two seasons: no seasonal profile at all
    assert not seasonal_indices(noise[:100], 52).any()


def test_ets_uses_statsmodels_and_matches_its_forecast():
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = SERIES["trend_down"][:80]
    model = ETS(season_length=52).fit(y)  # < 2 seasons: non-seasonal damped Holt
    assert model.trend_ and not model.seasonal_.any()
    ref = ExponentialSmoothing(y, trend="add", damped_trend=True, initialization_method="heuristic").fit(
        use_brute=False, method="SLSQP"
    )
    np.testing.assert_allclose(model.predict(10), np.maximum(ref.forecast(10), 0), rtol=1e-9, atol=1e-9)


def test_make_model_ignores_foreign_options():
    m = make_model("moving_average", season_length=52, window=4, alpha=0.3)
    assert isinstance(m, MovingAverage) and m.window == 4
    with pytest.raises(ValueError, match="unknown model"):
        make_model("prophet")


@pytest.mark.parametrize("model", MODELS_UNDER_TEST, ids=repr)
def test_frozen_copy_is_unfitted_and_reproduces_the_fit(model):
    y = SERIES["seasonal"]
    fitted = type(model)(**model.get_params()).fit(y)
    frozen = fitted.frozen()
    assert not hasattr(frozen, "n_obs_")
    # same data, parameters fixed at the fitted values: the same forecast
    np.testing.assert_allclose(frozen.fit(y).predict(13), fitted.predict(13), rtol=1e-6, atol=1e-6)


def test_frozen_ets_does_not_reoptimise():
    y = SERIES["trend_down"]
    fitted = ETS(season_length=52).fit(y[:120])
    later = fitted.frozen().fit(y)
    assert later.params_ == pytest.approx(fitted.params_)
    assert later.smoothing == fitted.params_
