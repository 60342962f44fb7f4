"""MLflow tracking: one experiment per configuration, one MLflow run per supplyplan run.

Only the driver process talks to MLflow; workers return DataFrames. The default store is
a SQLite file beside the runs (``Settings.resolved_tracking_uri``); a tracking-server URI
in the configuration works the same way.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from pipelines.settings import Settings

log = logging.getLogger(__name__)

_MODEL_CODE = Path(__file__).with_name("forecaster_model.py")


def _quiet_mlflow() -> None:
    # MLflow logs schema migrations and signature advice at INFO/WARNING on every run;
    # planners only need our own stage lines. Called after importing mlflow, which sets
    # its own logger levels on import.
    for name in ("mlflow", "alembic", "mlflow.store.db.utils", "mlflow.models"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="mlflow")


class Tracker:
    """Thin wrapper over an active MLflow run.

    Parameters
    ----------
    settings : Settings
        The run configuration; its ``name`` is the experiment name.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.run_id: str | None = None

    @contextmanager
    def start(self, run_name: str, tags: dict[str, str]) -> Iterator["Tracker"]:
        """Open an MLflow run; it ends FAILED if the block raises."""
        import mlflow

        _quiet_mlflow()

        mlflow.set_tracking_uri(self.settings.resolved_tracking_uri)
        client = mlflow.MlflowClient()
        exp = client.get_experiment_by_name(self.settings.name)
        if exp is None:
            artifact_location = None
            if self.settings.resolved_tracking_uri.startswith("sqlite:"):
                artifact_location = self.settings.artifact_location
            experiment_id = client.create_experiment(self.settings.name, artifact_location=artifact_location)
        else:
            experiment_id = exp.experiment_id
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            self.run_id = run.info.run_id
            yield self

    def log_params(self, params: dict) -> None:
        """Log flat parameters (values stringified, MLflow keeps 6,000 chars each)."""
        import mlflow

        mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        """Log finite numeric metrics in one batch; non-numbers are skipped."""
        import mlflow

        clean = {}
        for key, value in metrics.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                clean[key] = value
        if clean:
            mlflow.log_metrics(clean, step=step)

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        """Copy a folder's files into the run's artifacts."""
        import mlflow

        mlflow.log_artifacts(str(folder), artifact_path=artifact_path)

    def log_forecaster(self, options: dict, selection: pd.DataFrame) -> str | None:
        """Log the forecaster as a pyfunc model and register a new version.

        Returns
        -------
        str or None
            The registered model version, or None when the store has no registry.
        """
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            settings_path = Path(tmp) / "settings.json"
            settings_path.write_text(json.dumps(options, sort_keys=True, default=str))
            selection_path = Path(tmp) / "selection.csv"
            selection.to_csv(selection_path, index=False)
            info = mlflow.pyfunc.log_model(
                name="forecaster",
                python_model=str(_MODEL_CODE),
                artifacts={"settings": str(settings_path), "selection": str(selection_path)},
                pip_requirements=["supplyplan", "pandas", "numpy", "statsmodels", "scikit-learn"],
                registered_model_name=self.settings.registered_model,
            )
        version = getattr(info, "registered_model_version", None)
        return None if version is None else str(version)
