"""The coverage benchmark's tourism windows cut the data, and every data set lines up."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tsdata")

from benchmarks.forecast_coverage import DATASETS, tourism  # noqa: E402


def test_tourism_windows_hold_out_the_quarters_before_the_cut():
    ids, locs, trains, actuals, h, m, freq, end = tourism(0)
    assert (len(ids), h, m, freq) == (304, 8, 4, "QS") and actuals.shape == (304, 8)
    assert len(set(zip(ids, locs))) == 304  # keys are unique
    assert all(t.size == 72 for t in trains) and end == pd.Timestamp("2015-10-01")
    full = {k: np.r_[t, a] for k, t, a in zip(zip(ids, locs), trains, actuals)}
    ids8, locs8, trains8, actuals8, *_, end8 = tourism(8)
    assert end8 == pd.Timestamp("2013-10-01")
    for key, train, test in zip(zip(ids8, locs8), trains8, actuals8):
        np.testing.assert_array_equal(test, full[key][-16:-8])
        np.testing.assert_array_equal(train, full[key][:-16])


def test_every_data_set_has_one_horizon_of_actuals_per_series():
    for name in ("aus-12", "tourism-24", "pbs"):
        ids, locs, trains, actuals, h, m, freq, end = DATASETS[name]()
        assert len(ids) == len(locs) == len(trains) == actuals.shape[0] and actuals.shape[1] == h
        assert np.isfinite(actuals).all() and all(np.isfinite(t).all() for t in trains)
