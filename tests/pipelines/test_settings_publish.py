"""Configuration loading and atomic publishing."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.publish import NoPublishedRun, RunWriter, latest_run, list_runs, read_table
from pipelines.settings import ConfigError, load_settings


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    cfg = tmp_path / "sub" / "c.yaml"
    cfg.parent.mkdir()
    cfg.write_text("data_dir: ../in\noutput_dir: out\n")
    s = load_settings(cfg)
    assert s.data_dir == (tmp_path / "in").resolve()
    assert s.output_dir == (tmp_path / "sub" / "out").resolve()
    assert s.resolved_tracking_uri == f"sqlite:///{(tmp_path / 'sub' / 'out' / 'mlflow.db').resolve()}"


def test_config_errors_name_the_key_and_value(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data_dir: in\noutput_dir: out\nforecast:\n  horizon: -3\n")
    with pytest.raises(ConfigError, match=r"forecast\.horizon.*-3"):
        load_settings(cfg)
    cfg2 = tmp_path / "c2.yaml"
    cfg2.write_text("data_dir: in\noutput_dir: out\nfreq: fortnightly\n")
    with pytest.raises(ConfigError, match="fortnightly"):
        load_settings(cfg2)
    cfg3 = tmp_path / "c3.yaml"
    cfg3.write_text("data_dir: in\noutput_dir: out\nplan:\n  horizn: 4\n")
    with pytest.raises(ConfigError, match="horizn"):
        load_settings(cfg3)
    cfg4 = tmp_path / "c4.yaml"
    cfg4.write_text("data_dir: in\noutput_dir: out\nplan:\n  fill_model: exact\n")
    with pytest.raises(ConfigError, match=r"plan\.fill_model.*exact"):
        load_settings(cfg4)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_api_key_from_environment_wins(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data_dir: in\noutput_dir: out\napi:\n  api_key: from-config\n")
    s = load_settings(cfg)
    monkeypatch.delenv("SUPPLYPLAN_API_KEY", raising=False)
    assert s.resolved_api_key == "from-config"
    monkeypatch.setenv("SUPPLYPLAN_API_KEY", "from-env")
    assert s.resolved_api_key == "from-env"


def _table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"sku": [f"S{i}" for i in range(n)], "qty": range(n)})


def test_publish_is_atomic_and_a_failed_run_leaves_latest(tmp_path):
    with pytest.raises(NoPublishedRun):
        latest_run(tmp_path)
    first = RunWriter(tmp_path, "20260101T000000Z-aaaaaa")
    first.write("plan", _table(3))
    assert list_runs(tmp_path) == []  # staging is invisible to readers
    first.publish()
    assert latest_run(tmp_path).name == first.run_id
    published = read_table(latest_run(tmp_path), "plan")
    assert (published["run_id"] == first.run_id).all() and len(published) == 3

    failed = RunWriter(tmp_path, "20260102T000000Z-bbbbbb")
    failed.write("plan", _table(5))
    failed.abandon()
    assert latest_run(tmp_path).name == first.run_id
    assert list_runs(tmp_path) == [first.run_id]
    assert not failed.staging.exists()

    second = RunWriter(tmp_path, "20260103T000000Z-cccccc")
    second.write("plan", _table(2))
    second.publish()
    assert latest_run(tmp_path).name == second.run_id
    assert list_runs(tmp_path) == [first.run_id, second.run_id]


def test_top_down_aggregates_come_from_the_configured_locations_column(tmp_path, valid_dir):
    from pipelines.loading import load_dataset
    from pipelines.nightly import forecast_top_down

    def config(name: str, extra: str = ""):
        # load_settings is cached per path: one file per variant
        cfg = tmp_path / name
        cfg.write_text(f"data_dir: {valid_dir}\noutput_dir: out\n{extra}")
        return load_settings(cfg)

    ds = load_dataset(valid_dir)
    assert forecast_top_down(ds, config("plain.yaml")) is None  # not configured: no aggregates
    table = forecast_top_down(ds, config("td.yaml", "forecast:\n  top_down: region\n"))
    locs = ds.locations.set_index("location")["region"].astype(str)
    assert list(table.columns) == ["location", "group"]
    assert (table.set_index("location")["group"] == locs.reindex(table["location"]).to_numpy()).all()
    with pytest.raises(ConfigError, match="country"):
        config("bad.yaml", "forecast:\n  top_down: country\n")
