"""MLflow lifecycle: per-series parameter table, pyfunc model, champion alias, champion
settings in the nightly job, metric steps, and other store URIs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.settings import parse_settings
from pipelines.tracking import (
    Tracker,
    apply_champion,
    champion_version,
    choice_hash,
    model_choice_options,
    parameter_table,
)

OPTIONS = {"horizon": 4, "freq": "W-MON", "season_length": 52, "quantiles": (0.5, 0.9), "n_jobs": 1, "seed": 0,
           "backtest_windows": 2, "max_multiple": 3.0}


def settings_for(tmp_path, tracking_uri=None, **champion):
    raw = {"name": f"trk-{tmp_path.name}", "data_dir": str(tmp_path), "output_dir": str(tmp_path / "out"),
           "champion": champion}
    if tracking_uri:
        raw["tracking_uri"] = tracking_uri
    return parse_settings(raw, tmp_path)


def selection(n=3, **extra):
    frame = pd.DataFrame({"sku": [f"S{i}" for i in range(n)], "location": ["D1"] * n,
                          "model": ["ets", "sba", "naive"][:n], "demand_class": ["smooth", "intermittent", "erratic"][:n],
                          "n_obs": [60] * n, "mase": [0.8, 1.1, 0.9][:n], "wape": [0.3] * n, "bias": [0.0] * n,
                          "fallback": [""] * n})
    for k, v in extra.items():
        frame[k] = v
    return frame


def log_version(settings, figure, options=OPTIONS, inputs="in-1"):
    """Log a version whose mean RMSSE (the default gate) and mean MASE are ``figure``."""
    tracker = Tracker(settings)
    with tracker.start(run_name="night", tags={"supplyplan.kind": "nightly", "supplyplan.run_id": f"r-{figure}"}):
        version = tracker.log_forecaster(options, selection(),
                                         {"mean_rmsse": figure, "mean_mase": figure, "wape": 0.3, "bias": -0.1},
                                         {"supplyplan.inputs_fingerprint": inputs})
        decision = tracker.promote(version)
    return version, decision


def test_parameter_table_prefers_fitted_parameters_and_falls_back_to_configured():
    opts = {**OPTIONS, "model_params": {"sba": {"alpha": 0.1}}}
    configured = parameter_table(selection(), opts)
    assert list(configured["model"]) == ["ets", "sba", "naive"]
    assert json.loads(configured["params"].iloc[1]) == {"alpha": 0.1}
    assert set(configured["params_source"]) == {"configured"}
    fitted = parameter_table(selection(params=[json.dumps({"alpha": 0.31, "beta": 0.02}), {"alpha": 0.2}, ""]), opts)
    assert json.loads(fitted["params"].iloc[0]) == {"alpha": 0.31, "beta": 0.02}
    assert json.loads(fitted["params"].iloc[1]) == {"alpha": 0.2}  # fitted overrides configured
    assert set(fitted["params_source"]) == {"fitted"}


def test_model_choice_excludes_night_operations():
    choice = model_choice_options(OPTIONS)
    assert set(choice) == {"season_length", "backtest_windows", "max_multiple"}
    assert choice_hash(OPTIONS) == choice_hash({**OPTIONS, "horizon": 13, "n_jobs": 4})
    assert choice_hash(OPTIONS) != choice_hash({**OPTIONS, "season_length": 13})


def test_champion_moves_only_when_the_backtest_beats_it(tmp_path):
    settings = settings_for(tmp_path)
    assert champion_version(settings) is None
    v1, d1 = log_version(settings, 0.90)
    assert d1.promoted and champion_version(settings).version == v1
    v2, d2 = log_version(settings, 0.95)  # worse: the alias stays
    assert not d2.promoted and champion_version(settings).version == v1 and "does not beat" in d2.reason
    v3, d3 = log_version(settings, 0.85)
    assert d3.promoted and d3.previous == v1 and champion_version(settings).version == v3
    import mlflow

    tags = mlflow.MlflowClient().get_model_version(settings.registered_model, v2).tags
    assert tags["supplyplan.champion_decision"].startswith("kept: champion v" + v1)
    assert float(tags["supplyplan.metric.mean_mase"]) == 0.95
    assert d3.metric == "mean_rmsse"  # the default gate scores the mean, as intermittent series are ranked


def test_a_champion_without_the_gate_figure_gives_way_and_says_why(tmp_path):
    # a champion logged before its version carried mean_rmsse (MASE only)
    old = settings_for(tmp_path, metric="mean_mase")
    tracker = Tracker(old)
    with tracker.start(run_name="n", tags={}):
        v1 = tracker.log_forecaster(OPTIONS, selection(), {"mean_mase": 0.5})
        assert tracker.promote(v1).promoted
    v2, d2 = log_version(settings_for(tmp_path), 0.9)
    assert d2.promoted and d2.previous == v1 and "has no mean_rmsse figure" in d2.reason
    v3, d3 = log_version(settings_for(tmp_path), 1.0)
    assert not d3.promoted and champion_version(old).version == v2


def test_min_improvement_and_metric_are_configurable(tmp_path):
    settings = settings_for(tmp_path, min_improvement=0.1, metric="abs_bias")
    log_version(settings, 0.9)
    tracker = Tracker(settings)
    with tracker.start(run_name="n", tags={}):
        v = tracker.log_forecaster(OPTIONS, selection(), {"mean_mase": 0.1, "bias": -0.095})
        d = tracker.promote(v)
    assert not d.promoted and d.metric == "abs_bias"  # |bias| 0.095 is not 10 % below 0.1
    with tracker.start(run_name="n", tags={}):
        v = tracker.log_forecaster(OPTIONS, selection(), {"mean_mase": 2.0, "bias": 0.05})
        d = tracker.promote(v)
    assert d.promoted  # MASE is worse, but the configured metric is |bias|


def test_like_for_like_champion_figure_on_the_same_inputs(tmp_path):
    settings = settings_for(tmp_path)
    v1, _ = log_version(settings, 0.90, inputs="old")
    # the champion's settings retrained on new inputs score 1.20 there (a harder period)
    log_version(settings, 1.20, inputs="new")
    # a challenger with other settings on the same new inputs: 1.10 beats 1.20, not 0.90
    challenger = {**OPTIONS, "season_length": 13}
    v3, d3 = log_version(settings, 1.10, options=challenger, inputs="new")
    assert d3.promoted and d3.champion_value == pytest.approx(1.20)
    assert champion_version(settings).options["season_length"] == 13


def test_apply_champion_uses_its_model_choice_and_tonights_operations(tmp_path):
    settings = settings_for(tmp_path)
    unchanged, champ = apply_champion(settings)
    assert champ is None and unchanged is settings
    log_version(settings, 0.9, options={**OPTIONS, "season_length": 13, "backtest_windows": 5, "horizon": 99})
    applied, champ = apply_champion(settings)
    assert champ is not None
    assert applied.forecast.season_length == 13 and applied.forecast.backtest_windows == 5
    assert applied.forecast.horizon == settings.forecast.horizon  # operational: tonight's
    off = settings_for(tmp_path, use_champion=False)
    assert apply_champion(off)[0].forecast.season_length == 52


def test_registered_pyfunc_returns_parameters_and_forecasts(tmp_path):
    import mlflow

    settings = settings_for(tmp_path)
    log_version(settings, 0.9)
    model = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}@champion")
    history = pd.DataFrame({"sku": "S0", "location": "D1",
                            "date": pd.date_range("2024-01-01", periods=40, freq="W-MON"),
                            "qty": np.random.default_rng(0).poisson(5, 40).astype(float)})
    params = model.predict(history, params={"output": "parameters"})
    assert list(params["sku"]) == ["S0", "S1", "S2"] and "params" in params
    fc = model.predict(history, params={"horizon": 3})
    assert len(fc) == 3 and (fc["mean"] >= 0).all() and fc["date"].min() == pd.Timestamp("2024-10-07")


def test_metric_steps_are_batched_per_window(tmp_path):
    import mlflow

    settings = settings_for(tmp_path)
    tracker = Tracker(settings)
    steps = {k: {"a": float(k), "b": 2.0 * k, "nan": float("nan")} for k in range(1200)}
    with tracker.start(run_name="bt", tags={}):
        tracker.log_metric_steps(steps)
    client = mlflow.MlflowClient()
    hist = client.get_metric_history(tracker.run_id, "b")
    assert len(hist) == 1200 and sorted(m.step for m in hist)[-1] == 1199
    assert client.get_metric_history(tracker.run_id, "nan") == []


def test_another_store_uri_works_the_same(tmp_path):
    """A second store (as a tracking server would be): nothing goes to the default one.

    MLflow 3 refuses the plain-file store unless MLFLOW_ALLOW_FILE_STORE is set, so the
    other store here is a second SQLite database.
    """
    import mlflow

    uri = f"sqlite:///{tmp_path / 'elsewhere' / 'other.db'}"
    (tmp_path / "elsewhere").mkdir()
    settings = settings_for(tmp_path, tracking_uri=uri)
    v1, d1 = log_version(settings, 0.9)
    v2, d2 = log_version(settings, 0.8)
    assert d1.promoted and d2.promoted and champion_version(settings).version == v2
    assert mlflow.get_tracking_uri() == uri
    assert not (tmp_path / "out" / "mlflow.db").exists()  # nothing went to the default store


def test_nightly_forecasts_with_the_champion_and_promotes(tmp_path, monkeypatch):
    """run_nightly's tracking part: champion settings in, version + decision out (stages stubbed)."""
    import pipelines.nightly as nightly
    from pipelines.progress import Progress

    settings = settings_for(tmp_path)
    log_version(settings, 0.9, options={**OPTIONS, "season_length": 13})
    seen = {}

    def fake_compute(dataset, used, start, progress):
        seen["season_length"] = used.forecast.season_length
        tables = {name: pd.DataFrame({"sku": ["S0"], "x": [1.0]}) for name in
                  ("forecasts", "safety_stock", "plan", "alerts", "projection", "slacks", "errors")}
        tables["selection"] = selection()
        return tables, {"forecast_mean_mase": 0.5, "forecast_mean_rmsse": 0.6, "forecast_wape": 0.2, "forecast_bias": 0.0, "plan_objective": 1.0}

    class FakeDataset:
        demand = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-08"])})

    monkeypatch.setattr(nightly, "load_dataset", lambda *a, **k: FakeDataset())
    monkeypatch.setattr(nightly, "compute_night", fake_compute)
    monkeypatch.setattr(nightly, "inputs_fingerprint", lambda d: "in-x")
    result = nightly.run_nightly(settings, progress=Progress(live=False))
    assert seen["season_length"] == 13  # the champion's, not the configured 52
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["forecast_settings_of"] == "1" and manifest["champion_version"] == result.model_version
    assert "promoted" in manifest["champion_decision"]
    import mlflow

    run = mlflow.get_run(result.mlflow_run_id)
    assert run.data.metrics["champion_promoted"] == 1.0 and run.data.params["forecast.season_length"] == "13"


