import math

import numpy as np
import pytest

from forecasting.classify import ADI_CUTOFF, CV2_CUTOFF, adi, classify_demand, cv2


def test_adi_is_mean_interval_between_nonzero_demands():
    assert adi([0, 0, 3, 0, 0, 4, 0, 0, 5]) == pytest.approx(3.0)
    assert adi([2, 0, 1, 0, 0, 0, 1]) == pytest.approx((2 + 4) / 2)
    assert adi([1, 1, 1]) == 1.0
    assert adi([0, 0, 7, 0]) == 4.0  # one demand in four periods
    assert math.isinf(adi([0, 0, 0]))


def test_cv2_of_nonzero_sizes():
    # sizes 2 and 4: mean 3, population variance 1
    assert cv2([0, 2, 0, 4]) == pytest.approx(1 / 9)
    assert cv2([0, 5, 0]) == 0.0
    assert math.isnan(cv2([0, 0]))


@pytest.mark.parametrize(
    ("series", "label"),
    [
        ([10, 11, 9, 10, 12, 10, 9, 11], "smooth"),
        ([1, 30, 2, 25, 1, 40, 3, 1], "erratic"),
        ([0, 0, 5, 0, 0, 6, 0, 0, 5, 0, 4], "intermittent"),
        ([0, 0, 1, 0, 0, 30, 0, 0, 2, 0, 25], "lumpy"),
        ([0, 0, 0, 0], "no_demand"),
    ],
)
def test_textbook_quadrants(series, label):
    assert classify_demand(series).label == label


def test_cutoffs_are_syntetos_boylan_croston():
    assert (ADI_CUTOFF, CV2_CUTOFF) == (1.32, 0.49)
    # demand in every period with constant size: ADI 1, CV2 0
    res = classify_demand(np.full(20, 3.0))
    assert (res.adi, res.cv2, res.label) == (1.0, 0.0, "smooth")
    # the boundary value itself belongs to the intermittent side (ADI >= 1.32)
    y = [5, 0, 5, 5, 0, 5]  # intervals 2, 1, 2
    assert adi(y) == pytest.approx(5 / 3)
    assert classify_demand(y, adi_cutoff=5 / 3).label == "intermittent"
    assert classify_demand(y, adi_cutoff=1.7).label == "smooth"
    # the CV2 boundary likewise belongs to the irregular side
    sizes = np.array([1.0, 3.0])  # CV2 = 0.25
    assert classify_demand(sizes, cv2_cutoff=0.25).label == "erratic"
