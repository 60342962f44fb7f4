"""The per-series backtest memo gives exactly what fitting the models one by one gives."""

import warnings

import numpy as np
import pytest

from forecasting import metrics
from forecasting.backtest import check_forecast, rolling_origins
from forecasting.core import ForecastConfig, _Backtest, _origin_score, forecast_series
from forecasting.models import MODELS, Combination, Theta
from forecasting.models.base import SeriesModel


def _series(n=84, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 0.5 * t + 15 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 4, n)


def _manual(model, y, origins, h):
    """Reference: a fresh fit at the first origin, its frozen copy at the later ones."""
    out, first = [], None
    for o in origins:
        m = model if first is None else first.frozen()
        m.fit(y[:o])
        first = first or m
        out.append(m.predict(h))
    return out


class Flaky(SeriesModel):
    """Fails when the training window is at least ``fail_from`` periods long."""

    name = "flaky"
    min_length = 2

    def __init__(self, season_length=1, fail_from=10**9, bad=False):
        self.season_length = season_length
        self.fail_from = fail_from
        self.bad = bad

    def _fit(self, y):
        if y.size >= self.fail_from:
            raise RuntimeError("too long")
        self.level_ = float(y[-6:].mean())

    def _predict(self, h):
        return np.full(h, np.nan if self.bad else self.level_)


