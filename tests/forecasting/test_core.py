import numpy as np
import pandas as pd
import pytest

from forecasting import ForecastResult, forecast
from forecasting.backtest import default_backtest
from forecasting.models import ETS

from forecasting_sim import make_small_history, simulate_demand

H = 13
QCOLS = ["q50", "q90", "q95"]


@pytest.fixture(scope="module")
def small_result() -> tuple[pd.DataFrame, ForecastResult]:
    hist = make_small_history()
    return hist, forecast(hist, horizon=H, freq="W-MON", season_length=52, seed=0)


def _keys(frame):
    return frame[["sku", "location"]].drop_duplicates()


def test_output_shape_columns_and_dates(small_result):
    hist, res = small_result
    fc = res.forecasts
    assert list(fc.columns) == ["sku", "location", "date", "mean", *QCOLS, "model"]
    n_series = len(_keys(hist))
    assert len(fc) == n_series * H
    last = pd.Timestamp(hist["date"].max())
    expected = pd.date_range(last + pd.offsets.Week(weekday=0), periods=H, freq="W-MON")
    for _, g in fc.groupby(["sku", "location"]):
        assert list(g["date"]) == list(expected)
    assert not fc.isna().any().any()
    values = fc[["mean", *QCOLS]].to_numpy()
    assert np.all(values >= 0) and np.all(np.isfinite(values))
    assert (fc["q50"] <= fc["q90"]).all() and (fc["q90"] <= fc["q95"]).all()


def test_selection_and_errors_tables(small_result):
    hist, res = small_result
    sel = res.selection.set_index(["sku", "location"])
    assert len(sel) == len(_keys(hist))
    for col in ("model", "demand_class", "n_obs", "mase", "wape", "bias", "fallback", "error_scale"):
        assert col in sel.columns
    assert (sel["fallback"] == "").all()
    assert sel.loc[("SKU-INT", "DLR-01"), "demand_class"] in {"intermittent", "lumpy"}
    new = sel.loc[("SKU-NEW", "DLR-02")]
    assert new["short"] and new["n_obs"] == 9 and new["model"] in {"moving_average", "naive"}
    assert sel.loc[("SKU-ZERO", "DLR-01"), "demand_class"] == "no_demand"
    # every series spans its first row to the last date: missing periods are zeros
    assert sel.loc[("SKU-INT", "DLR-01"), "n_obs"] == 130
    err = res.errors
    assert list(err.columns[:5]) == ["sku", "location", "origin", "step", "error"]
    assert err["step"].between(1, H).all()
    assert np.allclose(err["error"], err["actual"] - err["forecast"])
    assert (err["date"] == err["origin"] + pd.to_timedelta(7 * err["step"], unit="D")).all()
    long = err[(err["sku"] == "SKU-0001") & (err["location"] == "DLR-01")]
    k, step = default_backtest(H, 52)  # 11 origins 4 weeks apart: they span a season
    assert long["origin"].nunique() == k and len(long) == k * H
    assert (np.diff(np.sort(long["origin"].unique())) == np.timedelta64(7 * step, "D")).all()
    assert long["date"].max() == hist["date"].max()
    # the errors belong to the model that was used: its mean MASE is the chosen score
    for (sku, loc), row in sel.iterrows():
        if np.isfinite(row["mase"]) and f"mase_{row['model']}" in sel.columns:
            assert row[f"mase_{row['model']}"] == pytest.approx(row["mase"])
    assert res.metrics["n_series"] == len(sel)
    assert 0 < res.metrics["mean_mase"] < 3
    # the champion gate's default figure: the chosen models' RMSSE over the series
    assert res.metrics["mean_rmsse"] == pytest.approx(np.nanmean(sel["rmsse"].to_numpy(float)))
    assert res.metrics["median_rmsse"] == pytest.approx(np.nanmedian(sel["rmsse"].to_numpy(float)))


def test_zero_and_short_series_behave(small_result):
    _, res = small_result
    fc = res.forecasts.set_index(["sku", "location"])
    zero = fc.loc[("SKU-ZERO", "DLR-01")]
    assert (zero[["mean", *QCOLS]].to_numpy() == 0).all()
    new = fc.loc[("SKU-NEW", "DLR-02")]
    # a moving average of about 5 units with a wide band
    assert new["mean"].between(3, 7).all()
    assert (new["q95"] - new["mean"]).min() > 1.0


