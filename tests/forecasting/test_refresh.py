"""forecasting.refresh: the previous run's models on new history, without re-selection."""

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast, refresh
from forecasting.models.base import SeriesModel

OPTS = dict(horizon=6, freq="W-MON", season_length=52, quantiles=(0.5, 0.9, 0.95), backtest_windows=3, backtest_step=4)


@pytest.fixture(scope="module")
def history():
    from forecasting_sim import make_small_history

    return make_small_history()


@pytest.fixture(scope="module")
def previous(history):
    last = history["date"].max()
    return forecast(history.loc[history["date"] <= last - pd.Timedelta(weeks=2)], global_model=False, **OPTS)


def _qcols(frame):
    return [c for c in frame.columns if c.startswith("q") and c[1:].replace(".", "").isdigit()]


def test_unchanged_history_reproduces_means_and_models(history, previous):
    hist = history.loc[history["date"] <= history["date"].max() - pd.Timedelta(weeks=2)]
    again = refresh(hist, previous, **OPTS)
    assert list(again.forecasts.columns) == list(previous.forecasts.columns)
    sel = previous.selection.merge(again.selection, on=["sku", "location"], suffixes=("", "_r"))
    assert len(sel) == len(previous.selection)
    assert (sel["model"] == sel["model_r"]).all()
    assert (sel["selected_model"] == sel["model"]).all()
    # the same error scales: the prior's noise is taken before the same first origins
    np.testing.assert_allclose(sel["error_scale_r"], sel["error_scale"], rtol=1e-9)
    assert set(again.selection["refresh"]) <= {"states", "full"}
    assert again.selection["refresh_of"].nunique() == 1
    assert again.metrics["refresh"] == 1.0
    both = previous.forecasts.merge(again.forecasts, on=["sku", "location", "date"], suffixes=("", "_r"))
    assert len(both) == len(previous.forecasts)
    # every model here is deterministic; parameters go through 6-digit JSON
    np.testing.assert_allclose(both["mean_r"], both["mean"], rtol=1e-3, atol=1e-3)
    # same errors, same means: the same quantiles (up to whole-unit rounding at a boundary)
    for col in _qcols(previous.forecasts):
        assert (both[f"{col}_r"] - both[col]).abs().max() <= 1.0 + 1e-9


def test_new_periods_move_the_forecast_and_keep_the_models(history, previous):
    again = refresh(history, previous, **OPTS)
    assert again.forecasts["date"].min() == history["date"].max() + pd.Timedelta(weeks=1)
    sel = previous.selection.merge(again.selection, on=["sku", "location"], suffixes=("", "_r"))
    assert (sel["model"] == sel["model_r"]).all()
    assert not np.allclose(previous.forecasts["mean"].to_numpy(), again.forecasts["mean"].to_numpy())
    # errors and the quantile calibration are the previous run's
    assert len(again.errors) == len(previous.errors)


def test_new_series_get_forecasts(history, previous):
    dates = pd.date_range(history["date"].max() - pd.Timedelta(weeks=5), periods=6, freq="W-MON")
    extra = pd.DataFrame({"sku": "SKU-LAUNCH", "location": "DLR-01", "date": dates, "qty": [4, 6, 5, 7, 6, 8.0]})
    again = refresh(pd.concat([history, extra], ignore_index=True), previous, **OPTS)
    new = again.forecasts.loc[again.forecasts["sku"] == "SKU-LAUNCH"]
    assert len(new) == OPTS["horizon"]
    assert (new["mean"] > 0).all()
    row = again.selection.loc[again.selection["sku"] == "SKU-LAUNCH"].iloc[0]
    assert row["refresh"] == "new" and bool(row["short"])
    assert again.metrics["n_new"] == 1.0
    assert again.forecasts[["mean", *_qcols(again.forecasts)]].notna().all().all()


def test_quantiles_monotone_non_negative(history, previous):
    again = refresh(history, previous, **OPTS)
    cols = ["mean", *_qcols(again.forecasts)]
    values = again.forecasts[cols].to_numpy(float)
    assert np.isfinite(values).all() and (values >= 0).all()
    q = again.forecasts[_qcols(again.forecasts)].to_numpy(float)
    assert (np.diff(q, axis=1) >= 0).all()


class _Broken(SeriesModel):
    name = "broken"

    def __init__(self, value=np.nan):
        self.value = value

    def _fit(self, y):
        self.level_ = float(np.mean(y))

    def _predict(self, h):
        return np.full(h, self.value)


@pytest.mark.parametrize("value, kind", [(np.nan, "nonfinite"), (1e12, "explosion")])
def test_guardrails_fall_back_and_count(history, previous, monkeypatch, value, kind):
    import importlib

    rf = importlib.import_module("forecasting.refresh")  # the package attribute is the function

    real = rf.make_model
    target = previous.selection["model"].iloc[0]

    def make(name, season_length=1, **params):
        return _Broken(value) if name == target else real(name, season_length, **params)

    monkeypatch.setattr(rf, "make_model", make)
    again = refresh(history, previous, **OPTS)
    hit = again.selection.loc[again.selection["selected_model"] == target]
    assert (hit["model"] != target).all()
    assert hit["refresh"].str.startswith("fallback:").all()
    assert again.metrics["n_fallback"] >= len(hit)
    assert again.metrics[f"n_fallback_{kind}"] >= len(hit)
    assert np.isfinite(again.forecasts["mean"]).all()


def test_chained_refresh_keeps_choice(history, previous):
    last = history["date"].max()
    first = refresh(history.loc[history["date"] <= last - pd.Timedelta(weeks=1)], previous, **OPTS)
    second = refresh(history, first, **OPTS)
    assert (second.selection["selected_model"].to_numpy() == first.selection["selected_model"].to_numpy()).all()
    assert len(second.errors) == len(previous.errors)


def test_global_series_get_a_recorded_stand_in(history):
    prev = forecast(history, global_model=True, candidates={"smooth": ["global", "theta"]}, **OPTS)
    chose = prev.selection.loc[prev.selection["model"] == "global"]
    if chose.empty:
        pytest.skip("no series chose the global model on this sample")
    again = refresh(history, prev, **OPTS)
    rows = again.selection.merge(chose[["sku", "location"]], on=["sku", "location"])
    assert (rows["selected_model"] == "global").all()
    assert rows["refresh"].str.startswith("stand_in:").all()
    assert (rows["model"] != "global").all()
    carried = refresh(history, prev, global_stand_in="previous", **OPTS)
    rows = carried.selection.merge(chose[["sku", "location"]], on=["sku", "location"])
    assert (rows["refresh"] == "previous").all()


def test_local_and_two_jobs_identical(history, previous):
    one = refresh(history, previous, n_jobs=1, **OPTS)
    two = refresh(history, previous, n_jobs=2, **OPTS)
    pd.testing.assert_frame_equal(one.forecasts, two.forecasts)
    pd.testing.assert_frame_equal(one.selection, two.selection)


def test_docstring_example():
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("forecasting.refresh"), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and result.failed == 0
