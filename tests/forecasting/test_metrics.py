import math

import numpy as np
import pytest

from forecasting import metrics


def test_mase_seasonal_scale_hand_computed():
    # seasonal differences y_t - y_{t-2} of [1..6] are all 2; MAE of [1, 2] is 1.5
    assert metrics.mase([7, 8], [6, 10], y_train=[1, 2, 3, 4, 5, 6], season_length=2) == pytest.approx(0.75)


def test_mase_falls_back_to_lag_one_when_training_shorter_than_season_plus_one():
    # n = 4 <= m = 4: m becomes 1, first differences of [1, 3, 2, 6] are 2, 1, 4
    assert metrics.mase_scale([1, 3, 2, 6], season_length=4) == pytest.approx(7 / 3)
    assert metrics.mase([5], [3], y_train=[1, 3, 2, 6], season_length=4) == pytest.approx(2 / (7 / 3))


def test_rmsse_hand_computed():
    # squared first differences of [1, 3, 1, 3] are 4; MSE of errors [1, -1] is 1
    assert metrics.rmsse([3, 5], [2, 6], y_train=[1, 3, 1, 3]) == pytest.approx(0.5)


def test_wape_and_bias_hand_computed():
    y, f = [10, 0, 10], [8, 1, 13]
    assert metrics.wape(y, f) == pytest.approx(6 / 20)
    assert metrics.bias(y, f) == pytest.approx(2 / 20)
    assert metrics.bias([10, 10], [5, 5]) == pytest.approx(-0.5)


def test_pinball_loss_hand_computed():
    # under-forecast by 2 costs 0.9 * 2; over-forecast by 3 costs 0.1 * 3
    assert metrics.pinball_loss([10, 10], [8, 13], quantile=0.9) == pytest.approx((1.8 + 0.3) / 2)
    # at the median the pinball loss is half the MAE
    y, f = np.array([3.0, 7.0, 1.0]), np.array([4.0, 4.0, 4.0])
    assert metrics.pinball_loss(y, f, 0.5) == pytest.approx(np.mean(np.abs(y - f)) / 2)


def test_zero_denominators_give_nan_not_errors():
    assert math.isnan(metrics.mase([1], [1], y_train=[2, 2, 2]))
    assert math.isnan(metrics.rmsse([1], [0], y_train=[5, 5]))
    assert math.isnan(metrics.wape([0, 0], [1, 1]))
    assert math.isnan(metrics.bias([0, 0], [1, 1]))


def test_input_validation():
    with pytest.raises(ValueError):
        metrics.wape([1, 2], [1])
    with pytest.raises(ValueError):
        metrics.wape([], [])
    with pytest.raises(ValueError):
        metrics.pinball_loss([1], [1], quantile=1.0)
