"""Seasonal per-series models: AutoETS family, Theta, combinations."""

import numpy as np
import pytest

from forecasting.models import MODELS, make_model
from forecasting.models import _kernels
from forecasting.models.seasonality import classical_indices, deseasonalise, seasonality_test
from forecasting.models.smoothing import AutoETS, AutoETSAdjusted, _forms
from forecasting.models.theta import OptimisedTheta, Theta, theta_forecast
from forecasting.models.combination import Combination

rng = np.random.default_rng(7)
T = np.arange(96)
SERIES = {
    "monthly_mult": 100 * (1 + 0.004 * T) * (1 + 0.3 * np.sin(2 * np.pi * T / 12)) * rng.lognormal(0, 0.05, 96),
    "monthly_zeros": np.where(rng.random(96) < 0.2, 0.0, rng.poisson(5, 96)).astype(float),
    "all_zero": np.zeros(96),
    "constant": np.full(40, 7.0),
    "short": np.array([3.0, 5, 4, 6, 2, 5, 7, 4, 5, 6]),
    "trend_down": np.maximum(0, 60 - 0.6 * T + rng.normal(0, 1, 96)),
}
SEASONAL = ["ets_auto", "ets_sa", "theta", "theta_opt", "combo"]


@pytest.mark.parametrize("name", SEASONAL)
@pytest.mark.parametrize("series", sorted(SERIES))
@pytest.mark.parametrize("m", [1, 12, 52])
def test_per_series_contract(name, series, m):
    y = SERIES[series]
    model = make_model(name, season_length=m)
    assert model.fit(y) is model
    for h in (1, 18, 60):
        f = model.predict(h)
        assert f.shape == (h,)
        assert np.all(np.isfinite(f)) and np.all(f >= 0)
    again = make_model(name, season_length=m).fit(y.copy()).predict(18)
    np.testing.assert_array_equal(model.predict(18), again)


@pytest.mark.parametrize("name", SEASONAL)
def test_frozen_reproduces_fit_and_runs_on_longer_history(name):
    y = SERIES["monthly_mult"]
    fitted = make_model(name, season_length=12).fit(y[:80])
    frozen = fitted.frozen()
    assert not hasattr(frozen, "n_obs_")
    np.testing.assert_allclose(frozen.fit(y[:80]).predict(18), fitted.predict(18), rtol=1e-9)
    later = fitted.frozen().fit(y)
    assert np.all(np.isfinite(later.predict(18)))


def test_theta_closed_form_on_a_short_series():
    # Theta line with theta = 2 on x = [1, 3, 2, 4]: least squares line a + b t with
    # t = 0..3: b = cov(t, x)/var(t) = (sum (t-1.5)(x-2.5))/5 = (1.5+(-0.5)(0.5)... )
    # = ((-1.5)(-1.5) + (-0.5)(0.5) + (0.5)(-0.5) + (1.5)(1.5)) / 5 = 4/5 = 0.8,
    # a = 2.5 - 0.8 * 1.5 = 1.3. Line: 1.3, 2.1, 2.9, 3.7. Z = 2x - line =
    # 0.7, 3.9, 1.1, 4.3. SES alpha = 0.5, l0 = 0.7: l = 0.7, 2.3, 1.7, 3.0.
    # Forecast h=1: 0.5 (a + 4 b) + 0.5 * 3.0 = 0.5 * 4.5 + 1.5 = 3.75; h=2: 3.75 + 0.4.
    x = np.array([1.0, 3.0, 2.0, 4.0])
    np.testing.assert_allclose(theta_forecast(x, 2, alpha=0.5, l0=0.7), [3.75, 4.15])


def test_theta_is_ses_with_half_the_slope_as_drift():
    # Hyndman and Billah (2003): for theta = 2 the forecast increases by b/2 per step.
    x = 10 + 0.5 * np.arange(30) + rng.normal(0, 1, 30)
    f = Theta(season_length=1).fit(x).predict(5)
    slope = np.polyfit(np.arange(30), x, 1)[0]
    np.testing.assert_allclose(np.diff(f), slope / 2, rtol=1e-9)


