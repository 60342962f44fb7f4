"""Series short against the horizon: when an item is new, and the backtest origins of young ones."""

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast
from forecasting.backtest import rolling_origins, series_origins
from forecasting.core import default_min_obs

H = 18


@pytest.mark.parametrize("n", [200, 120, 60, 49])
def test_long_histories_keep_the_standard_grid(n):
    assert series_origins(n, H, 3, 6) == rolling_origins(n, H, 3, 6)


@pytest.mark.parametrize("n", [19, 24, 30, 36, 40, 47])
def test_young_series_train_on_at_least_min_h_half_n(n):
    origins = series_origins(n, H, 3, 6)
    floor = min(H, -(-n // 2))
    assert len(origins) >= 1
    assert all(floor <= o < n for o in origins)
    assert origins == sorted(set(origins))
    # the standard grid would have trained on a few periods
    assert min(rolling_origins(n, H, 3, 6)) < floor


def test_young_series_origins_step_forward_with_truncated_targets():
    assert series_origins(36, H, 3, 6) == [18, 24, 30]
    assert series_origins(24, H, 3, 6) == [12, 18]
    # weekly, many origins: the standard grid minus its clipped start while two remain
    assert series_origins(40, 13, 11, 4) == [15, 19, 23, 27]


def test_short_series_keep_rolling_origins():
    assert series_origins(20, H, 3, 6, own_models=False) == rolling_origins(20, H, 3, 6)
    assert series_origins(3, H, 3, 6) == []


@pytest.mark.parametrize(("h", "m", "expected"), [(18, 12, 24), (12, 12, 24), (6, 12, 12), (13, 52, 26),
                                                  (28, 7, 28), (8, 4, 8), (6, 1, 12)])
def test_default_min_obs(h, m, expected):
    assert default_min_obs(h, m) == expected


def _monthly(n_series: int, n: int, seed: int = 0, noise: float = 0.1) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Seasonal monthly series (level 50-500, season amplitude 30 %, noise sd ``noise`` x
    the level), ``n`` months of history and ``H`` held out; returns history, actuals,
    noise sd."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + H)
    rows, actuals, sd = [], [], []
    for i in range(n_series):
        level = rng.uniform(50, 500)
        mu = level * (1 + 0.3 * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 2 * np.pi)))
        y = np.maximum(mu + rng.normal(0, noise * level, t.size), 0)
        dates = pd.date_range("2020-01-01", periods=n, freq="MS")
        rows.append(pd.DataFrame({"sku": f"S{i:03d}", "location": "L", "date": dates, "qty": y[:n]}))
        actuals.append(y[n:])
        sd.append(noise * level)
    return pd.concat(rows, ignore_index=True), np.array(actuals), np.array(sd)


@pytest.fixture(scope="module")
def thirty_months():
    hist, actuals, sd = _monthly(40, 30)
    return hist, actuals, sd, forecast(hist, horizon=H, freq="MS", season_length=12, n_jobs=1, global_model=False)


def test_two_and_a_half_seasons_are_not_a_new_item(thirty_months):
    """30 months at an 18-month horizon: fewer than two horizons, more than two seasons.
    The series' own seasonal models forecast it; a recent mean would miss the season."""
    hist, actuals, sd, res = thirty_months
    sel = res.selection
    assert not sel["short"].any()
    assert set(sel["model"]) <= {"combo", "theta"}
    fc = res.forecasts.sort_values(["sku", "date"])
    mean = fc["mean"].to_numpy().reshape(actuals.shape)
    # the error is about the noise (1.7 sd), not the season's swing (30 % of the level,
    # 3 sd; as a new item's recent mean, or with the season missed: 3.8 sd)
    rmse = np.sqrt(np.mean((mean - actuals) ** 2, axis=1))
    assert np.median(rmse / sd) < 2.5


