"""The selection rule: the default stays unless a challenger wins consistently."""

import numpy as np
import pandas as pd
import pytest

from forecasting import forecast
from forecasting.backtest import default_backtest, select_candidate


def test_consistent_small_improvement_switches():
    # 5 % better at each of six origins: significant by the paired test
    base = np.array([1.0, 1.2, 0.9, 1.1, 1.0, 0.8])
    assert select_candidate({"combo": base, "theta": base * 0.95}, "combo") == "theta"


def test_large_improvement_from_one_lucky_origin_does_not_switch():
    base = np.array([1.0, 1.0, 1.0, 1.0])
    challenger = np.array([0.2, 1.05, 1.02, 1.04])  # mean 0.83, 17 % better on average
    assert select_candidate({"combo": base, "theta": challenger}, "combo") == "combo"
    # the plain minimum (alpha = 1) would have taken it
    assert select_candidate({"combo": base, "theta": challenger}, "combo", alpha=1.0) == "theta"


def test_best_of_the_significant_challengers_and_edge_cases():
    base = np.array([1.0, 1.0, 1.0])
    cands = {"combo": base, "a": base - 0.10, "b": base - np.array([0.3, 0.25, 0.35]), "c": [0.1, np.nan, np.nan]}
    assert select_candidate(cands, "combo") == "b"  # "c" has one common origin: untestable
    # a failed default: the lowest mean wins; nothing finite: None
    assert select_candidate({"combo": [np.nan, np.nan], "a": [2.0, 1.0], "b": [1.0, 1.0]}, "combo") == "b"
    assert select_candidate({"combo": [np.nan]}, "combo") is None
    assert select_candidate({"combo": [1.0], "a": [0.1]}, "combo") == "combo"  # one origin: no test


def test_several_challengers_share_the_level():
    # one-sided p = 0.078 for "theta" (paired t, 5 df): enough against alpha = 0.1 alone ...
    base = np.ones(6)
    theta = base - np.array([0.10, -0.03, 0.12, -0.02, 0.09, 0.01])
    assert select_candidate({"combo": base, "theta": theta}, "combo") == "theta"
    # ... but not at 0.1 / 3 when two more challengers were tried and lost
    worse = {"a": base + 0.05, "b": base + 0.1}
    assert select_candidate({"combo": base, "theta": theta, **worse}, "combo") == "combo"


def test_overlapping_windows_count_as_fewer_origins():
    # p = 0.012 with six independent origins; six origins 4 periods apart with a
    # 13-period horizon span 2.5 disjoint windows: p = 0.10, not significant at 0.1
    base = np.ones(6)
    theta = base - np.array([0.10, 0.02, 0.12, 0.03, 0.09, 0.01])
    assert select_candidate({"combo": base, "theta": theta}, "combo") == "theta"
    assert select_candidate({"combo": base, "theta": theta}, "combo", horizon=13, step=4) == "combo"
    # origins at least a horizon apart do not overlap: no correction
    assert select_candidate({"combo": base, "theta": theta}, "combo", horizon=4, step=4) == "theta"

def test_selection_alpha_is_validated_and_changes_choices(small_history):
    with pytest.raises(ValueError, match="selection_alpha"):
        forecast(small_history, horizon=8, freq="W-MON", season_length=52, selection_alpha=0.0)
    strict = forecast(small_history, horizon=8, freq="W-MON", season_length=52, selection_alpha=1e-6, global_model=False)
    loose = forecast(small_history, horizon=8, freq="W-MON", season_length=52, selection_alpha=1.0, global_model=False)
    sel_s, sel_l = strict.selection, loose.selection
    listed_first = {"smooth": "combo", "erratic": "combo", "intermittent": "sba", "lumpy": "sba"}
    # (SBA's seasonal variant leads where the first backtest window holds two seasons)
    seasonal = strict.scores.loc[strict.scores["model"] == "sba_seasonal", ["sku", "location"]].assign(has=True)
    sel_s = sel_s.merge(seasonal, on=["sku", "location"], how="left")
    default = sel_s["demand_class"].map(listed_first).where(~(sel_s["has"].eq(True) & sel_s["demand_class"].isin(["intermittent", "lumpy"])), "sba_seasonal")
    # a (nearly) impossible test keeps every long series on its class default ...
    keep = ~sel_s["short"] & sel_s["demand_class"].isin(listed_first) & (sel_s["fallback"] == "")
    assert (sel_s.loc[keep, "model"] == default[keep]).all()
    long_s = sel_s[keep]
    assert len(long_s) > 0
    # ... while the plain minimum moves some of them to a challenger
    assert (sel_l["model"] != sel_s["model"]).any()


