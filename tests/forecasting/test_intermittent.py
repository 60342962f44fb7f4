"""Intermittent-demand models against values computed by hand."""

import numpy as np
import pytest

from forecasting.models import ADIDA, SBA, TSB, Croston, SeasonalSBA, STLForecaster, make_model
from forecasting.models.intermittent import ses_level

Y = np.array([0.0, 3, 0, 0, 6, 0, 2, 0])


def test_croston_by_hand():
    # Demands 3 (t=1), 6 (t=4), 2 (t=6). z0 = 3, p0 = 2 (periods up to the first demand).
    # alpha = 0.2: t=4: z = 3 + 0.2 (6 - 3) = 3.6, interval 3: p = 2 + 0.2 (3 - 2) = 2.2;
    # t=6: z = 3.6 + 0.2 (2 - 3.6) = 3.28, interval 2: p = 2.2 + 0.2 (2 - 2.2) = 2.16.
    # f = 3.28 / 2.16 = 1.518518...
    model = Croston(alpha=0.2).fit(Y)
    assert model.size_ == pytest.approx(3.28)
    assert model.interval_ == pytest.approx(2.16)
    np.testing.assert_allclose(model.predict(3), 3.28 / 2.16)


def test_sba_by_hand():
    # SBA = Croston x (1 - alpha / 2) = 1.518518... x 0.9 = 1.366666...
    np.testing.assert_allclose(SBA(alpha=0.2).fit(Y).predict(2), 0.9 * 3.28 / 2.16)
    assert 0.9 * 3.28 / 2.16 == pytest.approx(1.3666667)


def test_tsb_by_hand():
    # alpha = 0.2 (size), beta = 0.5 (probability). z0 = 3 (first demand), p0 = 3/8.
    # t0 y=0: p = 0.1875          t1 y=3: p = 0.59375, z = 3 + 0.2 (3 - 3) = 3
    # t2 y=0: p = 0.296875        t3 y=0: p = 0.1484375
    # t4 y=6: p = 0.57421875, z = 3 + 0.2 (6 - 3) = 3.6
    # t5 y=0: p = 0.287109375     t6 y=2: p = 0.6435546875, z = 3.6 + 0.2 (2 - 3.6) = 3.28
    # t7 y=0: p = 0.32177734375.  f = p z = 0.32177734375 x 3.28 = 1.05542969
    model = TSB(alpha=0.2, beta=0.5).fit(Y)
    assert model.probability_ == pytest.approx(0.32177734375)
    assert model.size_ == pytest.approx(3.28)
    np.testing.assert_allclose(model.predict(4), 1.05542969, rtol=1e-8)


def test_tsb_decays_while_textbook_croston_does_not():
    y = np.r_[np.tile([0.0, 4.0], 10), np.zeros(12)]
    textbook = Croston(open_interval=False).fit(y).predict(1)[0]
    assert textbook == Croston(open_interval=False).fit(y[:20]).predict(1)[0]
    assert TSB(beta=0.2).fit(y).predict(1)[0] < 0.2 * textbook


def test_open_interval_by_hand():
    # Y then six more empty periods: the last demand is at t = 6, the first forecast
    # period T = 14, so the open interval is 8 periods, longer than p = 2.16:
    # p' = 2.16 + 0.2 (8 - 2.16) = 3.328 and f = 3.28 / 3.328 (Croston), x 0.9 (SBA).
    y = np.r_[Y, np.zeros(6)]
    np.testing.assert_allclose(Croston(alpha=0.2).fit(y).predict(3), 3.28 / 3.328)
    np.testing.assert_allclose(SBA(alpha=0.2).fit(y).predict(1), 0.9 * 3.28 / 3.328)
    np.testing.assert_allclose(Croston(alpha=0.2, open_interval=False).fit(y).predict(1), 3.28 / 2.16)
    # an open interval no longer than p (Y itself: T - t_last = 2 < 2.16) changes nothing
    assert Croston(alpha=0.2).fit(Y).interval_ == pytest.approx(2.16)


