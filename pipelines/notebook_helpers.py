"""Loaders and a chart for the planner notebook (``notebooks/planner_review.ipynb``).

The notebook stays a few lines long: everything it shows is assembled here from a
published run (``pipelines.publish``) and the data folder (``pipelines.loading``), as
tidy frames that are tested like any other code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.publish import read_manifest, read_table, run_dir
from pipelines.settings import Settings

#: Environment variable naming the configuration the notebook opens.
CONFIG_ENV = "SUPPLYPLAN_CONFIG"
DEFAULT_CONFIG = Path("configs") / "demo.yaml"


class ReviewError(LookupError):
    """The chosen SKU x dealer is not in the run, or the run has nothing to review."""


def default_config_path() -> Path:
    """Configuration the notebook opens.

    ``$SUPPLYPLAN_CONFIG`` when set; else ``configs/demo.yaml`` in the working directory or
    the nearest parent that has one (a notebook runs from ``notebooks/``); else the one in
    the repository this package was installed from.
    """
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_CONFIG).is_file():
            return folder / DEFAULT_CONFIG
    return Path(__file__).resolve().parents[1] / DEFAULT_CONFIG


def quantile_columns(frame: pd.DataFrame) -> list[str]:
    """Quantile columns (``q50``, ``q97.5`` ...) of a forecast table, by level."""
    cols = [c for c in frame.columns if c.startswith("q") and c[1:].replace(".", "", 1).isdigit()]
    return sorted(cols, key=lambda c: float(c[1:]))


def _optional_table(folder: Path, name: str, columns: list[str]) -> pd.DataFrame:
    try:
        return read_table(folder, name)
    except FileNotFoundError:
        return pd.DataFrame(columns=columns)


def pick_default(alerts: pd.DataFrame, plan: pd.DataFrame, dealers: set[str] | None = None) -> tuple[str, str]:
    """The SKU x dealer to open when the planner has not chosen one.

    The first ``below_min`` alert on a SKU (the planner's most urgent question), else the
    first plan row shipping to a dealer, else the first plan row.

    Returns
    -------
    (sku, dealer)

    Raises
    ------
    ReviewError
        Neither a below-min alert nor a plan row exists.
    """
    below = alerts[(alerts["kind"] == "below_min") & (alerts["sku"].astype(str) != "*")]
    if dealers is not None:
        below = below[below["location"].isin(dealers)]
    if len(below):
        row = below.iloc[0]
        return str(row["sku"]), str(row["location"])
    to_dealers = plan[plan["destination"].isin(dealers)] if dealers is not None else plan
    for candidates in (to_dealers, plan):
        if len(candidates):
            row = candidates.iloc[0]
            return str(row["sku"]), str(row["destination"])
    raise ReviewError("the run has no below-min alert and no plan row: choose SKU and DEALER explicitly")


def _complete_pair(sku, dealer, alerts, plan, forecasts, dealers) -> tuple[str, str]:
    a, p, f = alerts, plan, forecasts
    if dealer is not None:
        a, p, f = a[a["location"] == dealer], p[p["destination"] == dealer], f[f["location"] == dealer]
    if sku is not None:
        a, p, f = a[a["sku"].astype(str) == sku], p[p["sku"] == sku], f[f["sku"] == sku]
    try:
        return pick_default(a, p, dealers)
    except ReviewError:
        f = f[f["location"].isin(dealers)]
        if len(f):
            return str(f["sku"].iloc[0]), str(f["location"].iloc[0])
        raise ReviewError(
            f"nothing to review for sku={sku!r}, dealer={dealer!r}: no alert, plan row or forecast matches"
        ) from None


@dataclass
class Review:
    """Everything the notebook shows for one SKU x dealer of one run.

    Attributes
    ----------
    run_id, as_of : str
        The run and its planning date.
    sku, dealer : str
        The pair reviewed.
    history : DataFrame
        date, qty: demand per period on the period grid (missing periods = 0), units.
    forecast : DataFrame
        date, mean, q-columns, model, units per period.
    arrivals : DataFrame
        Planned shipments to the dealer: ship_date, arrival_date, qty, origin, kind, reason.
    inbound : DataFrame
        arrival_date, qty already on order before the run (data folder), units.
    projection : DataFrame
        date, demand, arrivals, on_hand, safety_stock, min_qty, max_qty, shortage (units);
        empty when the run did not publish a projection.
    alerts : DataFrame
        The run's alerts on this SKU at the dealer and the dealer-level ones (sku ``*``).
    stock : dict
        on_hand, min_qty, max_qty from the inventory snapshot; safety_stock,
        reorder_point, order_up_to from the run (units; NaN when unknown).
    """

    run_id: str
    as_of: str
    sku: str
    dealer: str
    history: pd.DataFrame
    forecast: pd.DataFrame
    arrivals: pd.DataFrame
    inbound: pd.DataFrame
    projection: pd.DataFrame
    alerts: pd.DataFrame
    stock: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One paragraph for the top of the notebook."""
        model = self.forecast["model"].iloc[0] if len(self.forecast) else "none"
        s = self.stock
        return (
            f"run {self.run_id} (as of {self.as_of}) | {self.sku} at {self.dealer} | model {model} | "
            f"on hand {s.get('on_hand', float('nan')):g}, min {s.get('min_qty', float('nan')):g}, "
            f"max {s.get('max_qty', float('nan')):g}, safety stock {s.get('safety_stock', float('nan')):g} | "
            f"{len(self.arrivals)} planned shipment(s), {len(self.alerts)} alert(s)"
        )


def load_review(
    settings: Settings,
    sku: str | None = None,
    dealer: str | None = None,
    run_id: str | None = None,
    history_periods: int = 104,
) -> Review:
    """Assemble the review of one SKU x dealer from a published run.

    Parameters
    ----------
    settings : Settings
        ``output_dir`` holds the runs, ``data_dir`` the demand history and inventory.
    sku, dealer : str, optional
        The pair to review. Missing parts are completed by :func:`pick_default` among
        the rows that match the given part (e.g. only ``dealer``: its first below-min
        SKU, else its first planned SKU, else its first forecast SKU).
    run_id : str, optional
        Run to open; default the latest.
    history_periods : int
        Periods of demand history kept (the chart stays readable), periods.

    Raises
    ------
    pipelines.publish.NoPublishedRun
        No run (or no such run) is published.
    ReviewError
        The pair appears nowhere in the run (message lists a few valid pairs).
    """
    from pipelines.loading import load_dataset

    folder = run_dir(settings.output_dir, run_id)
    manifest = read_manifest(folder)
    ds = load_dataset(settings.data_dir, freq=settings.freq)
    forecasts = read_table(folder, "forecasts")
    plan = read_table(folder, "plan")
    alerts = _optional_table(folder, "alerts", ["sku", "location", "kind", "severity", "value", "threshold", "message"])
    dealers = set(ds.locations.loc[ds.locations["kind"] == "dealer", "location"].astype(str))
    if sku is None or dealer is None:
        sku, dealer = _complete_pair(sku, dealer, alerts, plan, forecasts, dealers)

    fc = forecasts[(forecasts["sku"] == sku) & (forecasts["location"] == dealer)]
    arrivals = plan[(plan["sku"] == sku) & (plan["destination"] == dealer)]
    if fc.empty and arrivals.empty:
        pairs = forecasts.loc[forecasts["location"].isin(dealers), ["sku", "location"]].drop_duplicates().head(5)
        examples = ", ".join(f"{r.sku} x {r.location}" for r in pairs.itertuples())
        raise ReviewError(f"{sku} x {dealer} has neither a forecast nor a plan row in run {folder.name}; "
                          f"e.g. {examples}")

    offset = pd.tseries.frequencies.to_offset(settings.freq)
    demand = ds.demand[(ds.demand["sku"] == sku) & (ds.demand["location"] == dealer)]
    last = ds.demand["date"].max()
    if demand.empty or pd.isna(last):
        history = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "qty": pd.Series(dtype=float)})
    else:
        grid = pd.date_range(demand["date"].min(), last, freq=offset)[-history_periods:]
        history = (demand.groupby("date")["qty"].sum().reindex(grid, fill_value=0.0).astype(float)
                   .rename_axis("date").reset_index())

    projection = _optional_table(folder, "projection", ["sku", "location", "date", "demand", "arrivals",
                                                         "shipments_out", "on_hand", "safety_stock", "min_qty",
                                                         "max_qty", "shortage"])
    projection = projection[(projection["sku"] == sku) & (projection["location"] == dealer)]
    inbound = ds.inbound
    inbound = inbound[(inbound["sku"] == sku) & (inbound["location"] == dealer)] if len(inbound) else inbound

    stock: dict = {}
    inv = ds.inventory[(ds.inventory["sku"] == sku) & (ds.inventory["location"] == dealer)]
    for col in ("on_hand", "min_qty", "max_qty"):
        stock[col] = float(inv[col].iloc[0]) if len(inv) and col in inv and pd.notna(inv[col].iloc[0]) else float("nan")
    ss = _optional_table(folder, "safety_stock", ["sku", "location", "safety_stock", "reorder_point", "order_up_to"])
    ss = ss[(ss["sku"] == sku) & (ss["location"] == dealer)]
    for col in ("safety_stock", "reorder_point", "order_up_to"):
        stock[col] = float(ss[col].iloc[0]) if len(ss) and col in ss else float("nan")

    keep_alerts = (alerts["location"] == dealer) & alerts["sku"].astype(str).isin([sku, "*"])
    return Review(
        run_id=str(manifest.get("run_id", folder.name)),
        as_of=str(manifest.get("as_of", "")),
        sku=sku,
        dealer=dealer,
        history=history,
        forecast=fc[["date", "mean", *quantile_columns(fc), "model"]].sort_values("date").reset_index(drop=True),
        arrivals=arrivals[["ship_date", "arrival_date", "qty", "origin", "kind", "reason"]]
        .sort_values("arrival_date").reset_index(drop=True),
        inbound=inbound.loc[:, [c for c in ("arrival_date", "qty") if c in inbound]].reset_index(drop=True),
        projection=projection.drop(columns=["sku", "location", "run_id"], errors="ignore")
        .sort_values("date").reset_index(drop=True),
        alerts=alerts[keep_alerts].drop(columns=["run_id"], errors="ignore").reset_index(drop=True),
        stock=stock,
    )


