"""Alerts on hand-made inventory: every kind, severities, quantities and messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimization.alerts import ALERT_COLUMNS, gap_alerts, raise_alerts

AS_OF = pd.Timestamp("2024-03-04")  # Monday
WEEK = pd.Timedelta(weeks=1)


@pytest.fixture()
def network():
    locations = pd.DataFrame(
        [("PLANT", "plant", "central", "", False), ("DC-N", "dc", "north", "PLANT", False),
         ("DC-S", "dc", "south", "PLANT", False), ("N1", "dealer", "north", "DC-N", True),
         ("N2", "dealer", "north", "DC-N", True), ("S1", "dealer", "south", "DC-S", True)],
        columns=["location", "kind", "region", "parent", "vmi"],
    )
    lanes = pd.DataFrame(
        [("DC-N", "N1", 1, 0.5), ("DC-N", "N2", 2, 0.5), ("DC-S", "S1", 1, 0.5), ("PLANT", "DC-N", 2, 1.0)],
        columns=["origin", "destination", "lead_time", "cost_per_unit"],
    )
    inventory = pd.DataFrame(
        [("A", "N1", 2, 10, 30), ("A", "N2", 70, 10, 30), ("A", "S1", 8, 10, 30),
         ("B", "N1", 15, 5, 40), ("B", "N2", 300, 0, 400), ("B", "S1", 0, 0, 10),
         ("A", "DC-N", 500, np.nan, np.nan)],
        columns=["sku", "location", "on_hand", "min_qty", "max_qty"],
    )
    inbound = pd.DataFrame(
        [("A", "N1", AS_OF + WEEK, 3.0), ("A", "N1", AS_OF + 3 * WEEK, 4.0)],
        columns=["sku", "location", "arrival_date", "qty"],
    )
    dates = pd.date_range(end=AS_OF - WEEK, periods=20, freq="W-MON")
    hist = []
    for d_i, d in enumerate(dates):
        hist += [("A", "N1", d, 6.0), ("A", "N2", d, 4.0), ("A", "S1", d, 5.0), ("B", "N2", d, 1.0)]
        hist.append(("B", "N1", d, 3.0 if d_i == 7 else 0.0))  # last sale 13 weeks before as_of
    demand = pd.DataFrame(hist, columns=["sku", "location", "date", "qty"])
    fdates = pd.date_range(AS_OF, periods=13, freq="W-MON")
    forecasts = pd.DataFrame(
        [(s, loc, d, m) for s, loc, m in [("A", "N1", 6.0), ("A", "N2", 4.0), ("A", "S1", 5.0), ("B", "N1", 0.2),
                                          ("B", "N2", 1.0)] for d in fdates],
        columns=["sku", "location", "date", "mean"],
    )
    plan = pd.DataFrame(
        [("A", "DC-S", "S1", AS_OF, AS_OF + WEEK, 12, "replenishment", "below warning line"),
         ("A", "DC-S", "S1", AS_OF + 2 * WEEK, AS_OF + 3 * WEEK, 5, "replenishment", "cover forecast demand")],
        columns=["sku", "origin", "destination", "ship_date", "arrival_date", "qty", "kind", "reason"],
    )
    return dict(inventory=inventory, inbound=inbound, demand=demand, forecasts=forecasts, plan=plan,
                locations=locations, lanes=lanes)


def alerts_for(net, **kw):
    return raise_alerts(net["inventory"], net["inbound"], net["demand"], net["forecasts"], net["plan"],
                        net["locations"], AS_OF, lanes=net["lanes"], **kw)


def one(alerts, sku, location, kind):
    rows = alerts[(alerts["sku"] == sku) & (alerts["location"] == location) & (alerts["kind"] == kind)]
    assert len(rows) == 1, f"expected one {kind} alert for {sku} at {location}, got {len(rows)}"
    return rows.iloc[0]


def test_columns_and_order(network):
    alerts = alerts_for(network)
    assert list(alerts.columns) == ALERT_COLUMNS
    rank = alerts["severity"].map({"critical": 0, "warning": 1, "info": 2})
    assert rank.is_monotonic_increasing
    assert alerts["message"].str.len().gt(20).all()


def test_below_min_counts_inbound_within_lead_time_and_suggests_up_to_max(network):
    alerts = alerts_for(network)
    a = one(alerts, "A", "N1", "below_min")
    # 2 on hand + 3 arriving within 1 week (the 4 arriving in week 3 do not count) = 5 < 10.
    assert a["value"] == 5 and a["threshold"] == 10
    assert a["severity"] == "critical"  # half the warning line or worse
    assert a["suggested_qty"] == 25  # up to max 30, nothing planned
    assert "5 < min 10" in a["message"] and "Replenish 25 to reach max 30" in a["message"]


def test_below_min_quotes_the_plan_when_planned(network):
    alerts = alerts_for(network)
    a = one(alerts, "A", "S1", "below_min")
    assert a["severity"] == "warning" and a["value"] == 8
    assert a["suggested_qty"] == 12  # the plan's first shipment, not max - position
    assert "planned to ship 2024-03-04" in a["message"]


def test_above_max_suggests_transfer_to_a_short_dealer_of_the_same_region(network):
    alerts = alerts_for(network)
    a = one(alerts, "A", "N2", "above_max")
    assert a["value"] == 70 and a["threshold"] == 30 and a["suggested_qty"] == 40
    assert a["severity"] == "critical"  # 40 over a max of 30
    assert a["destination"] == "N1"  # north, below min; S1 is short too but in another region
    assert "transfer 25 to N1" in a["message"]  # N1 needs 25 to reach its max
    assert "Promotion or transfer of 40" in a["message"]


def test_above_max_without_candidate_says_so_and_mild_excess_is_info(network):
    net = dict(network)
    inv = net["inventory"].copy()
    inv.loc[(inv["sku"] == "A") & (inv["location"] == "N1"), "on_hand"] = 20
    inv.loc[(inv["sku"] == "A") & (inv["location"] == "N2"), "on_hand"] = 33
    net["inventory"] = inv
    a = one(alerts_for(net), "A", "N2", "above_max")
    assert a["severity"] == "info" and a["destination"] == ""
    assert "no dealer in region north" in a["message"]


def test_slow_movers_by_missing_demand_and_by_days_of_supply(network):
    alerts = alerts_for(network)
    no_demand = one(alerts, "B", "N1", "slow_mover")
    assert no_demand["severity"] == "warning"
    assert no_demand["value"] == 12  # weeks strictly between the last sale and as_of
    assert no_demand["threshold"] == 8
    assert "no demand in the last 8 weeks" in no_demand["message"]
    supply = one(alerts, "B", "N2", "slow_mover")
    assert supply["severity"] == "info"
    assert supply["value"] == pytest.approx(300 / (1.0 / 7))  # forecast 1 a week
    assert supply["threshold"] == 180
    # Selling items and empty shelves are not slow movers.
    slow = alerts[alerts["kind"] == "slow_mover"]
    assert set(zip(slow["sku"], slow["location"])) == {("B", "N1"), ("B", "N2")}


def test_slow_mover_thresholds_are_configurable(network):
    alerts = alerts_for(network, slow_mover_periods=13, slow_mover_days=5000)
    assert alerts[alerts["kind"] == "slow_mover"].empty


def test_turnover_days_per_dealer(network):
    alerts = alerts_for(network)
    turn_all = alerts[alerts["kind"] == "turnover_days"]
    turn = turn_all[turn_all["scope"] == "dealer"].set_index("location")
    assert set(turn.index) == {"N1", "N2", "S1"} and (turn_all["sku"] == "*").all()
    # N2: (70 + 300) on hand / ((4 + 1) a week / 7 days) = 518 days > 2 x 180 -> critical.
    assert turn.loc["N2", "value"] == pytest.approx(370 / (5 / 7))
    assert turn.loc["N2", "severity"] == "critical"
    # N1 over the last 13 weeks (from 2023-12-04): A sells 6 a week, B its one sale of 3.
    d = network["demand"]
    recent = d[(d["location"] == "N1") & (d["date"] >= AS_OF - 13 * WEEK)]["qty"].sum() / (13 * 7)
    assert turn.loc["N1", "value"] == pytest.approx((2 + 15) / recent)
    assert turn.loc["N1", "severity"] == "info"
    # Regions pool their dealers: total stock / total demand rate.
    region = turn_all[turn_all["scope"] == "region"].set_index("location")
    assert set(region.index) == {"north", "south"}
    n2_rate = 5 * 13 / (13 * 7)
    assert region.loc["north", "value"] == pytest.approx((17 + 370) / (recent + n2_rate))
    assert region.loc["north", "severity"] == "warning"  # about 240 days: above 180, below 2 x 180
    assert region.loc["south", "value"] == pytest.approx(turn.loc["S1", "value"])
    assert "region north" in region.loc["north", "message"]


def test_turnover_uses_projection_when_given(network):
    proj = pd.DataFrame(
        {"sku": "A", "location": "S1", "date": pd.date_range(AS_OF, periods=4, freq="W-MON"),
         "on_hand": [10.0, 20.0, 30.0, 40.0]}
    )
    alerts = alerts_for(network, projection=proj)
    s1 = one(alerts, "*", "S1", "turnover_days")
    assert s1["value"] == pytest.approx(25.0 / (5 / 7))
    assert "projected average on hand" in s1["message"]


def test_no_demand_no_stock_gives_no_alerts_but_empty_frame_has_columns():
    locations = pd.DataFrame([("D", "dealer", "x", "DC", True)], columns=["location", "kind", "region", "parent", "vmi"])
    inventory = pd.DataFrame([("A", "D", 5, 2, 10)], columns=["sku", "location", "on_hand", "min_qty", "max_qty"])
    out = raise_alerts(inventory, None, None, None, None, locations, AS_OF)
    # in band, no demand history: turnover rows (dealer and region) that say there was no
    # demand, and a slow-mover share of 0 (nothing to judge a slow mover by).
    turn = out[out["kind"] == "turnover_days"]
    assert sorted(turn["scope"]) == ["dealer", "region"] and turn["value"].isna().all()
    assert set(out["kind"]) == {"turnover_days", "slow_mover_share"}
    assert (out.loc[out["kind"] == "slow_mover_share", "value"] == 0).all()
    # A stocked SKU with no demand on record, while the dealer has history: slow mover.
    history = pd.DataFrame({"sku": "B", "location": "D", "date": pd.date_range(end=AS_OF - WEEK, periods=10, freq="W-MON"),
                            "qty": 2.0})
    out = raise_alerts(inventory, None, history, None, None, locations, AS_OF)
    slow = one(out, "A", "D", "slow_mover")
    assert "no demand on record" in slow["message"] and slow["suggested_qty"] == 5
    empty = raise_alerts(inventory.iloc[:0], None, None, None, None, locations.iloc[:0], AS_OF)
    assert list(empty.columns) == ALERT_COLUMNS and empty.empty


def test_days_of_supply_below_a_replenishment_cycle(network):
    alerts = alerts_for(network)
    # A at N1: position 5 at 6 a week lasts 5.8 days < the 7-day lead time -> critical;
    # (L + R) = 2 weeks of cover needs 12, so 7 more (nothing planned).
    a = one(alerts, "A", "N1", "days_of_supply")
    assert a["value"] == pytest.approx(5 / (6 / 7)) and a["threshold"] == 14
    assert a["severity"] == "critical" and a["suggested_qty"] == 7
    assert "runs out before an order placed today arrives" in a["message"]
    # A at S1: 8 at 5 a week = 11.2 days, within the lead time but short of 14: warning,
    # and the planned shipment is quoted.
    s1 = one(alerts, "A", "S1", "days_of_supply")
    assert s1["severity"] == "warning" and s1["suggested_qty"] == 12
    assert set(alerts.loc[alerts["kind"] == "days_of_supply", "location"]) == {"N1", "S1"}
    # Every SKU-level row carries its days of supply; dealer/region rows do not.
    sku_rows = alerts[alerts["scope"] == "sku"]
    slow = one(alerts, "B", "N2", "slow_mover")
    assert slow["days_of_supply"] == pytest.approx(300 / (1 / 7))
    assert sku_rows.loc[sku_rows["kind"] == "below_min", "days_of_supply"].notna().all()
    assert alerts.loc[alerts["scope"] != "sku", "days_of_supply"].isna().all()
    # A longer review period widens the cover: A at N2 (70 at 4 a week = 122 days) flags at R = 20.
    longer = alerts_for(network, review_period=20)
    assert one(longer, "A", "N2", "days_of_supply")["threshold"] == (2 + 20) * 7  # N2 has a 2-week lane


def test_slow_mover_share_per_dealer_and_region(network):
    alerts = alerts_for(network, slow_mover_share=0.3)
    share = alerts[alerts["kind"] == "slow_mover_share"]
    dealer = share[share["scope"] == "dealer"].set_index("location")
    region = share[share["scope"] == "region"].set_index("location")
    # N1 stocks A and B, B is slow (no sale in 12 weeks); N2: B has 2,100 days of supply.
    assert dealer.loc["N1", "value"] == 0.5 and dealer.loc["N1", "severity"] == "warning"
    assert dealer.loc["N1", "suggested_qty"] == 15  # units in the slow movers
    assert dealer.loc["S1", "value"] == 0.0 and dealer.loc["S1", "severity"] == "info"  # B at S1 has no stock
    assert region.loc["north", "value"] == 0.5 and region.loc["south", "value"] == 0.0
    assert "2 of 4 stocked SKUs" in region.loc["north", "message"]
    strict = alerts_for(network, slow_mover_share=0.2)
    assert one(strict, "*", "N1", "slow_mover_share")["severity"] == "critical"  # above twice the limit


def test_gap_alerts_join_the_others_in_severity_order():
    base = pd.DataFrame([
        dict(sku="A", location="D1", kind="below_min", severity="critical", value=1.0, threshold=5.0, message="m",
             suggested_qty=4.0, destination="", scope="sku", days_of_supply=2.0),
        dict(sku="B", location="D2", kind="slow_mover", severity="info", value=200.0, threshold=180.0, message="m",
             suggested_qty=np.nan, destination="", scope="sku", days_of_supply=200.0),
    ], columns=ALERT_COLUMNS)
    gaps = pd.DataFrame({"sku": ["C"], "location": ["D3"], "periods": [9], "first_missing": [pd.Timestamp("2026-01-05")],
                         "to_end": [True], "rate": [0.9], "allowed": [6]})
    out = gap_alerts(gaps, base)
    assert list(out.columns) == ALERT_COLUMNS
    # a run to the end of the history is critical: the forecast has fallen for a live item
    assert out["kind"].tolist() == ["below_min", "data_gap", "slow_mover"]
    row = out.iloc[1]
    assert (row["severity"], row["value"], row["threshold"], row["scope"]) == ("critical", 9.0, 6.0, "sku")
    assert "9 periods from 2026-01-05 to the end of the history" in row["message"] and "90%" in row["message"]
    past = gap_alerts(gaps.assign(to_end=False, location="D0"), base)
    assert past["kind"].tolist() == ["below_min", "data_gap", "slow_mover"]
    assert past.iloc[1]["severity"] == "warning" and "to the end" not in past.iloc[1]["message"]
    # nothing flagged: the alerts come back as they were
    pd.testing.assert_frame_equal(gap_alerts(gaps.iloc[:0], base), base)
