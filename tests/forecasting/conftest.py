"""Fixtures for the forecasting tests; the data makers live in forecasting_sim.py."""

import pandas as pd
import pytest
from forecasting_sim import make_small_history


@pytest.fixture
def small_history() -> pd.DataFrame:
    """A few seasonal series, an intermittent one, a short one and an all-zero one."""
    return make_small_history()