def test_combination_and_members_match_one_by_one_fits_and_theta_is_fitted_once(monkeypatch):
    y, h = _series(), 18
    origins = rolling_origins(y.size, h, 3, 6)
    bt = _Backtest(y, origins, h, 12, "mase")
    calls = []
    real_fit, real_origins = Theta._fit, Theta.forecast_origins
    monkeypatch.setattr(Theta, "_fit", lambda self, yy: (calls.append(yy.size), real_fit(self, yy))[1])
    monkeypatch.setattr(Theta, "forecast_origins",
                        lambda self, yy, oo, hh: (calls.extend(oo), real_origins(self, yy, oo, hh))[1])
    combo = [bt.forecast(Combination(season_length=12), k) for k in range(len(origins))]
    theta = [bt.forecast(Theta(season_length=12), k) for k in range(len(origins))]
    # theta: fitted at the first origin, re-run at the later ones in one batch, once
    # for the combination and the candidate together (forecast_origins may fit per
    # origin too, as the default does: count each origin once)
    assert sorted(set(calls)) == origins and calls.count(origins[0]) == 1 and calls.count(origins[1]) == 1
    # the compiled re-runs of the later origins agree with one fit per origin to rounding
    for got, want in zip(combo, _manual(Combination(season_length=12), y, origins, h)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for got, want in zip(theta, _manual(Theta(season_length=12), y, origins, h)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("params, first_fails", [
    ({"fail_from": 60}, False),        # origins 54, 60, 66: fails at the later two only
    ({"fail_from": 0}, True),          # fails at the first origin: left out everywhere
    ({"bad": True}, True),             # non-finite forecast: left out
])
def test_combination_with_a_failing_member_matches_combination_model(monkeypatch, params, first_fails):
    monkeypatch.setitem(MODELS, "flaky", Flaky)
    y, h = _series(), 18
    origins = rolling_origins(y.size, h, 3, 6)
    make = lambda: Combination(season_length=12, members=("theta", "flaky"), member_params={"flaky": params})
    bt = _Backtest(y, origins, h, 12, "mase")
    got = [bt.forecast(make(), k) for k in range(len(origins))]
    assert origins == [54, 60, 66]
    ref = make().fit(y[: origins[0]])
    assert ("flaky" in ref.failed_) == first_fails
    if not first_fails:  # the frozen copy still holds it, and it fails at the later origins
        assert "flaky" in ref.frozen().fit(y[: origins[1]]).failed_
    for g, want in zip(got, _manual(make(), y, origins, h)):
        np.testing.assert_allclose(g, want, rtol=1e-12)


def test_combination_whose_members_all_fail_raises_at_that_origin(monkeypatch):
    monkeypatch.setitem(MODELS, "flaky", Flaky)
    y, h = _series(), 18
    origins = rolling_origins(y.size, h, 3, 6)
    bt = _Backtest(y, origins, h, 12, "mase")
    combo = Combination(season_length=12, members=("flaky",), member_params={"flaky": {"fail_from": 60}})
    assert bt.forecast(combo, 0).shape == (h,)
    with pytest.raises(ValueError, match="every member failed"):
        bt.forecast(combo, 1)


def test_refit_mode_fits_fresh_at_every_origin():
    y, h = _series(), 18
    origins = rolling_origins(y.size, h, 3, 6)
    bt = _Backtest(y, origins, h, 12, "mase", refit=True)
    for k, o in enumerate(origins):
        np.testing.assert_array_equal(bt.forecast(Combination(season_length=12), k),
                                      Combination(season_length=12).fit(y[:o]).predict(h))


@pytest.mark.parametrize("select_by", ["mase", "rmsse", "wape"])
@pytest.mark.parametrize("n, m, windows", [(84, 12, 3), (30, 12, 4), (6, 12, 3)])
def test_scores_use_the_metrics_formulas(select_by, n, m, windows):
    # (30, 12): origins 3, 6, 12 (lag-1 MASE scale, partial steps); (6, 12): origin 3 only
    y, h = _series(n), 18
    y[:5] = 4.0  # flat start: a zero MASE scale at origin 3, the selection scale falls back
    origins = rolling_origins(y.size, h, windows, 6)
    assert origins[0] == 3 or n == 84
    bt = _Backtest(y, origins, h, m, select_by, max_multiple=3.0)
    rng = np.random.default_rng(0)
    raws = [np.minimum(y[o:o + h].mean() + rng.normal(0, 3, h), 2.9 * y[:o].max()) for o in origins]
    F, bad = bt.guard(raws)
    assert bad is None
    runs, ranks, got = bt.evaluate(F)
    for (o, a, f), raw in zip(runs, raws):
        np.testing.assert_array_equal(f, check_forecast(raw, h, 3.0 * y[:o].max())[: a.size])
        np.testing.assert_array_equal(a, y[o:o + h])
    want = [_origin_score(select_by, y[:o], a, f, m) for o, a, f in runs]
    np.testing.assert_allclose(ranks, want, rtol=1e-12)
    with warnings.catch_warnings():  # all-nan origins: nanmean warns
        warnings.simplefilter("ignore")
        want_mase = np.nanmean([metrics.mase(a, f, y[:o], m) for o, a, f in runs])
        want_rmsse = np.nanmean([metrics.rmsse(a, f, y[:o]) for o, a, f in runs])
    assert got["mase"] == pytest.approx(want_mase, rel=1e-12, nan_ok=True)
    assert got["rmsse"] == pytest.approx(want_rmsse, rel=1e-12, nan_ok=True)
    a_all = np.concatenate([a for _, a, _ in runs])
    f_all = np.concatenate([f for _, _, f in runs])
    assert got["wape"] == pytest.approx(metrics.wape(a_all, f_all), rel=1e-12)
    assert got["bias"] == pytest.approx(metrics.bias(a_all, f_all), rel=1e-12)


def test_guard_reports_the_first_failing_origin():
    y, h = _series(), 18
    origins = rolling_origins(y.size, h, 3, 6)
    bt = _Backtest(y, origins, h, 12, "mase", max_multiple=3.0)
    good = np.full(h, 100.0)
    assert bt.guard([good, np.r_[good[:-1], np.nan], np.full(h, 1e9)])[1] == 1
    assert bt.guard([good, good, np.full(h, 1e9)])[1] == 2
    assert bt.guard([good, good[:5]])[1] == 1
    F, bad = bt.guard([good - 200.0])
    assert bad is None and np.all(F == 0)


def test_forecast_series_combo_backtest_equals_the_combination_model():
    y = _series(96, seed=7)
    cfg = ForecastConfig(horizon=12, season_length=12, backtest_windows=4, backtest_step=3)
    out = forecast_series(y, cfg)
    origins = rolling_origins(y.size, 12, 4, 3)
    combo_scores = out.candidate_scores["combo"]
    want = [np.clip(f, 0, 3 * y[:o].max())[: y[o:o + 12].size]
            for o, f in zip(origins, _manual(Combination(season_length=12), y, origins, 12))]
    want_mase = np.mean([metrics.mase(y[o:o + 12], f, y[:o], 12) for o, f in zip(origins, want)])
    assert combo_scores["mase"] == pytest.approx(want_mase, rel=1e-12)


def test_models_with_abridged_params_are_not_shared():
    y, h = _series(), 18
    origins = rolling_origins(y.size, h, 3, 6)
    bt = _Backtest(y, origins, h, 12, "mase")
    a = Flaky(season_length=np.arange(2000.0))
    b = Flaky(season_length=np.r_[np.arange(1999.0), -1.0])
    assert "..." in repr(a) and bt.key(a) != bt.key(b)
    assert bt.key(Theta(season_length=12)) == bt.key(Theta(season_length=12))
