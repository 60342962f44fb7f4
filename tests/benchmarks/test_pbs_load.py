"""The PBS benchmark holds out the last year of every series and finds the phased-out ones."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tsdata")

from benchmarks.forecast_pbs import DEAD, END, H, load  # noqa: E402


def test_every_series_is_whole_and_holds_out_its_last_12_months():
    from tsdata.fpp3 import PBS

    ids, segments, trains, actuals = load()
    assert len(ids) == 336 and actuals.shape == (336, H)
    assert len(set(zip(ids, segments))) == 336
    raw = PBS.assign(date=pd.to_datetime(PBS["Month"], format="%Y %b"))
    one = raw[(raw["ATC2"] == ids[0]) & (raw["Concession"] + "/" + raw["Type"] == segments[0])].sort_values("date")
    np.testing.assert_array_equal(np.r_[trains[0], actuals[0]], one["Scripts"].to_numpy(float))
    assert one["date"].iloc[-H - 1] == END  # the training history ends at END


def test_the_phased_out_series_are_those_without_demand_for_two_years():
    _, _, trains, _ = load()
    dead = [t.size >= DEAD and not (t[-DEAD:] > 0).any() for t in trains]
    assert sum(dead) == 32
