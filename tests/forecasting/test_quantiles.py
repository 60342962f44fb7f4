import numpy as np
import pandas as pd
import pytest

from forecasting.quantiles import check_quantiles, error_scales, quantile_column, quantiles_from_errors


def test_quantile_column_names():
    assert quantile_column(0.5) == "q50"
    assert quantile_column(0.9) == "q90"
    assert quantile_column(0.95) == "q95"
    assert quantile_column(0.975) == "q97.5"
    assert quantile_column(0.01) == "q1"
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError):
            quantile_column(bad)
    assert check_quantiles([0.95, 0.5, 0.9, 0.5]) == (0.5, 0.9, 0.95)


def _errors(n_series, horizon, origins, scale, rng):
    s = np.repeat(np.arange(n_series), horizon * origins)
    h = np.tile(np.repeat(np.arange(1, horizon + 1), origins), n_series)
    e = rng.normal(0, 1, s.size) * np.asarray(scale)[s] * np.sqrt(h)
    return s, h, e


def test_pooled_quantiles_match_the_error_distribution():
    rng = np.random.default_rng(0)
    n, H = 200, 4
    scale = rng.uniform(1, 5, n)
    s, h, e = _errors(n, H, 3, scale, rng)
    means = np.full((n, H), 100.0)
    res = quantiles_from_errors(means, s, h, e, np.full(n, 100.0), np.array(["smooth"] * n), (0.5, 0.9))
    assert res.method == "pooled_errors"
    # q90 - mean ~ 1.2816 * sd; with scaled pooling the width follows each series' scale
    width = res.values[:, :, 1] - means
    expected = 1.2816 * scale[:, None] * np.sqrt(np.arange(1, H + 1))[None, :]
    assert np.median(width / expected) == pytest.approx(1.0, abs=0.15)
    # the width grows with the step, because the pool is per step
    assert np.all(np.diff(width.mean(axis=0)) > 0)


def test_monotone_clipped_and_capped():
    rng = np.random.default_rng(1)
    n, H = 60, 3
    s, h, e = _errors(n, H, 4, np.full(n, 3.0), rng)
    means = np.full((n, H), 0.5)  # low mean: lower quantiles would go negative
    cap = np.full(n, 4.0)
    res = quantiles_from_errors(means, s, h, e, np.full(n, 2.0), np.array(["x"] * n), (0.1, 0.5, 0.9, 0.99), cap=cap)
    v = res.values
    assert np.all(v >= 0) and np.all(v <= 4.0) and np.all(np.isfinite(v))
    assert np.all(np.diff(v, axis=2) >= 0)
    assert (v[:, :, 0] == 0).all()


def test_series_without_errors_borrow_the_class_relative_error():
    # scale_i = (n_i MAE_i + n0 r_g level_i) / (n_i + n0)
    mae = np.array([2.0, 4.0, 0.0])
    n_err = np.array([40.0, 40.0, 0.0])
    level = np.array([10.0, 20.0, 50.0])
    groups = np.array(["a", "a", "a"])
    scales = error_scales(mae, n_err, level, groups, prior_weight=10, min_errors=20)
    r = 0.2  # both informative series have MAE / level = 0.2
    assert scales[2] == pytest.approx(r * 50.0)
    assert scales[0] == pytest.approx((40 * 2.0 + 10 * r * 10.0) / 50)


def test_short_series_get_wider_quantiles():
    rng = np.random.default_rng(2)
    n, H = 80, 4
    s, h, e = _errors(n, H, 3, np.full(n, 2.0), rng)
    means = np.full((n + 1, H), 10.0)
    level = np.full(n + 1, 10.0)
    groups = np.array(["smooth"] * n + ["short"])
    short = np.array([False] * n + [True])
    res = quantiles_from_errors(means, s, h, e, level, groups, (0.5, 0.95), short=short, short_widen=1.5)
    # the new series has no own errors: prior scale (median class ratio x level) x 1.5
    long_scale = np.median(res.scales[:n])
    assert res.scales[n] == pytest.approx(1.5 * long_scale, rel=0.15)
    assert res.values[n, :, 1].mean() - 10 > res.values[:n, :, 1].mean() - 10