def test_gaps_are_zero_demand_and_extra_columns_are_ignored():
    hist = simulate_demand(n_skus=1, n_locations=1, periods=120, intermittent_share=1.0, seed=3)
    # promo and price of zero-demand weeks are information the sparse table lacks
    hist = hist[["sku", "location", "date", "qty"]]
    # a series starts at its first row, so both tables must start at the same week
    hist = hist[hist["date"] >= hist.loc[hist["qty"] > 0, "date"].min()]
    full = forecast(hist, horizon=6, freq="W-MON", season_length=52)
    # price and promo are features of the global model; an unknown column must be ignored
    sparse = hist[hist["qty"] > 0].assign(comment="from ERP")
    res = forecast(sparse, horizon=6, freq="W-MON", season_length=52, end=hist["date"].max())
    pd.testing.assert_frame_equal(full.forecasts, res.forecasts)
    pd.testing.assert_frame_equal(full.errors, res.errors)
    with pytest.raises(ValueError, match="after end"):
        forecast(hist, horizon=6, end=hist["date"].iloc[10])


def _series_with_model_errors(monkeypatch, mode):
    hist = simulate_demand(n_skus=2, n_locations=2, periods=130, intermittent_share=0.0, seed=5)
    original_fit = ETS._fit

    def broken_fit(self, y):
        if mode == "raise" or (mode == "refit" and y.size == 130):
            raise RuntimeError("optimizer diverged")
        original_fit(self, y)

    monkeypatch.setattr(ETS, "_fit", broken_fit)
    if mode == "nan":
        monkeypatch.setattr(ETS, "_predict", lambda self, h: np.full(h, np.nan))
    if mode == "explode":
        monkeypatch.setattr(ETS, "_predict", lambda self, h: np.full(h, 1e9))
    # three origins: too little evidence for a challenger to replace the next listed candidate
    return forecast(hist, horizon=H, freq="W-MON", season_length=52, backtest_windows=3,
                    candidates={"smooth": ("ets", "seasonal_naive", "moving_average"),
                                "erratic": ("ets", "seasonal_naive", "moving_average")})


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("raise", "ets failed in backtest at origin 109 of 130: RuntimeError: optimizer diverged"),
        ("nan", "non-finite forecast"),
        ("explode", "explosion"),
        ("refit", "ets failed on full history: RuntimeError"),
    ],
)
def test_fallback_to_next_candidate_is_recorded(monkeypatch, caplog, mode, reason):
    with caplog.at_level("WARNING", logger="forecasting.core"):
        res = _series_with_model_errors(monkeypatch, mode)
    sel = res.selection
    assert (sel["model"] != "ets").all()
    assert sel["fallback"].str.contains(reason, regex=False).all()
    assert sel["fallback"].str.contains("used ").all()
    assert res.metrics["n_fallback"] == len(sel)
    assert "with fallback" in caplog.text
    fc = res.forecasts
    assert np.isfinite(fc[["mean", *QCOLS]].to_numpy()).all() and (fc["mean"] >= 0).all()
    if mode == "refit":
        # ets was scored and chosen, then failed on refit: the best-scoring remaining one
        assert sel["mase_ets"].notna().all()
        scores = sel[["mase_seasonal_naive", "mase_moving_average"]]
        best = scores.idxmin(axis=1).str.removeprefix("mase_")
        assert (best == sel["model"]).all()
    else:
        # ets failed in the backtest: the next listed candidate is the default, and 3
        # origins H/3 apart are too little evidence for moving_average to replace it,
        # whatever its mean score
        assert (sel["model"] == "seasonal_naive").all()


def test_forecasts_never_exceed_the_cap():
    dates = pd.date_range("2023-01-02", periods=60, freq="W-MON")
    qty = np.r_[np.zeros(55), [1, 2, 4, 8, 16.0]]  # steep growth at the end
    hist = pd.DataFrame({"sku": "S", "location": "L", "date": dates, "qty": qty})
    res = forecast(hist, horizon=8, freq="W-MON", season_length=52, max_multiple=2.0)
    assert (res.forecasts[["mean", *QCOLS]].to_numpy() <= 32.0 + 1e-9).all()


