"""The nightly flow: validate -> forecast -> safety stock -> plan -> alerts -> publish.

Everything is computed in memory and written into a staging folder; the run is published
(renamed into place, ``latest`` swapped) only after every stage succeeded and MLflow has
the run, so a failed night leaves the last published plan untouched. The same inputs and
configuration give the same tables (seeded forecasts, deterministic LP), so a rerun of a
night publishes an identical plan under a new run id.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from forecasting import forecast
from optimization.alerts import gap_alerts, raise_alerts
from optimization.budget import allocate_safety_stock
from optimization.lp_data import lot_size
from optimization.replenishment import PlanResult, PlanSettings, plan_replenishment
from optimization.safety_stock import abc_classes, compute_safety_stock
from pipelines.loading import Dataset, InputError, Violation, header_hint, load_dataset
from pipelines.progress import Progress
from pipelines.publish import RunWriter, new_run_id
from pipelines.settings import Settings

log = logging.getLogger(__name__)

INPUT_TABLES = ("demand", "items", "locations", "inventory", "inbound", "lanes", "promotions")


class PlanningInputError(ValueError):
    """The inputs are valid tables but cannot be planned (e.g. --as-of before history)."""


@dataclass
class NightlyResult:
    """What a nightly run produced and where it was published."""

    run_id: str
    run_dir: Path
    as_of: pd.Timestamp
    tables: dict[str, pd.DataFrame]
    metrics: dict[str, float]
    mlflow_run_id: str | None = None
    model_version: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def plan_start(demand: pd.DataFrame, freq: str, as_of: str | pd.Timestamp | None = None) -> pd.Timestamp:
    """First period to plan.

    Parameters
    ----------
    demand : pandas.DataFrame
        The demand history (``date`` = period start).
    freq : str
        Pandas offset alias of the period grid, e.g. ``"W-MON"``.
    as_of : str or Timestamp, optional
        The night's date. The plan starts at the first period start on or after it; only
        demand before that period is used. Default: the period after the last history.

    Returns
    -------
    pandas.Timestamp
    """
    offset = to_offset(freq)
    if as_of is None:
        if demand.empty:
            raise PlanningInputError("demand history is empty: nothing to forecast from")
        return pd.Timestamp(demand["date"].max()) + offset
    start = offset.rollforward(pd.Timestamp(as_of).normalize())
    if not demand.empty and start <= demand["date"].min():
        raise PlanningInputError(
            f"--as-of {pd.Timestamp(as_of).date()} is before the first demand period "
            f"{demand['date'].min().date()}: no history to forecast from"
        )
    return start


def history_before(demand: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Demand strictly before ``start`` (what the planner knew that night)."""
    return demand.loc[demand["date"] < start].reset_index(drop=True)