def test_theta_on_a_line_recovers_the_line_with_theta_one():
    # theta = 1: the theta line is the data; on an exact line the forecast is the line.
    x = 5 + 2 * np.arange(20.0)
    f = theta_forecast(x, 3, alpha=0.5, l0=5.0, theta=1.0)
    # (1 - 1/theta) = 0: pure SES of the line -> flat at the last level; check SES lag:
    lev = 5.0
    for v in x:
        lev += 0.5 * (v - lev)
    np.testing.assert_allclose(f, lev)


def test_optimised_theta_fits_at_least_as_well_as_standard():
    y = SERIES["trend_down"]
    std = Theta(season_length=1).fit(y)
    opt = OptimisedTheta(season_length=1).fit(y)
    b, a = np.polyfit(np.arange(y.size), y, 1)
    sse_std, _ = _kernels.theta_sse(y, std.alpha_, std.theta_, std.l0_, a, b)
    sse_opt, _ = _kernels.theta_sse(y, opt.alpha_, opt.theta_, opt.l0_, a, b)
    assert sse_opt <= sse_std * (1 + 1e-6)
    assert 1.0 <= opt.theta_ <= 10.0


def test_seasonality_test_and_decomposition():
    t = np.arange(72)
    seasonal = 50 * (1 + 0.4 * np.cos(2 * np.pi * t / 12))
    assert seasonality_test(seasonal, 12)
    idx = classical_indices(seasonal, 12, multiplicative=True)
    np.testing.assert_allclose(idx, 1 + 0.4 * np.cos(2 * np.pi * np.arange(12) / 12), rtol=1e-2)
    adj, found, mult = deseasonalise(seasonal, 12)
    assert mult and found.size == 12
    np.testing.assert_allclose(adj, 50, rtol=2e-2)


def test_no_false_seasonality_on_white_noise_most_of_the_time():
    hits = sum(seasonality_test(np.random.default_rng(s).normal(50, 5, 72), 12) for s in range(200))
    assert hits < 200 * 0.12  # nominal 5 %, one-sided


def test_ets_forms_follow_the_restrictions():
    forms = _forms(positive=True, seasonal=True, damped=None)
    assert len(forms) == 15
    assert ("A", "N", "M") not in forms and all(t != "M" for _, t, _ in forms)
    assert all(e == "A" and s != "M" for e, _, s in _forms(positive=False, seasonal=True, damped=None))
    assert len(_forms(positive=True, seasonal=False, damped=True)) == 4


def test_ets_recovers_a_deterministic_season_and_trend():
    t = np.arange(60)
    y = 100 + t + 10 * np.sin(2 * np.pi * t / 12)
    f = AutoETS(season_length=12).fit(y).predict(12)
    t_new = np.arange(60, 72)
    np.testing.assert_allclose(f, 100 + t_new + 10 * np.sin(2 * np.pi * t_new / 12), atol=0.5)


def test_ets_ses_filter_matches_the_recursion():
    # ANN with alpha = 0.3, l0 = 10 on [12, 9, 11]: e1 = 2 -> l1 = 10.6;
    # e2 = 9 - 10.6 = -1.6 -> l2 = 10.12; e3 = 11 - 10.12 = 0.88 -> l3 = 10.384;
    # -2 log L = n log(SSE / n).
    y = np.array([12.0, 9.0, 11.0])
    out = np.empty(3)
    lik = _kernels.ets_filter(y, 0, 0, 0, 1, 0.3, 0.0, 0.0, 1.0, 10.0, 0.0, np.zeros(1), out)
    assert out[0] == pytest.approx(10.384)
    sse = 2**2 + 1.6**2 + 0.88**2
    assert lik == pytest.approx(3 * np.log(sse / 3))