def test_poisson_fallback_without_any_error():
    means = np.array([[4.0, 4.0], [0.0, 0.0]])
    empty = np.array([], dtype=int)
    res = quantiles_from_errors(means, empty, empty, np.array([]), np.array([4.0, 0.0]), np.array(["short", "no_demand"]), (0.5, 0.9))
    assert res.method == "poisson"
    np.testing.assert_array_equal(res.values[0, 0], [4.0, 7.0])  # Poisson(4) median 4, q90 7
    np.testing.assert_array_equal(res.values[1], 0.0)


def test_integer_quantiles_keep_coverage_of_count_demand():
    from forecasting.quantiles import coverage_by_class, integer_quantiles

    rng = np.random.default_rng(5)
    y = rng.poisson(0.3, size=4000).astype(float)  # P(Y = 0) = 0.74
    q = np.full((1, y.size, 2), [0.6, 1.4])  # continuous quantiles between the integers
    floored = integer_quantiles(q, [True])
    assert floored[0, 0].tolist() == [0.0, 1.0]
    assert integer_quantiles(q, [False])[0, 0].tolist() == [0.6, 1.4]
    assert np.mean(y <= q[0, :, 1]) == np.mean(y <= floored[0, :, 1])
    frame = pd.DataFrame({"actual": y, "q50": floored[0, :, 0], "q90": floored[0, :, 1], "demand_class": "lumpy"})
    cov = coverage_by_class(frame, (0.5, 0.9)).set_index("demand_class")
    # the integer median 0 covers every zero (74 %): discreteness, not a wrong quantile,
    # which the strictly-below share (0) brackets
    assert cov.loc["lumpy", "coverage_q50"] == pytest.approx(np.mean(y == 0))
    assert cov.loc["lumpy", "below_q50"] == 0.0
    assert cov.loc["lumpy", "below_q90"] <= 0.9 <= cov.loc["lumpy", "coverage_q90"]


def test_backtest_bias_is_not_carried_into_the_quantiles_unless_asked():
    rng = np.random.default_rng(3)
    n, H = 200, 4
    scale = rng.uniform(1, 5, n)
    s, h, e = _errors(n, H, 3, scale, rng)
    e = e + 2.0 * scale[s]  # the backtest under-forecast by two scale units throughout
    means = np.full((n, H), 100.0)
    args = (means, s, h, e, np.full(n, 100.0), np.array(["smooth"] * n), (0.5, 0.9))
    centred = quantiles_from_errors(*args)
    shifted = quantiles_from_errors(*args, center=False)
    # centred: the median sits on the mean forecast, the spread is kept
    assert np.median(np.abs(centred.values[:, :, 0] - means)) < 0.2 * np.median(scale)
    assert np.median(shifted.values[:, :, 0] - means) > 1.0 * np.median(scale)
    spread_c = centred.values[:, :, 1] - centred.values[:, :, 0]
    spread_s = shifted.values[:, :, 1] - shifted.values[:, :, 0]
    assert np.median(spread_c / spread_s) == pytest.approx(1.0, abs=0.1)


def test_scale_exponent_recovers_the_power_law_within_classes():
    from forecasting.quantiles import scale_exponent

    level = np.array([1.0, 4.0, 16.0, 64.0] * 3)
    n = np.full(level.size, 50)
    one = np.array(["a"] * level.size)
    # Poisson law MAE ~ sqrt(level), constant relative error MAE ~ level
    assert scale_exponent(0.8 * np.sqrt(level), n, level, one, 20, min_series=4) == pytest.approx(0.5)
    assert scale_exponent(0.3 * level, n, level, one, 20, min_series=4) == pytest.approx(1.0)
    # slope 0.75 in each of two classes with different intercepts: the class means are
    # removed, so the pooled slope (which would mix the intercepts in) does not leak in
    two = np.array(["a"] * 4 + ["b"] * 4)
    lv = np.array([1.0, 2.0, 4.0, 8.0, 100.0, 200.0, 400.0, 800.0])
    mae = np.where(two == "a", 5.0, 0.01) * lv**0.75
    assert scale_exponent(mae, np.full(8, 50), lv, two, 20, min_series=4) == pytest.approx(0.75)
    # outside [1/2, 1] it is clipped; too few informative series or equal levels: 1
    assert scale_exponent(0.1 * level**0.2, n, level, one, 20, min_series=4) == 0.5
    assert scale_exponent(0.1 * level**1.4, n, level, one, 20, min_series=4) == 1.0
    assert scale_exponent(0.8 * np.sqrt(level), np.where(np.arange(12) < 3, 50, 5), level, one, 20, min_series=4) == 1.0
    assert scale_exponent(np.arange(1.0, 13.0), n, np.full(12, 5.0), one, 20, min_series=4) == 1.0


