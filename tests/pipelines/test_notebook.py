"""Planner notebook: the helpers it relies on, and the notebook itself executed with nbclient."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from pipelines.notebook_helpers import ReviewError, default_config_path, load_review, pick_default, plot_review
from pipelines.settings import load_settings
from published_fixture import RUN_A, RUN_B, build_workspace

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "planner_review.ipynb"


@pytest.fixture()
def config(tmp_path):
    return build_workspace(tmp_path)


def test_default_pick_is_the_first_below_min_alert_else_first_plan_row():
    alerts = pd.DataFrame({"sku": ["*", "SKU-2", "SKU-3"], "location": ["D1", "D2", "D3"],
                           "kind": ["turnover_days", "above_max", "below_min"]})
    plan = pd.DataFrame({"sku": ["SKU-9", "SKU-8"], "destination": ["DC-1", "D1"]})
    assert pick_default(alerts, plan, {"D1", "D2", "D3"}) == ("SKU-3", "D3")
    assert pick_default(alerts.iloc[:2], plan, {"D1", "D2", "D3"}) == ("SKU-8", "D1")  # DC-1 is no dealer
    with pytest.raises(ReviewError):
        pick_default(alerts.iloc[:2], plan.iloc[:0], {"D1"})


def test_load_review_defaults_and_frames(config):
    settings = load_settings(config)
    review = load_review(settings)
    # The fixture's first below_min alert is SKU-0002 at DLR-S01; run B is the latest.
    assert (review.sku, review.dealer, review.run_id) == ("SKU-0002", "DLR-S01", RUN_B)
    assert list(review.forecast.columns) == ["date", "mean", "q50", "q90", "q95", "model"]
    assert (review.forecast["mean"] == 3.0).all() and len(review.forecast) == 4
    # History on the weekly grid up to the last demand week; the missing week is zero demand.
    hist = review.history.set_index("date")["qty"]
    assert hist.index.max() == pd.Timestamp("2024-01-29")
    assert hist[pd.Timestamp("2024-01-22")] == 0.0 and hist[pd.Timestamp("2024-01-29")] == 5.0
    assert pd.infer_freq(hist.index) == "W-MON"
    assert review.arrivals.empty  # run B plans SKU-0001 for DLR-S01, not SKU-0002
    assert list(review.alerts["kind"]) == ["below_min"]
    assert review.stock["min_qty"] == 8.0 and review.stock["safety_stock"] == 4.0
    assert len(review.projection) == 4 and {"on_hand", "min_qty", "max_qty"} <= set(review.projection.columns)


def test_load_review_for_a_chosen_pair_and_run(config):
    settings = load_settings(config)
    review = load_review(settings, sku="SKU-0001", dealer="DLR-N01", run_id=RUN_A, history_periods=6)
    assert review.run_id == RUN_A and len(review.history) == 6
    assert list(review.arrivals["qty"]) == [12.0]
    assert set(review.alerts["kind"]) == {"below_min", "turnover_days"}  # dealer-level row included
    assert list(review.inbound["qty"]) == [10]
    only_dealer = load_review(settings, dealer="DLR-N02")
    assert (only_dealer.sku, only_dealer.dealer) == ("SKU-0001", "DLR-N02")  # its planned SKU
    with pytest.raises(ReviewError, match="neither a forecast nor a plan row"):
        load_review(settings, sku="SKU-0001", dealer="DLR-X99")
    fig = plot_review(review)
    top, bottom = fig.axes
    assert any("q50-q95" in t.get_text() for t in top.get_legend().get_texts())
    assert any("planned arrivals" in t.get_text() for t in bottom.get_legend().get_texts())


def test_default_config_path_prefers_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPLYPLAN_CONFIG", str(tmp_path / "x.yaml"))
    assert default_config_path() == tmp_path / "x.yaml"
    monkeypatch.delenv("SUPPLYPLAN_CONFIG")
    monkeypatch.chdir(NOTEBOOK.parent)
    assert default_config_path() == NOTEBOOK.parents[1] / "configs" / "demo.yaml"


@pytest.mark.parametrize("notebook", [NOTEBOOK, NOTEBOOK.parent / "compare_runs.ipynb"], ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])


def test_notebook_executes_on_a_fixture_run(config, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("SUPPLYPLAN_CONFIG", str(config))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for var in ("SUPPLYPLAN_SKU", "SUPPLYPLAN_DEALER", "SUPPLYPLAN_RUN"):
        monkeypatch.delenv(var, raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.perf_counter() - start
    assert elapsed < 20, f"notebook took {elapsed:.1f} s"
    text = "\n".join(
        out.get("text", "") or str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert f"run {RUN_B}" in text and "SKU-0002 at DLR-S01" in text
    assert "on hand 2 below min 8" in text  # the alert list is shown
    assert any("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.outputs), "the chart is displayed"