def test_ets_aicc_prefers_the_true_form():
    t = np.arange(120)
    y = 200 * (1 + 0.35 * np.sin(2 * np.pi * t / 12)) * np.random.default_rng(3).lognormal(0, 0.03, 120)
    model = AutoETS(season_length=12).fit(y)
    assert model.form_.endswith("M") or model.form_.endswith("A")
    assert model.form_[1] == "N" or model.form_[1:3] == "Ad"  # no spurious linear trend
    assert model.aicc_[model.form_] == min(model.aicc_.values())


def test_ets_fixed_form_and_long_season():
    y = SERIES["monthly_mult"]
    assert AutoETS(season_length=12, form="MAdM").fit(y).form_ == "MAdM"
    # zeros: multiplicative parts are not admissible
    assert "M" not in AutoETS(season_length=12, form="MAdM").fit(SERIES["monthly_zeros"]).form_
    weekly = AutoETS(season_length=52).fit(np.tile(SERIES["monthly_mult"][:52], 3))
    assert weekly.form_.endswith("N") and weekly.profile_.size == 52
    with pytest.raises(ValueError):
        AutoETS(form="XYZ").fit(y)


def test_ets_adjusted_uses_classical_indices():
    y = SERIES["monthly_mult"]
    model = AutoETSAdjusted(season_length=12).fit(y)
    assert model.decomp_[0].size == 12 and model.form_.endswith("N")


def test_combination_is_the_mean_of_its_members():
    y = SERIES["monthly_mult"]
    combo = Combination(season_length=12, members=("ets_auto", "theta")).fit(y)
    members = [make_model(n, 12).fit(y).predict(18) for n in ("ets_auto", "theta")]
    np.testing.assert_allclose(combo.predict(18), np.mean(members, axis=0))
    med = Combination(season_length=12, members=("ets_auto", "theta", "seasonal_naive"), method="median").fit(y)
    members.append(make_model("seasonal_naive", 12).fit(y).predict(18))
    np.testing.assert_allclose(med.predict(18), np.median(members, axis=0))


def test_combination_leaves_out_failing_members_and_rejects_bad_options():
    short = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    combo = Combination(season_length=12, members=("seasonal_naive", "theta")).fit(short)
    assert "seasonal_naive" in combo.failed_ and len(combo.members_) == 1
    with pytest.raises(ValueError):
        Combination(season_length=12, members=("seasonal_naive",)).fit(short)
    with pytest.raises(ValueError):
        Combination(method="trimmed").fit(SERIES["monthly_mult"])


def test_new_models_are_registered():
    for name in ("ets_auto", "ets_sa", "theta", "theta_opt", "combo", "tsb", "adida"):
        assert name in MODELS and MODELS[name].name == name


@pytest.mark.parametrize("module", ["smoothing", "theta", "combination", "stl", "intermittent", "seasonality"])
def test_docstring_examples_of_the_new_models(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"forecasting.models.{module}")
    assert doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_stl_smooths_a_noisy_season_over_more_cycles():
    # Daily Poisson demand, mean 3 with a fixed day-of-week profile: the remainder is far
    # noisier than the season, so the season is re-estimated over many cycles with a
    # local constant, and the carried-forward week is much nearer the true profile than
    # a 13-week local line's. A clean monthly season that drifts keeps the local line.
    from forecasting.models.stl import STLForecaster

    rng = np.random.default_rng(3)
    profile = np.array([0.7, 0.8, 0.9, 1.0, 1.2, 1.6, 0.8])
    adaptive, fixed = [], []
    for _ in range(20):
        rate = 3.0 * np.tile(profile, 120)
        y = rng.poisson(rate).astype(float)
        model = STLForecaster(season_length=7).fit(y)
        assert model.degree_ == 0 and model.span_ > 13
        truth = 3.0 * np.tile(profile, 2)
        adaptive.append(np.mean((model.predict(14) - truth) ** 2))
        fixed.append(np.mean((STLForecaster(season_length=7, seasonal=13).fit(y).predict(14) - truth) ** 2))
    assert np.mean(adaptive) < 0.5 * np.mean(fixed)
    t = np.arange(240)
    drifting = 100 + (10 + 0.05 * t) * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 240)
    model = STLForecaster(season_length=12).fit(drifting)
    assert (model.span_, model.degree_) == (13, 1)
    assert model.fitted_params()["seasonal_window"] == 13