def test_one_sale_then_silence_decays_hyperbolically():
    # A new SKU whose history starts with its only sale: the textbook interval stays at
    # p0 = 1 and the forecast at (1 - alpha/2) z0 per period for ever; the open interval
    # k makes it (1 - alpha/2) z0 / (1 + alpha (k - 1)).
    for k in (10, 100, 1000):
        y = np.r_[5.0, np.zeros(k - 1)]
        assert SBA(alpha=0.1, open_interval=False).fit(y).predict(1)[0] == pytest.approx(4.75)
        assert SBA(alpha=0.1).fit(y).predict(1)[0] == pytest.approx(4.75 / (1 + 0.1 * (k - 1)))
    # the seasonal variant and its estimated alpha see the same silence
    rng = np.random.default_rng(3)
    live = ((rng.random(140) < 0.3) * rng.poisson(3, 140)).astype(float)
    dead = np.r_[live, np.zeros(140)]
    live_rate = SeasonalSBA(season_length=7).fit(live).rate_
    assert SeasonalSBA(season_length=7).fit(dead).rate_ < 0.25 * live_rate
    assert SeasonalSBA(season_length=7, open_interval=False).fit(dead).rate_ > 0.5 * live_rate


def test_adida_by_hand():
    # ADI = 8 / 3 = 2.67 -> bucket 3, from the end: [0, 6, 0] [2, 0, ...]: 8 periods,
    # usable 6 = y[2:] = [0, 0, 6 | 0, 2, 0] -> totals [6, 2]. SES l0 = 6, one step:
    # l = 6 + alpha (2 - 6); SSE is (2 - 6)^2 = 16 for every alpha, the first grid value
    # 0.05 is kept: l = 5.8, f = 5.8 / 3.
    model = ADIDA().fit(Y)
    assert model.bucket_ == 3
    np.testing.assert_allclose(model.predict(2), 5.8 / 3)
    # fixed bucket of 2: pairs [0, 3] [0, 0] [6, 0] [2, 0] -> totals [3, 0, 6, 2]
    lev, alpha = ses_level(np.array([3.0, 0.0, 6.0, 2.0]))
    np.testing.assert_allclose(ADIDA(bucket=2).fit(Y).predict(1), lev / 2)


def test_ses_level_grid_choice():
    # A constant series after a jump: alpha = 0.95 tracks it best.
    lev, alpha = ses_level(np.array([0.0, 10, 10, 10, 10]))
    assert alpha == pytest.approx(0.95)
    assert lev == pytest.approx(10 - 10 * 0.05**4)


@pytest.mark.parametrize("name", ["croston", "sba", "tsb", "adida", "stl"])
@pytest.mark.parametrize("y", [Y, np.zeros(30), np.r_[np.zeros(29), 5.0], np.arange(40.0) % 7])
def test_contract(name, y):
    model = make_model(name, season_length=4)
    f = model.fit(y).predict(9)
    assert f.shape == (9,) and np.all(np.isfinite(f)) and np.all(f >= 0)
    np.testing.assert_array_equal(make_model(name, season_length=4).fit(y).predict(9), f)
    np.testing.assert_allclose(model.frozen().fit(y).predict(9), f, rtol=1e-9, atol=1e-12)


def test_stl_adds_the_last_seasonal_cycle_back():
    t = np.arange(48)
    y = 20 + 5 * np.sin(2 * np.pi * t / 12)
    model = STLForecaster(season_length=12).fit(y)
    np.testing.assert_allclose(model.predict(12), 20 + 5 * np.sin(2 * np.pi * np.arange(48, 60) / 12), atol=0.3)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError):
        TSB(alpha=0.0).fit(Y)
    with pytest.raises(ValueError):
        ADIDA(bucket=0).fit(Y)


# ---- SBA under a multiplicative season ---------------------------------------------

