"""MLflow tracking: one experiment per configuration, one MLflow run per supplyplan run.

Only the driver process talks to MLflow; workers return DataFrames. The default store is
a SQLite file beside the runs (``Settings.resolved_tracking_uri``); a tracking-server URI
(or any other store URI, e.g. a second SQLite file) in the configuration works the same.

Forecaster lifecycle
--------------------
Every nightly run logs the forecaster as a pyfunc model (``pipelines/forecaster_model.py``,
logged from code, no pickles) holding ``settings.json`` (the forecasting options) and
``parameters.csv`` (one row per series: its chosen model, demand class, backtest scores,
and fitted parameters as JSON), and registers it as a new version of
``Settings.registered_model``. Each version is tagged with its forecast-backtest figures
(``supplyplan.metric.<name>``), the inputs fingerprint and the hash of its *model-choice
settings* (:func:`model_choice_options`).

The ``champion`` alias (``Settings.champion.alias``) moves to a new version only when
that version's backtest beats the champion's on ``Settings.champion.metric`` (lower is
better) by more than ``min_improvement``; the first version becomes champion. When a
version of the champion's settings was evaluated on the same inputs, that like-for-like
figure is the champion's; otherwise its own tag.

"The nightly job forecasts with the champion" means: with ``champion.use_champion`` true
and a champion registered, the night's model-choice settings (season length, backtest
windows, cap, candidates and model parameters) are the champion's; the operational ones
(horizon, quantiles, freq, jobs, seed) stay the configuration's, since they describe the
night, not the model (:func:`apply_champion`). A challenger is evaluated by a run with
``use_champion: false`` (e.g. a copy of the configuration with new forecast settings).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from dataclasses import dataclass
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


def _finite_metrics(metrics: dict) -> dict[str, float]:
    """The metrics that are finite numbers, as floats (MLflow rejects NaN and text)."""
    clean = {}
    for key, value in metrics.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            clean[key] = value
    return clean


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

        clean = _finite_metrics(metrics)
        if clean:
            mlflow.log_metrics(clean, step=step)

    def log_metric_steps(self, steps: dict[int, dict]) -> None:
        """Log metrics at several steps (per-window figures) in batches of 1,000.

        Parameters
        ----------
        steps : dict of int -> dict of str -> float
            ``{step: {name: value}}``; non-finite values are skipped.
        """
        import time

        import mlflow
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = []
        for step, metrics in sorted(steps.items()):
            for key, value in _finite_metrics(metrics).items():
                batch.append(Metric(key=key, value=value, timestamp=now, step=int(step)))
        client = mlflow.MlflowClient()
        for i in range(0, len(batch), 1000):
            client.log_batch(self.run_id, metrics=batch[i : i + 1000], synchronous=True)

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        """Copy a folder's files into the run's artifacts."""
        import mlflow

        mlflow.log_artifacts(str(folder), artifact_path=artifact_path)

    def log_forecaster(
        self,
        options: dict,
        selection: pd.DataFrame,
        metrics: dict | None = None,
        tags: dict | None = None,
        inputs: dict | None = None,
    ) -> str | None:
        """Log the forecaster as a pyfunc model and register a new version.

        Parameters
        ----------
        options : dict
            Keyword arguments of ``forecasting.forecast`` used by the run.
        selection : pandas.DataFrame
            ``ForecastResult.selection``; becomes the per-series parameter table
            (:func:`parameter_table`).
        metrics : dict, optional
            Forecast-backtest figures (``mean_mase``, ``wape``...), tagged on the version
            as ``supplyplan.metric.<name>`` for the champion decision.
        tags : dict, optional
            Further version tags (e.g. ``supplyplan.inputs_fingerprint``).
        inputs : dict, optional
            Table-valued ``forecasting.forecast`` arguments of the run, by name
            (``groups``, ``top_down``; None values are skipped): stored as
            ``<name>.csv`` artifacts that ``predict`` passes back, so that the version
            reproduces the run's forecasts.

        Returns
        -------
        str or None
            The registered model version, or None when the store has no registry.
        """
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            settings_path = Path(tmp) / "settings.json"
            settings_path.write_text(json.dumps(options, sort_keys=True, default=str))
            params_path = Path(tmp) / "parameters.csv"
            parameter_table(selection, options).to_csv(params_path, index=False)
            artifacts = {"settings": str(settings_path), "parameters": str(params_path)}
            for name, table in (inputs or {}).items():
                if table is not None:
                    path = Path(tmp) / f"{name}.csv"
                    table.to_csv(path, index=False)
                    artifacts[name] = str(path)
            info = mlflow.pyfunc.log_model(
                name="forecaster",
                python_model=str(_MODEL_CODE),
                artifacts=artifacts,
                signature=_forecaster_signature(options),
                pip_requirements=["supplyplan", "pandas", "numpy", "statsmodels", "scikit-learn"],
                registered_model_name=self.settings.registered_model,
            )
        version = getattr(info, "registered_model_version", None)
        if version is None:
            return None
        version = str(version)
        client = mlflow.MlflowClient()
        all_tags = {
            "supplyplan.options": json.dumps(options, sort_keys=True, default=str),
            "supplyplan.choice_hash": choice_hash(options),
            "supplyplan.run_kind": "nightly",
        }
        for key, value in (metrics or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                all_tags[f"supplyplan.metric.{key}"] = repr(value)
        all_tags.update({k: str(v) for k, v in (tags or {}).items()})
        for key, value in all_tags.items():
            client.set_model_version_tag(self.settings.registered_model, version, key, value[:5000])
        return version

    def promote(self, version: str) -> "ChampionDecision":
        """Move the champion alias to ``version`` if its backtest beats the champion's.

        See the module docstring for the rule; the decision is also tagged on the
        version (``supplyplan.champion_decision``).
        """
        import mlflow

        client = mlflow.MlflowClient()
        cfg = self.settings.champion
        name = self.settings.registered_model
        new = client.get_model_version(name, version)
        new_value = _metric(new.tags, cfg.metric)
        current = champion_version(self.settings)
        if current is None:
            decision = ChampionDecision(True, version, None, cfg.metric, new_value, None, "first version")
        elif current.version == version:
            decision = ChampionDecision(False, version, version, cfg.metric, new_value, new_value, "already champion")
        else:
            champ_value = _like_for_like(client, name, current, new.tags.get("supplyplan.inputs_fingerprint"), cfg.metric, version)
            if not math.isfinite(new_value):
                decision = ChampionDecision(False, current.version, current.version, cfg.metric, new_value, champ_value,
                                            "new version has no finite backtest figure")
            elif not math.isfinite(champ_value):
                decision = ChampionDecision(True, version, current.version, cfg.metric, new_value, champ_value,
                                            f"the champion has no {cfg.metric} figure")
            elif new_value < champ_value * (1.0 - cfg.min_improvement):
                decision = ChampionDecision(True, version, current.version, cfg.metric, new_value, champ_value, "beats the champion")
            else:
                decision = ChampionDecision(False, current.version, current.version, cfg.metric, new_value, champ_value,
                                            "does not beat the champion")
        if decision.promoted:
            client.set_registered_model_alias(name, cfg.alias, version)
        client.set_model_version_tag(name, version, "supplyplan.champion_decision", decision.describe())
        return decision


def _forecaster_signature(options: dict):
    """Input columns of a demand history, and the ``predict`` params with stored defaults.

    MLflow passes ``params`` to ``predict`` only when the signature declares them; the
    defaults are the stored options, so a call without params reproduces the run.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    # promo / price are optional: MLflow drops undeclared columns, and the planned calendar
    # (rows with an empty qty, see pipelines.forecaster_model) is carried by them.
    inputs = Schema([ColSpec("string", "sku"), ColSpec("string", "location"), ColSpec("datetime", "date"), ColSpec("double", "qty"),
                     ColSpec("double", "promo", required=False), ColSpec("double", "price", required=False)])
    params = ParamSchema([
        ParamSpec("output", "string", "forecasts"),
        ParamSpec("horizon", "long", int(options.get("horizon", 13))),
    ])
    return ModelSignature(inputs=inputs, params=params)


