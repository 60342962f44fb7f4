"""Memory-lean orchestration: same rows, same forecasts, without the big intermediates."""

import numpy as np
import pandas as pd
import pytest

from forecasting.core import _prepare
from forecasting.models.global_model import GlobalBoosting, Panel

from forecasting_sim import simulate_demand


def _all_candidate_rows(S, cutoff, start, H, span):
    """Brute force: every series x origin x step, filtered, in series/origin/step order."""
    out = [(s, t, h) for s in range(S) for t in range(max(cutoff - span, 1), cutoff) for h in range(1, H + 1)
           if t + h - 1 < cutoff and t - start[s] >= 4]
    return np.array(out, dtype=np.int64).reshape(-1, 3)


@pytest.mark.parametrize("case", range(16))
def test_training_rows_equal_the_enumerated_and_subsampled_candidates(case):
    rng = np.random.default_rng(case)
    S, T, H = int(rng.integers(1, 40)), int(rng.integers(5, 90)), int(rng.integers(1, 14))
    m = int(rng.choice([1, 4, 12, 52]))
    cutoff = int(rng.integers(1, T + 1))
    start = rng.integers(0, cutoff + 1, S)
    start[rng.random(S) < 0.2] = cutoff  # series without any period before the cutoff
    max_rows = int(rng.choice([5, 50, 500, 10**6]))
    history = None if case % 3 else int(rng.integers(1, 30))
    model = GlobalBoosting(H, max_rows=max_rows, history=history, seed=case)
    panel = Panel(np.zeros((S, T)), np.zeros((S, T)), np.zeros((S, T)), np.zeros(T + H, dtype=int), m)
    rows, t, h = model.training_rows(panel, cutoff, start)

    ref = _all_candidate_rows(S, cutoff, start, H, history if history else 2 * m + H)
    if len(ref) > max_rows:
        # the documented draw: seeded by (seed, cutoff), without replacement, sorted
        pick = np.sort(np.random.default_rng([case, cutoff]).choice(len(ref), max_rows, replace=False))
        ref = ref[pick]
    np.testing.assert_array_equal(np.column_stack([rows, t, h]).reshape(-1, 3), ref)
    assert (t + h - 1 < cutoff).all() and (t - start[rows] >= 4).all()


def test_prepare_places_rows_by_code_whatever_their_order():
    hist = simulate_demand(n_skus=4, n_locations=3, periods=70, intermittent_share=0.3, seed=3)
    hist = hist.assign(promo=(np.arange(len(hist)) % 7 == 0).astype(int), price=10.0)
    # a series that starts late and has a gap: zeros inside its span, nan before it
    first = hist[(hist["sku"] == hist["sku"].min()) & (hist["location"] == hist["location"].min())]
    hist = hist.drop(first.index[:20]).drop(first.index[30:35]).reset_index(drop=True)
    keys, series, grid, start, Y, promo, price, runs = _prepare(hist, "W-MON")
    k2, s2, g2, st2, Y2, p2, pr2, runs2 = _prepare(hist.sample(frac=1.0, random_state=0), "W-MON")
    pd.testing.assert_frame_equal(keys, k2)
    assert grid.equals(g2)
    for a, b in ((start, st2), (Y, Y2), (promo, p2), (price, pr2), *zip(runs, runs2)):
        np.testing.assert_array_equal(a, b)
    # the late series' one gap of missing rows: 5 periods, 10 after its first row
    assert runs[0][0] == 5 and runs[1][0] == start[0] + 10
    assert all(np.array_equal(a, b) for a, b in zip(series, s2))
    # each cell holds its own row's quantity; periods before a series' first row are nan
    i = 0
    rows = hist[(hist["sku"] == keys["sku"][i]) & (hist["location"] == keys["location"][i])]
    pos = grid.get_indexer(rows["date"])
    np.testing.assert_array_equal(Y[i, pos], rows["qty"].to_numpy(float))
    assert start[i] == pos.min() == 20 and np.isnan(Y[i, :20]).all()
    assert (Y[i, 30:35] == 0).all()  # the gap is zero demand
    assert np.array_equal(series[i], Y[i, start[i]:]) and not np.isnan(series[i]).any()


def test_prepare_rejects_dates_between_grid_periods():
    dates = pd.date_range("2024-01-01", periods=8, freq="W-MON")
    good = pd.DataFrame({"sku": "A", "location": "B", "date": dates, "qty": 1.0})
    # a Monday at 06:00 is a Monday (is_on_offset says yes) but not a grid period
    with pytest.raises(ValueError, match="not on the W-MON grid"):
        _prepare(good.assign(date=dates.where(np.arange(8) != 3, dates[3] + pd.Timedelta(hours=6))), "W-MON")
    # every other Monday: a week in between is off a two-week grid
    with pytest.raises(ValueError, match="not on the 2W-MON grid"):
        _prepare(good, "2W-MON")
    with pytest.raises(ValueError, match="duplicate"):
        _prepare(pd.concat([good, good.iloc[[5]]]), "W-MON")
    assert _prepare(good.iloc[::2], "2W-MON")[4].shape == (1, 4)