def test_a_version_passes_its_runs_aggregates_back_to_the_forecaster(tmp_path):
    # a nightly run with forecast.top_down stores its aggregates with the version, so the
    # registered model forecasts as the run did (top_down shares, not each series alone)
    import mlflow

    settings = settings_for(tmp_path)
    regions = pd.DataFrame({"location": ["D1", "D2", "D3", "D4"], "group": ["north", "north", "south", "south"]})
    tracker = Tracker(settings)
    options = {**OPTIONS, "global_model": False, "horizon": 4, "backtest_windows": 3, "backtest_step": 4}
    with tracker.start(run_name="night", tags={"supplyplan.kind": "nightly"}):
        tracker.log_forecaster(options, selection(), {"mean_mase": 0.9}, {}, inputs={"top_down": regions, "groups": None})
    model = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}/1")
    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=60, freq="W-MON")
    history = pd.concat([pd.DataFrame({"sku": "S0", "location": loc, "date": dates,
                                       "qty": rng.poisson(share * 40, 60).astype(float)})
                         for loc, share in zip(regions["location"], (0.6, 0.4, 0.7, 0.3))], ignore_index=True)
    fc = model.predict(history)
    assert (fc["model"] == "top_down").any()
    with tracker.start(run_name="night2", tags={"supplyplan.kind": "nightly"}):
        tracker.log_forecaster(options, selection(), {"mean_mase": 0.9}, {})
    alone = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}/2").predict(history)
    assert not (alone["model"] == "top_down").any()
