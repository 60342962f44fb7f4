"""Compare two tracked runs side by side: models, accuracy, plan cost, backtest figures.

Reads MLflow only (params, metrics and tags of the runs), so it works the same on the
default SQLite store and on a tracking server. Used by ``supplyplan compare`` and by
``notebooks/compare_runs.ipynb``.

A run is named by its supplyplan run id (``20261127T002646Z-067a01``, the
``supplyplan.run_id`` tag of nightly and backtest runs), its MLflow run id, or
``latest`` / ``latest-nightly`` / ``latest-backtest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipelines.settings import ConfigError, Settings

__all__ = ["RunSummary", "Comparison", "find_run", "compare_runs", "format_comparison", "CompareError"]

#: Forecast accuracy figures shown (nightly metric names without the ``forecast_`` prefix).
ACCURACY = ("mean_mase", "median_mase", "mean_rmsse", "median_rmsse", "wape", "bias", "n_series", "n_short", "n_fallback",
            "backtest_coverage_q50", "backtest_coverage_q90", "backtest_coverage_q95")
#: Backtest figures shown per policy and echelon.
BACKTEST = ("bullwhip_ratio", "bullwhip_ratio_consumer", "fill_rate", "cycle_service_level", "avg_on_hand",
            "turnover_days", "backorders", "holding_cost", "shortage_cost", "transport_cost", "cost")
BACKTEST_POLICIES = ("baseline", "minmax", "vmi")


class CompareError(ConfigError):
    """A run to compare cannot be found (exit code 2 on the command line)."""


@dataclass
class RunSummary:
    """What MLflow holds about one run."""

    name: str
    mlflow_run_id: str
    kind: str
    params: dict
    metrics: dict
    tags: dict
    start_time: pd.Timestamp | None = None
    model_version: str | None = None


@dataclass
class Comparison:
    """Two runs side by side; every frame has columns ``A`` and ``B`` (and ``B - A``).

    Attributes
    ----------
    a, b : RunSummary
    overview : DataFrame
        kind, as_of, start time, configuration fingerprint, model version, champion.
    models : DataFrame
        Number of series per chosen forecasting model.
    accuracy : DataFrame
        Forecast-backtest figures (MASE, WAPE, bias, coverage...).
    plan : DataFrame
        Plan objective and cost parts, units shipped and short, alerts.
    backtest : DataFrame
        Index (policy, echelon, figure) for bullwhip backtest runs.
    settings : DataFrame
        Parameters that differ between the two runs.
    """

    a: RunSummary
    b: RunSummary
    overview: pd.DataFrame
    models: pd.DataFrame
    accuracy: pd.DataFrame
    plan: pd.DataFrame
    backtest: pd.DataFrame
    settings: pd.DataFrame = field(default_factory=pd.DataFrame)

    def sections(self) -> dict[str, pd.DataFrame]:
        """Section title -> frame, in display order."""
        return {
            "runs": self.overview,
            "forecasting models (series per model)": self.models,
            "forecast accuracy (backtest)": self.accuracy,
            "plan cost": self.plan,
            "bullwhip backtest": self.backtest,
            "settings that differ": self.settings,
        }


def _client(settings: Settings):
    import mlflow

    from pipelines.tracking import _quiet_mlflow

    _quiet_mlflow()
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    return mlflow.MlflowClient()


def find_run(settings: Settings, ref: str) -> RunSummary:
    """Look a run up in the configuration's experiment.

    Parameters
    ----------
    settings : Settings
    ref : str
        supplyplan run id, MLflow run id, ``latest``, ``latest-nightly`` or
        ``latest-backtest``.

    Raises
    ------
    CompareError
        No experiment for the configuration, or no run matches.
    """
    client = _client(settings)
    exp = client.get_experiment_by_name(settings.name)
    if exp is None:
        raise CompareError(f"no MLflow experiment {settings.name!r} at {settings.resolved_tracking_uri}: nothing tracked yet")
    ref = str(ref).strip()
    order = ["attributes.start_time DESC"]
    if ref.startswith("latest"):
        kind = ref.partition("-")[2]
        filt = f"tags.`supplyplan.kind` = '{kind}'" if kind else ""
        runs = client.search_runs([exp.experiment_id], filter_string=filt, order_by=order, max_results=1)
    else:
        safe = ref.replace("'", "")
        runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`supplyplan.run_id` = '{safe}'", order_by=order, max_results=5)
        if not runs:
            try:
                run = client.get_run(safe)
                runs = [run] if run.info.experiment_id == exp.experiment_id else []
            except Exception:  # noqa: BLE001 - mlflow raises several kinds for an unknown id
                runs = []
    if not runs:
        raise CompareError(f"no run {ref!r} in experiment {settings.name!r}")
    run = runs[0]
    tags = dict(run.data.tags)
    version = None
    if tags.get("supplyplan.kind") == "nightly":
        try:
            versions = client.search_model_versions(f"name='{settings.registered_model}' and run_id='{run.info.run_id}'")
            version = str(versions[0].version) if versions else None
        except Exception:  # noqa: BLE001 - a store without a registry
            version = None
    return RunSummary(
        name=tags.get("supplyplan.run_id", run.info.run_id),
        mlflow_run_id=run.info.run_id,
        kind=tags.get("supplyplan.kind", ""),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=tags,
        start_time=pd.Timestamp(run.info.start_time, unit="ms", tz="UTC") if run.info.start_time else None,
        model_version=version,
    )


def _side_by_side(rows: dict[str, tuple]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["A", "B"])
    a = pd.to_numeric(frame["A"], errors="coerce")
    b = pd.to_numeric(frame["B"], errors="coerce")
    if len(frame) and (a.notna() | b.notna()).any():
        frame["B - A"] = b - a
    return frame


def compare_runs(settings: Settings, run_a: str, run_b: str) -> Comparison:
    """Gather two runs' figures side by side (see :class:`Comparison`)."""
    a, b = find_run(settings, run_a), find_run(settings, run_b)
    champion = None
    try:
        from pipelines.tracking import champion_version

        champ = champion_version(settings)
        champion = champ.version if champ else None
    except Exception:  # noqa: BLE001 - no registry in this store
        champion = None

    def both(getter) -> tuple:
        return getter(a), getter(b)

    overview = _side_by_side(
        {
            "supplyplan run": both(lambda r: r.name),
            "kind": both(lambda r: r.kind),
            "as of": both(lambda r: r.tags.get("supplyplan.as_of", r.params.get("as_of", ""))),
            "started (UTC)": both(lambda r: "" if r.start_time is None else r.start_time.strftime("%Y-%m-%d %H:%M")),
            "config fingerprint": both(lambda r: r.params.get("config_fingerprint", r.tags.get("supplyplan.config_fingerprint", ""))),
            "forecaster version": both(lambda r: r.model_version or ""),
            "is champion": both(lambda r: "yes" if r.model_version and r.model_version == champion else ""),
            "mlflow run": both(lambda r: r.mlflow_run_id),
        }
    ).drop(columns="B - A", errors="ignore")

    names = sorted({k[len("forecast_n_model_"):] for r in (a, b) for k in r.metrics if k.startswith("forecast_n_model_")})
    models = _side_by_side({n: both(lambda r, n=n: r.metrics.get(f"forecast_n_model_{n}")) for n in names})
    accuracy = _side_by_side({k: both(lambda r, k=k: r.metrics.get(f"forecast_{k}")) for k in ACCURACY
                              if any(f"forecast_{k}" in r.metrics for r in (a, b))})
    plan_keys = sorted({k for r in (a, b) for k in r.metrics if k.startswith("plan_") and (
        "cost" in k or k in ("plan_objective", "plan_total_shipped", "plan_units_short", "plan_n_band_violations"))})
    plan_keys += [k for k in ("alerts_total",) if any(k in r.metrics for r in (a, b))]
    plan = _side_by_side({k: both(lambda r, k=k: r.metrics.get(k)) for k in plan_keys})

    rows = {}
    for policy in BACKTEST_POLICIES:
        for echelon in ("dealer", "dc"):
            for fig in BACKTEST:
                key = f"{policy}_{echelon}_{fig}"
                if any(key in r.metrics for r in (a, b)):
                    rows[(policy, echelon, fig)] = both(lambda r, key=key: r.metrics.get(key))
    backtest = _side_by_side(rows)
    if len(backtest):
        backtest.index = pd.MultiIndex.from_tuples(backtest.index, names=["policy", "echelon", "figure"])

    keys = sorted(set(a.params) | set(b.params))
    differ = {k: (a.params.get(k, ""), b.params.get(k, "")) for k in keys
              if a.params.get(k) != b.params.get(k) and k not in ("as_of", "inputs_fingerprint")}
    settings_frame = pd.DataFrame.from_dict(differ, orient="index", columns=["A", "B"]) if differ else pd.DataFrame(columns=["A", "B"])
    return Comparison(a, b, overview, models, accuracy, plan, backtest, settings_frame)


def format_comparison(comparison: Comparison) -> str:
    """The comparison as plain text, one titled table per section (empty ones say so)."""
    lines = [f"A = {comparison.a.name} ({comparison.a.kind}), B = {comparison.b.name} ({comparison.b.kind})"]
    for title, frame in comparison.sections().items():
        lines.append("")
        lines.append(f"== {title}")
        if frame.empty:
            lines.append("   (none in either run)")
            continue
        lines.append(frame.to_string(float_format=lambda v: f"{v:.4g}", na_rep="-"))
    return "\n".join(lines)