def test_monthly_frequency_and_any_ids():
    rng = np.random.default_rng(4)
    dates = pd.date_range("2019-01-01", periods=60, freq="MS")
    t = np.arange(60)
    rows = [
        pd.DataFrame({"sku": sku, "location": 7, "date": dates, "qty": rng.poisson(50 + 20 * np.sin(2 * np.pi * t / 12))})
        for sku in (101, 202)
    ]
    res = forecast(pd.concat(rows), horizon=6, freq="MS", season_length=12, quantiles=(0.5, 0.975))
    fc = res.forecasts
    assert list(fc.columns) == ["sku", "location", "date", "mean", "q50", "q97.5", "model"]
    assert set(fc["sku"]) == {101, 202}
    assert list(fc["date"].iloc[:6]) == list(pd.date_range("2024-01-01", periods=6, freq="MS"))
    # a strong monthly season is found: the forecast follows its shape
    truth = 50 + 20 * np.sin(2 * np.pi * np.arange(60, 66) / 12)
    assert np.corrcoef(fc["mean"].iloc[:6], truth)[0, 1] > 0.8


def test_bad_input_is_rejected():
    dates = pd.date_range("2024-01-01", periods=10, freq="W-MON")
    good = pd.DataFrame({"sku": "A", "location": "B", "date": dates, "qty": 1.0})
    with pytest.raises(ValueError, match="lacks column"):
        forecast(good.drop(columns="qty"), horizon=2)
    with pytest.raises(ValueError, match="not on the W-MON grid"):
        forecast(good.assign(date=dates + pd.Timedelta(days=1)), horizon=2)
    with pytest.raises(ValueError, match="duplicate"):
        forecast(pd.concat([good, good.iloc[:1]]), horizon=2)
    with pytest.raises(ValueError, match="negative"):
        forecast(good.assign(qty=-1.0), horizon=2)
    with pytest.raises(ValueError, match="horizon"):
        forecast(good, horizon=0)


def test_refit_backtest_option_reoptimises_at_every_origin(small_history):
    with_ets = {"smooth": ("ets", "theta"), "erratic": ("ets", "theta")}
    frozen = forecast(small_history, horizon=H, freq="W-MON", season_length=52, candidates=with_ets)
    refit = forecast(small_history, horizon=H, freq="W-MON", season_length=52, candidates=with_ets, refit_backtest=True)
    ets = frozen.selection["mase_ets"].notna()
    assert ets.any()
    # same candidates and data, only the parameters at later origins differ
    assert not np.allclose(frozen.selection.loc[ets, "mase_ets"], refit.selection.loc[ets, "mase_ets"])
    np.testing.assert_allclose(frozen.selection["mase_seasonal_naive"], refit.selection["mase_seasonal_naive"])
    assert (refit.forecasts[["mean", *QCOLS]].to_numpy() >= 0).all()


def test_parallel_gives_identical_results():
    hist = simulate_demand(n_skus=6, n_locations=3, periods=120, short_share=0.2, seed=9)
    one = forecast(hist, horizon=H, freq="W-MON", season_length=52, n_jobs=1, seed=3)
    two = forecast(hist, horizon=H, freq="W-MON", season_length=52, n_jobs=2, seed=3)
    pd.testing.assert_frame_equal(one.forecasts, two.forecasts)
    pd.testing.assert_frame_equal(one.selection, two.selection)
    pd.testing.assert_frame_equal(one.errors, two.errors)
    again = forecast(hist, horizon=H, freq="W-MON", season_length=52, n_jobs=1, seed=3)
    pd.testing.assert_frame_equal(one.forecasts, again.forecasts)


def test_q90_coverage_on_held_out_data():
    hist = simulate_demand(n_skus=20, n_locations=4, periods=156 + H, intermittent_share=0.2, seed=21)
    cut = hist["date"].sort_values().unique()[-H]
    train, test = hist[hist["date"] < cut], hist[hist["date"] >= cut]
    res = forecast(train, horizon=H, freq="W-MON", season_length=52)
    joined = res.forecasts.merge(test, on=["sku", "location", "date"], validate="one_to_one")
    assert len(joined) == len(res.forecasts)
    coverage90 = (joined["qty"] <= joined["q90"]).mean()
    coverage50 = (joined["qty"] <= joined["q50"]).mean()
    assert 0.84 <= coverage90 <= 0.96, coverage90
    assert 0.40 <= coverage50 <= 0.68, coverage50
    # the point forecast is useful: better than last year's same weeks on average
    assert res.metrics["mean_mase"] < 1.0


