"""The plan's SKU groups give the same plan on a Dask cluster as in local processes."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.nightly import run_plan
from pipelines.settings import load_settings
from tests.conftest import make_config

distributed = pytest.importorskip("dask.distributed")


def test_decomposed_plan_on_a_local_dask_cluster_matches_local_processes(small_demo_dir, tmp_path):
    # groups of 3 SKUs so that the 12-SKU network is really decomposed
    (tmp_path / "local").mkdir()
    local_cfg = make_config(tmp_path / "local", small_demo_dir, plan={"group_size": 3, "workers": 2})
    local = run_plan(load_settings(local_cfg))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        (tmp_path / "dask").mkdir()
        dask_cfg = make_config(tmp_path / "dask", small_demo_dir, plan={"group_size": 3, "workers": 2, "scheduler": cluster.scheduler_address})
        remote = run_plan(load_settings(dask_cfg))
    assert remote.status == local.status
    assert remote.objective == pytest.approx(local.objective, rel=1e-9)
    cols = ["sku", "origin", "destination", "ship_date", "qty"]
    pd.testing.assert_frame_equal(
        local.plan[cols].sort_values(cols).reset_index(drop=True),
        remote.plan[cols].sort_values(cols).reset_index(drop=True),
    )
