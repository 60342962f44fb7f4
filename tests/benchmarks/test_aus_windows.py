"""The aus_retail benchmark's earlier hold-out windows cut the data, not the method."""

import numpy as np
import pytest

pytest.importorskip("tsdata")

from benchmarks.forecast_aus_retail import H, load  # noqa: E402


def test_an_earlier_window_holds_out_the_24_months_before_the_cut():
    ids, _, trains, actuals = load()
    ids_c, _, trains_c, actuals_c = load(cut=12)
    full = dict(zip(ids, [np.r_[t, a] for t, a in zip(trains, actuals)]))
    assert len(ids_c) < len(ids)  # series too short after the cut are dropped
    for sid, train, test in zip(ids_c, trains_c, actuals_c):
        y = full[sid]
        np.testing.assert_array_equal(test, y[-12 - H:-12])
        np.testing.assert_array_equal(train, y[: -12 - H])
        assert train.size >= 30


def test_the_benchmark_window_is_unchanged_without_a_cut():
    ids, _, trains, actuals = load()
    assert len(ids) == 152 and actuals.shape == (152, H)