#: Forecasting options that define the model (the champion's settings); the others
#: (horizon, quantiles, freq, n_jobs, seed, end) describe a night.
OPERATIONAL_OPTIONS = ("horizon", "quantiles", "freq", "n_jobs", "seed", "end", "chunks_per_job", "scheduler")

#: ``forecasting.forecast`` option -> ``ForecastSettings`` field, where the names differ.
OPTION_FIELDS = {"calibrate": "calibrate_quantiles"}


def model_choice_options(options: dict) -> dict:
    """The model-choice part of ``forecasting.forecast`` options (all but the operational)."""
    return {k: v for k, v in options.items() if k not in OPERATIONAL_OPTIONS}


def choice_hash(options: dict) -> str:
    """Stable short hash of the model-choice options (which settings a version used)."""
    payload = json.dumps(model_choice_options(options), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def parameter_table(selection: pd.DataFrame, options: dict | None = None) -> pd.DataFrame:
    """Per-series parameter table of a logged forecaster.

    One row per series: sku, location, model (the chosen model), demand_class, the
    backtest scores the engine reports (n_obs, n_origins, mase, rmsse, wape, bias,
    error_scale, fallback when present) and ``params``: the series' parameters as JSON.
    ``params`` holds the fitted parameters when the engine exposes them in the selection
    table (a ``params`` or ``fitted_params`` column, dict or JSON), merged over the
    configured ``model_params`` of the chosen model; otherwise the configured ones only.

    Parameters
    ----------
    selection : pandas.DataFrame
        ``ForecastResult.selection``.
    options : dict, optional
        The ``forecasting.forecast`` options (for ``model_params``).

    Returns
    -------
    pandas.DataFrame
    """
    keep = [c for c in ("sku", "location", "model", "demand_class", "n_obs", "n_origins", "mase", "rmsse", "wape",
                        "bias", "error_scale", "fallback") if c in selection]
    table = selection[keep].copy()
    configured = dict((options or {}).get("model_params") or {})
    fitted_col = next((c for c in ("params", "fitted_params") if c in selection), None)
    params = []
    for i, model in enumerate(table["model"].astype(str) if "model" in table else [""] * len(table)):
        entry = dict(configured.get(model, {}))
        if fitted_col is not None:
            value = selection[fitted_col].iloc[i]
            if isinstance(value, str) and value:
                value = json.loads(value)
            if isinstance(value, dict):
                entry.update(value)
        params.append(json.dumps(entry, sort_keys=True, default=float))
    table["params"] = params
    table["params_source"] = "fitted" if fitted_col is not None else "configured"
    return table


@dataclass
class ChampionVersion:
    """The registered version holding the champion alias."""

    version: str
    options: dict
    tags: dict


@dataclass
class ChampionDecision:
    """Outcome of :meth:`Tracker.promote`."""

    promoted: bool
    champion: str
    previous: str | None
    metric: str
    value: float
    champion_value: float | None
    reason: str

    def describe(self) -> str:
        """One line for logs and tags."""
        champ = "n/a" if self.champion_value is None else f"{self.champion_value:.4f}"
        verb = "promoted" if self.promoted else "kept"
        return f"{verb}: champion v{self.champion} ({self.reason}; {self.metric} {self.value:.4f} vs {champ})"


def _metric(tags: dict, metric: str) -> float:
    if metric == "abs_bias":
        value = tags.get("supplyplan.metric.bias")
        return abs(float(value)) if value is not None else float("nan")
    value = tags.get(f"supplyplan.metric.{metric}")
    return float(value) if value is not None else float("nan")


def _like_for_like(client, name: str, champion: ChampionVersion, inputs: str | None, metric: str, challenger: str) -> float:
    """The champion's figure on the challenger's inputs when a version of its settings has one.

    Among versions (other than the challenger) with the champion's model-choice settings
    and the challenger's inputs fingerprint, the best figure counts; without any, the
    champion version's own figure.
    """
    if inputs:
        choice = champion.tags.get("supplyplan.choice_hash")
        same = [
            v for v in client.search_model_versions(f"name='{name}'")
            if str(v.version) != str(challenger)
            and v.tags.get("supplyplan.choice_hash") == choice
            and v.tags.get("supplyplan.inputs_fingerprint") == inputs
        ]
        values = [_metric(v.tags, metric) for v in same]
        values = [v for v in values if math.isfinite(v)]
        if values:
            return min(values)
    return _metric(champion.tags, metric)


def champion_version(settings: Settings) -> ChampionVersion | None:
    """The version holding the champion alias, with its options; None when there is none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    _quiet_mlflow()
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    client = mlflow.MlflowClient()
    try:
        mv = client.get_model_version_by_alias(settings.registered_model, settings.champion.alias)
    except MlflowException:
        return None
    options = json.loads(mv.tags.get("supplyplan.options", "{}"))
    return ChampionVersion(str(mv.version), options, dict(mv.tags))


def apply_champion(settings: Settings) -> tuple[Settings, ChampionVersion | None]:
    """Settings for tonight: the champion's model-choice forecast settings, tonight's operations.

    The champion's options that are fields of ``settings.forecast`` (season_length,
    backtest_windows, max_multiple and any later model-choice field) replace the
    configured ones; operational options (:data:`OPERATIONAL_OPTIONS`) stay. Returns the
    settings unchanged (and None) when ``champion.use_champion`` is false or no champion
    is registered.
    """
    if not settings.champion.use_champion:
        return settings, None
    champ = champion_version(settings)
    if champ is None or not champ.options:
        return settings, None
    fields = type(settings.forecast).model_fields
    choice = {OPTION_FIELDS.get(k, k): v for k, v in model_choice_options(champ.options).items()}
    update = {k: v for k, v in choice.items() if k in fields}
    ignored = sorted(set(choice) - set(update))
    if ignored:
        log.warning("champion v%s: options %s are not configurable here and are not applied", champ.version, ignored)
    forecast = settings.forecast.model_copy(update=update)
    return settings.model_copy(update={"forecast": forecast}), champ
