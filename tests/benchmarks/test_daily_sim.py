"""The daily benchmark's simulation is seeded, keeps its closed days, and scores the truth as 0."""

import numpy as np
import pandas as pd

from benchmarks.forecast_daily import H, simulate, truth_scores


def test_simulation_is_seeded_and_shaped():
    ids, locs, trains, actuals, truth, end = simulate(30, seed=1, days=140)
    again = simulate(30, seed=1, days=140)
    np.testing.assert_array_equal(actuals, again[3])
    assert len(ids) == len(set(ids)) == 30 and set(locs) == {"STORE"}
    assert all(t.size == 140 for t in trains) and actuals.shape == truth.shape == (30, H)
    assert end == pd.Timestamp("2022-01-03") + pd.Timedelta(days=139)
    assert (truth >= 0).all() and all((t == np.round(t)).all() and (t >= 0).all() for t in trains)
    # a series with a closed day has neither demand nor a mean on it
    y = np.r_[trains[0], actuals[0]]
    dow = pd.date_range("2022-01-03", periods=y.size, freq="D").dayofweek
    for i in range(30):
        if (truth[i][dow[140:] == 6] == 0).all():
            full = np.r_[trains[i], actuals[i]]
            assert (full[dow == 6] == 0).all()


def test_excess_is_zero_for_the_truth_and_grows_with_its_distance():
    ids, locs, trains, actuals, truth, end = simulate(20, seed=2, days=140)
    assert truth_scores(trains, actuals, truth, truth)["excess"] == 0.0
    assert truth_scores(trains, actuals, truth, truth * 1.2)["excess"] > truth_scores(trains, actuals, truth, truth * 1.1)["excess"] > 0
