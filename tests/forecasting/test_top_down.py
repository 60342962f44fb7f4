"""forecasting.top_down: a location's share of its SKU's aggregate over locations."""

import json

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast, refresh
from forecasting.top_down import TOP_DOWN_MODEL, TopDown, aggregate_top_down, top_down_labels

H = 8
OPTS = dict(horizon=H, freq="W-MON", season_length=52, backtest_windows=4, backtest_step=4, global_model=False)


def _network(seed=3, n=156, skus=("A", "B")):
    """Two regions of four dealers; each dealer a fixed share of its region's seasonal SKU demand."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=n, freq="W-MON")
    t = np.arange(n)
    rows = []
    for s, sku in enumerate(skus):
        for r, (region, peak) in enumerate((("north", 10), ("south", 35))):
            level = 40.0 * (1 + 0.4 * np.cos(2 * np.pi * (t - peak) / 52)) * (1 + s)
            shares = np.array([0.4, 0.3, 0.2, 0.1])
            for k, share in enumerate(shares):
                rows.append(pd.DataFrame({"sku": sku, "location": f"{region[0].upper()}{k}", "date": dates,
                                          "qty": rng.poisson(level * share).astype(float)}))
    hist = pd.concat(rows, ignore_index=True)
    regions = pd.DataFrame({"location": [f"{c}{k}" for c in "NS" for k in range(4)],
                            "group": ["north"] * 4 + ["south"] * 4})
    return hist, regions


def test_share_is_the_ratio_of_sums_over_the_window_before_the_cutoff():
    keys = pd.DataFrame({"sku": ["A", "A", "A"], "location": ["N0", "N1", "S0"]})
    labels = top_down_labels(keys, {"N0": "north", "N1": "north", "S0": "south"})
    assert list(labels) == ["A\x1fnorth", "A\x1fnorth", "A\x1fsouth"]
    Y = np.array([[1.0, 2.0, 3.0, 4.0, 100.0],
                  [3.0, 2.0, 1.0, 4.0, 0.0],
                  [5.0, 5.0, 5.0, 5.0, 5.0]])
    top = TopDown(labels, Y, np.array([0, 0, 1]), window=3)
    np.testing.assert_allclose(top.totals[top.member_of[0]], [4.0, 4.0, 4.0, 8.0, 100.0])
    # periods 1..3 before cutoff 4: (2 + 3 + 4) / (4 + 4 + 8); the spike at period 4 is later
    assert top.share(0, 4) == pytest.approx(9 / 16)
    assert top.share(1, 4) == pytest.approx(7 / 16)
    assert top.share(2, 4) == pytest.approx(1.0)  # alone in its aggregate, from its own start
    assert top.share(0, 5) == pytest.approx(107 / 112)


def _panel(dealer_effect, seed=0, n=52, level=20.0):
    """Members of SKU x one region: weekly NB-like counts at ``level * share``; ``dealer_effect``
    ``(S, D)`` relative sizes (rows normalised to shares)."""
    rng = np.random.default_rng(seed)
    eff = np.asarray(dealer_effect, dtype=float)
    true = eff / eff.sum(axis=1, keepdims=True)
    S, D = true.shape
    mu = level * true.reshape(-1, 1) * np.ones((1, n))
    Y = rng.negative_binomial(4.0, 4.0 / (4.0 + mu)).astype(float)
    keys = pd.DataFrame({"sku": np.repeat([f"S{s}" for s in range(S)], D), "location": np.tile([f"D{d}" for d in range(D)], S)})
    labels = top_down_labels(keys, {f"D{d}": "r" for d in range(D)})
    top = TopDown(labels, Y, np.zeros(S * D, dtype=int), n, locations=keys["location"].to_numpy())
    top.inputs = (labels, Y)  # for the tests that rebuild it
    return top, true.ravel()


def test_pooled_shares_take_the_dealers_size_from_all_its_skus():
    size = np.array([4.0, 2.0, 1.0, 1.0, 0.5])
    top, true = _panel(np.tile(size, (40, 1)))
    est = top.shares_at(52)
    own_err = np.sqrt(np.mean((est["own"] - true) ** 2))
    used_err = np.sqrt(np.mean((est["share"] - true) ** 2))
    # sizes common to all SKUs: only sampling noise separates own shares from the prior
    assert used_err < 0.5 * own_err
    assert np.mean(est["weight"]) < 0.3
    np.testing.assert_allclose(np.bincount(top.member_of, est["share"]), np.bincount(top.member_of, est["own"]))
    assert top.share(0, 52) == pytest.approx(est["share"][0])


def test_shares_that_really_differ_by_sku_stay_the_members_own():
    rng = np.random.default_rng(5)
    effect = np.exp(rng.normal(0.0, 0.8, (40, 5)))  # each dealer's size differs by SKU
    top, true = _panel(effect, level=200.0)
    est = top.shares_at(52)
    assert np.mean(est["weight"]) > 0.7
    own_err = np.sqrt(np.mean((est["own"] - true) ** 2))
    used_err = np.sqrt(np.mean((est["share"] - true) ** 2))
    assert used_err <= own_err * 1.05


def test_without_locations_shares_are_the_own_shares():
    pooled, _ = _panel(np.tile([2.0, 1.0, 1.0], (10, 1)))
    labels, Y = pooled.inputs
    plain = TopDown(labels, Y, np.zeros(len(labels), dtype=int), 52).shares_at(52)
    own = Y.sum(axis=1) / np.repeat(Y.reshape(10, 3, -1).sum(axis=(1, 2)), 3)
    np.testing.assert_allclose(plain["share"], own)
    np.testing.assert_allclose(pooled.shares_at(52)["own"], own)
    assert np.all(np.isnan(plain["prior"])) and np.all(plain["weight"] == 1)
    assert not np.allclose(pooled.shares_at(52)["share"], own)


def test_members_forecast_their_share_of_the_aggregate_and_say_so():
    hist, regions = _network()
    res = forecast(hist, top_down=regions, **OPTS)
    sel = res.selection
    assert (sel["model"] == TOP_DOWN_MODEL).mean() > 0.5
    agg = res.top_down.forecasts
    assert set(agg["location"]) == {"north", "south"} and set(agg["sku"]) == {"A", "B"}
    last = hist["date"].max()
    window = hist[hist["date"] > last - pd.Timedelta(weeks=52)]
    for row in sel.loc[sel["model"] == TOP_DOWN_MODEL].itertuples():
        params = json.loads(row.params)
        region = regions.set_index("location").loc[row.location, "group"]
        assert params["aggregate"] == region and params["aggregate_sku"] == row.sku
        assert params["aggregate_model"] in set(res.top_down.selection["model"])
        members = regions.loc[regions["group"] == region, "location"]
        own = window.loc[(window["sku"] == row.sku) & (window["location"] == row.location), "qty"].sum()
        total = window.loc[(window["sku"] == row.sku) & window["location"].isin(members), "qty"].sum()
        assert params["own_share"] == pytest.approx(own / total, abs=1e-6)
        assert 0 <= params["own_weight"] <= 1
        assert params["share"] == pytest.approx(params["pooled_share"] + params["own_weight"]
                                                * (params["own_share"] - params["pooled_share"]), abs=0.02)
        mine = res.forecasts.loc[(res.forecasts["sku"] == row.sku) & (res.forecasts["location"] == row.location), "mean"]
        theirs = agg.loc[(agg["sku"] == row.sku) & (agg["location"] == region), "mean"]
        np.testing.assert_allclose(mine.to_numpy(), params["share"] * theirs.to_numpy(), rtol=1e-4)
    # without aggregates the candidate does not exist
    plain = forecast(hist, **OPTS)
    assert TOP_DOWN_MODEL not in set(plain.selection["model"]) and plain.top_down is None


def test_top_down_beats_the_series_own_models_on_shared_demand():
    hist, regions = _network(seed=8, n=156 + H)
    cut = hist["date"].min() + pd.Timedelta(weeks=156)
    train, test = hist[hist["date"] < cut], hist[hist["date"] >= cut]
    err = {}
    for name, kw in (("top_down", {"top_down": regions}), ("own", {})):
        fc = forecast(train, **OPTS, **kw).forecasts.merge(test, on=["sku", "location", "date"])
        err[name] = float(np.abs(fc["mean"] - fc["qty"]).sum())
    assert err["top_down"] < err["own"]


def test_backtest_origins_see_only_the_periods_before_them():
    hist, regions = _network(n=120, skus=("A",))
    from forecasting.core import _prepare

    keys, series, grid, start_pos, Y, promo, price, _ = _prepare(hist, "W-MON")
    labels = top_down_labels(keys, regions)
    seen = {}

    def run(h_g, groups_g, future_g):
        seen["last"] = h_g["date"].max()
        return forecast(h_g, **{**OPTS, "horizon": H})

    ext, res, top = aggregate_top_down(keys, Y, start_pos, grid, promo, price, labels,
                                       np.array([None] * len(keys)), None, H, 52, run)
    local, final = ext[0]
    # a spike after every origin must not move the origins' shares
    Y2 = Y.copy()
    Y2[0, -5:] += 1000.0
    top2 = TopDown(labels, Y2, start_pos, 52)
    for o in local:
        assert top2.share(0, o + int(start_pos[0])) == pytest.approx(top.share(0, o + int(start_pos[0])))
    assert top2.share(0, Y.shape[1]) > top.share(0, Y.shape[1])
    assert len(local) >= 3 and final.shape == (H,)


def test_locations_without_an_aggregate_keep_their_own_models():
    hist, regions = _network(skus=("A",))
    res = forecast(hist, top_down=regions.loc[regions["group"] == "north"], **OPTS)
    south = res.selection["location"].str.startswith("S")
    assert not (res.selection.loc[south, "model"] == TOP_DOWN_MODEL).any()
    assert (res.selection.loc[~south, "model"] == TOP_DOWN_MODEL).any()


def test_bad_top_down_table_is_rejected():
    hist, _ = _network(skus=("A",))
    with pytest.raises(ValueError, match="location and group"):
        forecast(hist, top_down=pd.DataFrame({"loc": ["N0"], "region": ["x"]}), **OPTS)


def test_a_refresh_shares_the_refreshed_aggregate():
    hist, regions = _network(n=160)
    last = hist["date"].max()
    before = forecast(hist[hist["date"] < last - pd.Timedelta(weeks=1)], top_down=regions, **OPTS)
    again = refresh(hist, before, top_down=regions, **OPTS)
    full = forecast(hist, top_down=regions, **OPTS)
    td = again.selection["model"] == TOP_DOWN_MODEL
    assert td.any() and (again.selection.loc[td, "refresh"] == TOP_DOWN_MODEL).all()
    assert again.top_down is not None
    both = again.forecasts.merge(full.forecasts, on=["sku", "location", "date"], suffixes=("", "_full"))
    # the series that share the aggregate in both runs (the full run re-selects, and a
    # member's own model may win there now)
    full_td = full.selection.loc[full.selection["model"] == TOP_DOWN_MODEL, ["sku", "location"]]
    keys = again.selection.loc[td, ["sku", "location"]].merge(full_td, on=["sku", "location"])
    assert len(keys) >= td.sum() - 2
    both = both.merge(keys, on=["sku", "location"])
    np.testing.assert_allclose(both["mean"], both["mean_full"], rtol=0.05, atol=0.2)
    # without the aggregates a top-down series gets a stand-in, as a global one does
    bare = refresh(hist, before, **OPTS)
    assert not (bare.selection["model"] == TOP_DOWN_MODEL).any()
    assert bare.selection.loc[td.to_numpy(), "refresh"].str.startswith("stand_in:").all()


def test_a_member_that_starts_later_counts_as_zero_before_its_start():
    """A dealer listed after the others (a new outlet, or a series that starts in a later
    month, as on real data) has no rows before its start; its aggregate is the sum of
    the members that existed, not a missing value (it used to stop the run)."""
    hist, regions = _network(skus=("A",))
    late = hist["location"].eq("N3") & (hist["date"] < hist["date"].min() + pd.Timedelta(weeks=60))
    hist = hist.loc[~late]
    res = forecast(hist, top_down=regions, **OPTS)
    agg = res.top_down
    assert np.isfinite(res.forecasts[["mean", "q90", "q95"]].to_numpy()).all()
    north = hist[hist["location"].str.startswith("N")].groupby("date")["qty"].sum()
    from forecasting.core import _prepare

    keys, _, grid, start_pos, Y, *_ = _prepare(hist, "W-MON")
    top = TopDown(top_down_labels(keys, regions), Y, start_pos, 52)
    g = top.member_of[int(np.flatnonzero(keys["location"].to_numpy() == "N0")[0])]
    np.testing.assert_allclose(top.totals[g], north.reindex(grid).to_numpy())
    n3 = int(np.flatnonzero(keys["location"].to_numpy() == "N3")[0])
    cut = Y.shape[1]
    own = Y[n3, cut - 52:cut].sum()
    assert top.share(n3, cut) == pytest.approx(own / north.iloc[-52:].sum())
    assert agg is not None and (res.selection.loc[res.selection["location"] == "N3", "model"] != "").all()