def _monthly(qty: np.ndarray, sku: str = "S") -> pd.DataFrame:
    dates = pd.date_range("2015-01-01", periods=qty.size, freq="MS")
    return pd.DataFrame({"sku": sku, "location": "L", "date": dates, "qty": qty})


def _seasonal_then_nothing(dead: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(72)
    alive = np.round(np.maximum(1000 + 900 * np.sin(2 * np.pi * t / 12) + 20 * t + rng.normal(0, 60, 72), 0))
    return _monthly(np.r_[alive, np.zeros(dead)])


def test_a_phased_out_item_is_no_demand_and_forecasts_nothing():
    # six strong seasons, then two years without a sale (an item taken off the range).
    # Classified on its whole history it was smooth, and the seasonal models carried
    # the old swings forward: clipped at zero, hundreds at the old peaks.
    res = forecast(_seasonal_then_nothing(24), horizon=12, freq="MS", season_length=12)
    assert (res.forecasts[["mean", *QCOLS]].to_numpy() == 0).all()
    row = res.selection.iloc[0]
    assert row["demand_class"] == "no_demand" and row["fallback"] == ""


def test_a_recently_phased_out_item_falls_back_and_says_why():
    # 14 months without a sale: the last two seasons still hold demand, so the class is
    # not no_demand, but the last season has none: the cap on the recent history is
    # zero and a model that forecasts the old peaks is an explosion
    res = forecast(_seasonal_then_nothing(14), horizon=12, freq="MS", season_length=12)
    assert (res.forecasts[["mean", *QCOLS]].to_numpy() == 0).all()
    row = res.selection.iloc[0]
    assert row["demand_class"] != "no_demand"
    assert "explosion" in row["fallback"] and "above cap 0" in row["fallback"]
    assert res.metrics["n_fallback_explosion"] == 1


def test_a_launched_item_is_classified_on_its_recent_demand():
    # ten years of stray single units, then a launch: 30 months selling ~1,000 a month.
    # Over the whole history the ADI reads intermittent and a Croston-type rate,
    # smoothed over a decade of near-zeros, lags the real level.
    rng = np.random.default_rng(8)
    stray = np.zeros(120)
    stray[[5, 40, 77, 110]] = 1.0
    launched = np.round(1000 + rng.normal(0, 80, 30))
    res = forecast(_monthly(np.r_[stray, launched]), horizon=12, freq="MS", season_length=12)
    row = res.selection.iloc[0]
    assert row["demand_class"] in ("smooth", "erratic")
    mean = res.forecasts["mean"].to_numpy()
    assert np.all(np.abs(mean / 1000 - 1) < 0.2), mean


def test_the_cap_stays_open_for_a_live_intermittent_series():
    # weekly demand in 3 % to 10 % of the weeks, 3 years: the recent window must be long
    # enough that a live series seldom has a zero cap (its forecast would be forced to
    # zero); the window spans 5 x n / d periods, so a quiet stretch that long has
    # probability ~e^-5. An ADI-based window (gaps between demands only) zeroed up to 5 %.
    from forecasting.backtest import forecast_cap

    rng = np.random.default_rng(0)
    for p in (0.03, 0.05, 0.1):
        y = (rng.random((1000, 156)) < p) * rng.integers(1, 5, (1000, 156)).astype(float)
        live = y[y.sum(axis=1) > 0]
        zero = np.mean([forecast_cap(row, 3.0, 52, 13) == 0 for row in live])
        assert zero <= 0.005, (p, zero)


def test_a_planned_promotion_is_not_taken_for_an_explosion():
    # base demand ~10; the backtest's target weeks hold one promotion with a fivefold
    # lift that the recent history before the origins never saw. The guard checks the
    # models' base forecasts against the base history: the lifted forecast (50) is above
    # 3 x the recent peak (~33) on the demand scale, and used to disqualify every model.
    from forecasting.core import ForecastConfig, forecast_series

    rng = np.random.default_rng(2)
    n, h = 120, 13
    lift = np.ones(n + h)
    lift[110] = 5.0
    base = 10 + rng.normal(0, 0.5, n)
    y = np.round(base * lift[:n], 3)
    out = forecast_series(y, ForecastConfig(horizon=h, season_length=52), effect=(lift[:n], lift))
    assert out.fallback == "" and out.model == "combo"
    # the first origin (99): its step 12 is the promotion week
    f = out.forecasts[(out.origins == 99) & (out.steps == 12)]
    assert f.size == 1 and 40 < f[0] < 60
