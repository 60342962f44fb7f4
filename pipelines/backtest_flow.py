"""``supplyplan backtest``: replay history, publish ``backtest.csv`` and track it in MLflow.

The replay itself lives in :mod:`pipelines.backtest`; this module owns the I/O around it:
loading, the run folder under ``<output_dir>/backtest`` (published atomically like a
nightly run) and the MLflow record, so that anyone can see whether the plan damps the
bullwhip effect and at what stock and service level.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.loading import load_dataset
from pipelines.progress import Progress
from pipelines.publish import RunWriter, new_run_id
from pipelines.settings import Settings


def backtest_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Flatten the comparison table into ``<policy>_<echelon>_<figure>`` metrics."""
    metrics: dict[str, float] = {}
    numeric = table.select_dtypes("number").columns
    for _, row in table.iterrows():
        for col in numeric:
            metrics[f"{row['policy']}_{row['echelon']}_{col}"] = float(row[col])
    return metrics


def run_backtest_flow(
    settings: Settings,
    weeks: int | None = None,
    progress: Progress | None = None,
    track: bool = True,
) -> tuple[pd.DataFrame, Path]:
    """Run the bullwhip backtest and publish its table.

    Returns
    -------
    table : pandas.DataFrame
        One row per policy and echelon (see :func:`pipelines.backtest.run_backtest`).
    path : Path
        The published ``backtest.csv``.
    """
    from pipelines.backtest import run_backtest

    progress = progress or Progress()
    weeks = weeks or settings.backtest.weeks
    with progress.stage("validate", str(settings.data_dir)):
        dataset = load_dataset(settings.data_dir, freq=settings.freq)
    with progress.stage("backtest", f"{weeks} weeks replayed"):
        table = run_backtest(dataset, settings, weeks=weeks, progress=progress)

    run_id = new_run_id()
    writer = RunWriter(settings.output_dir / "backtest", run_id)
    try:
        path = writer.write("backtest", table)
        writer.manifest = {"run_id": run_id, "weeks": weeks, "data_dir": str(settings.data_dir), "config_fingerprint": settings.fingerprint()}
        if track:
            from pipelines.tracking import Tracker

            tracker = Tracker(settings)
            with tracker.start(run_name=f"backtest-{run_id}", tags={"supplyplan.run_id": run_id, "supplyplan.kind": "backtest"}):
                tracker.log_params({"weeks": weeks, "ma_periods": settings.backtest.ma_periods, "forecast_every": settings.backtest.forecast_every, "seed": settings.seed})
                tracker.log_metrics(backtest_metrics(table))
                tracker.log_artifacts(writer.staging, artifact_path="backtest")
                writer.manifest["mlflow_run_id"] = tracker.run_id
        folder = writer.publish()
    except BaseException:
        writer.abandon()
        raise
    return table, folder / path.name