def replenishment_policy(dataset: Dataset, settings: Settings, as_of: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """Lead time, its variability, review period, service target and lot per dealer or DC x SKU.

    The lead time L of a dealer (a DC) is that of the lane from its parent DC (plant), with the
    lane's optional ``lead_time_sd`` (periods); the review period R is the planning
    cadence; the cycle service level is the inventory row's, else the configured default.
    A fill-rate target, when configured, comes from ``plan.fill_rate_by_location`` for the
    dealer, else from ``plan.fill_rate_by_class`` for the SKU's ABC class (annual demand
    value = units in the last year of history before ``as_of`` x unit cost, classes at
    80 % / 95 % of value), else, at a VMI dealer, from ``plan.vmi_fill_rate`` (the
    manufacturer's service commitment); it takes precedence over the cycle service level.
    With ``plan.aggregate_fill_rate`` set, every VMI dealer row gets that fill rate in one
    ``fill_group`` instead (a contract-wide commitment rather than one per item).
    Protection period = L + R (DESIGN.md, safety stock). ``lot_size`` is the smallest
    shipment the plan makes (MOQ rounded up to whole case packs, units; one case pack at a
    VMI dealer when ``plan.vmi_moq`` is false): shipments in lots
    replenish at least a lot per cycle, which the fill-rate formula counts. DC rows keep
    their cycle service level; their demand is that of the locations they supply
    (``parent``; pooled by :func:`optimization.safety_stock.compute_safety_stock`).

    Parameters
    ----------
    dataset : Dataset
    settings : Settings
    as_of : timestamp, optional
        Only demand dated before it sets the ABC classes (a backtest's plan date; the
        nightly job's data end there anyway). Default: all demand rows.

    Returns
    -------
    pandas.DataFrame
        sku, location, lead_time, lead_time_sd, review_period, service_level, fill_rate
        (NaN: the cycle service level applies), abc_class, lot_size (units), case_pack
        (units per case pack, 1 without one), parent
        (the supplying location), fill_group (``"vmi_dealers"`` for the VMI dealer rows
        when ``plan.aggregate_fill_rate`` is set: they meet that fill rate together,
        demand-weighted, with the fewest units; else None).
    """
    locs = dataset.locations
    stocked = locs.loc[locs["kind"].isin(["dealer", "dc"]), ["location", "parent", "kind"]]
    lane_cols = ["origin", "destination", "lead_time"] + (["lead_time_sd"] if "lead_time_sd" in dataset.lanes else [])
    lanes = dataset.lanes[lane_cols]
    lead = stocked.merge(lanes, left_on=["parent", "location"], right_on=["origin", "destination"], how="left")
    if "lead_time_sd" not in lead:
        lead["lead_time_sd"] = 0.0
    inv = dataset.inventory.merge(lead[["location", "parent", "kind", "lead_time", "lead_time_sd"]], on="location", how="inner")
    is_dealer = (inv["kind"] == "dealer").to_numpy()
    service = inv["service_level"] if "service_level" in inv else pd.Series(float("nan"), index=inv.index)
    cls = _abc_of(dataset, settings, as_of)
    inv_class = inv["sku"].map(cls).fillna("C")
    plan = settings.plan
    fill = inv_class.map(plan.fill_rate_by_class).astype(float)
    by_loc = inv["location"].map(plan.fill_rate_by_location).astype(float)
    # A DC's customers are the dealers: its target stays the cycle service level.
    fill = by_loc.fillna(fill.where(is_dealer))
    # loading makes ``vmi`` a bool column; without it every dealer is VMI
    vmi = locs.set_index("location")["vmi"].astype(bool) if "vmi" in locs else pd.Series(True, index=locs["location"])
    is_vmi_dealer = inv["location"].map(vmi).fillna(False).astype(bool) & is_dealer
    if plan.vmi_fill_rate is not None:
        fill = fill.where(fill.notna() | ~is_vmi_dealer, plan.vmi_fill_rate)
    group = pd.Series(None, index=inv.index, dtype=object)
    if plan.aggregate_fill_rate is not None:
        # one commitment over all VMI dealer rows, met with the fewest units
        fill = fill.where(~is_vmi_dealer, plan.aggregate_fill_rate)
        group = group.where(~is_vmi_dealer, "vmi_dealers")
    items = dataset.items.set_index("sku")
    pack = pd.to_numeric(inv["sku"].map(items["case_pack"]) if "case_pack" in items else np.nan, errors="coerce")
    pack = pack.where(pack >= 1, 1.0).fillna(1.0).round()
    moq = pd.to_numeric(inv["sku"].map(items["moq"]) if "moq" in items else np.nan, errors="coerce").fillna(0.0)
    lot = lot_size(pack, moq)
    if not plan.vmi_moq:  # the plan ships VMI dealers whole case packs (PlanSettings.vmi_moq)
        lot = lot.where(~is_vmi_dealer, pack)
    return pd.DataFrame(
        {
            "sku": inv["sku"],
            "location": inv["location"],
            # A dealer without a lane from its DC cannot be supplied; L = 0 keeps its row
            # visible (alerts still fire) without inventing a lead time.
            "lead_time": inv["lead_time"].fillna(0).astype(int),
            "lead_time_sd": pd.to_numeric(inv["lead_time_sd"], errors="coerce").fillna(0.0).astype(float),
            "review_period": plan.review_period,
            "service_level": service.fillna(plan.default_service_level).astype(float),
            "fill_rate": fill,
            "abc_class": inv_class,
            "lot_size": lot.astype(float),
            "case_pack": pack.astype(float),
            "parent": inv["parent"],
            "fill_group": group,
        }
    )


def _abc_of(dataset: Dataset, settings: Settings, as_of=None) -> pd.Series:
    """sku -> ABC class by the value of its last year of demand before ``as_of`` (all locations)."""
    demand = dataset.demand
    if as_of is not None:
        demand = demand.loc[demand["date"] < pd.Timestamp(as_of)]
    if demand.empty:
        return pd.Series(dtype=object)
    year = pd.Timestamp(demand["date"].max()) - pd.DateOffset(years=1)
    units = demand.loc[demand["date"] > year].groupby("sku")["qty"].sum()
    cost = dataset.items.set_index("sku")["unit_cost"].reindex(units.index).fillna(0.0)
    return abc_classes(units * cost)


def budget_safety_stock(safety: pd.DataFrame, dataset: Dataset, settings: Settings) -> pd.DataFrame:
    """Replace the service-level safety stock by the budget LP's (``optimization.budget``).

    With ``plan.safety_stock_budget`` (money) or ``plan.safety_stock_space`` (units) set,
    every key with a spread gets ``method = budget``, its safety stock, reorder point and
    order-up-to level from the allocation, the implied cycle service level and expected
    shortage. Shortage is weighted 1 / R (per period), so the LP maximises the
    demand-weighted fill rate.

    ``plan.aggregate_fill_rate`` is not handled here: :func:`replenishment_policy` puts
    the VMI dealer rows in one ``fill_group`` and
    :func:`optimization.safety_stock.compute_safety_stock` allocates it.
    """
    plan = settings.plan
    if safety.empty:
        return safety
    if plan.safety_stock_budget is None and plan.safety_stock_space is None:
        return safety
    cost = safety["sku"].map(dataset.items.set_index("sku")["unit_cost"]).astype(float)
    frame = pd.DataFrame({
        "sku": safety["sku"], "location": safety["location"],
        "sigma_protection": safety["sigma_protection"],
        # A free item costs nothing from the budget; a tiny cost keeps the LP bounded below.
        "unit_cost": cost.fillna(0.0).clip(lower=1e-6),
        "weight": 1.0 / plan.review_period,
    })
    res = allocate_safety_stock(frame, budget=plan.safety_stock_budget, space=plan.safety_stock_space,
                                time_limit=plan.time_limit)
    out = safety.copy()
    ss = res.allocation["safety_stock"].to_numpy()
    out["safety_stock"] = ss
    out["reorder_point"] = out["mean_lead_time_demand"] + ss
    out["order_up_to"] = out["mean_protection_demand"] + ss
    out["service_level"] = res.allocation["service_level"].to_numpy()
    out["expected_shortage"] = res.allocation["expected_shortage"].to_numpy()
    out["method"] = "budget"
    out["target_type"] = "budget"
    out["distribution"] = "normal"
    return out


def forecast_options(settings: Settings) -> dict:
    """Keyword arguments of ``forecasting.forecast`` from a configuration."""
    fc = settings.forecast
    return {
        "horizon": max(fc.horizon, settings.plan.horizon),
        "freq": settings.freq,
        "season_length": fc.season_length,
        "quantiles": tuple(fc.quantiles),
        "n_jobs": fc.n_jobs,
        "seed": settings.seed,
        "backtest_windows": fc.backtest_windows,
        "backtest_step": fc.backtest_step,
        "max_multiple": fc.max_multiple,
        "scheduler": fc.scheduler,
        "global_model": fc.global_model,
        "select_by": fc.select_by,
        "select_by_intermittent": fc.select_by_intermittent,
        "calibrate": fc.calibrate_quantiles,
    }


def forecast_groups(dataset: Dataset, settings: Settings) -> pd.DataFrame | None:
    """sku, location, group: what a short series borrows its seasonal shape from.

    The group joins the configured ``forecast.shape_groups`` attributes, e.g.
    ``"body|north"`` for items.category and locations.region; ``None`` when the tables
    carry none of them.
    """
    parts = []
    pairs = dataset.demand[["sku", "location"]].drop_duplicates()
    for name in settings.forecast.shape_groups:
        if name == "category" and "category" in dataset.items.columns:
            parts.append(pairs.merge(dataset.items[["sku", "category"]], on="sku", how="left")["category"])
        elif name == "region" and "region" in dataset.locations.columns:
            parts.append(pairs.merge(dataset.locations[["location", "region"]], on="location", how="left")["region"])
    if not parts:
        return None
    label = parts[0].astype(str)
    for extra in parts[1:]:
        label = label + "|" + extra.astype(str).to_numpy()
    return pairs.assign(group=label.to_numpy()).reset_index(drop=True)


def forecast_top_down(dataset: Dataset, settings: Settings) -> pd.DataFrame | None:
    """location, group: the aggregates of the ``top_down`` candidate (``forecast.top_down``).

    With ``forecast.top_down: region`` each location's group is its region: a dealer's
    forecast may be its share of its SKU's demand summed over the dealers of its region
    (:mod:`forecasting.top_down`). ``None`` when not configured or the locations table
    has no such column.
    """
    column = settings.forecast.top_down
    if column is None or column not in dataset.locations.columns:
        return None
    locs = dataset.locations[["location", column]].dropna()
    return pd.DataFrame({"location": locs["location"].astype(str).to_numpy(), "group": locs[column].astype(str).to_numpy()})


@dataclass
class PromotionCalendar:
    """The planned promotions a night's forecast is given (``forecasting.forecast(future=)``).

    Attributes
    ----------
    future : pandas.DataFrame or None
        sku, location, date, promo and (when supplied) price of the periods in the
        forecast window; None when no calendar was supplied (the forecaster then treats
        campaign plans as unknown, as before the calendar existed).
    metrics : dict
        ``promotion_rows`` (calendar rows in the window), ``promotion_periods`` (of them
        with promo = 1), ``promotion_series`` (SKU x location pairs with a promo period in
        the window), ``promotion_rows_beyond_horizon`` (ignored) and
        ``promotion_rows_without_history`` (in the window for a SKU x location without
        demand history, which the forecaster cannot use); empty without a calendar.
    """

    future: pd.DataFrame | None = None
    metrics: dict = field(default_factory=dict)


def promotion_calendar(dataset: Dataset, history: pd.DataFrame, start: pd.Timestamp, horizon: int, freq: str) -> PromotionCalendar:
    """The planned promo / price of the forecast window ``[start, start + horizon)``.

    Rows of ``dataset.promotions`` dated in the window are kept; later ones are ignored
    (counted). With ``--as-of`` before the end of the history, the window's periods that
    the demand table already covers take their promo / price from it, as the calendar of
    that night would have had them (the 52-week replay's ``backtest.known_promotions`` does
    the same); never a quantity. Without a promotions file the result is empty and the
    forecast runs exactly as without a calendar.

    Parameters
    ----------
    dataset : Dataset
        Validated inputs; ``dataset.promotions`` None means no calendar was supplied.
    history : pandas.DataFrame
        Demand before ``start`` (the series the forecaster sees).
    start : pandas.Timestamp
        First forecast period.
    horizon : int
        Periods forecast (``forecast_options(settings)["horizon"]``).
    freq : str
        Pandas offset alias of the period grid.

    Returns
    -------
    PromotionCalendar
    """
    calendar = getattr(dataset, "promotions", None)
    if calendar is None:
        return PromotionCalendar()
    end = start + int(horizon) * to_offset(freq)
    cols = ["sku", "location", "date", "promo"] + (["price"] if "price" in calendar.columns else [])
    inside = (calendar["date"] >= start) & (calendar["date"] < end)
    parts = [calendar.loc[inside, cols]]
    demand = dataset.demand
    known = [c for c in ("promo", "price") if c in demand.columns]
    if known:
        window = demand.loc[(demand["date"] >= start) & (demand["date"] < end), ["sku", "location", "date", *known]]
        if len(window):
            parts.insert(0, window)
    future = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    if "promo" in future.columns:
        future["promo"] = future["promo"].fillna(0).astype("int64")
    pairs = history[["sku", "location"]].drop_duplicates()
    with_history = future[["sku", "location"]].merge(pairs.assign(_h=True), on=["sku", "location"], how="left")["_h"].notna()
    on_promo = future["promo"].to_numpy() == 1 if "promo" in future.columns else np.zeros(len(future), bool)
    metrics = {
        "promotion_rows": int(len(future)),
        "promotion_periods": int(on_promo.sum()),
        "promotion_series": int(future.loc[on_promo, ["sku", "location"]].drop_duplicates().shape[0]),
        "promotion_rows_beyond_horizon": int((calendar["date"] >= end).sum()),
        "promotion_rows_without_history": int((~with_history.to_numpy()).sum()),
    }
    return PromotionCalendar(future, metrics)


def plan_settings(settings: Settings) -> PlanSettings:
    """``PlanSettings`` of the optimizer from a configuration."""
    return PlanSettings(horizon=settings.plan.horizon, freq=settings.freq, time_limit=settings.plan.time_limit,
                        workers=settings.plan.workers, group_size=settings.plan.group_size,
                        min_qty_as=settings.plan.min_qty_as, review_period=settings.plan.review_period,
                        vmi_moq=settings.plan.vmi_moq)


def inputs_fingerprint(data_dir: Path) -> str:
    """SHA-256 over the input files' names and bytes (traceability of a run's inputs)."""
    digest = hashlib.sha256()
    for path in sorted(Path(data_dir).iterdir()):
        if path.stem in INPUT_TABLES and path.suffix in (".csv", ".parquet"):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _flat_params(settings: Settings) -> dict:
    flat: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else key, sub)
        else:
            flat[prefix] = value

    walk("", settings.model_dump(mode="json", exclude={"api", "source"}))
    return flat


