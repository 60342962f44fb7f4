"""Multi-origin re-runs (``SeriesModel.forecast_origins``) equal one fit per origin.

The rolling-origin backtest asks a frozen model for all later origins at once; models
with a compiled or vectorised path must give what ``copy(model).fit(y[:o]).predict(h)``
gives at every origin (to rounding), and the same error where that fit raises.
"""

import copy

import numpy as np
import pytest

from forecasting.core import ForecastConfig, forecast_series
from forecasting.models import MODELS, GroupSeasonCombination, make_model
from forecasting.models.base import SeriesModel
from forecasting.models.seasonality import MIN_INDEX, group_seasonal_indices, smooth_circular, trend_season_fit
from forecasting.shapes import BorrowedShape

H = 13


def _one_by_one(model, y, origins, h=H):
    out = []
    for o in origins:
        try:
            out.append((copy.copy(model).fit(y[:o]).predict(h), None))
        except Exception as exc:
            out.append((None, exc))
    return out


def _assert_same(got, want, rtol=1e-12):
    assert len(got) == len(want)
    for (f, e), (fw, ew) in zip(got, want):
        assert (e is None) == (ew is None), (e, ew)
        if e is None:
            np.testing.assert_allclose(f, fw, rtol=rtol, atol=1e-12)
        else:
            assert type(e) is type(ew) and str(e) == str(ew)


