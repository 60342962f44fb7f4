"""Shared fixtures: small seeded demo networks written to temporary folders (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests must never read a developer's real runs or talk to a tracking server.
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_demo_dir(tmp_path_factory) -> Path:
    """A small but complete demo network (12 SKUs, 6 dealers, 110 weeks) on disk."""
    from pipelines.demo_data import write_demo_data

    folder = tmp_path_factory.mktemp("demo")
    write_demo_data(folder, seed=7, n_skus=12, n_dealers=6, n_weeks=110)
    return folder


def make_config(tmp_path: Path, data_dir: Path, **overrides) -> Path:
    """Write a YAML configuration for a test run into ``tmp_path``."""
    import yaml

    raw = {
        "name": f"test-{tmp_path.name}",
        "data_dir": str(data_dir),
        "output_dir": str(tmp_path / "out"),
        "seed": 1,
        "forecast": {"horizon": 13, "season_length": 52, "backtest_windows": 2, "n_jobs": 1},
        "plan": {"horizon": 13, "time_limit": 60},
        "backtest": {"weeks": 8, "ma_periods": 4, "forecast_every": 4},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path
