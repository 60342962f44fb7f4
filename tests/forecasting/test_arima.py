"""The ARIMA model: per-series contract, estimates against simulated processes and
statsmodels, short and degenerate series, and the orchestrator's fallback."""

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast
from forecasting.models import ARIMA, MODELS, make_model
from forecasting.models.arima import hannan_rissanen_grid, ndiffs


def _ar1(n, phi, mean, seed, sd=1.0):
    rng = np.random.default_rng(seed)
    y = np.empty(n)
    y[0] = mean
    for t in range(1, n):
        y[t] = mean + phi * (y[t - 1] - mean) + rng.normal(0, sd)
    return y


def _arma11(n, phi, theta, seed):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t] + theta * e[t - 1]
    return x


rng = np.random.default_rng(7)
T = np.arange(120)
SERIES = {
    "ar1": _ar1(150, 0.7, 40.0, 1),
    "seasonal_trend": np.maximum(0, 50 + 0.4 * T + 12 * np.sin(2 * np.pi * T / 12) + rng.normal(0, 3, 120)),
    "random_walk": np.maximum(0, 100 + np.cumsum(rng.normal(0, 2, 120))),
    "low_volume": rng.poisson(0.8, 120).astype(float),
    "constant": np.full(40, 7.0),
    "all_zero": np.zeros(40),
    "short": np.array([3.0, 5, 4, 6, 2]),
    "trend_down": np.maximum(0, 60 - 0.45 * T + rng.normal(0, 1, 120)),
}


def test_registered():
    assert MODELS["arima"] is ARIMA
    assert isinstance(make_model("arima", season_length=12, max_p=1), ARIMA)


@pytest.mark.parametrize("name", sorted(SERIES))
@pytest.mark.parametrize("h", [1, 18])
def test_per_series_contract(name, h):
    y = SERIES[name]
    model = ARIMA(season_length=12)
    assert model.fit(y) is model
    f = model.predict(h)
    assert f.shape == (h,)
    assert np.all(np.isfinite(f)) and np.all(f >= 0)
    again = ARIMA(**model.get_params()).fit(y.copy()).predict(h)
    np.testing.assert_array_equal(f, again)
    frozen = model.frozen()
    assert not hasattr(frozen, "n_obs_")
    np.testing.assert_allclose(frozen.fit(y).predict(h), f, rtol=1e-9, atol=1e-9)


def test_recovers_ar1_coefficient():
    y = _ar1(400, 0.6, 100.0, 3)
    model = ARIMA(season_length=1).fit(y)
    assert model.order_[1] == 0
    # AICc may add a small second term; the first AR coefficient carries the process
    assert model.order_[0] >= 1
    assert model.ar_[0] == pytest.approx(0.6, abs=0.1)
    assert model.mu_ == pytest.approx(100.0, abs=1.0)
    params = model.fitted_params()
    assert params["order"][0] >= 1 and params["ar"][0] == pytest.approx(0.6, abs=0.1)


def test_grid_matches_statsmodels_hannan_rissanen():
    from statsmodels.tsa.arima.estimators.hannan_rissanen import hannan_rissanen

    x = _arma11(300, 0.6, 0.3, 0)
    z = x - x.mean()
    k = max(int(np.floor(np.log(z.size) ** 2)), 4)
    grid = hannan_rissanen_grid(z, 2, 2, initial_ar_order=k)
    for p, q in [(1, 0), (1, 1), (2, 1), (0, 2)]:
        ref, _ = hannan_rissanen(z, ar_order=p, ma_order=q, demean=False, unbiased=False, initial_ar_order=k)
        ar, ma = grid[(p, q)]
        np.testing.assert_allclose(ar, ref.ar_params, atol=1e-8)
        np.testing.assert_allclose(ma, ref.ma_params, atol=1e-8)
    assert grid[(1, 1)][0][0] == pytest.approx(0.6, abs=0.1)
    assert grid[(1, 1)][1][0] == pytest.approx(0.3, abs=0.15)


def test_differencing_by_kpss():
    walk = 100 + np.cumsum(np.random.default_rng(5).normal(0, 1, 200))
    assert ndiffs(walk) == 1
    assert ndiffs(_ar1(200, 0.3, 10.0, 6)) == 0
    assert ndiffs(np.full(30, 4.0)) == 0


def test_linear_trend_is_extrapolated_and_constant_stays_flat():
    line = 10.0 + 2.0 * np.arange(30)
    model = ARIMA(season_length=1).fit(line)
    assert model.order_ == (0, 1, 0)
    np.testing.assert_allclose(model.predict(3), [70.0, 72.0, 74.0])
    np.testing.assert_allclose(ARIMA(season_length=12).fit(np.full(40, 7.0)).predict(5), 7.0)


def test_seasonal_series_is_adjusted_and_season_put_back():
    t = np.arange(96)
    y = 100 + 30 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(2).normal(0, 1, 96)
    model = ARIMA(season_length=12).fit(y)
    assert model.seasonal_.size == 12
    f = model.predict(12)
    truth = 100 + 30 * np.sin(2 * np.pi * np.arange(96, 108) / 12)
    assert np.mean(np.abs(f - truth)) < 3.0


def test_refine_with_exact_likelihood():
    y = _arma11(300, 0.6, 0.3, 0) + 20
    hr = ARIMA(season_length=1).fit(y)
    ml = ARIMA(season_length=1, refine="innovations_mle").fit(y)
    assert ml.order_ == hr.order_
    assert ml.ar_[0] == pytest.approx(hr.ar_[0], abs=0.05)
    assert ml.fitted_params()["refine"] == "innovations_mle"
    with pytest.raises(ValueError, match="refine"):
        ARIMA(season_length=1, refine="newton").fit(y)


def test_too_short_after_differencing_raises():
    with pytest.raises(ValueError):
        ARIMA(season_length=1, fixed={"order": (2, 1, 2), "ar": [0.1, 0.1], "ma": [0.1, 0.1], "constant": False}).fit(
            [1.0, 2, 3, 4])


def test_orchestrator_falls_back_when_arima_fails(monkeypatch):
    def boom(self, y):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(ARIMA, "_fit", boom)
    dates = pd.date_range("2020-01-01", periods=60, freq="MS")
    y = 50 + 10 * np.sin(2 * np.pi * np.arange(60) / 12) + np.random.default_rng(0).normal(0, 2, 60)
    hist = pd.DataFrame({"sku": "A", "location": "L", "date": dates, "qty": y})
    res = forecast(hist, horizon=6, freq="MS", season_length=12, n_jobs=1, global_model=False,
                   candidates={"smooth": ("arima",), "erratic": ("arima",)})
    sel = res.selection.iloc[0]
    assert sel["model"] != "arima"
    assert "arima failed" in sel["fallback"]
    assert np.all(res.forecasts["mean"] >= 0)