def _series(kind, n, m, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    season = 1 + 0.4 * np.sin(2 * np.pi * t / max(m, 1))
    if kind == "smooth":
        return rng.poisson(30 * season * (1 + 0.002 * t)).astype(float)
    if kind == "low":  # many zeros: adjusted series not positive, additive error forms
        return rng.poisson(0.8 * season).astype(float)
    if kind == "intermittent":
        return ((rng.random(n) < 0.15) * rng.gamma(1.5, 5.0, n)).round()
    if kind == "zeros":
        return np.zeros(n)
    return np.maximum(0.0, 40 * season + rng.normal(0, 12, n))  # continuous, trended


KINDS = ["smooth", "low", "intermittent", "zeros", "noisy"]


@pytest.mark.parametrize("name", sorted(n for n in MODELS if n not in ("arima",)))
@pytest.mark.parametrize("kind", KINDS)
def test_frozen_model_at_many_origins_equals_one_fit_per_origin(name, kind):
    # every registered model, fitted at the first origin and frozen, as the backtest does
    m = 12
    y = _series(kind, 90, m, seed=len(name) + len(kind))
    origins = list(range(42, 91, 6))
    model = make_model(name, m)
    try:
        model.fit(y[: origins[0]])
    except Exception:
        return  # a model that cannot fit this series is the backtest's fallback case
    frozen = model.frozen()
    _assert_same(frozen.forecast_origins(y, origins[1:], H), _one_by_one(frozen, y, origins[1:]))


@pytest.mark.parametrize("m", [1, 4, 12, 52])
@pytest.mark.parametrize("kind", KINDS)
def test_theta_compiled_origins_cover_seasonal_and_plain_windows(m, kind):
    # windows under and over two seasons, positive (multiplicative) and with zeros (additive)
    y = _series(kind, 3 * max(m, 12) + 20, m, seed=m)
    origins = list(range(max(4, 2 * m - 8), y.size + 1, 4))
    for name in ("theta", "theta_opt"):
        model = make_model(name, m)
        model.fit(y[: origins[0]])
        frozen = model.frozen()
        _assert_same(frozen.forecast_origins(y, origins[1:], H), _one_by_one(frozen, y, origins[1:]))


@pytest.mark.parametrize("name, params", [("croston", {}), ("sba", {"alpha": 0.3}), ("tsb", {"beta": 0.2}),
                                          ("adida", {}), ("adida", {"bucket": 3}), ("moving_average", {"window": 5}),
                                          ("seasonal_naive", {}), ("naive", {})])
def test_baselines_and_intermittent_models_from_the_first_period(name, params):
    # from one period on: seasonal naive raises before a full season, as its fit does
    rng = np.random.default_rng(7)
    y = ((rng.random(60) < 0.3) * rng.gamma(2.0, 3.0, 60)).round()
    y[:4] = 0.0  # no demand yet at the first origins (Croston: rate 0, ADIDA: bucket 1)
    model = make_model(name, 12, **params)
    origins = list(range(model.min_length, 61, 3))
    _assert_same(model.forecast_origins(y, origins, H), _one_by_one(model, y, origins), rtol=0)


def test_bad_history_fails_per_origin_as_the_fit_does():
    y = np.r_[np.ones(30), np.nan, np.ones(10)]
    for name in ("moving_average", "croston", "tsb", "adida", "theta"):
        got = make_model(name, 4).forecast_origins(y, [20, 35], H)
        assert got[0][1] is None and "NaN" in str(got[1][1])


def test_borrowed_shape_uses_the_profile_known_at_each_origin():
    m = 12
    rng = np.random.default_rng(3)
    y = rng.poisson(10, 80).astype(float)
    stack = np.stack([1 + 0.3 * np.cos(np.arange(m) + k) for k in range(3)])
    model = BorrowedShape(stack, window=6, known_from=[20, 40, 60])
    origins = [10, 20, 30, 45, 61, 80]  # the first before any profile was known: its error
    got = model.forecast_origins(y, origins, H)
    assert got[0][0] is None and "no seasonal profile" in str(got[0][1])
    _assert_same(got, _one_by_one(model, y, origins), rtol=0)


# ---- the grouped combination's compiled backtest -------------------------------------

M = 52
WAVE = np.sin(2 * np.pi * np.arange(M) / M)


def _group_indices_numpy(y, m, g, window):
    """group_seasonal_indices as written in numpy before it was compiled (the reference)."""
    g = g / g.mean()
    c, _, sigma2, counts = trend_season_fit(y, m)
    level = float(c.mean())
    if not level > 0:
        return g
    r = c / level
    v = sigma2 / (level * level * float(np.mean(counts)))
    gd = g - 1.0
    den = float(gd @ gd)
    beta = max(0.0, float((r - 1.0) @ gd) / den) if den > 0 else 0.0
    base = 1.0 + beta * gd
    dev = smooth_circular(r - base, window)
    dev = dev - dev.mean()
    spread = float(np.mean(dev**2))
    shrink = max(0.0, 1.0 - v / (window * spread)) if spread > 0 else 0.0
    idx = np.maximum(base + shrink * dev, MIN_INDEX)
    return idx / idx.mean()


@pytest.mark.parametrize("seed", range(6))
def test_compiled_group_indices_equal_the_numpy_steps(seed):
    rng = np.random.default_rng(seed)
    m = [12, 52, 7][seed % 3]
    n = int(rng.integers(2 * m, 4 * m))
    t = np.arange(n)
    y = rng.poisson(rng.uniform(0.3, 40) * (1 + 0.4 * np.sin(2 * np.pi * t / m))).astype(float)
    g = 1 + rng.uniform(0, 0.8) * np.cos(2 * np.pi * np.arange(m) / m + seed)
    for window in (1, 3, 5):
        np.testing.assert_allclose(group_seasonal_indices(y, m, g, window), _group_indices_numpy(y, m, g, window),
                                   rtol=1e-12, atol=1e-14)
    flat = np.zeros(n)  # no demand: level 0, the group profile itself
    np.testing.assert_allclose(group_seasonal_indices(flat, m, g), g / g.mean(), rtol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("first", [95, 110])  # plain then grouped windows; grouped from the start
def test_grouped_combination_at_many_origins_equals_one_fit_per_origin(kind, first):
    y = _series(kind, 160, M, seed=first)
    profile = np.stack([1 + 0.5 * WAVE, 1 + 0.4 * np.roll(WAVE, 3)])
    model = GroupSeasonCombination(profile, season_length=M, known_from=[0, 120])
    origins = list(range(first, 161 - 4, 4))
    model.fit(y[: origins[0]])
    got = model.frozen().forecast_origins(y, origins[1:], H)
    # the reference frozen copy starts from the same modes as the compiled one did
    model2 = GroupSeasonCombination(profile, season_length=M, known_from=[0, 120])
    model2.fit(y[: origins[0]])
    _assert_same(got, _one_by_one(model2.frozen(), y, origins[1:]), rtol=1e-10)


def test_grouped_combination_falls_back_per_origin_where_a_member_fails(monkeypatch):
    # a multiplicative-error ETS member on a window with a zero: additive instead, and a
    # member that fails its filter is left out at that origin only (the Python path)
    from forecasting.models import _kernels

    rng = np.random.default_rng(11)
    y = rng.poisson(25 * (1 + 0.5 * WAVE)[np.arange(150) % M]).astype(float)
    model = GroupSeasonCombination(1 + 0.5 * WAVE, season_length=M).fit(y[:110])
    frozen = model.frozen()
    calls = []
    real = SeriesModel.forecast_origins
    monkeypatch.setattr(SeriesModel, "forecast_origins",
                        lambda self, yy, oo, hh: (calls.extend(oo), real(self, yy, oo, hh))[1])
    real_kernel = _kernels.frozen_group_combination

    def kernel(*args):
        real_kernel(*args)
        args[-1][1] = False  # pretend the second origin saw a member fail

    monkeypatch.setattr(_kernels, "frozen_group_combination", kernel)
    origins = [114, 118, 122]
    got = frozen.forecast_origins(y, origins, H)
    assert calls == [118]
    _assert_same(got, _one_by_one(GroupSeasonCombination(1 + 0.5 * WAVE, season_length=M).fit(y[:110]).frozen(),
                                  y, origins), rtol=1e-10)


def test_grouped_backtest_scores_equal_one_fit_per_origin(monkeypatch):
    # the whole per-series backtest with and without the multi-origin paths
    rng = np.random.default_rng(5)
    y = rng.poisson(30 * (1 + 0.5 * WAVE)[np.arange(156) % M]).astype(float)
    cfg = ForecastConfig(horizon=H, season_length=M, backtest_windows=13, backtest_step=4)
    profile = 1 + 0.5 * WAVE
    fast = forecast_series(y, cfg, profile=profile)

    def one_by_one(self, yy, oo, hh):
        return _one_by_one(self, yy, oo, hh)

    for cls in {type(make_model(n, M)) for n in MODELS} | {GroupSeasonCombination, BorrowedShape}:
        if "forecast_origins" in vars(cls):
            monkeypatch.setattr(cls, "forecast_origins", one_by_one)
    slow = forecast_series(y, cfg, profile=profile)
    assert fast.model == slow.model
    np.testing.assert_allclose(fast.mean, slow.mean, rtol=1e-12)
    for name, scores in slow.candidate_scores.items():
        for key in ("mase", "rmsse", "wape", "bias"):
            assert fast.candidate_scores[name][key] == pytest.approx(scores[key], rel=1e-9, nan_ok=True)


@pytest.mark.parametrize("kind", KINDS)
def test_caps_of_all_origins_equal_the_cap_of_each_window(kind):
    from forecasting.backtest import forecast_cap, forecast_caps

    y = _series(kind, 120, 12, seed=9)
    y[60:] = np.where(kind == "noisy", 0.0, y[60:])  # (a collapse: the recent window moves)
    origins = [0, 1, 5, 13, 40, 61, 75, 100, 120]
    want = [forecast_cap(y[:o], 3.0, 12, 6) for o in origins]
    np.testing.assert_array_equal(forecast_caps(y, origins, 3.0, 12, 6), want)


@pytest.mark.parametrize("kind", ["smooth", "low", "intermittent"])
def test_compiled_long_season_profile_is_the_python_one(kind):
    # the weekly Theta backtest's compiled adjustment: both a profile and one shrunk away
    from forecasting.models import _kernels
    from forecasting.models.seasonality import long_season_profile, smoothing_window

    y = _series(kind, 176, 52, seed=52)
    seen = set()
    for n in (104, 140, 176):
        idx = np.empty(52)
        seasonal = _kernels.long_profile_of(y, n, 52, smoothing_window(None, 52), idx)
        want = long_season_profile(y[:n], 52)
        seen.add(bool(seasonal))
        assert seasonal == bool(np.any(want != 0))
        np.testing.assert_allclose(idx, want, rtol=1e-12, atol=1e-12)
    assert seen == ({True} if kind == "smooth" else {True, False})