def plan_stage(
    dataset: Dataset,
    settings: Settings,
    start: pd.Timestamp,
    forecasts: pd.DataFrame,
    errors: pd.DataFrame,
    progress: Progress,
) -> tuple[pd.DataFrame, PlanResult]:
    """Safety stock from the forecast errors, then the replenishment/transfer LP."""
    with progress.stage("safety stock"):
        # ABC classes from the demand before the plan date (``--as-of`` replays an earlier night)
        policy = replenishment_policy(dataset, settings, as_of=start)
        safety = compute_safety_stock(forecasts, errors, policy, distribution=settings.plan.safety_stock_distribution,
                                      pool_spread=settings.plan.pool_spread,
                                      fill_model=settings.plan.fill_model)
        safety = budget_safety_stock(safety, dataset, settings)
    with progress.stage("plan", f"horizon {settings.plan.horizon} periods from {start.date()}"):
        with plan_executor(settings) as executor:
            result = plan_replenishment(
                forecasts,
                safety,
                dataset.inventory,
                dataset.inbound,
                dataset.lanes,
                dataset.locations,
                dataset.items,
                start,
                settings=plan_settings(settings),
                executor=executor,
            )
    return safety, result


@contextmanager
def plan_executor(settings: Settings):
    """A Dask client for the plan's SKU groups when a scheduler is configured, else None.

    SKU groups couple only through shared lane capacities, so each group's LP can be
    solved on any worker (``optimization.decompose``); only this driver process talks to
    MLflow and writes files.
    """
    address = settings.plan.scheduler or settings.forecast.scheduler
    if not address:
        yield None
        return
    from dask.distributed import Client

    client = Client(address)
    try:
        yield client
    finally:
        client.close()


