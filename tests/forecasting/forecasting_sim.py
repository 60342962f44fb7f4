"""Seeded simulated dealer demand for the forecasting tests (no files, no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_demand(
    n_skus: int = 4,
    n_locations: int = 3,
    periods: int = 156,
    season_length: int = 52,
    freq: str = "W-MON",
    start: str = "2022-01-03",
    intermittent_share: float = 0.2,
    short_share: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Dealer-like demand: yearly season with a random peak, trend, promotions,
    negative-binomial noise; an intermittent share with mostly zero periods; a share of
    items launched late (short history). Returns sku, location, date, qty, promo."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=periods, freq=freq)
    t = np.arange(periods)
    rows = []
    for s in range(n_skus):
        intermittent = rng.random() < intermittent_share
        launch = int(rng.integers(periods - 20, periods - 6)) if rng.random() < short_share else 0
        peak = rng.uniform(0, season_length)
        for loc in range(n_locations):
            promo = (rng.random(periods) < 0.04).astype(int)
            if intermittent:
                p_demand = rng.uniform(0.08, 0.35)
                mu = np.where(rng.random(periods) < p_demand, rng.gamma(2.0, rng.uniform(1, 4), periods) + 1, 0.0)
                qty = np.round(mu)
            else:
                level = rng.lognormal(2.0, 0.9)
                amp = rng.uniform(0, 0.6) * level
                trend = rng.normal(0, 0.002) * level
                mu = level + trend * t + amp * np.cos(2 * np.pi * (t - peak - loc) / season_length)
                mu = np.maximum(mu, 0.2) * np.where(promo == 1, 1.8, 1.0)
                mu[1:] *= np.where(promo[:-1] == 1, 0.7, 1.0)  # post-promotion dip
                qty = rng.negative_binomial(5, 5 / (5 + mu)).astype(float)
            frame = pd.DataFrame(
                {"sku": f"SKU-{s + 1:04d}", "location": f"DLR-{loc + 1:02d}", "date": dates, "qty": qty, "promo": promo}
            )
            rows.append(frame.iloc[launch:])
    return pd.concat(rows, ignore_index=True)


def make_small_history() -> pd.DataFrame:
    """A few seasonal series, an intermittent one, a short one and an all-zero one."""
    base = simulate_demand(n_skus=3, n_locations=2, periods=130, intermittent_share=0.0, seed=7)
    dates = pd.date_range("2022-01-03", periods=130, freq="W-MON")
    rng = np.random.default_rng(11)
    intermittent = pd.DataFrame(
        {
            "sku": "SKU-INT",
            "location": "DLR-01",
            "date": dates,
            "qty": np.where(rng.random(130) < 0.2, rng.integers(1, 6, 130), 0).astype(float),
        }
    )
    short = pd.DataFrame({"sku": "SKU-NEW", "location": "DLR-02", "date": dates[-9:], "qty": [3, 5, 4, 6, 2, 5, 7, 4, 5.0]})
    zero = pd.DataFrame({"sku": "SKU-ZERO", "location": "DLR-01", "date": dates[40:], "qty": 0.0})
    hist = pd.concat([base.drop(columns="promo"), intermittent, short, zero], ignore_index=True)
    # Drop some zero-demand rows: missing periods inside a span mean zero demand.
    drop = (hist["sku"] == "SKU-INT") & (hist["qty"] == 0) & (np.arange(len(hist)) % 3 == 0)
    return hist.loc[~drop].reset_index(drop=True)