def test_young_series_bands_come_from_fits_on_half_the_history(thirty_months):
    hist, actuals, sd, res = thirty_months
    start = pd.Timestamp(hist["date"].min())
    months = (res.errors["origin"].dt.year - start.year) * 12 + (res.errors["origin"].dt.month - start.month)
    # an origin is dated by its last training month
    assert months.min() + 1 >= 15  # min(H, n / 2): no origin trains on 3 or 6 months
    fc = res.forecasts.sort_values(["sku", "date"])
    half = (fc["q95"] - fc["mean"]).to_numpy().reshape(actuals.shape)
    # drawn from fits on 3, 6 and 12 months the band was 17 noise sds wide; now about 4
    assert np.median(half / sd[:, None]) < 6.0
    cover = np.mean(actuals <= fc["q95"].to_numpy().reshape(actuals.shape))
    assert cover >= 0.85


def test_under_two_seasons_and_two_horizons_is_short():
    hist, _, _ = _monthly(4, 20, seed=1)
    res = forecast(hist, horizon=H, freq="MS", season_length=12, n_jobs=1, global_model=False)
    assert res.selection["short"].all()
    assert set(res.selection["model"]) <= {"recent_seasonal", "moving_average", "naive"}


def test_a_clear_season_in_under_four_cycles_is_adjusted_for():
    """The lag-12 test cannot see this season in 30 months; the shrunk profile can, and
    Theta (Python fit and compiled multi-origin path alike) then forecasts it."""
    import copy

    from forecasting.models import make_model
    from forecasting.models.seasonality import is_seasonal, seasonality_test

    t = np.arange(48)
    truth = 100 + 30 * np.sin(2 * np.pi * t / 12)
    y = truth[:30] + np.random.default_rng(0).normal(0, 5, 30)
    assert not seasonality_test(y, 12) and is_seasonal(y, 12)
    theta = make_model("theta", 12).fit(y)
    rmse = np.sqrt(np.mean((theta.predict(18) - truth[30:]) ** 2))
    assert rmse < 8  # the season's swing alone is 21
    full = np.r_[y, truth[30:] + np.random.default_rng(1).normal(0, 5, 18)]
    origins = [26, 30, 36, 44, 48]
    frozen = make_model("theta", 12).fit(full[:24]).frozen()
    for (f, exc), o in zip(frozen.forecast_origins(full, origins, 12), origins):
        assert exc is None
        np.testing.assert_allclose(f, copy.copy(frozen).fit(full[:o]).predict(12), rtol=1e-12)


def test_ets_too_short_for_seasonal_states_is_adjusted_first():
    """24 months cannot carry 12 seasonal states (ETS needs 2 m + 2): the seasonal series
    is adjusted by classical decomposition, and the frozen copies of the backtest adjust
    their longer windows the same way."""
    import copy

    from forecasting.models import make_model

    t = np.arange(48)
    truth = 100 + 30 * np.sin(2 * np.pi * t / 12)
    y = truth + np.random.default_rng(0).normal(0, 5, 48)
    ets = make_model("ets_auto", 12).fit(y[:24])
    assert ets.fitted_params()["adjustment"].startswith("classical")
    assert np.sqrt(np.mean((ets.predict(18) - truth[24:42]) ** 2)) < 8  # the swing alone: 21
    long = make_model("ets_auto", 12).fit(y[:30])
    assert "adjustment" not in long.fitted_params()  # seasonal states from 2 m + 2 on
    frozen = ets.frozen()
    origins = [26, 30, 36]
    for (f, exc), o in zip(frozen.forecast_origins(y, origins, 12), origins):
        assert exc is None
        refit = copy.copy(frozen).fit(y[:o])
        assert refit.fitted_params()["adjustment"].startswith("classical")
        np.testing.assert_allclose(f, refit.predict(12), rtol=1e-12)


