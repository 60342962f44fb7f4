"""The ``supplyplan`` command line: the contract schedulers and scripts rely on.

Exit codes: 0 success, 2 bad input or configuration (the message names the file, row,
column and value), 1 internal failure (message plus traceback for the operator).
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from pathlib import Path
from typing import Callable, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Demand forecasting and VMI replenishment planning.")
report_app = typer.Typer(no_args_is_help=True, help="Reports for the supply-chain meeting.")
app.add_typer(report_app, name="report")

log = logging.getLogger("supplyplan")

DEFAULT_DEMO_DIR = Path("data/demo")
#: Seasonal cycle length by pandas frequency prefix, used when --season-length is absent.
SEASON_BY_FREQ = {"W": 52, "M": 12, "MS": 12, "ME": 12, "Q": 4, "QS": 4, "QE": 4, "D": 7, "B": 5, "h": 24, "H": 24, "Y": 1, "YS": 1, "A": 1}


def _bad_input_types() -> tuple[type[BaseException], ...]:
    from pipelines.loading import InputError
    from pipelines.nightly import PlanningInputError
    from pipelines.settings import ConfigError

    kinds: list[type[BaseException]] = [InputError, ConfigError, PlanningInputError]
    try:
        from pipelines.reports import ReportError

        kinds.append(ReportError)
    except ImportError:  # reports are optional for the other commands
        pass
    return tuple(kinds)


def _handle_errors(func: Callable) -> Callable:
    """Map failures to the documented exit codes with a readable message."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from pipelines.progress import configure_logging

        configure_logging()
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except _bad_input_types() as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; nothing was published", err=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # internal failure: say what, then show where
            typer.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            traceback.print_exc(file=sys.stderr)
            typer.echo("nothing was published; the last published run is unchanged", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _settings(config: Path, data: Optional[Path]):
    from pipelines.settings import load_settings

    return load_settings(config.resolve()).with_data_dir(data)


@app.command("demo-data")
@_handle_errors
def demo_data(
    out_dir: Path = typer.Argument(DEFAULT_DEMO_DIR, help="Folder to write the input tables to (the six of DESIGN.md and the planned promotions)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical files."),
    skus: int = typer.Option(120, min=1, help="Number of SKUs."),
    dealers: int = typer.Option(24, min=1, help="Number of VMI dealers (spread over 3 regions)."),
    weeks: int = typer.Option(156, min=8, help="Weeks of demand history."),
) -> None:
    """Write a realistic demo dealer network (the folder configs/demo.yaml reads)."""
    from pipelines.demo_data import write_demo_data

    paths = write_demo_data(out_dir, seed=seed, n_skus=skus, n_dealers=dealers, n_weeks=weeks)
    for name, path in paths.items():
        typer.echo(f"{name:10s} {path}")


@app.command()
@_handle_errors
def nightly(
    config: Path = typer.Option(..., "--config", help="YAML run configuration."),
    data: Optional[Path] = typer.Option(None, "--data", help="Input folder (overrides the config's data_dir)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The night's date, YYYY-MM-DD (default: after the last history)."),
) -> None:
    """Validate, forecast, plan, raise alerts and publish one night atomically."""
    from pipelines.nightly import run_nightly

    settings = _settings(config, data)
    result = run_nightly(settings, as_of=as_of)
    typer.echo(f"run_id        {result.run_id}")
    typer.echo(f"published     {result.run_dir}")
    for name in ("forecasts", "safety_stock", "plan", "alerts"):
        typer.echo(f"{name:14s}{len(result.tables[name])} rows")
    typer.echo(f"mlflow run    {result.mlflow_run_id}  model version {result.model_version}")


@app.command("forecast")
@_handle_errors
def forecast_cmd(
    history: Path = typer.Option(..., "--history", help="Long CSV/Parquet: sku, location, date, qty."),
    horizon: int = typer.Option(..., "--horizon", min=1, help="Periods to forecast."),
    freq: str = typer.Option(..., "--freq", help="Pandas frequency of the period grid, e.g. W-MON or MS."),
    season_length: Optional[int] = typer.Option(None, "--season-length", min=1, help="Periods per season."),
    quantiles: str = typer.Option("0.5,0.9,0.95", "--quantiles", help="Comma-separated quantile levels."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Worker processes."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    output: Path = typer.Option(..., "--output", help="CSV to write the forecasts to."),
    promotions: Optional[Path] = typer.Option(
        None, "--promotions", help="Planned promotions of the forecast periods: sku, location, date, promo[, price]."
    ),
    backtest_windows: Optional[int] = typer.Option(
        None, "--backtest-windows", min=1,
        help="Rolling-origin backtest origins (default 3; per-series model switching needs origins spanning two horizons).",
    ),
    backtest_step: Optional[int] = typer.Option(
        None, "--backtest-step", min=1, help="Periods between backtest origins (default: a third of the horizon)."
    ),
    top_down: Optional[str] = typer.Option(
        None, "--top-down",
        help="Forecast each SKU's demand summed over locations and give each location its share: "
             "'all' (one aggregate per SKU) or a CSV/Parquet of location, group.",
    ),
    details: Optional[Path] = typer.Option(
        None, "--details",
        help="Folder for the tables behind the forecasts: selection (model, class, backtest scores, fallback, "
             "parameters per series), scores, errors, coverage, gaps and metrics.json.",
    ),
) -> None:
    """Forecast any long-format history with per-series model selection."""
    from forecasting import forecast
    from pipelines.loading import load_history, load_promotions, load_top_down
    from pipelines.settings import ConfigError

    try:
        levels = tuple(sorted({float(q) for q in quantiles.split(",") if q.strip()}))
    except ValueError:
        raise ConfigError(f"--quantiles {quantiles!r}: expected numbers like 0.5,0.9,0.95") from None
    if not levels or any(not 0 < q < 1 for q in levels):
        raise ConfigError(f"--quantiles {quantiles!r}: each level must lie in (0, 1)")
    _check_freq(freq)
    m = season_length or _season_for(freq)
    frame = load_history(history, freq=freq)
    plan = load_promotions(promotions, freq, frame["date"].max()) if promotions is not None else None
    if top_down is None:
        aggregates = None
    elif top_down.strip().lower() == "all":
        aggregates = {str(loc): "all" for loc in frame["location"].unique()}
    else:
        aggregates = load_top_down(Path(top_down))
    result = forecast(frame, horizon=horizon, freq=freq, season_length=m, quantiles=levels, n_jobs=jobs, seed=seed,
                      future=plan, backtest_windows=backtest_windows, backtest_step=backtest_step, top_down=aggregates)
    output.parent.mkdir(parents=True, exist_ok=True)
    result.forecasts.to_csv(output, index=False, date_format="%Y-%m-%d", float_format="%.6g")
    typer.echo(f"{result.forecasts[['sku', 'location']].drop_duplicates().shape[0]} series, {len(result.forecasts)} rows -> {output}")
    if details is not None:
        _write_details(result, details)
        typer.echo(f"selection, scores, errors, coverage, gaps and metrics -> {details}")


def _write_details(result, folder: Path) -> None:
    """The tables that say how every forecast was made (``supplyplan forecast --details``)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("selection", "scores", "errors", "coverage", "gaps"):
        getattr(result, name).to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%d", float_format="%.6g")
    metrics = {k: (None if isinstance(v, float) and v != v else v) for k, v in result.metrics.items()}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))


def _check_freq(freq: str) -> None:
    from pandas.tseries.frequencies import to_offset

    from pipelines.settings import ConfigError

    try:
        to_offset(freq)
    except ValueError:
        raise ConfigError(f"--freq {freq!r}: not a pandas frequency (e.g. W-MON, MS, D)") from None


def _season_for(freq: str) -> int:
    from pandas.tseries.frequencies import to_offset

    from pipelines.settings import ConfigError

    try:
        prefix = to_offset(freq).name.split("-")[0]
    except ValueError:
        raise ConfigError(f"--freq {freq!r}: not a pandas frequency") from None
    if prefix not in SEASON_BY_FREQ:
        raise ConfigError(f"--freq {freq!r}: give --season-length, no default season for it")
    return SEASON_BY_FREQ[prefix]


@app.command()
@_handle_errors
def plan(
    config: Path = typer.Option(..., "--config", help="YAML run configuration."),
    data: Optional[Path] = typer.Option(None, "--data", help="Input folder (overrides the config's data_dir)."),
    forecast_csv: Optional[Path] = typer.Option(None, "--forecast", help="Use this forecasts CSV instead of forecasting."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="First day to plan (default: after the last history)."),
    output: Path = typer.Option(..., "--output", help="Folder for plan, safety_stock, projection and slacks CSVs."),
) -> None:
    """Compute safety stock and the replenishment/transfer plan, without publishing."""
    from pipelines.nightly import run_plan

    settings = _settings(config, data)
    result = run_plan(settings, forecast_csv=forecast_csv, as_of=as_of, output=output)
    typer.echo(f"solver status {result.status}, objective {result.objective:,.2f}")
    typer.echo(f"{len(result.plan)} plan lines -> {output / 'plan.csv'}")


@app.command()
@_handle_errors
def backtest(
    config: Path = typer.Option(..., "--config", help="YAML run configuration."),
    data: Optional[Path] = typer.Option(None, "--data", help="Input folder (overrides the config's data_dir)."),
    weeks: Optional[int] = typer.Option(None, "--weeks", min=4, help="Weeks of history to measure (backtest.lead_in more are replayed first)."),
    policies: Optional[str] = typer.Option(None, "--policies", help="Comma list among baseline,minmax,vmi (default from config)."),
) -> None:
    """Replay history: bullwhip baseline, min/max and supplyplan's VMI plan; writes backtest.csv and charts."""
    from pipelines.backtest import POLICIES
    from pipelines.backtest_flow import run_backtest_flow
    from pipelines.settings import ConfigError

    settings = _settings(config, data)
    chosen = None
    if policies:
        chosen = tuple(p.strip() for p in policies.split(",") if p.strip())
        unknown = sorted(set(chosen) - set(POLICIES))
        if unknown or not chosen:
            raise ConfigError(f"--policies: unknown {unknown}; choose among {','.join(POLICIES)}")
    table, path = run_backtest_flow(settings, weeks=weeks, policies=chosen)
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"-> {path}")
    typer.echo(f"-> {path.with_name('order_amplification.png')}")


@app.command()
@_handle_errors
def compare(
    runs_args: list[str] = typer.Argument(None, metavar="RUN_A RUN_B", help="Two run ids (supplyplan or MLflow), or latest[-nightly|-backtest]."),
    config: Path = typer.Option(..., "--config", help="YAML run configuration (its experiment)."),
    runs: Optional[str] = typer.Option(None, "--runs", help="The two runs as A,B."),
) -> None:
    """Compare two tracked runs: models, accuracy, plan cost and backtest figures side by side."""
    from pipelines.compare import compare_runs, format_comparison
    from pipelines.settings import ConfigError

    refs = [r.strip() for r in runs.split(",")] if runs else list(runs_args or [])
    if len(refs) != 2 or not all(refs):
        raise ConfigError("compare needs exactly two runs: RUN_A RUN_B or --runs A,B")
    settings = _settings(config, None)
    typer.echo(format_comparison(compare_runs(settings, refs[0], refs[1])))


@app.command()
@_handle_errors
def serve(
    config: Path = typer.Option(..., "--config", help="YAML run configuration."),
    host: Optional[str] = typer.Option(None, "--host", help="Interface to bind (default from config)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default from config)."),
) -> None:
    """Serve order proposals to the ERP over HTTP (FastAPI)."""
    import uvicorn

    from pipelines.api.app import create_app

    settings = _settings(config, None)
    uvicorn.run(create_app(settings), host=host or settings.api.host, port=port or settings.api.port)


@report_app.command("variance")
@_handle_errors
def report_variance(
    config: Path = typer.Option(..., "--config", help="YAML run configuration."),
    run: Optional[str] = typer.Option(None, "--run", help="Run id (default: latest run with known actuals)."),
    output: Path = typer.Option(..., "--output", help="HTML file to write."),
    data: Optional[Path] = typer.Option(None, "--data", help="Input folder holding the actuals."),
) -> None:
    """Forecast vs actual by region and week, for the supply-chain meeting."""
    from pipelines.reports import variance_report

    settings = _settings(config, data)
    path = variance_report(settings, run_id=run, output=output)
    typer.echo(f"-> {path}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