def test_backtest_shorter_than_a_season_is_flagged(small_history, caplog):
    with caplog.at_level("WARNING", logger="forecasting.core"):
        forecast(small_history, horizon=8, freq="W-MON", season_length=52, global_model=False, backtest_windows=3)
    assert "less than one season" in caplog.text and "backtest_windows >= 23 (step 2)" in caplog.text  # 22 * 2 + 8 = 52
    caplog.clear()
    with caplog.at_level("WARNING", logger="forecasting.core"):
        forecast(small_history, horizon=8, freq="W-MON", season_length=4, global_model=False)
    assert "less than one season" not in caplog.text


def test_by_default_the_origins_span_a_season(small_history, caplog):
    # 130 weeks, horizon 8: 23 origins 2 weeks apart would be needed at the default step,
    # so 13 origins spread 4 weeks apart (12 * 4 + 8 = 56 >= 52)
    assert default_backtest(8, 52) == (13, 4)
    with caplog.at_level("WARNING", logger="forecasting.core"):
        res = forecast(small_history, horizon=8, freq="W-MON", season_length=52, global_model=False)
    assert "less than one season" not in caplog.text
    err = res.errors
    origins = np.sort(err.loc[(err["sku"] == "SKU-0001") & (err["location"] == "DLR-01"), "origin"].unique())
    assert len(origins) == 13 and (np.diff(origins) == np.timedelta64(28, "D")).all()
    span = (origins[-1] - origins[0]) / np.timedelta64(7, "D") + 8
    assert span >= 52
    # weekly data and a 13-week horizon: 11 origins at the default step of 4
    assert default_backtest(13, 52) == (11, 4)
    # a horizon of a season or more keeps 3 origins; what the caller sets is kept
    assert default_backtest(18, 12) == (3, 6) and default_backtest(12, 12) == (3, 4)
    assert default_backtest(13, 52, windows=5, step=2) == (5, 2)
    assert default_backtest(4, 52, step=1) == (13, 1)  # an explicit step is not widened

    # two years: 10 origins are all that leave a season before the first, so asking for
    # them (as the top-down aggregates' nested run is asked) is not flagged
    two_years = small_history[small_history["date"] >= small_history["date"].max() - pd.Timedelta(weeks=103)]
    caplog.clear()
    with caplog.at_level("WARNING", logger="forecasting.core"):
        forecast(two_years, horizon=13, freq="W-MON", season_length=52, global_model=False, backtest_windows=10,
                 backtest_step=4)
    assert "less than one season" not in caplog.text


