"""Closed forms and vectorised statistics equal the textbook computations they replace."""

import numpy as np
import pytest

from forecasting.models import AutoETS, seasonal_indices
from forecasting.models.base import check_series, line_fit
from forecasting.models.seasonality import acf


@pytest.mark.parametrize("n", [2, 3, 10, 37, 156])
def test_line_fit_equals_polyfit(n):
    x = np.random.default_rng(n).gamma(2.0, 10.0, n) + 0.3 * np.arange(n)
    np.testing.assert_allclose(line_fit(x), np.polyfit(np.arange(n, dtype=float), x, 1), rtol=1e-9, atol=1e-9)


def _seasonal_indices_lstsq(y, m, window):
    """The design-matrix least squares of seasonal_indices, step for step."""
    n = y.size
    pos = np.arange(n) % m
    counts = np.bincount(pos, minlength=m).astype(float)
    t = np.arange(n, dtype=float)
    design = np.zeros((n, m + 1))
    design[:, 0] = (t - t.mean()) / n
    design[np.arange(n), 1 + pos] = 1.0
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    raw = coef[1:] - coef[1:].mean()
    resid = y - design @ coef
    sigma2 = float(resid @ resid) / max(n - m - 1, 1)
    half = window // 2
    smooth = np.convolve(np.concatenate([raw[-half:], raw, raw[:half]]), np.ones(window) / window, "valid") if half else raw
    smooth = smooth - smooth.mean()
    spread = float(np.mean(smooth**2))
    shrink = max(0.0, 1.0 - sigma2 / (float(np.mean(counts)) * window) / spread)
    return shrink * smooth


@pytest.mark.parametrize("n, m, window", [(104, 52, 5), (135, 52, 5), (24, 12, 1), (61, 12, 3), (14, 7, 1)])
def test_seasonal_indices_closed_form_equals_lstsq(n, m, window):
    rng = np.random.default_rng(n + m)
    t = np.arange(n)
    y = 20 + 0.1 * t + 6 * np.sin(2 * np.pi * t / m) + rng.poisson(3, n)
    got = seasonal_indices(y, m, window)
    np.testing.assert_allclose(got, _seasonal_indices_lstsq(y, m, window), rtol=1e-9, atol=1e-10)
    assert np.any(got != 0)


@pytest.mark.parametrize("n, nlags", [(150, 52), (30, 12), (5, 8)])
def test_acf_equals_lag_by_lag_sums(n, nlags):
    y = np.random.default_rng(n).normal(10, 3, n)
    x = y - y.mean()
    want = [float(x[k:] @ x[: n - k]) / float(x @ x) if k < n else 0.0 for k in range(1, nlags + 1)]
    np.testing.assert_allclose(acf(y, nlags), want, rtol=1e-12, atol=1e-15)
    assert np.all(acf(np.full(n, 4.0), nlags) == 0)


@pytest.mark.parametrize("bad, message", [([1.0, np.nan], "NaN"), ([1.0, np.inf], "NaN or infinite"),
                                          ([1.0, -1.0], "negative"), ([1.0, -np.inf], "NaN or infinite")])
def test_check_series_fast_path_keeps_the_messages(bad, message):
    with pytest.raises(ValueError, match=message):
        check_series(bad)
    np.testing.assert_array_equal(check_series([0.0, 2.0]), [0.0, 2.0])


def test_frozen_autoets_refit_on_the_same_data_reproduces_the_fit():
    # the frozen copy keeps l0/b0 and skips the starting line: the same forecasts
    t = np.arange(60)
    y = 100 + t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(1).normal(0, 2, 60)
    fit = AutoETS(season_length=12).fit(y)
    np.testing.assert_allclose(fit.frozen().fit(y).predict(12), fit.predict(12), rtol=1e-10)
