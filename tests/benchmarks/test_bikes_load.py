"""The bike-trip benchmark counts trips per station and day and holds out the last 28 days."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tsdata")

from benchmarks.forecast_bikes import H, load  # noqa: E402


def test_stations_start_at_their_first_trip_and_every_trip_is_counted_once():
    from tsdata.fpp3 import nyc_bikes

    ids, trains, actuals, end = load()
    assert len(ids) == len(set(ids)) == len(trains) == actuals.shape[0] and actuals.shape[1] == H
    assert all(t[0] > 0 for t in trains)  # no leading empty days
    day = pd.to_datetime(nyc_bikes["start_time"], utc=True).dt.tz_localize(None).dt.normalize()
    assert end == day.max() - pd.Timedelta(days=H)
    # every trip that started at a kept station is in its training days or its held-out days
    kept = nyc_bikes["start_station"].astype(str).isin(ids)
    assert sum(t.sum() for t in trains) + actuals.sum() == kept.sum()
    held = (day > end) & kept
    assert actuals.sum() == held.sum()
    one = ids[0]
    counts = day[nyc_bikes["start_station"].astype(str) == one].value_counts()
    assert np.r_[trains[0], actuals[0]].sum() == counts.sum()
