"""The benchmarks' scores (benchmarks._accuracy), on hand-checkable numbers."""

import numpy as np
import pytest

pytest.importorskip("psutil")


def test_scaled_pinball_loss_charges_both_a_miss_and_a_band_too_wide():
    from benchmarks._accuracy import Result, scores

    trains = [np.array([1.0, 2, 3, 4])]  # m = 1: in-sample MAE of the naive forecast is 1
    actuals = np.array([[10.0]])
    res = Result("x", mean=np.array([[9.0]]), q90=np.array([[8.0]]), q95=np.array([[12.0]]), seconds=0, peak_mib=0)
    # q90 misses by 2: 0.9 * 2 = 1.8; q95 above by 2: 0.05 * 2 = 0.1; mean of the two, over scale 1
    assert scores(trains, actuals, res, m=1)["spl"] == pytest.approx(0.95)
    tight = Result("t", res.mean, np.array([[10.0]]), np.array([[10.5]]), 0, 0)
    wide = Result("w", res.mean, np.array([[30.0]]), np.array([[40.0]]), 0, 0)
    s_tight, s_wide = (scores(trains, actuals, r, m=1) for r in (tight, wide))
    assert s_tight["cov90"] == s_wide["cov90"] == 1.0 and s_tight["spl"] < s_wide["spl"]


def test_bias_and_above_say_where_the_forecast_sits():
    from benchmarks._accuracy import Result, scores

    trains = [np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 6, 8])]  # m = 1: scales 1 and 2
    actuals = np.array([[10.0, 12.0], [10.0, 10.0]])
    mean = np.array([[11.0, 11.0], [14.0, 14.0]])  # series 1: -1, +1; series 2: -4, -4 over scale 2
    res = Result("x", mean, mean + 1, mean + 2, 0, 0)
    s = scores(trains, actuals, res, m=1)
    assert s["bias"] == pytest.approx((0.0 + -2.0) / 2)
    assert s["above"] == pytest.approx(1 / 4)


def test_levelled_coverage_takes_out_the_windows_common_error_only():
    from benchmarks._accuracy import Result, scores

    rng = np.random.default_rng(0)
    trains = [np.arange(10.0) * k for k in (1, 2, 3)]  # m = 1: scales 1, 2 and 3
    scale = np.array([1.0, 2.0, 3.0])[:, None]
    noise = rng.normal(0, 1, (3, 40)) * scale
    mean = np.full((3, 40), 100.0)
    res = Result("x", mean, mean + 1.2816 * scale, mean + 1.6449 * scale, 0, 0)
    calm, boom = scores(trains, mean + noise, res, m=1), scores(trains, mean + noise + 2.0 * scale, res, m=1)
    assert boom["cov90"] < 0.5 < calm["cov90"]  # a shared boom leaves the band far below
    assert boom["cov90_level"] == pytest.approx(calm["cov90_level"], abs=1 / 120)
    assert boom["cov95_level"] == pytest.approx(calm["cov95_level"], abs=1 / 120)