def test_new_series_borrow_the_level_law_of_established_series():
    # established series follow the Poisson law MAE = 0.8 sqrt(level); a new series
    # (class "short", no informative member) at level 0.25 borrows 0.8 * 0.25^0.5 = 0.4,
    # not the proportional prior median(MAE/level) * 0.25
    level = np.array([1.0, 4.0, 16.0, 64.0] * 3 + [0.25])
    n = level.size
    H = 2
    k = 12 * 25  # 25 errors per established series: n_i >= min_errors (2 H)
    rng = np.random.default_rng(7)
    s = np.repeat(np.arange(12), 25)
    h = np.tile(np.array([1, 2] * 12 + [1]), 12)
    sign = np.where(rng.random(k) < 0.5, -1.0, 1.0)
    e = sign * 0.8 * np.sqrt(level[s])  # |e| = MAE exactly
    groups = np.array(["smooth"] * 12 + ["short"])
    means = np.tile(level[:, None], (1, H))
    res = quantiles_from_errors(means, s, h, e, level, groups, (0.5, 0.9), prior_weight=2.0)
    assert res.scale_exponent == pytest.approx(0.5)
    assert res.scales[-1] == pytest.approx(0.8 * 0.5)  # r = 0.8, level^0.5 = 0.5
    # established series keep the proportional prior of their class: with their own
    # MAE equal to the prior at the class median only, hand-check one of them
    ratio = np.median(0.8 * np.sqrt(level[:12]) / level[:12])
    assert res.scales[0] == pytest.approx((25 * 0.8 + 2.0 * ratio * 1.0) / 27)
    # proportional prior for the new series when asked (beta=1): median ratio x level
    fixed = quantiles_from_errors(means, s, h, e, level, groups, (0.5, 0.9), prior_weight=2.0, beta=1.0)
    assert fixed.scales[-1] == pytest.approx(ratio * 0.25)
    assert res.scales[-1] > 2 * fixed.scales[-1]


def test_calibration_table_reports_the_range_of_single_fold_coverage():
    from forecasting.quantiles import calibrate_levels

    base = (np.arange(100) + 0.5) / 100  # 100 evenly spaced values in (0, 1)
    # identical folds: every held-out fold is covered exactly like the pool
    z = np.tile(base, 3)
    folds = np.repeat([0, 1, 2], 100)
    _, table = calibrate_levels(z, np.array(["a"] * z.size), folds, (0.9,))
    row = table.set_index("demand_class").loc["a"]
    assert row["fold_min_coverage_q90"] == row["fold_max_coverage_q90"] == pytest.approx(row["coverage_q90"])
    # shifted folds: the middle fold is covered at 0.9 by the nominal level, the fold
    # shifted up by 0.2 is the worst, the one shifted down the best
    z = np.concatenate([base - 0.2, base, base + 0.2])
    _, table = calibrate_levels(z, np.array(["a"] * z.size), folds, (0.9,), search=(0.0, 0.0))
    row = table.set_index("demand_class").loc["a"]
    # held out +0.2: the top 20 of the other 200 values are base's 0.805..0.995, so the
    # q90 threshold is 0.796 and 60 of base + 0.2 (0.205..0.795) lie below it
    assert row["fold_min_coverage_q90"] == pytest.approx(0.60)
    # held out -0.2: the threshold 0.996 lies above every value of base - 0.2
    assert row["fold_max_coverage_q90"] == pytest.approx(1.0)
    assert row["fold_min_coverage_q90"] < row["coverage_q90"] < row["fold_max_coverage_q90"]


def test_out_of_window_mae_matches_a_direct_count():
    from forecasting.quantiles import out_of_window_mae

    rng = np.random.default_rng(3)
    n_series, H = 5, 4
    s = rng.integers(0, n_series, 300)
    o = rng.integers(10, 20, 300) + 7 * s  # each series on its own time axis
    h = rng.integers(1, H + 1, 300)
    e = rng.normal(0, 3, 300)
    n_out, mae_out = out_of_window_mae(s, o, h, e, H, n_series)
    t = o + h - 1
    for j in range(s.size):
        other = (s == s[j]) & ((t < o[j]) | (t >= o[j] + H))
        assert n_out[j] == other.sum()
        assert mae_out[j] == pytest.approx(np.abs(e[other]).mean() if other.any() else 0.0)


