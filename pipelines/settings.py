"""Run configuration: one YAML file, validated by pydantic.

Paths in a configuration file are resolved against the folder that holds the file, so
``configs/demo.yaml`` works whatever the working directory is. Settings are loaded by
:func:`load_settings` (cached per path), never at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(Exception):
    """A configuration file is missing or breaks a rule; the CLI exits with code 2."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ForecastSettings(_Section):
    """Forecasting options (see ``forecasting.forecast``)."""

    horizon: int = Field(13, ge=1, description="periods to forecast")
    season_length: int = Field(52, ge=1, description="periods per seasonal cycle")
    quantiles: list[float] = Field(default_factory=lambda: [0.5, 0.9, 0.95])
    backtest_windows: int | None = Field(
        None, ge=1,
        description="rolling origins per series (default: the fewest, 3 to 13, whose test periods span a season; "
                    "forecasting.backtest.default_backtest)",
    )
    backtest_step: int | None = Field(None, ge=1, description="periods between origins (default horizon // 3, "
                                      "wider when 13 origins cannot span a season)")
    max_multiple: float = Field(3.0, gt=1, description="cap as a multiple of the recent history's max (forecasting.backtest.forecast_cap)")
    n_jobs: int = Field(2, ge=1, description="local worker processes")
    scheduler: str | None = Field(None, description="Dask scheduler address, e.g. tcp://host:8786 (else local processes)")
    global_model: bool = Field(True, description="train the gradient-boosting model across all series")
    select_by: Literal["mase", "rmsse", "wape"] = Field("mase", description="backtest score that picks the model")
    select_by_intermittent: Literal["mase", "rmsse", "wape"] | None = Field(
        "rmsse",
        description="backtest score that picks the model of intermittent and lumpy series (null: select_by); "
                    "rmsse scores the mean, which orders are set on: an absolute error prefers forecasting zero",
    )
    calibrate_quantiles: bool = Field(True, description="calibrate quantile levels on held-out backtest origins")
    shape_groups: list[Literal["category", "region"]] = Field(
        default_factory=lambda: ["category", "region"],
        description="what new SKUs borrow their seasonal shape from (items.category, locations.region)",
    )
    top_down: Literal["region"] | None = Field(
        None,
        description="offer each dealer its share of its SKU's demand summed over the dealers of the same "
                    "locations.region as its default forecast (forecasting.top_down); unset: no aggregates",
    )

    @field_validator("quantiles")
    @classmethod
    def _quantiles_in_unit_interval(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < q < 1 for q in value):
            raise ValueError("quantiles must be a non-empty list of numbers in (0, 1)")
        return sorted(set(value))


class PlanSettingsConfig(_Section):
    """Planning options (see ``optimization.replenishment.PlanSettings``)."""

    horizon: int = Field(13, ge=1, description="periods planned")
    review_period: int = Field(1, ge=1, description="periods between two plans (R)")
    default_service_level: float = Field(0.95, gt=0, lt=1)
    time_limit: float = Field(300.0, gt=0, description="solver time limit, seconds")
    workers: int = Field(2, ge=1, description="local processes for SKU groups of a decomposed plan")
    scheduler: str | None = Field(
        None, description="Dask scheduler address for the SKU groups (default: forecast.scheduler, else local processes)"
    )
    group_size: int = Field(25, ge=1, description="SKUs per group; plans with more SKUs are decomposed "
                            "(small groups: simplex time grows faster than the model)")
    fill_rate_by_class: dict[Literal["A", "B", "C"], float] = Field(
        default_factory=dict,
        description="fill-rate targets by ABC class of annual demand value (else the cycle service level)",
    )
    fill_rate_by_location: dict[str, float] = Field(
        default_factory=dict, description="fill-rate target per location; overrides the class target"
    )
    vmi_fill_rate: float | None = Field(
        None, gt=0, lt=1,
        description="fill rate the manufacturer commits to at every VMI dealer (the VMI contract); rows "
        "without a location or class target get it instead of the cycle service level",
    )
    min_qty_as: Literal["floor", "reorder_point"] = Field(
        "floor",
        description="the dealer's min_qty (warning line) in the plan: floor = end-of-period stock kept above it; "
        "reorder_point = the position at which the dealer would reorder, so the stock floor is min_qty less the "
        "mean demand over lead time plus review period",
    )
    vmi_moq: bool = Field(
        True,
        description="shipments into VMI dealers are at least the item's MOQ; false: any whole number of case "
        "packs (the MOQ is a rule for a customer's own orders, and under VMI the supplier decides each shipment; "
        "lanes into DCs keep it either way)",
    )
    safety_stock_distribution: Literal["auto", "normal"] = Field(
        "auto", description="auto: normal only where the summed backtest errors pass the skewness test"
    )
    pool_spread: bool = Field(
        True, description="shrink each row's backtest error spread towards a model of all rows (same SKU, same "
        "location, level; empirical Bayes, optimization.safety_stock._pooled_spread): one row's 13 origins leave "
        "~20 % noise in its own spread"
    )
    fill_model: Literal["increment", "cycle"] = Field(
        "increment", description="how a fill-rate target becomes stock: increment = the shortage each review period "
        "adds, averaged over the inventory position a lot leaves between the level and the level plus the lot "
        "(optimization.fill_model); cycle = the classic shortage per cycle of max(R d, lot) units, which counts the "
        "lead time's shortage again and ignores the lot's protection"
    )
    safety_stock_budget: float | None = Field(None, ge=0, description="money for dealer safety stock (budget LP)")
    safety_stock_space: float | None = Field(None, ge=0, description="units of dealer safety stock allowed (budget LP)")
    aggregate_fill_rate: float | None = Field(
        None, gt=0, lt=1,
        description="demand-weighted fill rate over all VMI dealer rows: their safety stock becomes the fewest units "
        "that reach it (exchange curve; replaces their per-item targets; not with a budget or space cap)",
    )

    @field_validator("fill_rate_by_class", "fill_rate_by_location")
    @classmethod
    def _fill_rates_in_unit_interval(cls, value: dict) -> dict:
        bad = {k: v for k, v in value.items() if not 0 < v < 1}
        if bad:
            raise ValueError(f"fill-rate targets must lie in (0, 1), got {bad}")
        return value

    @model_validator(mode="after")
    def _aggregate_fill_alone(self):
        if self.aggregate_fill_rate is not None and (self.safety_stock_budget is not None
                                                     or self.safety_stock_space is not None):
            raise ValueError("plan.aggregate_fill_rate is not combined with safety_stock_budget or safety_stock_space")
        return self