def plot_review(review: Review, figsize: tuple[float, float] = (11, 7)):
    """Demand history with the forecast band, and projected stock against min/max.

    Top panel: history (units per period), forecast mean and the band from the lowest to
    the highest published quantile (q50-q95 by default). Bottom panel: projected on-hand
    stock (end of period), the min (warning line), max (upper limit) and safety stock, and
    planned arrivals as bars.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=figsize, sharex=True)
    h, f = review.history, review.forecast
    if len(h):
        top.plot(h["date"], h["qty"], color="#1f5fa8", lw=1.2, label="demand (history)")
    if len(f):
        qcols = quantile_columns(f)
        if len(qcols) >= 2:
            lo, hi = qcols[0], qcols[-1]
            top.fill_between(f["date"], f[lo], f[hi], color="#d9822b", alpha=0.25, step=None,
                             label=f"forecast {lo}-{hi}")
        top.plot(f["date"], f["mean"], color="#d9822b", lw=1.8, label=f"forecast mean ({f['model'].iloc[0]})")
    top.set_ylabel("units / period")
    top.set_title(f"{review.sku} at {review.dealer} - run {review.run_id}")
    top.legend(loc="upper left", fontsize=8)

    p = review.projection
    if len(p):
        bottom.step(p["date"], p["on_hand"], where="post", color="#2a7f3f", lw=1.8, label="projected on hand")
        for col, style, label in (("min_qty", "--", "min (warning line)"), ("max_qty", ":", "max (upper limit)"),
                                  ("safety_stock", "-.", "safety stock")):
            if col in p and p[col].notna().any():
                bottom.step(p["date"], p[col], where="post", ls=style, color="#555", lw=1, label=label)
    else:
        for key, style, label in (("min_qty", "--", "min (warning line)"), ("max_qty", ":", "max (upper limit)")):
            if pd.notna(review.stock.get(key)):
                bottom.axhline(review.stock[key], ls=style, color="#555", lw=1, label=label)
    a = review.arrivals
    if len(a):
        width = pd.Timedelta(days=3)
        bottom.bar(a["arrival_date"], a["qty"], width=width, color="#d9822b", alpha=0.7, label="planned arrivals")
    if len(review.inbound):
        bottom.bar(review.inbound["arrival_date"], review.inbound["qty"], width=pd.Timedelta(days=3),
                   color="#888", alpha=0.7, label="already inbound")
    bottom.set_ylabel("units")
    bottom.legend(loc="upper left", fontsize=8)
    if review.as_of:
        for ax in (top, bottom):
            ax.axvline(pd.Timestamp(review.as_of), color="#999", lw=0.8)  # history | plan
    top.set_ylim(bottom=0)
    bottom.set_ylim(bottom=0)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