def _daily(n_series, days, seed, weekly=True):
    """Poisson store-item demand (mean 0.2-1.5 a day) with a day-of-week profile."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_series):
        profile = rng.dirichlet(np.full(7, 6.0)) * 7 if weekly else np.ones(7)
        rate = rng.uniform(0.2, 1.5) * profile
        out.append((rate, rng.poisson(np.tile(rate, days // 7 + 2)[:days]).astype(float)))
    return out


def test_seasonal_sba_by_hand():
    from forecasting.models import SeasonalSBA
    from forecasting.models.intermittent import multiplicative_profile

    # open on two days of three, 3 units each: profile 1.5 / 1.5 / 0 (the least-squares
    # season is exact, so nothing is shrunk); the closed days are left out of SBA, whose
    # adjusted series is 2, 2, ... (a demand in every kept period): rate (1 - 0.1/2) 2.
    y = np.array([3.0, 3.0, 0.0] * 8)
    np.testing.assert_allclose(multiplicative_profile(y, 3), [1.5, 1.5, 0.0], atol=1e-12)
    model = SeasonalSBA(season_length=3, alpha=0.1).fit(y)
    assert model.rate_ == pytest.approx(0.95 * 2)
    # the history ends after a closed day: the next period is an open one
    np.testing.assert_allclose(model.predict(4), [2.85, 2.85, 0.0, 2.85])


def test_seasonal_sba_without_a_season_is_sba():
    from forecasting.models import SeasonalSBA

    y = ((np.random.default_rng(4).random(120) < 0.3) * 2.0)
    # no season, or too short for two cycles: exactly SBA
    np.testing.assert_allclose(SeasonalSBA(season_length=1, alpha=0.1).fit(y).predict(5), SBA().fit(y).predict(5))
    np.testing.assert_allclose(SeasonalSBA(season_length=7, alpha=0.1).fit(y[:13]).predict(5), SBA().fit(y[:13]).predict(5))
    # with alpha estimated it is SBA at the estimated alpha
    model = SeasonalSBA(season_length=1).fit(y)
    np.testing.assert_allclose(model.predict(5), SBA(alpha=model.alpha_).fit(y).predict(5))
    # noise only: the profile mostly shrinks to flat (James-Stein lets some noise through)
    deviation = [np.mean(np.abs(SeasonalSBA(season_length=7).fit(y).profile_ - 1)) for _, y in _daily(40, 364, seed=5, weekly=False)]
    assert np.median(deviation) == 0.0 and np.mean(deviation) < 0.04


def test_seasonal_sba_follows_a_day_of_week_profile():
    # held-out 28 days of 40 daily series: squared distance of the forecast from the
    # true daily mean, against flat SBA (a day-of-week profile of Dirichlet(6) shares
    # swings about +-35 % around the mean, which a flat forecast cannot follow)
    from forecasting.models import SeasonalSBA

    flat, seasonal = [], []
    for rate, y in _daily(40, 730 + 28, seed=6):
        truth = np.tile(rate, 200)[730 : 730 + 28]
        flat.append(np.mean((SBA().fit(y[:730]).predict(28) - truth) ** 2))
        seasonal.append(np.mean((SeasonalSBA(season_length=7).fit(y[:730]).predict(28) - truth) ** 2))
    assert np.mean(seasonal) < 0.5 * np.mean(flat)


def test_seasonal_sba_frozen_origins_skip_closed_days_like_a_fit():
    # the backtest's one-pass re-run (adjusted series, kept periods only) equals one
    # fit per origin with the first origin's profile, closed days included
    import copy

    from forecasting.models import SeasonalSBA

    rng = np.random.default_rng(8)
    profile = np.array([1.0, 1.2, 0.8, 1.1, 1.5, 1.4, 0.0])
    y = rng.poisson(1.5 * np.tile(profile, 80) * (rng.random(560) < 0.5)).astype(float)
    # (the shrinkage leaves a closed day's factor at about 0.15 here; a floor above it
    # exercises the path that leaves such days out)
    model = SeasonalSBA(season_length=7, floor=0.3).fit(y[:420])
    assert model.profile_[6] < model.floor < model.profile_[:6].min()
    frozen = model.frozen()
    origins = [421, 430, 475, 500, 551]
    got = frozen.forecast_origins(y, origins, 9)
    for (f, err), o in zip(got, origins):
        assert err is None
        np.testing.assert_allclose(f, copy.copy(frozen).fit(y[:o]).predict(9), rtol=1e-12)
        closed = (np.arange(o, o + 9) % 7) == 6
        assert f[closed].max() < 0.3 * f[~closed].min()


def test_sba_alpha_follows_how_fast_the_rate_moves():
    # steady rate: the longest memory on the grid; a rate that jumps fourfold half-way
    # through the scored part: a short memory
    from forecasting.models import SeasonalSBA
    from forecasting.models.intermittent import SBA_ALPHA_GRID, sba_alpha

    rng = np.random.default_rng(9)
    steady = [sba_alpha(rng.poisson(0.5, 600).astype(float)) for _ in range(10)]
    jump = [sba_alpha(rng.poisson(np.r_[np.full(400, 0.3), np.full(200, 1.2)]).astype(float)) for _ in range(10)]
    assert np.median(steady) <= 0.03 and np.median(jump) >= 0.08
    assert set(steady + jump) <= set(SBA_ALPHA_GRID.tolist())
    assert sba_alpha(np.zeros(30)) == 0.1 and sba_alpha(np.array([1.0, 0, 2])) == 0.1
    # the frozen copy of the backtest keeps the alpha estimated at its first origin
    y = rng.poisson(np.tile([0.2, 0.4, 0.3, 0.5, 0.9, 1.4, 0.1], 60)).astype(float)
    model = SeasonalSBA(season_length=7).fit(y[:300])
    assert model.fitted_params()["alpha_estimated"] and model.frozen().alpha == model.alpha_