def _drifting_season(n: int = 300) -> np.ndarray:
    t = np.arange(n)
    # the seasonal peak moves by half a year over the 25 years
    return 500 * (1 + 0.4 * np.sin(2 * np.pi * t / 12 + np.pi * t / n)) * np.random.default_rng(1).lognormal(0, 0.05, n)


def test_ets_season_start_from_the_first_cycles_when_it_fits_better(monkeypatch):
    from forecasting.models import smoothing

    y = _drifting_season()
    model = AutoETS(season_length=12).fit(y)
    assert model.fitted_params()["season_start"] == "first 3 cycles"
    # without the alternative start the best likelihood is worse: it is kept only when better
    monkeypatch.setattr(smoothing, "SEASON_START_CYCLES", 10**6)
    whole = AutoETS(season_length=12).fit(y)
    assert whole.fitted_params()["season_start"] == "whole series"
    assert min(model.aicc_.values()) < min(whole.aicc_.values())
    # a backtest's frozen refit keeps the start: same data, same forecast; longer data runs
    frozen = model.frozen()
    np.testing.assert_allclose(frozen.fit(y).predict(12), model.predict(12), rtol=1e-10)
    assert np.isfinite(model.frozen().fit(np.r_[y, y[-12:]]).predict(12)).all()


def test_ets_season_start_needs_a_cycle_beyond_the_first_three():
    y = _drifting_season()[:47]  # 3 cycles and 11 periods: the first cycles are the series
    assert AutoETS(season_length=12).fit(y).fitted_params()["season_start"] == "whole series"


def _weekly_with_a_level_shift(seed=0, n=143, amplitude=40.0, noise=8.0):
    # a yearly wave that repeats, on a level that steps up after the first year: the
    # step makes every autocorrelation large, so Bartlett's limit at lag 52 is too
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = np.where(t < 52, 100.0, 150.0)
    return level + amplitude * np.cos(2 * np.pi * t / 52) + rng.normal(0, noise, n)


def test_a_long_season_is_judged_by_its_shrunk_profile_not_the_lag_test():
    from forecasting.models.seasonality import is_seasonal, long_season_profile

    y = _weekly_with_a_level_shift()
    assert not seasonality_test(y, 52)  # the lag-52 test misses the season
    assert is_seasonal(y, 52)
    assert Theta(season_length=52).fit(y).fitted_params()["seasonal"]
    assert make_model("stl", 52).fit(y).fitted_params()["decomposed"]
    assert make_model("arima", 52).fit(y).seasonal_.size == 52
    # the profile follows the wave: peak at the start of the year, trough mid-year
    prof = long_season_profile(y, 52)
    assert prof[0] > 25 and prof[26] < -25
    # the forecast of the next half year follows the wave, not the recent level
    f = Theta(season_length=52).fit(y).predict(26)
    wave = np.cos(2 * np.pi * (y.size + np.arange(26)) / 52)
    assert np.corrcoef(f, wave)[0, 1] > 0.8 and np.ptp(f) > 40
    # noise alone: the profile shrinks to zero and nothing is adjusted
    flat = 100 + np.random.default_rng(1).normal(0, 10, 143)
    assert not is_seasonal(flat, 52)
    assert not Theta(season_length=52).fit(flat).fitted_params()["seasonal"]
