"""Intermittent-demand models against values computed by hand."""

import numpy as np
import pytest

from forecasting.models import ADIDA, SBA, TSB, Croston, STLForecaster, make_model
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


def test_tsb_decays_while_croston_does_not():
    y = np.r_[np.tile([0.0, 4.0], 10), np.zeros(12)]
    assert TSB(beta=0.2).fit(y).predict(1)[0] < 0.2 * Croston().fit(y).predict(1)[0]


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