def test_short_runs_keep_a_season_before_the_first_origin(caplog):
    """Two years of weekly history: 13 origins 4 apart would leave the first 43 weeks;
    the run takes 10 (the first at 55) and says why, without advising more windows."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=104, freq="W-MON")
    hist = pd.DataFrame({"sku": "A", "location": "L", "date": dates, "qty": rng.poisson(10, 104).astype(float)})
    with caplog.at_level("INFO", logger="forecasting.core"):
        res = forecast(hist, horizon=13, freq="W-MON", season_length=52, backtest_windows=13, backtest_step=4,
                       global_model=False, n_jobs=1)
    assert res.selection["n_origins"].iloc[0] == 10
    assert "10 backtest origins instead of 13" in caplog.text and "would leave it 43" in caplog.text
    assert "less than one season" not in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="forecasting.core"):
        res = forecast(pd.concat([hist.assign(date=hist["date"] - pd.Timedelta(weeks=104)), hist]), horizon=13,
                       freq="W-MON", season_length=52, backtest_windows=13, backtest_step=4, global_model=False,
                       n_jobs=1)
    assert res.selection["n_origins"].iloc[0] == 13 and "origins instead" not in caplog.text


def test_a_series_younger_than_the_backtest_drops_its_clipped_origins():
    """One year of smooth weekly demand under a year of origins: the origins that would
    train on 3, 7 or 11 weeks (clipped to ``min_train``) go, so the class default is not
    disqualified by a fit on three points and keeps its role."""
    rng = np.random.default_rng(4)
    dates = pd.date_range("2025-01-06", periods=52, freq="W-MON")
    hist = pd.DataFrame({"sku": "A", "location": "L", "date": dates, "qty": rng.poisson(40, 52).astype(float)})
    res = forecast(hist, horizon=13, freq="W-MON", season_length=52, backtest_windows=13, backtest_step=4,
                   global_model=False, n_jobs=1)
    sel = res.selection.iloc[0]
    assert sel["n_origins"] == 7  # 15, 19, ..., 39
    assert sel["model"] == "combo" and sel["fallback"] == "" and np.isfinite(sel["score_combo"])


def test_origins_spanning_less_than_two_windows_keep_the_default():
    # better at each of 3 origins 6 periods apart with an 18-period horizon: the
    # origins span 5/3 horizons, one stretch of time, so nothing is tested
    base = np.ones(3)
    theta = base - np.array([0.30, 0.28, 0.31])
    assert select_candidate({"combo": base, "theta": theta}, "combo") == "theta"
    assert select_candidate({"combo": base, "theta": theta}, "combo", horizon=18, step=6) == "combo"
    # a fourth origin makes two disjoint windows: testable, and significant
    base4, theta4 = np.ones(4), np.ones(4) - np.array([0.30, 0.28, 0.31, 0.29])
    assert select_candidate({"combo": base4, "theta": theta4}, "combo", horizon=18, step=6) == "theta"


@pytest.mark.parametrize("k, step, horizon", [(4, 6, 18), (6, 4, 13), (13, 4, 13)])
def test_overlap_corrected_test_keeps_its_level(k, step, horizon):
    # no challenger is better: per-period score differences are independent noise, and
    # each origin's score is their mean over its (overlapping) window; a default lost
    # more often than alpha would mean the overlap correction undercounts
    rng = np.random.default_rng(7)
    n, switched = 2000, 0
    for _ in range(n):
        e = rng.standard_normal((k - 1) * step + horizon)
        d = np.array([e[o * step:o * step + horizon].mean() for o in range(k)])
        pick = select_candidate({"combo": np.full(k, 5.0), "theta": 5.0 + d}, "combo", 0.1, horizon=horizon, step=step)
        switched += pick == "theta"
    assert 0.03 < switched / n < 0.13


def test_too_few_windows_to_switch_is_logged(small_history, caplog):
    with caplog.at_level("INFO", logger="forecasting.core"):
        forecast(small_history, horizon=8, freq="W-MON", season_length=4, global_model=False)
    assert "span less than two horizons" in caplog.text and "backtest_windows >= 5 (step 2)" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="forecasting.core"):
        forecast(small_history, horizon=8, freq="W-MON", season_length=4, global_model=False, backtest_windows=5)
    assert "span less than two horizons" not in caplog.text


def test_effective_windows_counts_disjoint_horizons():
    from forecasting.backtest import effective_windows

    assert effective_windows(3, 18, 6) == pytest.approx(5 / 3)  # the orchestrator's default spacing
    assert effective_windows(4, 18, 6) == pytest.approx(2.0)
    assert effective_windows(3, 4, 4) == 3.0 and effective_windows(3) == 3.0  # no overlap


def test_failed_default_hands_over_to_the_next_listed_candidate():
    # 5 periods of a new SKU: ``ets_auto`` cannot be fitted at the first origins (3 and 4
    # periods), so it is out; ``moving_average`` is next in the table and stays the
    # default although ``naive`` scores lower on these few origins.
    dates = pd.date_range("2024-01-01", periods=5, freq="W-MON")
    hist = pd.DataFrame({"sku": "NEW", "location": "D1", "date": dates, "qty": [1.0, 4.0, 6.0, 9.0, 12.0]})
    res = forecast(hist, horizon=4, freq="W-MON", season_length=52, backtest_windows=2, backtest_step=1,
                   candidates={"short": ("ets_auto", "moving_average", "naive")})
    sel = res.selection.iloc[0]
    assert "ets_auto failed in backtest" in sel["fallback"]
    assert sel["mase_naive"] < sel["mase_moving_average"]
    assert sel["model"] == "moving_average"