def test_cross_fitting_by_time_keeps_held_out_coverage_when_origins_overlap():
    # The error of a target period is that period's shock whatever the origin, as when
    # the origins forecast the same periods (default step H/3). Leaving out only the
    # error's own origin keeps the shared shocks in the scale and under-covers.
    rng = np.random.default_rng(1)
    n, H, step, T = 3000, 6, 2, 40
    scale = np.exp(rng.normal(0, 0.5, n)) * 10
    shocks = rng.normal(0, 1, (n, T + H)) * scale[:, None]
    origins = [T - H - k * step for k in range(3)]
    s = np.tile(np.repeat(np.arange(n), H), 3)
    o = np.repeat(origins, n * H)
    h = np.tile(np.arange(1, H + 1), 3 * n)
    e = shocks[s, o + h - 1]
    means = np.full((n, H), 1000.0)
    held = means + shocks[:, T:]

    def coverage(err_origins):
        r = quantiles_from_errors(means, s, h, e, np.full(n, 1000.0), np.array(["smooth"] * n), (0.9, 0.95),
                                  err_origins=err_origins)
        return np.mean(held <= r.values[:, :, 0]), np.mean(held <= r.values[:, :, 1])

    q90, q95 = coverage(o)
    assert abs(q90 - 0.90) < 0.015 and abs(q95 - 0.95) < 0.015
    # origins 100x apart: no window holds another origin's errors = leave one origin out
    q90_origin, _ = coverage(o * 100)
    assert q90 - q90_origin > 0.008


def test_the_prior_follows_each_series_noise_not_only_its_level():
    # Two kinds of series at the same level: calm ones (noise 1) and noisy ones (noise 4),
    # each erring in proportion to its noise; a newcomer of each kind has one origin only.
    from forecasting.quantiles import seasonal_noise

    rng = np.random.default_rng(3)
    n, H = 120, 6
    noise = np.where(np.arange(n) % 2 == 0, 1.0, 4.0)
    s, h, e = _errors(n, H, 3, 0.8 * noise, rng)
    keep = (s < n - 2) | (h <= H)  # all series keep their errors ...
    first_origin_only = np.zeros(s.size, bool)
    for i in (n - 2, n - 1):  # ... but the last two keep one origin's worth (H errors)
        idx = np.flatnonzero(s == i)
        first_origin_only[idx[H:]] = True
    keep &= ~first_origin_only
    s, h, e = s[keep], h[keep], e[keep]
    means = np.full((n, H), 50.0)
    level = np.full(n, 50.0)
    cls = np.array(["smooth"] * n)
    by_level = quantiles_from_errors(means, s, h, e, level, cls, (0.9,))
    by_noise = quantiles_from_errors(means, s, h, e, level, cls, (0.9,), noise=noise)
    mae = np.array([np.abs(e[s == i]).mean() for i in range(n)])
    n_err = np.bincount(s, minlength=n)
    ratio = np.median(mae[:-2] / noise[:-2])
    # s_i = (n_i MAE_i + 3 H r d_i) / (n_i + 3 H) with r the class's median MAE / noise
    expected = (n_err * mae + 3 * H * ratio * noise) / (n_err + 3 * H)
    np.testing.assert_allclose(by_noise.scales, expected, rtol=1e-12)
    # a newcomer's band follows its kind: the noisy one's is about 4 x the calm one's
    calm, noisy = by_noise.scales[n - 2], by_noise.scales[n - 1]
    assert noisy / calm > (by_level.scales[n - 1] / by_level.scales[n - 2]) and noisy / calm > 2.5
    # a series without noise (flat history before its first origin) keeps the level prior
    flat = quantiles_from_errors(means, s, h, e, level, cls, (0.9,), noise=np.where(np.arange(n) == 0, 0.0, noise))
    assert flat.scales[0] == pytest.approx(
        (n_err[0] * mae[0] + H * np.median(mae[n_err >= 2 * H] / 50.0) * 50.0) / (n_err[0] + H))
    assert seasonal_noise([2.0, 2.0, 2.0], 1) == 0.0 and seasonal_noise([3.0], 4) == 0.0