class AlertSettings(_Section):
    """Alert thresholds."""

    slow_mover_periods: int = Field(8, ge=1, description="periods without demand")
    slow_mover_days: float = Field(180.0, gt=0, description="days of supply above which")
    slow_mover_share: float = Field(0.2, gt=0, lt=1, description="share of slow movers above which a dealer/region is flagged")
    turnover_periods: int = Field(13, ge=1, description="periods of demand behind turnover days")


class BacktestSettings(_Section):
    """Bullwhip backtest options (see ``pipelines.backtest.run_backtest``)."""

    weeks: int = Field(26, ge=4, description="periods replayed and measured (the last ones of the history)")
    lead_in: int = Field(
        0, ge=0, description="periods replayed before the measured ones, from the common start stock, so that every "
        "policy has reached its own regime when measurement begins (warm-up); the first max(lead_in, longest lead "
        "time) periods are never measured",
    )
    ma_periods: int = Field(8, ge=1, description="moving-average window p of the baseline")
    baseline_forecast: Literal["moving_average", "exponential_smoothing"] = Field(
        "moving_average", description="forecast of the bullwhip baseline"
    )
    es_alpha: float = Field(0.2, gt=0, le=1, description="smoothing constant of the exponential-smoothing baseline")
    forecast_every: int = Field(
        4, ge=1, description="VMI full re-forecast (model re-selection, backtest, global model) cadence, periods"
    )
    refresh_every: int = Field(
        1, ge=1, description="VMI forecast refresh cadence, periods: the chosen models refitted on the newest demand "
        "between full re-forecasts (forecasting.refresh)",
    )
    lost_sales: bool = Field(False, description="unserved consumer demand is lost (else backordered)")
    order_lots: bool = Field(
        True, description="every policy orders whole case packs of at least the MOQ, the lot rules the plan honours "
        "(false: the baseline and min/max order any quantity)",
    )
    known_promotions: bool | None = Field(
        None, description="VMI forecasts see the planned promo/price calendar of the window (never quantities); "
        "default: when the data folder has a promotions table, as the nightly job then does",
    )
    policies: list[Literal["baseline", "minmax", "vmi"]] = Field(
        default_factory=lambda: ["baseline", "minmax", "vmi"], description="policies replayed"
    )
    window: int = Field(4, ge=2, description="periods per MLflow metric step (per-window figures)")

    @field_validator("policies")
    @classmethod
    def _policies_unique(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one policy is needed")
        return list(dict.fromkeys(value))


class ChampionSettings(_Section):
    """When a newly logged forecaster becomes the ``champion`` model version.

    A new version takes the alias only when its forecast backtest beats the champion's
    on ``metric`` (lower is better) by more than ``min_improvement`` (relative). The
    nightly job forecasts with the champion's settings when ``use_champion`` is true.

    The default, ``mean_rmsse``, scores each series' mean forecast on squared errors, as
    the backtest ranks intermittent and lumpy series (``forecast.select_by_intermittent``):
    an absolute-error figure such as ``mean_mase`` is smallest at the median, which is
    zero for those series, so it would favour a version that forecasts less of their
    demand than they have. A champion logged before its version had the figure gives way
    to the first version that has it (the decision says so).
    """

    metric: Literal["mean_rmsse", "median_rmsse", "mean_mase", "median_mase", "wape", "abs_bias"] = Field(
        "mean_rmsse", description="forecast-backtest figure compared (lower is better)"
    )
    min_improvement: float = Field(0.0, ge=0, lt=1, description="relative improvement needed to take over")
    alias: str = Field("champion", min_length=1, description="registered-model alias")
    use_champion: bool = Field(True, description="the nightly job forecasts with the champion's settings")


class ApiSettings(_Section):
    """HTTP API options."""

    api_key: str | None = Field(None, description="overridden by SUPPLYPLAN_API_KEY")
    host: str = "127.0.0.1"
    port: int = 8000


class Settings(_Section):
    """A whole run configuration.

    Attributes
    ----------
    name : str
        Configuration name; also the MLflow experiment name.
    data_dir : Path
        Folder holding the six input tables.
    output_dir : Path
        Folder holding ``runs/``, ``latest`` and, by default, the MLflow store.
    tracking_uri : str or None
        MLflow tracking URI; default ``sqlite:///<output_dir>/mlflow.db``.
    """

    name: str = "supplyplan"
    data_dir: Path
    output_dir: Path
    freq: str = "W-MON"
    seed: int = 0
    tracking_uri: str | None = None
    registered_model: str = "supplyplan-forecaster"
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    plan: PlanSettingsConfig = Field(default_factory=PlanSettingsConfig)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)
    champion: ChampionSettings = Field(default_factory=ChampionSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    source: Path | None = Field(None, exclude=True, description="the YAML file read")

    @field_validator("freq")
    @classmethod
    def _known_freq(cls, value: str) -> str:
        from pandas.tseries.frequencies import to_offset

        try:
            to_offset(value)
        except ValueError as exc:
            raise ValueError(f"unknown pandas frequency {value!r}") from exc
        return value

    @property
    def resolved_tracking_uri(self) -> str:
        """MLflow tracking URI, defaulting to a SQLite file beside the runs."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.output_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_location(self) -> str:
        """Where MLflow stores artifacts for the default SQLite store."""
        return (self.output_dir / "mlartifacts").resolve().as_uri()

    @property
    def resolved_api_key(self) -> str | None:
        """API key from ``SUPPLYPLAN_API_KEY``, else from the configuration."""
        return os.environ.get("SUPPLYPLAN_API_KEY") or self.api.api_key

    def fingerprint(self) -> str:
        """Stable hash of every setting that changes results (paths excluded)."""
        payload = self.model_dump(mode="json", exclude={"data_dir", "output_dir", "api", "tracking_uri"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    def with_data_dir(self, data_dir: Path | None) -> "Settings":
        """The same configuration on another data folder (CLI ``--data``)."""
        if data_dir is None:
            return self
        return self.model_copy(update={"data_dir": Path(data_dir).resolve()})


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "-"
        lines.append(f"  {where}: {err['msg']} (value: {err.get('input')!r})")
    return "\n".join(lines)


def parse_settings(raw: dict, base_dir: Path, source: Path | None = None) -> Settings:
    """Validate a configuration mapping; relative paths are taken from ``base_dir``."""
    raw = dict(raw)
    for key in ("data_dir", "output_dir"):
        if key in raw and raw[key] is not None:
            p = Path(os.path.expanduser(str(raw[key])))
            raw[key] = (p if p.is_absolute() else base_dir / p).resolve()
    if raw.get("tracking_uri", "") and str(raw["tracking_uri"]).startswith("sqlite:///./"):
        rel = str(raw["tracking_uri"])[len("sqlite:///") :]
        raw["tracking_uri"] = f"sqlite:///{(base_dir / rel).resolve()}"
    try:
        return Settings(**raw, source=source)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source or base_dir, exc)) from None


@lru_cache(maxsize=16)
def load_settings(path: str | Path) -> Settings:
    """Read and validate a YAML configuration file.

    Parameters
    ----------
    path : str or Path
        The YAML file.

    Raises
    ------
    ConfigError
        The file is missing, is not YAML, or breaks a rule (message names the key).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return parse_settings(raw, path.resolve().parent, source=path.resolve())