def compute_night(dataset: Dataset, settings: Settings, start: pd.Timestamp, progress: Progress) -> tuple[dict, dict]:
    """Run the computing stages of one night in memory.

    Returns
    -------
    tables : dict of DataFrame
        forecasts, safety_stock, plan, alerts, projection, selection, slacks, errors,
        and what the forecaster was given besides the history: forecast_groups,
        forecast_aggregates (``forecast.top_down``) and the aggregates' forecasts
        forecast_aggregate_forecasts, when used.
    metrics : dict
        Forecast accuracy and plan figures for tracking.
    """
    history = history_before(dataset.demand, start)
    n_series = history.groupby(["sku", "location"]).ngroups
    options = forecast_options(settings)
    calendar = promotion_calendar(dataset, history, start, options["horizon"], settings.freq)
    _report_calendar(calendar, progress)
    groups, aggregates = forecast_groups(dataset, settings), forecast_top_down(dataset, settings)
    with progress.stage("forecast", f"{n_series} series"):
        fc = forecast(history, groups=groups, future=calendar.future, top_down=aggregates, **options)
    fallbacks = int((fc.selection.get("fallback", pd.Series(dtype=str)).fillna("") != "").sum())
    if fallbacks:
        progress.info(f"forecast fallbacks: {fallbacks} series used a fallback model (see selection.csv)")

    safety, result = plan_stage(dataset, settings, start, fc.forecasts, fc.errors, progress)
    progress.info(f"plan: solver status {result.status}, {len(result.plan)} shipment lines")
    with progress.stage("alerts"):
        alerts = raise_alerts(
            dataset.inventory,
            dataset.inbound,
            history,
            fc.forecasts,
            result.plan,
            dataset.locations,
            start,
            freq=settings.freq,
            slow_mover_periods=settings.alerts.slow_mover_periods,
            slow_mover_days=settings.alerts.slow_mover_days,
            lanes=dataset.lanes,
            projection=result.projection,
            turnover_periods=settings.alerts.turnover_periods,
            review_period=settings.plan.review_period,
            slow_mover_share=settings.alerts.slow_mover_share,
        )
        alerts = gap_alerts(fc.gaps, alerts)
    tables = {
        "forecasts": fc.forecasts,
        "safety_stock": safety,
        "plan": result.plan,
        "alerts": alerts,
        "projection": result.projection,
        "selection": fc.selection,
        "slacks": result.slacks,
        "capacity": result.capacity,
        "errors": fc.errors,
        "forecast_effects": fc.effects,
        "forecast_coverage": fc.coverage,
        "forecast_scores": fc.scores,
    }
    if calendar.future is not None:
        # the calendar the forecast was given, so a planner can trace a jump to its campaign
        tables["promotions"] = calendar.future
    # what the forecaster was given besides the history (the registered version keeps them too)
    if groups is not None:
        tables["forecast_groups"] = groups
    if aggregates is not None:
        tables["forecast_aggregates"] = aggregates
    if fc.top_down is not None:
        # the aggregates' own forecasts, which the top_down series share
        tables["forecast_aggregate_forecasts"] = fc.top_down.forecasts
    metrics: dict[str, float] = {"n_series": n_series, "forecast_fallbacks": fallbacks, **calendar.metrics}
    metrics.update({f"forecast_{k}": v for k, v in fc.metrics.items()})
    metrics.update({f"plan_{k}": v for k, v in result.kpis.items()})
    metrics["plan_sol_status"] = result.sol_status
    metrics["alerts_total"] = len(alerts)
    for kind, count in alerts["kind"].value_counts().items():
        metrics[f"alerts_{kind}"] = int(count)
    return tables, metrics


