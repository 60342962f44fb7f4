"""Seeded demo data for a plant -> regional DC -> VMI dealer network.

The generator produces the six input tables of the data contract (see
``pipelines.contracts``) for a network that behaves like a real spare-parts dealer
network, so that every stage of supplyplan has something to chew on:

* yearly seasonality whose peak week depends on the region (and shifts a little per
  product category), SKU-level multiplicative trends;
* regional promotions (``promo`` = 1, ``price`` drops) that lift demand and leave a dip
  in the week after (customers bought ahead: pantry loading);
* a Pareto-like popularity spread (lognormal SKU base rates), big and small dealers
  (lognormal size factor), an intermittent tail of about 20 % of the SKUs with mostly
  zero weeks and lumpy sizes, and a few SKUs launched in the last months (no demand
  rows before launch: short history);
* a partial assortment: popular SKUs are stocked everywhere, the rest by 30-60 % of the
  dealers (bigger dealers carry more), which also keeps the 5000 SKU x 30 dealer demand
  table at a realistic ~12 M rows rather than the full 23 M;
* an inventory snapshot at ``end`` with dealers below their warning line (``min_qty``),
  above their upper limit (``max_qty``), DCs with uneven stock (``DC-NORTH`` short,
  ``DC-SOUTH`` with surplus, ``DC-WEST`` in between) so that inter-region transfers pay,
  and stock in transit (``inbound``);
* lanes PLANT -> DC (lead time 2 periods), DC -> own dealers (1), DC <-> DC (1, dearer),
  with capacities on the plant and transfer lanes;
* the planned promotion calendar of the weeks after the history (``promotions``,
  written as ``promotions.csv``), from the same promotion process;
* on request, the hidden truth: each demand row's generating mean and variance
  (``demand_truth``, never written), so benchmarks can measure an oracle that knows
  the demand distribution.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed`` and the
calendar ends at a fixed default Monday (:data:`DEFAULT_END`), so the same arguments give
byte-identical files on any day and any machine. All work is vectorised with numpy and the
CSV files are written by Arrow's CSV writer: 5000 SKUs x 30 dealers x 156 weeks are
generated and written in well under a minute on two cores.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

__all__ = [
    "DEFAULT_END",
    "REGIONS",
    "TABLES",
    "WRITTEN_TABLES",
    "generate_demo_data",
    "make_locations",
    "write_demo_data",
]

#: Last period start of the demo history (a Monday): fixed so files do not depend on today.
DEFAULT_END = pd.Timestamp("2026-11-23")

#: Regions as (name, dealer code letter, DC name, day of year of the seasonal peak).
REGIONS = (
    ("north", "N", "DC-NORTH", 172),  # late June: short northern season
    ("south", "S", "DC-SOUTH", 100),  # early April: the south starts first
    ("west", "W", "DC-WEST", 135),  # mid May
)

#: The six input tables in contract order.
TABLES = ("demand", "items", "locations", "inventory", "inbound", "lanes")

#: What :func:`write_demo_data` writes: the six tables, then the optional future
#: promotion calendar.
WRITTEN_TABLES = TABLES + ("promotions",)

CATEGORIES = (
    "filters",
    "brakes",
    "engine",
    "electrical",
    "hydraulics",
    "body",
    "lubricants",
    "tyres",
)

PLANT = "PLANT"
FREQ = "W-MON"
#: Weekly stock cover (weeks of regional demand) at each DC: one short, one in surplus.
DC_COVER_WEEKS = {"DC-NORTH": 1.0, "DC-SOUTH": 9.0, "DC-WEST": 4.0}

# Shares of the stocked dealer x SKU pairs whose snapshot is below min / above max.
_SHARE_BELOW_MIN = 0.18
_SHARE_ABOVE_MAX = 0.15
_INTERMITTENT_SHARE = 0.20
_NEW_SKU_SHARE = 0.03
_CASE_PACKS = np.array([1, 1, 1, 2, 4, 5, 6, 10, 12, 20, 24])


def make_locations(n_dealers: int = 24) -> pd.DataFrame:
    """Build the location master of the demo network.

    Parameters
    ----------
    n_dealers : int, default 24
        Number of VMI dealers, spread over the three regions round-robin
        (north, south, west, north, ...), so 24 gives 8 per region.

    Returns
    -------
    pandas.DataFrame
        Columns ``location, kind, region, parent, vmi`` sorted by location: ``PLANT``
        (kind ``plant``, region ``central``, empty parent), ``DC-NORTH``, ``DC-SOUTH``,
        ``DC-WEST`` (kind ``dc``, parent ``PLANT``) and dealers ``DLR-N01``... (kind
        ``dealer``, parent the DC of their region, ``vmi`` true).
    """
    if n_dealers < 1:
        raise ValueError(f"n_dealers must be >= 1, got {n_dealers}")
    per_region = [len(range(r, n_dealers, len(REGIONS))) for r in range(len(REGIONS))]
    width = max(2, len(str(max(per_region))))
    rows = [(PLANT, "plant", "central", "", False)]
    rows += [(dc, "dc", region, PLANT, False) for region, _, dc, _ in REGIONS]
    for r, (region, code, dc, _) in enumerate(REGIONS):
        rows += [
            (f"DLR-{code}{k + 1:0{width}d}", "dealer", region, dc, True)
            for k in range(per_region[r])
        ]
    frame = pd.DataFrame(rows, columns=["location", "kind", "region", "parent", "vmi"])
    return frame.sort_values("location", kind="stable", ignore_index=True)


def _check_args(n_skus: int, n_dealers: int, n_weeks: int, end) -> pd.Timestamp:
    if n_skus < 1:
        raise ValueError(f"n_skus must be >= 1, got {n_skus}")
    if n_dealers < 1:
        raise ValueError(f"n_dealers must be >= 1, got {n_dealers}")
    if n_weeks < 8:
        raise ValueError(f"n_weeks must be >= 8, got {n_weeks}")
    end = DEFAULT_END if end is None else pd.Timestamp(end).normalize()
    if end.dayofweek != 0:
        raise ValueError(f"end must be a Monday (W-MON period start), got {end.date()}")
    return end


def _round_up(values: np.ndarray, multiple: np.ndarray) -> np.ndarray:
    return np.ceil(values / multiple) * multiple


def generate_demo_data(
    seed: int = 0,
    n_skus: int = 120,
    n_dealers: int = 24,
    n_weeks: int = 156,
    end=None,
    horizon: int = 13,
    truth: bool = False,
) -> dict[str, pd.DataFrame]:
    """Generate the input tables of a realistic demo dealer network.

    Weekly mean demand of SKU *s* at dealer *d* (region *r*) in week *t* is

    ``mu = base_s * size_d * season_{r,s}(t) * trend_s(t) * promo_{r,s}(t) * ramp_s(t)``

    with ``season = 1 + a_s cos(2 pi (doy_t - peak_r - shift_c) / 365.25)``,
    ``trend = exp(b_s (t - T) / 52)`` (normalised to 1 at the last week), ``promo`` the
    lift during a promotion and the post-promotion dip, and ``ramp = 1 - exp(-(t - t0 + 1)
    / 3)`` after a launch at ``t0`` of the SKUs launched within the history (1 for the
    others). Quantities are negative binomial draws around
    ``mu`` (over-dispersed count demand); the intermittent tail uses a Bernoulli
    occurrence times ``1 + NB`` size, i.e. a compound (lumpy) process in the sense of
    Syntetos, Boylan and Croston (2005).

    Parameters
    ----------
    seed : int, default 0
        Seed of the single ``numpy.random.Generator`` behind every draw.
    n_skus : int, default 120
        Number of SKUs (``SKU-0001``...).
    n_dealers : int, default 24
        Number of VMI dealers, spread over the three regions round-robin.
    n_weeks : int, default 156
        Number of weekly (``W-MON``) history periods, at least 8.
    end : date-like, optional
        Start date (a Monday) of the last history period; defaults to
        :data:`DEFAULT_END` so output never depends on today's date. The inventory
        snapshot is taken at this date and ``inbound`` arrives on the following Mondays.
    horizon : int, default 13
        Weeks of the future promotion calendar (``promotions``), at least 0.
    truth : bool, default False
        Also return ``demand_truth``, the hidden mean and variance of every demand row
        (for oracle benchmarks; no user has it, :func:`write_demo_data` does not write it).

    Returns
    -------
    dict of str to pandas.DataFrame
        Keys ``demand, items, locations, inventory, inbound, lanes`` with the contract
        columns (see ``pipelines.contracts``); quantities are whole units, costs in
        currency units, ``holding_rate`` per year, lead times in periods (weeks). Then

        ``promotions``
            The planned promotion calendar of the ``horizon`` weeks after ``end``: one
            row per stocked dealer x SKU pair and week, columns ``sku, location, date,
            promo`` (0/1), ``price`` (currency per unit: the promo price during a
            promotion, else the list price). It comes from the same regional process as
            the history's promotions (each week a promotion starts with the SKU's
            ``promo_rate``, 40 % of them run two weeks, the whole region at once), drawn
            from a separate stream, ``numpy.random.default_rng([seed, 1])``, so the
            history tables are the same with any ``horizon``. A two-week promotion that
            started in the last history week covers the first future week (the history
            stream already drew whether it runs two weeks); a promotion ending in the
            last history week does not continue.
        ``demand_truth`` (only with ``truth``)
            One row per ``demand`` row, in the same order: ``sku, location, date``,
            ``mean`` and ``var``, the mean (units per week) and variance (units^2) of
            that row's quantity under the generator. Smooth SKUs draw a negative
            binomial with size ``k`` around ``mu``: mean ``mu``, variance ``mu +
            mu^2 / k``. Intermittent SKUs draw ``X = B (1 + Y)`` with ``B ~
            Bernoulli(p)`` and ``Y`` geometric on 0, 1, ... with mean ``m``
            (``NB(1, 1 / (1 + m))``): ``E X = p (1 + m)``, ``E X^2 = p (1 + 3 m +
            2 m^2)``, so ``var = E X^2 - (E X)^2``.
    """
    end = _check_args(n_skus, n_dealers, n_weeks, end)
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=end, periods=n_weeks, freq=FREQ)
    n_regions = len(REGIONS)

    locations = make_locations(n_dealers)
    dealers = locations[locations["kind"] == "dealer"].reset_index(drop=True)
    region_index = {name: r for r, (name, *_rest) in enumerate(REGIONS)}
    dealer_region = dealers["region"].map(region_index).to_numpy()
    n_d = len(dealers)

    # ---- SKU master -----------------------------------------------------------------
    width = max(4, len(str(n_skus)))
    skus = np.array([f"SKU-{i + 1:0{width}d}" for i in range(n_skus)])
    category = rng.integers(0, len(CATEGORIES), n_skus)
    # Lognormal base rates give the long Pareto-like tail of spare parts: the top 20 %
    # of SKUs carry roughly two thirds of the volume. Units per week at an average dealer.
    base = np.exp(rng.normal(math.log(2.5), 1.15, n_skus))
    # The intermittent tail is drawn from the less popular half, as in real assortments.
    n_int = int(round(_INTERMITTENT_SHARE * n_skus))
    slow_half = np.argsort(base, kind="stable")[: max(n_skus // 2, n_int)]
    intermittent = np.zeros(n_skus, dtype=bool)
    intermittent[rng.choice(slow_half, size=n_int, replace=False)] = True
    base[~intermittent] = np.maximum(base[~intermittent], 1.5)
    occ_prob = rng.uniform(0.04, 0.18, n_skus)  # P(non-zero week), intermittent SKUs
    lump_mean = rng.uniform(1.0, 6.0, n_skus)  # mean extra units per non-zero week
    dispersion = rng.uniform(2.0, 10.0, n_skus)  # NB size k: var = mu + mu^2 / k
    amplitude = np.where(intermittent, 0.0, rng.uniform(0.1, 0.6, n_skus))
    category_shift = rng.integers(-25, 26, len(CATEGORIES))[category]  # days
    trend = rng.normal(0.0, 0.12, n_skus)  # log growth per year
    n_new = int(round(_NEW_SKU_SHARE * n_skus)) if n_skus >= 10 else 0
    launch = np.zeros(n_skus, dtype=np.int64)
    launched = np.zeros(n_skus, dtype=bool)  # in the history; the others sold before it began
    if n_new:
        new = rng.choice(np.flatnonzero(~intermittent), size=n_new, replace=False)
        launch[new] = n_weeks - rng.integers(4, min(20, n_weeks - 2) + 1, n_new)
        launched[new] = True
    unit_cost = np.round(np.maximum(np.exp(rng.normal(math.log(30.0), 1.0, n_skus)), 0.5), 2)
    list_price = np.round(unit_cost * rng.uniform(1.3, 1.8, n_skus), 2)
    discount = rng.uniform(0.15, 0.30, n_skus)
    promo_price = np.round(list_price * (1.0 - discount), 2)
    lift = rng.uniform(1.5, 2.5, n_skus)
    dip = rng.uniform(0.55, 0.8, n_skus)
    promo_rate = np.where(intermittent, 0.0, rng.uniform(0.0, 0.05, n_skus))

    # ---- dealers and assortment -------------------------------------------------------
    size = np.exp(rng.normal(0.0, 0.6, n_d))
    size /= size.mean()
    size_pct = (np.argsort(np.argsort(size, kind="stable"), kind="stable") + 0.5) / n_d
    carry_prob = 0.3 + 0.3 * size_pct  # 30 % (smallest) .. 60 % (largest) of the tail
    popular = base >= np.quantile(base, 0.8)
    stocked = popular[:, None] | (rng.random((n_skus, n_d)) < carry_prob[None, :])
    stocked[~stocked.any(axis=1), int(np.argmax(size))] = True

    # ---- weekly mean per region x SKU x week (small: 3 x S x W) ---------------------
    t = np.arange(n_weeks)
    doy = dates.dayofyear.to_numpy()
    peak = np.array([p for *_rest, p in REGIONS])
    phase = doy[None, None, :] - peak[:, None, None] - category_shift[None, :, None]
    season = 1.0 + amplitude[None, :, None] * np.cos(2.0 * np.pi * phase / 365.25)
    growth = np.exp(trend[:, None] * (t[None, :] - (n_weeks - 1)) / 52.0)
    age = t[None, :] - launch[:, None]
    ramp = np.where(age >= 0, 1.0 - np.exp(-(age + 1) / 3.0), 0.0)
    # Only a launch inside the history ramps up: an established SKU sold before the
    # history began, and a ramp in its first weeks would repeat as a false yearly dip in
    # every seasonal model's indices.
    ramp[~launched] = 1.0
    starts = rng.random((n_regions, n_skus, n_weeks)) < promo_rate[None, :, None]
    two_week = starts & (rng.random(starts.shape) < 0.4)
    promo = starts.copy()
    promo[:, :, 1:] |= two_week[:, :, :-1]
    after = np.zeros_like(promo)
    after[:, :, 1:] = promo[:, :, :-1] & ~promo[:, :, 1:]
    effect = np.where(promo, lift[None, :, None], np.where(after, dip[None, :, None], 1.0))
    mu_rsw = base[None, :, None] * season * growth[None] * ramp[None] * effect

    # ---- demand rows: one per stocked pair and week since launch --------------------
    pair_s, pair_d = np.nonzero(stocked)  # row-major: sorted by SKU, then dealer name
    lengths = n_weeks - launch[pair_s]
    n_rows = int(lengths.sum())
    pair_of_row = np.repeat(np.arange(len(pair_s)), lengths)
    first_row = np.cumsum(lengths) - lengths
    week = np.arange(n_rows) - first_row[pair_of_row] + launch[pair_s][pair_of_row]
    row_s = pair_s[pair_of_row]
    row_d = pair_d[pair_of_row]
    row_r = dealer_region[row_d]
    mu = mu_rsw[row_r, row_s, week] * size[row_d]
    qty = np.empty(n_rows, dtype=np.int64)
    lumpy = intermittent[row_s]
    smooth_rows = np.flatnonzero(~lumpy)
    k = dispersion[row_s[smooth_rows]]
    qty[smooth_rows] = rng.negative_binomial(k, k / (k + mu[smooth_rows]))
    lumpy_rows = np.flatnonzero(lumpy)
    ls = row_s[lumpy_rows]
    p_occ = np.minimum(occ_prob[ls] * size[row_d[lumpy_rows]], 0.9)
    occurs = rng.random(len(lumpy_rows)) < p_occ
    extra = rng.negative_binomial(1.0, 1.0 / (1.0 + lump_mean[ls]))
    qty[lumpy_rows] = occurs * (1 + extra)
    row_promo = promo[row_r, row_s, week]
    price = np.where(row_promo, promo_price[row_s], list_price[row_s])

    demand = pd.DataFrame(
        {
            "sku": pd.Categorical.from_codes(row_s, categories=skus),
            "location": pd.Categorical.from_codes(
                pair_d[pair_of_row], categories=dealers["location"].to_numpy()
            ),
            "date": dates[week],
            "qty": qty,
            "promo": row_promo.astype(np.int8),
            "price": price,
        }
    )

    # ---- items -----------------------------------------------------------------------
    # Cheap parts come in bigger cases; the MOQ is a whole number of cases.
    cost_pct = (np.argsort(np.argsort(unit_cost, kind="stable"), kind="stable") + 0.5) / n_skus
    pack_pos = np.clip(
        np.round((1.0 - cost_pct) * (len(_CASE_PACKS) - 1)) + rng.integers(-2, 3, n_skus),
        0,
        len(_CASE_PACKS) - 1,
    ).astype(int)
    case_pack = _CASE_PACKS[pack_pos]
    moq = case_pack * rng.choice([1, 1, 2, 5], n_skus)
    items = pd.DataFrame(
        {
            "sku": skus,
            "unit_cost": unit_cost,
            "holding_rate": np.round(rng.uniform(0.2, 0.3, n_skus), 3),
            "case_pack": case_pack,
            "moq": moq,
            "stockout_cost": np.round(unit_cost * rng.uniform(0.3, 1.0, n_skus), 2),
            "category": np.array(CATEGORIES)[category],
        }
    )

    # ---- inventory snapshot at `end` --------------------------------------------------
    # Band and targets come from the realised demand of the last 26 weeks (what a planner
    # would look at), not from the hidden mean.
    window = week >= n_weeks - 26
    pair_sum = np.bincount(pair_of_row[window], weights=qty[window], minlength=len(pair_s))
    pair_n = np.bincount(pair_of_row[window], minlength=len(pair_s))
    avg = np.zeros((n_skus, n_d))
    avg[pair_s, pair_d] = np.divide(pair_sum, pair_n, out=np.zeros_like(pair_sum), where=pair_n > 0)
    volume = np.bincount(row_s, weights=qty, minlength=n_skus)
    order = np.argsort(-volume, kind="stable")
    cum_share = np.cumsum(volume[order]) / max(volume.sum(), 1.0)
    class_a = np.zeros(n_skus, dtype=bool)
    class_a[order[: int(np.searchsorted(cum_share, 0.8)) + 1]] = True

    min_qty = np.where(stocked, np.ceil(2.0 * avg), 0.0)
    max_qty = np.where(stocked, np.maximum(np.ceil(6.0 * avg), min_qty + 1.0), 0.0)
    state = rng.choice(3, size=(n_skus, n_d), p=[_SHARE_BELOW_MIN, 1 - _SHARE_BELOW_MIN - _SHARE_ABOVE_MAX, _SHARE_ABOVE_MAX])
    u = rng.random((n_skus, n_d))
    on_hand = np.select(
        [state == 0, state == 1],
        [np.floor(u * min_qty), np.floor(min_qty + u * (max_qty - min_qty + 1.0))],
        max_qty + 1.0 + np.floor(u * (4.0 * avg + 3.0)),
    )
    on_hand = np.where(stocked, on_hand, 0.0)
    dealer_sl = np.where(class_a, 0.95, 0.90)[:, None] * np.ones((1, n_d))

    dcs = [dc for *_rest, dc, _p in REGIONS]
    regional = np.stack(
        [avg[:, dealer_region == r].sum(axis=1) for r in range(n_regions)], axis=1
    )  # S x R, units per week
    cover = np.array([DC_COVER_WEEKS[dc] for dc in dcs])
    noise = np.exp(rng.normal(0.0, 0.4, (n_skus, n_regions)))
    dc_on_hand = np.round(regional * cover[None, :] * noise)
    dc_sl = np.where(class_a, 0.98, 0.95)[:, None] * np.ones((1, n_regions))

    inv_loc = np.concatenate([np.array(dcs), dealers["location"].to_numpy()])
    n_l = len(inv_loc)
    inv_on_hand = np.concatenate([dc_on_hand, on_hand], axis=1)
    inv_min = np.concatenate([np.full((n_skus, n_regions), np.nan), min_qty], axis=1)
    inv_max = np.concatenate([np.full((n_skus, n_regions), np.nan), max_qty], axis=1)
    inv_sl = np.concatenate([dc_sl, dealer_sl], axis=1)
    loc_order = np.argsort(inv_loc, kind="stable")
    inventory = pd.DataFrame(
        {
            "sku": np.repeat(skus, n_l),
            "location": np.tile(inv_loc[loc_order], n_skus),
            "on_hand": inv_on_hand[:, loc_order].ravel().astype(np.int64),
            "min_qty": inv_min[:, loc_order].ravel(),
            "max_qty": inv_max[:, loc_order].ravel(),
            "service_level": inv_sl[:, loc_order].ravel(),
        }
    )

    # ---- stock in transit ----------------------------------------------------------------
    below = stocked & (on_hand < min_qty)
    ship = below & (rng.random((n_skus, n_d)) < 0.35)
    ds, dd = np.nonzero(ship)
    d_qty = _round_up(np.maximum(max_qty[ds, dd] - on_hand[ds, dd], 1.0), case_pack[ds])
    dc_ship = (rng.random((n_skus, n_regions)) < 0.3) & (regional > 0)
    cs, cr = np.nonzero(dc_ship)
    c_qty = _round_up(np.ceil(regional[cs, cr] * rng.uniform(1.0, 3.0, len(cs))), case_pack[cs])
    inbound = pd.DataFrame(
        {
            "sku": np.concatenate([skus[ds], skus[cs]]),
            "location": np.concatenate([dealers["location"].to_numpy()[dd], np.array(dcs)[cr]]),
            "arrival_date": np.concatenate(
                [
                    np.full(len(ds), end + pd.Timedelta(weeks=1)),
                    (end + pd.to_timedelta(rng.integers(1, 3, len(cs)) * 7, unit="D")).to_numpy(),
                ]
            ).astype("datetime64[ns]"),
            "qty": np.concatenate([d_qty, c_qty]).astype(np.int64),
        }
    )
    inbound = inbound.sort_values(["sku", "location", "arrival_date"], kind="stable", ignore_index=True)

    # ---- lanes ------------------------------------------------------------------------
    weekly_region = regional.sum(axis=0)  # all SKUs, units per week
    lane_rows = []
    for r, dc in enumerate(dcs):
        cap = 100.0 * math.ceil(1.5 * weekly_region[r] / 100.0 + 1e-9)
        lane_rows.append((PLANT, dc, 2, 0.40, cap))
        for other in range(n_regions):
            if other != r:
                small = min(weekly_region[r], weekly_region[other])
                cap_t = 100.0 * math.ceil(0.25 * small / 100.0 + 1e-9)
                lane_rows.append((dc, dcs[other], 1, round(1.8 + 0.2 * abs(r - other), 2), cap_t))
    dc_of = dict(zip(dealers["location"], dealers["parent"]))
    dealer_cost = np.round(rng.uniform(0.6, 1.2, n_d), 2)
    for name, cost in zip(dealers["location"], dealer_cost):
        lane_rows.append((dc_of[name], name, 1, float(cost), np.nan))
    lanes = pd.DataFrame(
        lane_rows, columns=["origin", "destination", "lead_time", "cost_per_unit", "capacity"]
    ).sort_values(["origin", "destination"], kind="stable", ignore_index=True)
    # Every third dealer lane has an uncertain lead time (sd 0.3 periods); no random draw,
    # so the other tables stay as they were for a given seed.
    to_dealer = lanes["destination"].isin(dealers["location"]).to_numpy()
    lanes["lead_time_sd"] = np.where(to_dealer & (np.cumsum(to_dealer) % 3 == 0), 0.3, np.nan)

    out = {
        "demand": demand,
        "items": items,
        "locations": locations,
        "inventory": inventory,
        "inbound": inbound,
        "lanes": lanes,
    }

    # ---- future promotion calendar ---------------------------------------------------------
    # A stream of its own: drawing from `rng` would shift nothing above (all history
    # draws are done) but a separate stream keeps the calendar independent of any future
    # change to the history's draws, and the history independent of `horizon`.
    future_rng = np.random.default_rng([seed, 1])
    f_starts = future_rng.random((n_regions, n_skus, horizon)) < promo_rate[None, :, None]
    f_two_week = f_starts & (future_rng.random(f_starts.shape) < 0.4)
    f_promo = f_starts.copy()
    if horizon:
        f_promo[:, :, 0] |= two_week[:, :, -1]  # a two-week promotion started in the last history week
        f_promo[:, :, 1:] |= f_two_week[:, :, :-1]
    f_dates = pd.date_range(end + pd.Timedelta(weeks=1), periods=horizon, freq=FREQ)
    n_pairs = len(pair_s)
    p_s = np.repeat(pair_s, horizon)
    p_d = np.repeat(pair_d, horizon)
    f_week = np.tile(np.arange(horizon), n_pairs)
    f_row_promo = f_promo[dealer_region[p_d], p_s, f_week]
    out["promotions"] = pd.DataFrame(
        {
            "sku": pd.Categorical.from_codes(p_s, categories=skus),
            "location": pd.Categorical.from_codes(p_d, categories=dealers["location"].to_numpy()),
            "date": f_dates[f_week],
            "promo": f_row_promo.astype(np.int8),
            "price": np.where(f_row_promo, promo_price[p_s], list_price[p_s]),
        }
    )

    if truth:
        mean = mu.copy()
        var = mu + mu * mu / dispersion[row_s]
        m = lump_mean[ls]
        mean[lumpy_rows] = p_occ * (1.0 + m)
        var[lumpy_rows] = p_occ * (1.0 + 3.0 * m + 2.0 * m * m) - mean[lumpy_rows] ** 2
        out["demand_truth"] = pd.DataFrame(
            {
                "sku": demand["sku"],
                "location": demand["location"],
                "date": demand["date"],
                "mean": mean,
                "var": var,
            }
        )
    return out


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    columns = {}
    for name, col in frame.items():
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = np.asarray(col.cat.categories, dtype=object)
            columns[name] = pa.DictionaryArray.from_arrays(
                pa.array(col.cat.codes.to_numpy().astype(np.int32)), pa.array(cats, pa.string())
            )
        elif pd.api.types.is_datetime64_any_dtype(col.dtype):
            columns[name] = pa.array(col.to_numpy().astype("datetime64[D]"), pa.date32())
        elif pd.api.types.is_bool_dtype(col.dtype):
            columns[name] = pa.array(np.where(col.to_numpy(), "true", "false"), pa.string())
        elif pd.api.types.is_float_dtype(col.dtype):
            columns[name] = pa.array(col.to_numpy(), pa.float64(), from_pandas=True)
        elif pd.api.types.is_integer_dtype(col.dtype):
            columns[name] = pa.array(col.to_numpy())
        else:
            values = np.asarray(col.to_numpy(), dtype=object)
            columns[name] = pa.array(values, pa.string())
    return pa.table(columns)


def write_table_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write one table as CSV, fast and byte-reproducible.

    Arrow's multi-threaded CSV writer renders floats with their shortest round-trip
    representation (deterministic for the same values), dates as ``YYYY-MM-DD``,
    booleans as ``true``/``false`` and missing values as empty cells. Strings are written
    unquoted, so they must not contain commas, quotes or line breaks (true for all demo
    identifiers; checked).

    Parameters
    ----------
    frame : pandas.DataFrame
        Table to write; categorical columns are written as their labels.
    path : str or pathlib.Path
        Target file.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    table = _to_arrow(frame)
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_dictionary(col.type):
            col = col.combine_chunks().dictionary
        if pa.types.is_string(col.type):
            if pa.compute.any(pa.compute.match_substring_regex(col, r'[,"\r\n]')).as_py():
                raise ValueError(f"column {name!r} holds a value that would need CSV quoting")
    with open(path, "wb") as fh:
        fh.write((",".join(frame.columns) + "\n").encode())
        pa_csv.write_csv(
            table, fh, pa_csv.WriteOptions(include_header=False, quoting_style="none")
        )
    return path


def write_demo_data(
    out_dir: str | Path,
    seed: int = 0,
    n_skus: int = 120,
    n_dealers: int = 24,
    n_weeks: int = 156,
    end=None,
    horizon: int = 13,
) -> dict[str, Path]:
    """Generate the demo network and write one ``<table>.csv`` per input table.

    The six contract tables (:data:`TABLES`) and the future promotion calendar
    ``promotions.csv`` (see :func:`generate_demo_data`) are written; the hidden demand
    truth is not (no user has it).

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder to write into (created if missing); existing demo files are overwritten.
    seed, n_skus, n_dealers, n_weeks, end, horizon
        As in :func:`generate_demo_data`.

    Returns
    -------
    dict of str to pathlib.Path
        Table name -> file written, in :data:`WRITTEN_TABLES` order.
    """
    tables = generate_demo_data(
        seed=seed, n_skus=n_skus, n_dealers=n_dealers, n_weeks=n_weeks, end=end, horizon=horizon
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {name: write_table_csv(tables[name], out / f"{name}.csv") for name in WRITTEN_TABLES}
