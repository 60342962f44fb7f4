"""Comparing two tracked runs: lookup, side-by-side sections, the CLI and the notebook."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.compare import CompareError, compare_runs, find_run, format_comparison
from pipelines.settings import load_settings
from pipelines.tracking import Tracker

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "compare_runs.ipynb"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({"name": "cmp", "data_dir": str(tmp), "output_dir": str(tmp / "out")}))
    settings = load_settings(config)
    tracker = Tracker(settings)
    with tracker.start(run_name="n1", tags={"supplyplan.run_id": "RUN-A", "supplyplan.kind": "nightly", "supplyplan.as_of": "2026-11-30"}):
        tracker.log_params({"forecast.season_length": 52, "as_of": "2026-11-30"})
        tracker.log_metrics({"forecast_mean_mase": 0.91, "forecast_wape": 0.42, "forecast_n_model_ets": 70,
                             "forecast_n_model_sba": 30, "plan_objective": 1234.5, "plan_holding_cost": 500.0, "alerts_total": 12})
    with tracker.start(run_name="n2", tags={"supplyplan.run_id": "RUN-B", "supplyplan.kind": "nightly", "supplyplan.as_of": "2026-12-07"}):
        tracker.log_params({"forecast.season_length": 13, "as_of": "2026-12-07"})
        tracker.log_metrics({"forecast_mean_mase": 0.85, "forecast_wape": 0.40, "forecast_n_model_ets": 60,
                             "forecast_n_model_croston": 40, "plan_objective": 1200.0, "plan_holding_cost": 450.0, "alerts_total": 9})
    with tracker.start(run_name="bt", tags={"supplyplan.run_id": "BT-1", "supplyplan.kind": "backtest"}):
        tracker.log_params({"weeks": 52})
        tracker.log_metrics({"baseline_dc_bullwhip_ratio": 2.7, "vmi_dc_bullwhip_ratio": 1.2, "vmi_dealer_fill_rate": 0.98,
                             "baseline_dealer_fill_rate": 0.93})
        bt_mlflow = tracker.run_id
    return config, settings, bt_mlflow


def test_runs_are_found_by_supplyplan_id_mlflow_id_or_latest(workspace):
    _, settings, bt_mlflow = workspace
    assert find_run(settings, "RUN-A").kind == "nightly"
    assert find_run(settings, bt_mlflow).name == "BT-1"
    assert find_run(settings, "latest").name == "BT-1"
    assert find_run(settings, "latest-nightly").name == "RUN-B"
    with pytest.raises(CompareError, match="no run 'nope'"):
        find_run(settings, "nope")


def test_side_by_side_sections(workspace):
    _, settings, _ = workspace
    comp = compare_runs(settings, "RUN-A", "RUN-B")
    assert comp.accuracy.loc["mean_mase", "A"] == 0.91 and comp.accuracy.loc["mean_mase", "B - A"] == pytest.approx(-0.06)
    assert comp.models.loc["croston", "B"] == 40 and comp.models["A"].isna()["croston"]
    assert comp.plan.loc["plan_objective", "B - A"] == pytest.approx(-34.5)
    assert comp.settings.loc["forecast.season_length"].tolist() == ["52", "13"]
    assert comp.backtest.empty
    text = format_comparison(comp)
    assert "== forecast accuracy (backtest)" in text and "mean_mase" in text and "(none in either run)" in text

    mixed = compare_runs(settings, "RUN-A", "BT-1")
    assert mixed.backtest.loc[("vmi", "dc", "bullwhip_ratio"), "B"] == 1.2
    assert mixed.overview.loc["kind"].tolist() == ["nightly", "backtest"]


def test_cli_compare(workspace):
    config, _, _ = workspace
    runner = CliRunner()
    out = runner.invoke(app, ["compare", "--config", str(config), "RUN-A", "RUN-B"])
    assert out.exit_code == 0, out.output
    assert "mean_mase" in out.output and "plan_objective" in out.output
    same = runner.invoke(app, ["compare", "--config", str(config), "--runs", "RUN-A,BT-1"])
    assert same.exit_code == 0 and "bullwhip_ratio" in same.output
    bad = runner.invoke(app, ["compare", "--config", str(config), "RUN-A"])
    assert bad.exit_code == 2 and "exactly two runs" in bad.output
    missing = runner.invoke(app, ["compare", "--config", str(config), "RUN-A", "RUN-X"])
    assert missing.exit_code == 2 and "RUN-X" in missing.output


def test_notebook_executes(workspace, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    config, _, _ = workspace
    monkeypatch.setenv("SUPPLYPLAN_CONFIG", str(config))
    monkeypatch.setenv("SUPPLYPLAN_RUN_A", "RUN-A")
    monkeypatch.setenv("SUPPLYPLAN_RUN_B", "BT-1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.perf_counter() - start
    text = "\n".join(
        out.get("text", "") or str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert "A = RUN-A (nightly), B = BT-1 (backtest)" in text
    assert "mean_mase" in text
    assert any("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    assert elapsed < 120, f"notebook took {elapsed:.1f} s"