def _report_calendar(calendar: PromotionCalendar, progress: Progress) -> None:
    m = calendar.metrics
    if not m:
        return
    progress.info(
        f"promotion calendar: {m['promotion_rows']} rows in the forecast window, {m['promotion_periods']} promo "
        f"periods over {m['promotion_series']} series"
    )
    if m["promotion_rows_beyond_horizon"]:
        progress.info(f"promotion calendar: {m['promotion_rows_beyond_horizon']} rows beyond the forecast horizon ignored")
    if m["promotion_rows_without_history"]:
        progress.info(
            f"promotion calendar: {m['promotion_rows_without_history']} rows for SKU x locations without demand "
            "history ignored (nothing to forecast from)"
        )


def run_nightly(
    settings: Settings,
    as_of: str | pd.Timestamp | None = None,
    progress: Progress | None = None,
    track: bool = True,
) -> NightlyResult:
    """Run one night end to end and publish it.

    Parameters
    ----------
    settings : Settings
        The run configuration (``data_dir`` already overridden by ``--data``).
    as_of : str or Timestamp, optional
        The night's date (see :func:`plan_start`).
    progress : Progress, optional
        Stage reporter; default chooses live or plain output.
    track : bool
        Record the run in MLflow (the nightly job always does; tests may switch it off).

    Raises
    ------
    pipelines.loading.InputError
        An input table broke its contract; nothing was written.
    """
    progress = progress or Progress()
    run_id = new_run_id()
    with progress.stage("validate", str(settings.data_dir)):
        dataset = load_dataset(settings.data_dir, freq=settings.freq)
    start = plan_start(dataset.demand, settings.freq, as_of)
    progress.info(f"run {run_id}: planning from {start.date()} on {settings.data_dir}")
    champion = None
    if track:
        from pipelines.tracking import apply_champion

        # forecast with the champion's model-choice settings (pipelines.tracking)
        settings, champion = apply_champion(settings)
        if champion is not None:
            progress.info(f"forecasting with the settings of champion v{champion.version}")

    tables, metrics = compute_night(dataset, settings, start, progress)
    metrics.update({f"seconds_{k.replace(' ', '_')}": v for k, v in progress.timings.items()})

    writer = RunWriter(settings.output_dir, run_id)
    manifest = {
        "run_id": run_id,
        "as_of": str(start.date()),
        "config": str(settings.source) if settings.source else None,
        "config_fingerprint": settings.fingerprint(),
        "data_dir": str(settings.data_dir),
        "inputs_fingerprint": inputs_fingerprint(settings.data_dir),
        "tables": {name: len(frame) for name, frame in tables.items()},
        # "supplied" when the forecast was given a promotions file (see metrics promotion_*)
        "promotion_calendar": "supplied" if "promotion_rows" in metrics else "none",
    }
    mlflow_run_id = model_version = None
    decision = None
    try:
        with progress.stage("publish", str(writer.final)):
            for name, frame in tables.items():
                writer.write(name, frame)
            if track:
                from pipelines.tracking import Tracker

                tracker = Tracker(settings)
                tags = {"supplyplan.run_id": run_id, "supplyplan.kind": "nightly", "supplyplan.as_of": manifest["as_of"]}
                if champion is not None:
                    tags["supplyplan.forecast_settings_of"] = f"v{champion.version}"
                with tracker.start(run_name=run_id, tags=tags):
                    tracker.log_params(_flat_params(settings) | {"as_of": manifest["as_of"], "inputs_fingerprint": manifest["inputs_fingerprint"],
                                                                 "promotion_calendar": manifest["promotion_calendar"]})
                    tracker.log_metrics(metrics)
                    tracker.log_artifacts(writer.staging, artifact_path="tables")
                    forecast_figures = {k[len("forecast_"):]: v for k, v in metrics.items() if k.startswith("forecast_")}
                    version_tags = {
                        "supplyplan.run_id": run_id,
                        "supplyplan.as_of": manifest["as_of"],
                        "supplyplan.inputs_fingerprint": manifest["inputs_fingerprint"],
                    }
                    model_version = tracker.log_forecaster(
                        forecast_options(settings), tables["selection"], forecast_figures, version_tags,
                        inputs={"groups": tables.get("forecast_groups"), "top_down": tables.get("forecast_aggregates")})
                    if model_version is not None:
                        decision = tracker.promote(model_version)
                        tracker.log_metrics({"champion_promoted": int(decision.promoted), "champion_version": float(decision.champion)})
                        progress.info(f"forecaster v{model_version}: {decision.describe()}")
                    mlflow_run_id = tracker.run_id
            manifest.update({"mlflow_run_id": mlflow_run_id, "model_version": model_version, "timings": progress.timings})
            if decision is not None:
                manifest.update({"champion_version": decision.champion, "champion_decision": decision.describe()})
            if champion is not None:
                manifest["forecast_settings_of"] = champion.version
            writer.manifest = manifest
            folder = writer.publish()
    except BaseException:
        writer.abandon()
        raise
    progress.info(f"published run {run_id} -> {folder}")
    return NightlyResult(run_id, folder, start, tables, metrics, mlflow_run_id, model_version, progress.timings)


