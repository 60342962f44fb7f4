"""Planner alerts from the stock snapshot, the demand history, the forecast and the plan.

Rules of the dealer-management practice (DESIGN.md glossary):

``below_min``
    Inventory position within the lead time (on hand plus inbound arriving within the
    lead time) below the warning line min_qty: replenishment suggested, with the plan's
    first shipment when one is planned, else the quantity up to max_qty.
``above_max``
    Position above the upper limit max_qty: promotion or transfer suggested for the
    excess, naming a dealer of the same region that is below its warning line, if any.
``slow_mover``
    Stock on hand and no demand in the last ``slow_mover_periods`` periods, or more than
    ``slow_mover_days`` days of supply (DESIGN.md: both configurable).
``days_of_supply``
    Position / forward demand per day below the cover of one replenishment cycle,
    (L + R) periods in days: ``critical`` when it runs out within the lead time L (before
    anything ordered today can arrive), else ``warning``; the quantity that restores
    (L + R) periods of cover is suggested. Every SKU-level row also carries its
    ``days_of_supply`` value.
``turnover_days``
    Per dealer and per region (sku ``*``): average on hand / average demand per day
    (DESIGN.md); ``warning`` above D days, ``critical`` above 2 D.
``slow_mover_share``
    Per dealer and per region (sku ``*``): share of the stocked SKUs that are slow movers;
    ``warning`` above ``slow_mover_share``, ``critical`` above twice that.
``data_gap`` (:func:`gap_alerts`)
    A run of periods without demand rows that the series' own rate of demand makes
    implausible (the forecast's check, ``forecasting.gaps``): the forecast read them as
    zero demand, as the data contract says, and the planner should check the extract.
    ``critical`` when the run reaches the end of the history (the forecast, and with it
    the replenishment, has fallen for an item that may still sell), else ``warning``
    (a past run only lowers the level the models learn).

The ``scope`` column says what a row is about: ``sku`` (a SKU at a location), ``dealer``
or ``region`` (``location`` then holds the dealer or the region name). Severity grows with
the distance outside the band: ``critical``, ``warning``, ``info``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .lp_data import days_per_period

logger = logging.getLogger(__name__)

__all__ = ["raise_alerts", "gap_alerts", "ALERT_COLUMNS", "SEVERITIES"]

ALERT_COLUMNS = ["sku", "location", "kind", "severity", "value", "threshold", "message", "suggested_qty", "destination",
                 "scope", "days_of_supply"]
SEVERITIES = ("critical", "warning", "info")


def _q(v: float) -> str:
    """Units as a planner reads them (whole when whole, else one decimal)."""
    if not np.isfinite(v):
        return "n/a"
    return str(int(round(v))) if abs(v - round(v)) < 0.05 else f"{v:.1f}"


def _period_word(freq: str, n: int | float) -> str:
    days = days_per_period(freq)
    unit = "week" if abs(days - 7) < 0.5 else "month" if 28 <= days <= 31 else "day" if abs(days - 1) < 0.1 else "period"
    return f"{_q(n)} {unit}{'' if n == 1 else 's'}"


def raise_alerts(
    inventory: pd.DataFrame,
    inbound: pd.DataFrame | None,
    demand: pd.DataFrame | None,
    forecasts: pd.DataFrame | None,
    plan: pd.DataFrame | None,
    locations: pd.DataFrame,
    as_of,
    freq: str = "W-MON",
    slow_mover_periods: int = 8,
    slow_mover_days: float = 180.0,
    *,
    lanes: pd.DataFrame | None = None,
    default_lead_time: int = 1,
    projection: pd.DataFrame | None = None,
    turnover_periods: int = 13,
    review_period: int = 1,
    slow_mover_share: float = 0.2,
) -> pd.DataFrame:
    """Alerts for planners: below min, above max, days of supply, slow movers, turnover days.

    Parameters
    ----------
    inventory : DataFrame
        sku, location, on_hand, min_qty, max_qty (units); rows without min/max get no
        band alerts.
    inbound : DataFrame or None
        sku, location, arrival_date, qty (units in transit).
    demand : DataFrame or None
        History: sku, location, date, qty (units per period); only dates before ``as_of`` count.
    forecasts : DataFrame or None
        sku, location, date, mean: forward demand for days of supply.
    plan : DataFrame or None
        The plan (sku, origin, destination, ship_date, arrival_date, qty, reason): a
        below-min alert quotes the plan's first shipment to that location.
    locations : DataFrame
        location, kind, region: slow movers and turnover are for dealers; transfer
        destinations come from the same region.
    as_of : date
        The first period not yet observed (the plan's start).
    freq : str
        Period grid.
    slow_mover_periods : int, default 8
        N: no demand in the last N periods while stock is on hand -> slow mover.
    slow_mover_days : float, default 180
        D: more than D days of supply -> slow mover; also the turnover-days threshold.
    lanes : DataFrame, optional
        origin, destination, lead_time: the lead time L of a location is the shortest
        lane into it (``default_lead_time`` periods when no lane is given).
    projection : DataFrame, optional
        The plan's projection (location, date, on_hand): average on hand for turnover
        days; without it the current on hand is used.
    turnover_periods : int, default 13
        Periods of history for the average demand in turnover days.
    review_period : int, default 1
        R, periods between two replenishments: days-of-supply alerts fire below (L + R)
        periods of cover.
    slow_mover_share : float, default 0.2
        Share of stocked SKUs that are slow movers above which a dealer or region is
        flagged (``slow_mover_share`` alerts).

    Returns
    -------
    DataFrame
        sku, location, kind, severity, value, threshold, message, suggested_qty (units),
        destination (transfer target of an above-max alert, else ""), scope (``sku``,
        ``dealer`` or ``region``), days_of_supply (position / forward demand per day at
        SKU level; NaN for dealer and region rows or without forward demand). Dealer and
        region rows have sku ``"*"``. Sorted by severity, kind, location, sku.

        ``value`` / ``threshold``: position / min_qty (below_min), position / max_qty
        (above_max), periods without demand / N or days of supply / D (slow_mover),
        turnover days / D (turnover_days; NaN when there was no demand), days of supply
        / (L + R) periods in days (days_of_supply), share of slow movers / the limit
        (slow_mover_share).
    """
    as_of = pd.Timestamp(as_of)
    offset = pd.tseries.frequencies.to_offset(freq)
    day_per = days_per_period(freq)
    kind_of = dict(zip(locations["location"], locations["kind"].astype(str).str.lower()))
    region_of = dict(zip(locations["location"], locations["region"] if "region" in locations else [""] * len(locations)))

    inv = inventory.copy()
    for col in ("min_qty", "max_qty"):
        inv[col] = pd.to_numeric(inv[col], errors="coerce") if col in inv else np.nan
    inv["on_hand"] = pd.to_numeric(inv["on_hand"], errors="coerce").fillna(0.0)

    # Lead time per location and inbound arriving within it (up to as_of + L periods, when
    # an order placed today would arrive).
    lead = {}
    if lanes is not None and len(lanes):
        lead = lanes.groupby("destination")["lead_time"].min().astype(int).to_dict()
    inv["lead_time"] = inv["location"].map(lead).fillna(default_lead_time).astype(int)
    inv["inbound_within_lead"] = 0.0
    if inbound is not None and len(inbound):
        inb = inbound.merge(inv[["sku", "location", "lead_time"]], on=["sku", "location"], how="inner")
        horizon_end = pd.DatetimeIndex([as_of + k * offset for k in inb["lead_time"]])
        inb = inb.loc[pd.to_datetime(inb["arrival_date"]).to_numpy() <= horizon_end.to_numpy()]
        arriving = inb.groupby(["sku", "location"])["qty"].sum()
        inv["inbound_within_lead"] = pd.MultiIndex.from_frame(inv[["sku", "location"]]).map(arriving).fillna(0.0).to_numpy() \
            if len(arriving) else 0.0
    inv["position"] = inv["on_hand"] + inv["inbound_within_lead"]

    hist = _history(demand, as_of)
    dealers = {loc for loc, k in kind_of.items() if k == "dealer"}
    inv["daily"] = _daily_demand(inv, hist, forecasts, as_of, freq, day_per, slow_mover_periods)
    inv["days_of_supply"] = np.where(inv["daily"] > 0, inv["position"] / inv["daily"].where(inv["daily"] > 0), np.nan)

    first_ship = _first_planned(plan)
    rows: list[dict] = []
    rows += _below_min(inv, first_ship, freq)
    rows += _above_max(inv, region_of)
    rows += _days_of_supply(inv, first_ship, dealers, freq, day_per, review_period)
    slow = _slow_movers(inv, hist, dealers, as_of, freq, slow_mover_periods, slow_mover_days)
    rows += slow
    rows += _slow_mover_share(inv, slow, dealers, region_of, slow_mover_share)
    rows += _turnover(inv, hist, projection, dealers, region_of, as_of, freq, day_per, turnover_periods, slow_mover_days)

    out = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    if out.empty:
        return out.astype({"value": float, "threshold": float, "suggested_qty": float, "days_of_supply": float})
    dos = pd.Series(inv["days_of_supply"].to_numpy(), index=pd.MultiIndex.from_frame(inv[["sku", "location"]]))
    at_sku = out["scope"] == "sku"
    out.loc[at_sku, "days_of_supply"] = pd.MultiIndex.from_frame(out.loc[at_sku, ["sku", "location"]]).map(dos).to_numpy(float)
    out["days_of_supply"] = out["days_of_supply"].astype(float)
    out = _sorted(out)
    counts = out.groupby(["kind", "severity"]).size().to_dict()
    logger.info("alerts: %s", counts)
    return out.reset_index(drop=True)


def gap_alerts(gaps: pd.DataFrame, alerts: pd.DataFrame | None = None) -> pd.DataFrame:
    """``data_gap`` alerts for runs of missing demand rows, added to ``alerts``.

    Parameters
    ----------
    gaps : DataFrame
        sku, location, periods (run length, periods), first_missing (date), to_end
        (bool), rate (share of the series' periods with demand), allowed (the longest
        run that rate makes plausible, periods): the ``gaps`` table of a forecast
        (``forecasting.gaps.implausible_gaps``).
    alerts : DataFrame, optional
        Alerts of :func:`raise_alerts` to add them to; the result is sorted the same way
        (severity, kind, location, sku).

    Returns
    -------
    DataFrame
        :data:`ALERT_COLUMNS`; one row per run, ``critical`` when it reaches the end of
        the history and ``warning`` otherwise, ``value`` the run's length and
        ``threshold`` the longest plausible one (periods), scope ``sku``.

    Examples
    --------
    >>> gaps = pd.DataFrame({"sku": ["P1"], "location": ["D1"], "periods": [6],
    ...                      "first_missing": [pd.Timestamp("2026-03-02")], "to_end": [False],
    ...                      "rate": [0.95], "allowed": [4]})
    >>> gap_alerts(gaps)[["kind", "severity", "value", "threshold"]].to_dict("records")
    [{'kind': 'data_gap', 'severity': 'warning', 'value': 6.0, 'threshold': 4.0}]
    """
    rows = [
        dict(sku=r.sku, location=r.location, kind="data_gap", severity="critical" if r.to_end else "warning",
             value=float(r.periods),
             threshold=float(r.allowed),
             message=(f"no demand rows for {int(r.periods)} periods from {pd.Timestamp(r.first_missing).date()}"
                      + (" to the end of the history" if r.to_end else "")
                      + f", although it had demand in {r.rate:.0%} of its periods; read as zero demand by the "
                        f"forecast: check the extract"),
             suggested_qty=np.nan, destination="", scope="sku", days_of_supply=np.nan)
        for r in gaps.itertuples()
    ]
    found = pd.DataFrame(rows, columns=ALERT_COLUMNS).astype(
        {"value": float, "threshold": float, "suggested_qty": float, "days_of_supply": float})
    if alerts is None or alerts.empty:
        return found.reset_index(drop=True)
    if found.empty:
        return alerts
    return _sorted(pd.concat([alerts, found], ignore_index=True)).reset_index(drop=True)


def _sorted(alerts: pd.DataFrame) -> pd.DataFrame:
    """Most severe first, then by kind, location and SKU (stable)."""
    rank = alerts["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    return alerts.assign(_sev=rank).sort_values(["_sev", "kind", "location", "sku"], kind="mergesort").drop(columns="_sev")


def _first_planned(plan: pd.DataFrame | None) -> dict:
    """(sku, destination) -> (qty, ship_date, arrival_date) of the earliest planned shipment."""
    if plan is None or not len(plan):
        return {}
    p = plan.copy()
    p["ship_date"] = pd.to_datetime(p["ship_date"])
    first = p.groupby(["sku", "destination"])["ship_date"].transform("min")
    p = p.loc[p["ship_date"] == first]
    agg = p.groupby(["sku", "destination"]).agg(qty=("qty", "sum"), ship=("ship_date", "first"), arrive=("arrival_date", "min"))
    return {k: (float(r.qty), pd.Timestamp(r.ship), pd.Timestamp(r.arrive)) for k, r in agg.iterrows()}


def _below_min(inv: pd.DataFrame, first_ship: dict, freq: str) -> list[dict]:
    rows = []
    sel = inv.loc[inv["min_qty"].notna() & (inv["position"] < inv["min_qty"])]
    for r in sel.itertuples(index=False):
        gap = r.min_qty - r.position
        severity = "critical" if r.position <= 0 or gap >= 0.5 * r.min_qty else "warning"
        head = (f"Below warning line: {_q(r.on_hand)} on hand + {_q(r.inbound_within_lead)} arriving within "
                f"{_period_word(freq, r.lead_time)} = {_q(r.position)} < min {_q(r.min_qty)}.")
        planned = first_ship.get((r.sku, r.location))
        if planned is not None:
            qty, ship, arrive = planned
            tail = f" Replenish {_q(qty)}: planned to ship {ship.date()} (arrives {arrive.date()})."
        else:
            target = r.max_qty if np.isfinite(r.max_qty) else r.min_qty
            qty = max(0.0, float(np.ceil(target - r.position - 1e-9)))
            tail = f" Replenish {_q(qty)} to reach {'max' if np.isfinite(r.max_qty) else 'min'} {_q(target)} (not in the plan yet)."
        rows.append(dict(sku=r.sku, location=r.location, kind="below_min", severity=severity, value=float(r.position),
                         threshold=float(r.min_qty), message=head + tail, suggested_qty=float(qty), destination="", scope="sku"))
    return rows


def _above_max(inv: pd.DataFrame, region_of: dict) -> list[dict]:
    rows = []
    sel = inv.loc[inv["max_qty"].notna() & (inv["position"] > inv["max_qty"])]
    if sel.empty:
        return rows
    short = inv.loc[inv["min_qty"].notna() & (inv["position"] < inv["min_qty"])].copy()
    short["region"] = short["location"].map(region_of)
    short["need"] = np.where(short["max_qty"].notna(), short["max_qty"], short["min_qty"]) - short["position"]
    short["gap"] = short["min_qty"] - short["position"]
    short = short.sort_values(["gap", "location"], ascending=[False, True], kind="mergesort")
    for r in sel.itertuples(index=False):
        excess = r.position - r.max_qty
        ratio = excess / r.max_qty if r.max_qty > 0 else np.inf
        severity = "critical" if ratio >= 1.0 else "warning" if ratio >= 0.5 else "info"
        qty = float(np.floor(excess + 1e-9)) if excess >= 1 else float(excess)
        msg = (f"Above upper limit: {_q(r.on_hand)} on hand + {_q(r.inbound_within_lead)} arriving = {_q(r.position)} "
               f"> max {_q(r.max_qty)} ({_q(excess)} over). Promotion or transfer of {_q(qty)} suggested")
        region = region_of.get(r.location, "")
        cand = short.loc[(short["sku"] == r.sku) & (short["region"] == region) & (short["location"] != r.location)]
        destination = ""
        if len(cand):
            c = cand.iloc[0]
            destination = str(c["location"])
            move = float(min(qty, np.floor(c["need"] + 1e-9)))
            msg += (f"; e.g. transfer {_q(move)} to {destination} (position {_q(c['position'])} < min "
                    f"{_q(c['min_qty'])}, same region).")
        else:
            msg += f"; no dealer in region {region or 'n/a'} is below its warning line for this SKU."
        rows.append(dict(sku=r.sku, location=r.location, kind="above_max", severity=severity, value=float(r.position),
                         threshold=float(r.max_qty), message=msg, suggested_qty=qty, destination=destination, scope="sku"))
    return rows


def _history(demand: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    if demand is None or not len(demand):
        return pd.DataFrame(columns=["sku", "location", "date", "qty"])
    h = demand[["sku", "location", "date", "qty"]].copy()
    h["date"] = pd.to_datetime(h["date"])
    return h.loc[h["date"] < as_of]


def _daily_demand(inv, hist, forecasts, as_of, freq, day_per, n_periods) -> np.ndarray:
    """Forward demand per day of each inventory row: the forecast's mean per period from
    ``as_of``, else the last ``n_periods`` of history; NaN when neither exists."""
    offset = pd.tseries.frequencies.to_offset(freq)
    keys = pd.MultiIndex.from_frame(inv[["sku", "location"]])
    daily = pd.Series(np.nan, index=keys)
    if forecasts is not None and len(forecasts):
        fc = forecasts.loc[pd.to_datetime(forecasts["date"]) >= as_of]
        per = fc.groupby(["sku", "location"])["mean"].mean() / day_per
        daily = pd.Series(keys.map(per), index=keys) if len(per) else daily
    window_start = as_of - n_periods * offset
    recent = hist.loc[hist["date"] >= window_start].groupby(["sku", "location"])["qty"].sum() / (n_periods * day_per)
    fallback = pd.Series(keys.map(recent), index=keys) if len(recent) else pd.Series(np.nan, index=keys)
    return daily.fillna(fallback).to_numpy(float)


def _days_of_supply(inv, first_ship, dealers, freq, day_per, review_period) -> list[dict]:
    rows = []
    sel = inv.loc[inv["location"].isin(dealers) & (inv["daily"] > 0)]
    for r in sel.itertuples(index=False):
        cover = (r.lead_time + review_period) * day_per
        if not r.days_of_supply < cover:
            continue
        lead_days = r.lead_time * day_per
        severity = "critical" if r.days_of_supply < lead_days or r.position <= 0 else "warning"
        qty = max(0.0, float(np.ceil(r.daily * cover - r.position - 1e-9)))
        msg = (f"Days of supply: {_q(r.position)} in position lasts {_q(r.days_of_supply)} days at {r.daily:.2f} a day, "
               f"less than the {_q(cover)} days until a second replenishment (lead time "
               f"{_period_word(freq, r.lead_time)} + review {_period_word(freq, review_period)})")
        msg += "; runs out before an order placed today arrives." if severity == "critical" else "."
        planned = first_ship.get((r.sku, r.location))
        if planned is not None:
            msg += f" Planned: {_q(planned[0])} shipping {planned[1].date()}."
        else:
            msg += f" Replenish {_q(qty)} to restore the cover (not in the plan yet)."
        rows.append(dict(sku=r.sku, location=r.location, kind="days_of_supply", severity=severity,
                         value=float(r.days_of_supply), threshold=float(cover), message=msg,
                         suggested_qty=float(planned[0]) if planned is not None else qty, destination="", scope="sku"))
    return rows


def _slow_movers(inv, hist, dealers, as_of, freq, n_periods, max_days) -> list[dict]:
    offset = pd.tseries.frequencies.to_offset(freq)
    window_start = as_of - n_periods * offset
    stocked = inv.loc[inv["location"].isin(dealers) & (inv["on_hand"] > 0)]
    if stocked.empty:
        return []
    sold = hist.loc[hist["qty"] > 0]
    last_sale = sold.groupby(["sku", "location"])["date"].max()
    first_seen = hist.groupby(["sku", "location"])["date"].min()
    keys = pd.MultiIndex.from_frame(stocked[["sku", "location"]])
    last = keys.map(last_sale) if len(last_sale) else pd.Index([pd.NaT] * len(keys))
    first = keys.map(first_seen) if len(first_seen) else pd.Index([pd.NaT] * len(keys))
    daily = stocked["daily"]  # NaN: neither forecast nor history for the key

    rows = []
    for i, r in enumerate(stocked.itertuples(index=False)):
        last_i, first_i = last[i], first[i]
        # Without any history at all there is nothing to judge "no demand" by.
        if len(hist) and (pd.isna(last_i) or last_i < window_start):
            if pd.isna(first_i):
                periods, when = float(n_periods), "no demand on record"
            elif pd.isna(last_i):
                if first_i > window_start:
                    continue  # too new to judge: the series is shorter than N periods
                periods = float(len(pd.date_range(first_i, as_of, freq=freq, inclusive="left")))
                when = f"none since the series began {first_i.date()}"
            else:
                # Periods strictly between the last sale and as_of.
                periods = float(len(pd.date_range(last_i, as_of, freq=freq, inclusive="left")) - 1)
                when = f"last demand in the period of {last_i.date()}"
            rows.append(dict(
                sku=r.sku, location=r.location, kind="slow_mover", severity="warning", value=periods,
                threshold=float(n_periods),
                message=(f"Slow mover: no demand in the last {_period_word(freq, n_periods)} ({when}) with "
                         f"{_q(r.on_hand)} on hand. Promotion or transfer suggested."),
                suggested_qty=float(r.on_hand), destination="", scope="sku"))
            continue
        d = daily.iloc[i]
        if pd.isna(d):
            continue
        days = r.on_hand / d if d > 0 else np.inf
        if days > max_days:
            rows.append(dict(
                sku=r.sku, location=r.location, kind="slow_mover", severity="info", value=float(days), threshold=float(max_days),
                message=(f"Slow mover: {_q(r.on_hand)} on hand is {_q(days)} days of supply at {d:.2f} a day "
                         f"(limit {_q(max_days)} days)." if d > 0 else
                         f"Slow mover: {_q(r.on_hand)} on hand and no demand forecast."),
                suggested_qty=float(max(0.0, np.floor(r.on_hand - d * max_days))), destination="", scope="sku"))
    return rows


def _slow_mover_share(inv, slow_rows, dealers, region_of, limit) -> list[dict]:
    stocked = inv.loc[inv["location"].isin(dealers) & (inv["on_hand"] > 0), ["sku", "location", "on_hand"]]
    if stocked.empty:
        return []
    slow_keys = {(r["sku"], r["location"]) for r in slow_rows}
    stocked = stocked.assign(
        slow=[(k, loc) in slow_keys for k, loc in zip(stocked["sku"], stocked["location"])],
        region=stocked["location"].map(region_of).fillna("").astype(str),
    )
    rows = []
    for scope, col in (("dealer", "location"), ("region", "region")):
        for name, g in stocked.groupby(col, sort=True):
            share = float(g["slow"].mean())
            severity = "critical" if share > 2 * limit else "warning" if share > limit else "info"
            slow_stock = float(g.loc[g["slow"], "on_hand"].sum())
            where = f"dealer {name}" if scope == "dealer" else f"region {name or 'n/a'}"
            msg = (f"Slow movers at {where}: {int(g['slow'].sum())} of {len(g)} stocked SKUs ({share:.0%}, "
                   f"limit {limit:.0%}), {_q(slow_stock)} units on hand in them.")
            rows.append(dict(sku="*", location=str(name), kind="slow_mover_share", severity=severity, value=share,
                             threshold=float(limit), message=msg, suggested_qty=slow_stock, destination="", scope=scope))
    return rows


def _turnover(inv, hist, projection, dealers, region_of, as_of, freq, day_per, n_periods, max_days) -> list[dict]:
    offset = pd.tseries.frequencies.to_offset(freq)
    window_start = as_of - n_periods * offset
    recent = hist.loc[(hist["date"] >= window_start) & hist["location"].isin(dealers)]
    per_day = recent.groupby("location")["qty"].sum() / (n_periods * day_per)
    if projection is not None and len(projection):
        proj = projection.loc[projection["location"].isin(dealers)]
        avg_on_hand = proj.groupby(["location", "date"])["on_hand"].sum().groupby(level="location").mean()
        source = "projected average on hand"
    else:
        avg_on_hand = inv.loc[inv["location"].isin(dealers)].groupby("location")["on_hand"].sum()
        source = "on hand"
    locs = sorted(set(avg_on_hand.index) | set(per_day.index))
    stock = pd.Series({loc: float(avg_on_hand.get(loc, 0.0)) for loc in locs}, dtype=float)
    rate = pd.Series({loc: float(per_day.get(loc, 0.0)) for loc in locs}, dtype=float)
    # A region's turnover pools its dealers: total stock / total demand, not a mean of ratios.
    region = pd.Series({loc: str(region_of.get(loc, "") or "") for loc in locs}, dtype=object)
    rows = []
    for scope, names, st, rt in (
        ("dealer", locs, stock, rate),
        ("region", sorted(set(region)), stock.groupby(region).sum(), rate.groupby(region).sum()),
    ):
        for name in names:
            s_, r_ = float(st.get(name, 0.0)), float(rt.get(name, 0.0))
            where = "" if scope == "dealer" else f"region {name or 'n/a'}: "
            if r_ > 0:
                days = s_ / r_
                severity = "critical" if days > 2 * max_days else "warning" if days > max_days else "info"
                msg = (f"Turnover: {where}{_q(days)} days ({source} {_q(s_)} / demand {_q(r_)} a day over the last "
                       f"{_period_word(freq, n_periods)}); limit {_q(max_days)} days.")
            else:
                days = np.nan
                severity = "warning" if s_ > 0 else "info"
                msg = f"Turnover: {where}no demand in the last {_period_word(freq, n_periods)} with {source} {_q(s_)}."
            rows.append(dict(sku="*", location=str(name), kind="turnover_days", severity=severity, value=days,
                             threshold=float(max_days), message=msg, suggested_qty=np.nan, destination="", scope=scope))
    return rows