def test_new_items_with_a_season_of_history_get_the_recent_level_and_last_season():
    hist, _, _ = _monthly(6, 18, seed=2)
    res = forecast(hist, horizon=H, freq="MS", season_length=12, n_jobs=1, global_model=False,
                   model_params={"moving_average": {"window": 4}})
    sel = res.selection.set_index("sku")
    assert sel["short"].all() and (sel["model"] == "recent_seasonal").all()
    from forecasting.models import make_model

    for sku, g in hist.groupby("sku"):
        y = g["qty"].to_numpy()
        want = (make_model("moving_average", 12, window=4).fit(y).predict(H)
                + make_model("seasonal_naive", 12).fit(y).predict(H)) / 2
        got = res.forecasts[res.forecasts["sku"] == sku]["mean"].to_numpy()
        np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize("case", ["under_a_season", "intermittent", "no_season"])
def test_other_new_items_keep_the_recent_mean(case):
    rng = np.random.default_rng(3)
    n, m, freq = (10, 12, "MS") if case == "under_a_season" else (18, 12, "MS") if case == "intermittent" else (9, 1, "YS")
    rows = []
    for i in range(4):
        y = rng.poisson(20, n).astype(float) if case != "intermittent" else (rng.random(n) < 0.2) * rng.poisson(5, n) + 0.0
        if case == "intermittent":
            y[-1] = 3.0  # keep the item alive
        rows.append(pd.DataFrame({"sku": f"S{i}", "location": "L", "qty": y,
                                  "date": pd.date_range("2020-01-01", periods=n, freq=freq)}))
    res = forecast(pd.concat(rows), horizon=12, freq=freq, season_length=m, n_jobs=1, global_model=False)
    sel = res.selection
    assert sel["short"].all()
    assert "recent_seasonal" not in set(sel["model"])
    if case == "intermittent":
        assert set(sel["demand_class"]) <= {"intermittent", "lumpy"}


def test_seasonal_series_train_on_two_seasons_while_two_origins_remain():
    # 36 months, horizon 12: fits on 16 and 20 months cannot model the season
    assert series_origins(36, 12, 3, 4, season_length=12) == [24, 28, 32]
    assert series_origins(36, 12, 3, 4) == [16, 20, 24]
    # 30 months, horizon 18: two seasons would leave one origin with 6 targets
    assert series_origins(30, H, 3, 6, season_length=12) == series_origins(30, H, 3, 6) == [15, 21, 27]
    # long histories: the standard grid either way
    assert series_origins(120, H, 3, 6, season_length=12) == rolling_origins(120, H, 3, 6)


def test_a_sawtooth_series_bands_come_from_seasonal_fits():
    """A yearly saw-tooth (a quota that resets every January, like PBS's safety-net
    scripts) over 36 months: fits on 16 and 20 months miss the tooth and their errors
    are its whole height; the backtest keeps to two seasons and the band stays near the
    noise."""
    rng = np.random.default_rng(4)
    n, h = 36, 12
    t = np.arange(n + h)
    rows, actuals, sd = [], [], []
    for i in range(30):
        level = rng.uniform(100, 1000)
        mu = level * (0.2 + 1.6 * (t % 12) / 11)
        y = np.maximum(mu + rng.normal(0, 0.05 * level, t.size), 0)
        rows.append(pd.DataFrame({"sku": f"S{i:02d}", "location": "L", "qty": y[:n],
                                  "date": pd.date_range("2020-01-01", periods=n, freq="MS")}))
        actuals.append(y[n:])
        sd.append(0.05 * level)
    actuals, sd = np.array(actuals), np.array(sd)
    res = forecast(pd.concat(rows), horizon=h, freq="MS", season_length=12, n_jobs=1, global_model=False)
    fc = res.forecasts.sort_values(["sku", "date"])
    half = (fc["q95"] - fc["mean"]).to_numpy().reshape(actuals.shape)
    assert np.median(half / sd[:, None]) < 6.0  # 2.6; from fits on 16-20 months: 16.6
    assert np.mean(actuals <= fc["q95"].to_numpy().reshape(actuals.shape)) >= 0.85
