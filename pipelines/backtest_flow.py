"""``supplyplan backtest``: replay history, publish ``backtest.csv`` and track it in MLflow.

The replay itself lives in :mod:`pipelines.backtest`; this module owns the I/O around it:
loading, the run folder under ``<output_dir>/backtest`` (published atomically like a
nightly run: ``backtest.csv``, ``backtest_windows.csv``, ``order_amplification.csv`` and
the chart ``order_amplification.png``) and the MLflow record (params, the table's figures
as metrics, the per-window figures as metric steps, the folder as artifacts), so that
anyone can see whether the plan damps the bullwhip effect and at what stock and service.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.loading import load_dataset
from pipelines.progress import Progress
from pipelines.publish import RunWriter, new_run_id
from pipelines.settings import Settings

#: Figures of the per-window table logged as MLflow metric steps.
WINDOW_FIGURES = ("bullwhip_ratio", "fill_rate", "cycle_service_level", "avg_on_hand", "cost")


def backtest_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Flatten the comparison table into ``<policy>_<echelon>_<figure>`` metrics."""
    metrics: dict[str, float] = {}
    numeric = table.select_dtypes("number").columns
    for _, row in table.iterrows():
        for col in numeric:
            metrics[f"{row['policy']}_{row['echelon']}_{col}"] = float(row[col])
    return metrics


def window_metrics(windows: pd.DataFrame) -> dict[int, dict[str, float]]:
    """Per-window figures as ``{step: {"window_<policy>_<echelon>_<figure>": value}}``."""
    out: dict[int, dict[str, float]] = {}
    for _, row in windows.iterrows():
        step = out.setdefault(int(row["step"]), {})
        for col in WINDOW_FIGURES:
            step[f"window_{row['policy']}_{row['echelon']}_{col}"] = float(row[col])
    return out


def amplification_chart(amplification: pd.DataFrame, path: Path, table: pd.DataFrame | None = None) -> Path:
    """Draw the order-amplification chart: per policy, consumer demand and orders by echelon.

    One panel per policy, sharing the y axis: consumer demand at the dealers, the dealers'
    orders on the DCs and the DCs' orders on the plant, in units per period summed over
    SKUs and locations. Wider swings upstream are the bullwhip effect; the panel title
    gives the bullwhip ratios of ``table`` when it is passed.

    Parameters
    ----------
    amplification : pandas.DataFrame
        ``BacktestReplay.amplification()``: policy, period, consumer_demand,
        dealer_orders, dc_orders (units per period).
    path : Path
        PNG file to write.
    table : pandas.DataFrame, optional
        The backtest table, for the ratios in the titles.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    policies = list(dict.fromkeys(amplification["policy"]))
    fig, axes = plt.subplots(len(policies), 1, figsize=(10, 2.8 * len(policies)), sharex=True, sharey=True, squeeze=False)
    for ax, name in zip(axes[:, 0], policies):
        part = amplification.loc[amplification["policy"] == name]
        ax.plot(part["period"], part["consumer_demand"], color="black", lw=2, label="consumer demand")
        ax.plot(part["period"], part["dealer_orders"], color="tab:blue", lw=1.3, label="dealer orders on DCs")
        ax.plot(part["period"], part["dc_orders"], color="tab:red", lw=1.3, label="DC orders on plant")
        title = name
        if table is not None:
            rows = table.loc[table["policy"] == name].set_index("echelon")["bullwhip_ratio"]
            title += "  (bullwhip ratio " + ", ".join(f"{e} {v:.2f}" for e, v in rows.items()) + ")"
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("units / period")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=3)
    fig.suptitle("Order amplification: orders by echelon vs consumer demand", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def run_backtest_flow(
    settings: Settings,
    weeks: int | None = None,
    progress: Progress | None = None,
    track: bool = True,
    policies: tuple[str, ...] | None = None,
) -> tuple[pd.DataFrame, Path]:
    """Run the bullwhip backtest and publish its table, per-window figures and chart.

    Parameters
    ----------
    settings : Settings
    weeks : int, optional
        Periods measured (``backtest.lead_in`` more are replayed before them); default
        ``settings.backtest.weeks``.
    progress : Progress, optional
    track : bool
        Record the run in MLflow (from this, the driver process only).
    policies : tuple of str, optional
        Default ``settings.backtest.policies``.

    Returns
    -------
    table : pandas.DataFrame
        One row per policy and echelon (see :func:`pipelines.backtest.run_backtest`).
    path : Path
        The published ``backtest.csv``.
    """
    from pipelines.backtest import replay_policies

    progress = progress or Progress()
    weeks = weeks or settings.backtest.weeks
    with progress.stage("validate", str(settings.data_dir)):
        dataset = load_dataset(settings.data_dir, freq=settings.freq)
    with progress.stage("backtest", f"{weeks} weeks measured after a lead-in of {settings.backtest.lead_in}"):
        replay = replay_policies(dataset, settings, weeks=weeks, progress=progress, policies=policies)
        table = replay.table()
        windows = replay.window_table(settings.backtest.window)
        amplification = replay.amplification()

    run_id = new_run_id()
    writer = RunWriter(settings.output_dir / "backtest", run_id)
    try:
        path = writer.write("backtest", table)
        writer.write("backtest_windows", windows)
        writer.write("order_amplification", amplification)
        amplification_chart(amplification, writer.staging / "order_amplification.png", table)
        writer.manifest = {
            "run_id": run_id,
            "weeks": weeks,
            "lead_in": settings.backtest.lead_in,
            "policies": list(table["policy"].unique()),
            "data_dir": str(settings.data_dir),
            "config_fingerprint": settings.fingerprint(),
            "chart": "order_amplification.png",
        }
        if track:
            from pipelines.tracking import Tracker

            tracker = Tracker(settings)
            tags = {"supplyplan.run_id": run_id, "supplyplan.kind": "backtest"}
            with tracker.start(run_name=f"backtest-{run_id}", tags=tags):
                bt = settings.backtest
                tracker.log_params(
                    {
                        "weeks": weeks,
                        "lead_in": bt.lead_in,
                        "policies": ",".join(table["policy"].unique()),
                        "ma_periods": bt.ma_periods,
                        "baseline_forecast": bt.baseline_forecast,
                        "es_alpha": bt.es_alpha,
                        "forecast_every": bt.forecast_every,
                        "refresh_every": bt.refresh_every,
                        "lost_sales": bt.lost_sales,
                        "window": bt.window,
                        "seed": settings.seed,
                        "config_fingerprint": settings.fingerprint(),
                    }
                )
                tracker.log_metrics(backtest_metrics(table))
                tracker.log_metric_steps(window_metrics(windows))
                tracker.log_artifacts(writer.staging, artifact_path="backtest")
                writer.manifest["mlflow_run_id"] = tracker.run_id
        folder = writer.publish()
    except BaseException:
        writer.abandon()
        raise
    return table, folder / path.name