FORECAST_COLUMNS = ("sku", "location", "date", "mean")


def read_forecast_file(path: Path, freq: str) -> pd.DataFrame:
    """Read a forecasts CSV for ``supplyplan plan --forecast`` and check its contract.

    Raises
    ------
    InputError
        Missing columns, unparseable or off-grid dates, negative or missing quantities.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError([Violation(path.name, 0, "-", str(path), "missing_file", "file not found")])
    frame = pd.read_csv(path, dtype={"sku": str, "location": str})
    missing = [c for c in FORECAST_COLUMNS if c not in frame]
    if missing:
        raise InputError([Violation(path.name, 1, c, "", "missing_column",
                                    f"required column {c!r} is missing{header_hint(c, [str(h) for h in frame.columns])}")
                          for c in missing])
    violations: list[Violation] = []
    # ISO dates parse vectorised; only what that misses goes through the per-value parser.
    dates = pd.to_datetime(frame["date"], errors="coerce", format="ISO8601")
    retry = dates.isna() & frame["date"].notna()
    if retry.any():
        dates[retry] = pd.to_datetime(frame.loc[retry, "date"], errors="coerce", format="mixed")
    offset = to_offset(freq)
    for idx in frame.index[dates.isna()][:50]:
        violations.append(Violation(path.name, int(idx) + 2, "date", str(frame.at[idx, "date"]), "date", "not a date"))
    # A forecast file has few distinct dates and millions of rows: check each date once.
    off = [d for d in dates.dropna().unique() if not offset.is_on_offset(pd.Timestamp(d))]
    off_grid = dates.isin(off)
    for idx in frame.index[off_grid][:50]:
        violations.append(Violation(path.name, int(idx) + 2, "date", str(frame.at[idx, "date"]), "period_grid", f"not a period start of {freq}"))
    value_cols = [c for c in frame.columns if c == "mean" or (c.startswith("q") and c[1:].replace(".", "").isdigit())]
    for col in value_cols:
        values = pd.to_numeric(frame[col], errors="coerce")
        for idx in frame.index[values.isna() | (values < 0)][:50]:
            violations.append(Violation(path.name, int(idx) + 2, col, str(frame.at[idx, col]), "non_negative_number", "must be a number >= 0"))
    if violations:
        raise InputError(violations)
    frame["date"] = dates
    if "model" not in frame:
        frame["model"] = f"file:{path.name}"
    return frame


def run_plan(
    settings: Settings,
    forecast_csv: Path | None = None,
    as_of: str | pd.Timestamp | None = None,
    output: Path | None = None,
    progress: Progress | None = None,
) -> PlanResult:
    """``supplyplan plan``: safety stock and the LP, written to ``output`` (not published).

    With ``forecast_csv`` the given forecasts are planned as they are; safety stock then
    comes from their quantile columns since no backtest errors are available.
    """
    progress = progress or Progress()
    with progress.stage("validate", str(settings.data_dir)):
        dataset = load_dataset(settings.data_dir, freq=settings.freq)
    start = plan_start(dataset.demand, settings.freq, as_of)
    if forecast_csv is not None:
        forecasts = read_forecast_file(forecast_csv, settings.freq)
        errors = pd.DataFrame(columns=["sku", "location", "origin", "step", "error"])
    else:
        history = history_before(dataset.demand, start)
        options = forecast_options(settings)
        calendar = promotion_calendar(dataset, history, start, options["horizon"], settings.freq)
        _report_calendar(calendar, progress)
        with progress.stage("forecast", f"{history.groupby(['sku', 'location']).ngroups} series"):
            fc = forecast(history, groups=forecast_groups(dataset, settings), future=calendar.future,
                          top_down=forecast_top_down(dataset, settings), **options)
        forecasts, errors = fc.forecasts, fc.errors
    safety, result = plan_stage(dataset, settings, start, forecasts, errors, progress)
    if output is not None:
        output = Path(output)
        output.mkdir(parents=True, exist_ok=True)
        for name, frame in {"plan": result.plan, "safety_stock": safety, "projection": result.projection, "slacks": result.slacks,
                             "capacity": result.capacity}.items():
            write_csv(frame, output / f"{name}.csv")
    return result


def _significant(values, digits: int = 6):
    """Floats rounded to ``digits`` significant digits (what ``%.6g`` shows), NaN/inf kept."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    out = v.copy()
    ok = np.isfinite(v) & (v != 0)
    k = digits - 1 - np.floor(np.log10(np.abs(v[ok]))).astype(int)
    scale = np.power(10.0, np.abs(k))
    out[ok] = np.where(k >= 0, np.round(v[ok] * scale) / scale, np.round(v[ok] / scale) * scale)
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a plan table as CSV with pyarrow's writer (an order of magnitude faster than pandas).

    Dates are written as ``YYYY-MM-DD``, floats to 6 significant digits (as ``%.6g``
    would, without its exponent notation), strings quoted; a 5,000-SKU plan's projection
    has over a million rows.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if frame.empty or len(frame.columns) == 0:
        frame.to_csv(path, index=False, date_format="%Y-%m-%d", float_format="%.6g")
        return
    cols = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            cols[str(name)] = pa.array(col.to_numpy().astype("datetime64[D]"), mask=col.isna().to_numpy())
        elif pd.api.types.is_float_dtype(col):
            cols[str(name)] = pa.array(_significant(col.to_numpy()), from_pandas=True)
        elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_integer_dtype(col):
            cols[str(name)] = pa.array(col.to_numpy())
        else:
            cols[str(name)] = pa.array(col.astype(object).where(col.notna(), None).map(
                lambda v: v if v is None or isinstance(v, str) else str(v)).tolist(), type=pa.string())
    pacsv.write_csv(pa.table(cols), path, write_options=pacsv.WriteOptions(quoting_style="needed"))
