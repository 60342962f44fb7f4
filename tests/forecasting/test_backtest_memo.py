"""The per-series backtest memo gives exactly what fitting the models one by one gives."""

import numpy as np
import pytest

from forecasting import metrics
from forecasting.backtest import rolling_origins
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
    real = Theta._fit
    monkeypatch.setattr(Theta, "_fit", lambda self, yy: (calls.append(yy.size), real(self, yy))[1])
    combo = [bt.forecast(Combination(season_length=12), k) for k in range(len(origins))]
    theta = [bt.forecast(Theta(season_length=12), k) for k in range(len(origins))]
    assert sorted(calls) == origins  # theta: once per origin, shared by the combination
    for got, want in zip(combo, _manual(Combination(season_length=12), y, origins, h)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(theta, _manual(Theta(season_length=12), y, origins, h)):
        np.testing.assert_array_equal(got, want)


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
        np.testing.assert_array_equal(g, want)


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


def test_scores_use_the_metrics_formulas():
    y, h = _series(), 18
    origins = rolling_origins(y.size, h, 3, 6)
    bt = _Backtest(y, origins, h, 12, "mase")
    rng = np.random.default_rng(0)
    runs = [(o, y[o:o + h], y[o:o + h] + rng.normal(0, 3, h)) for o in origins]
    got = bt.scores(runs)
    assert got["mase"] == pytest.approx(np.mean([metrics.mase(a, f, y[:o], 12) for o, a, f in runs]), rel=1e-12)
    assert got["rmsse"] == pytest.approx(np.mean([metrics.rmsse(a, f, y[:o]) for o, a, f in runs]), rel=1e-12)
    for o, a, f in runs:
        assert bt.origin_score(o, a, f) == _origin_score("mase", y[:o], a, f, 12)


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
