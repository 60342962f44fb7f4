"""Memory-lean orchestration: same rows, same forecasts, without the big intermediates."""

import numpy as np
import pytest

from forecasting.models.global_model import GlobalBoosting, Panel


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
