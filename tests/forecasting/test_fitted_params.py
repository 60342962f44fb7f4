"""Fitted parameters of every per-series model, carried into the selection table."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast
from forecasting.models import MODELS, AutoETS, Croston, MovingAverage, TSB, make_model
from forecasting.models.base import jsonable_params
from forecasting.shapes import BorrowedShape

rng = np.random.default_rng(11)
T = np.arange(72)
SMOOTH = np.maximum(0, 50 + 0.3 * T + 10 * np.sin(2 * np.pi * T / 12) + rng.normal(0, 2, 72))
SPARSE = np.where(rng.random(72) < 0.3, rng.integers(1, 6, 72), 0).astype(float)
INTERMITTENT = ("croston", "sba", "sba_seasonal", "tsb", "adida")

# Keys each model must report (what a planner needs to read the forecast).
EXPECTED = {
    "naive": {"level"},
    "seasonal_naive": {"season_length", "level"},
    "moving_average": {"window", "level"},
    "ets": {"form", "alpha", "level"},
    "ets_auto": {"form", "alpha", "l0", "level"},
    "ets_sa": {"form", "alpha", "l0", "level"},
    "theta": {"theta", "alpha", "l0", "drift", "seasonal"},
    "theta_opt": {"theta", "alpha", "l0", "drift", "seasonal"},
    "stl": {"decomposed", "log", "seasonal_strength", "base", "base_params"},
    "combo": {"method", "members", "failed"},
    "arima": {"order", "ar", "ma", "sigma2", "seasonal"},
    "croston": {"alpha", "size", "interval", "rate"},
    "sba": {"alpha", "size", "interval", "factor", "rate"},
    "sba_seasonal": {"alpha", "rate", "profile"},
    "tsb": {"alpha", "beta", "size", "probability", "rate"},
    "adida": {"bucket", "alpha", "rate"},
}


def test_the_documented_models_are_registered():
    assert set(EXPECTED) <= set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_params_are_json_and_picklable(name):
    model = make_model(name, season_length=12).fit(SPARSE if name in INTERMITTENT else SMOOTH)
    params = model.fitted_params()
    assert params and EXPECTED.get(name, set()) <= set(params)
    text = json.dumps(params, allow_nan=False)  # plain JSON types, no NaN
    assert json.loads(text) == params
    assert pickle.loads(pickle.dumps(params)) == params
    assert len(text) < 2000  # one readable CSV cell


def test_unfitted_model_has_no_params():
    with pytest.raises(RuntimeError):
        MovingAverage().fitted_params()


def test_ses_alpha_recovered():
    # local level model: y_t = l_{t-1} + e_t, l_t = l_{t-1} + alpha e_t
    r = np.random.default_rng(3)
    alpha, level, y = 0.3, 100.0, []
    for _ in range(400):
        e = r.normal(0, 5)
        y.append(level + e)
        level += alpha * e
    params = AutoETS(season_length=1, form="ANN").fit(np.array(y)).fitted_params()
    assert params["form"] == "ANN"
    assert params["alpha"] == pytest.approx(alpha, abs=0.08)
    assert params["level"] == pytest.approx(level, abs=10.0)


def test_intermittent_params_are_the_configured_and_hand_computed_ones():
    # sizes 4 then 2, intervals 2 then 3 (see Croston's docstring): z = 3, p = 2.5
    params = Croston(alpha=0.5).fit([0, 4, 0, 0, 2]).fitted_params()
    assert params == {"alpha": 0.5, "size": 3.0, "interval": 2.5, "open_interval": True, "factor": 1.0,
                      "rate": 1.2}
    params = TSB(alpha=0.5, beta=0.5).fit([0, 4, 0, 0]).fitted_params()
    assert params["alpha"] == 0.5 and params["beta"] == 0.5
    assert params["probability"] == pytest.approx(0.140625) and params["rate"] == pytest.approx(0.5625)
    assert MovingAverage(window=3).fit([1, 2, 3, 6]).fitted_params() == {"window": 3, "level": pytest.approx(11 / 3)}


def test_combination_reports_its_members():
    params = make_model("combo", 12).fit(SMOOTH).fitted_params()
    assert set(params["members"]) == {"ets_auto", "theta", "stl"}
    assert params["members"]["theta"]["theta"] == 2.0


def test_default_params_of_a_model_without_override():
    params = BorrowedShape(np.array([0.5, 1.5]), window=4).fit([1, 3, 1, 3]).fitted_params()
    assert params == {"level": 2.0}


def test_jsonable_params_converts_numpy_and_nan():
    out = jsonable_params({"a": np.float32(0.5), "b": np.int64(3), "c": np.array([1.0, np.inf]), "d": np.bool_(True)})
    assert out == {"a": 0.5, "b": 3, "c": [1.0, None], "d": True}
    assert type(out["b"]) is int and type(out["d"]) is bool


def _history():
    dates = pd.date_range("2020-01-06", periods=80, freq="W-MON")
    t = np.arange(80)
    r = np.random.default_rng(5)
    rows = []
    for sku, y in {
        "S": np.round(np.maximum(0, 30 + 8 * np.sin(2 * np.pi * t / 52) + r.normal(0, 2, 80))),
        "I": np.where(r.random(80) < 0.2, r.integers(1, 6, 80), 0).astype(float),
    }.items():
        rows.append(pd.DataFrame({"sku": sku, "location": "L1", "date": dates, "qty": y}))
    return pd.concat(rows, ignore_index=True)


def test_selection_params_round_trip_through_parameter_table(tmp_path):
    from pipelines.tracking import parameter_table

    options = {"model_params": {"croston": {"alpha": 0.2}, "sba": {"alpha": 0.2}, "tsb": {"alpha": 0.2}}}
    res = forecast(_history(), horizon=8, freq="W-MON", season_length=52, n_jobs=1, global_model=False, **options)
    sel = res.selection
    assert "params" in sel.columns
    parsed = [json.loads(p) for p in sel["params"]]
    assert all(isinstance(p, dict) and p for p in parsed)
    # the CSV the nightly job publishes reads back to the same JSON text
    path = tmp_path / "selection.csv"
    sel.to_csv(path, index=False)
    back = pd.read_csv(path)
    assert list(back["params"]) == list(sel["params"])
    table = parameter_table(back, options)
    assert (table["params_source"] == "fitted").all()
    for i, row in table.iterrows():
        merged = json.loads(row["params"])
        assert parsed[i].items() <= merged.items()
        if row["model"] in ("croston", "sba", "tsb"):
            assert merged["alpha"] == 0.2  # the configured alpha is what the model used


def test_series_outcome_params_survive_pickling():
    # Worker processes and Dask return SeriesOutcome objects by pickle; the params must
    # come back equal and as plain types (no statsmodels results, no numpy scalars).
    from forecasting.core import ForecastConfig, forecast_series

    cfg = ForecastConfig(horizon=6, season_length=12)
    for y in (SMOOTH, SPARSE):
        out = forecast_series(y, cfg)
        back = pickle.loads(pickle.dumps(out))
        assert back.params == out.params and out.params
        assert json.loads(json.dumps(out.params)) == out.params
        assert EXPECTED.get(out.model, set()) <= set(out.params)


def test_global_model_params_reference_the_run_model():
    res = forecast(_history(), horizon=8, freq="W-MON", season_length=52, n_jobs=1,
                   candidates={"smooth": ("global",), "erratic": ("global",), "intermittent": ("global",),
                               "lumpy": ("global",)})
    used = res.selection[res.selection["model"] == "global"]
    assert len(used)
    for text in used["params"]:
        ref = json.loads(text)
        assert ref["scope"] == "run" and ref["n_features"] > 10 and len(ref["features_sha1"]) == 12
