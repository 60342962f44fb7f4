"""Held-out accuracy on the demo dealer network: the last 13 weeks hidden, forecast from
the rest with the nightly job's options, scored against the hidden actuals.

Prints, for the current candidate table ("new") and the issue-2 table with plain
minimum-score selection ("old"), mean/median MASE (m = 52), WAPE, q90/q95 coverage and
seconds. Run from the repository root after `supplyplan demo-data`:

    .venv/bin/python benchmarks/forecast_demo_holdout.py
"""
import time, numpy as np, pandas as pd
from pipelines.settings import load_settings
from pipelines.loading import load_dataset
from pipelines.nightly import forecast_options
from forecasting import forecast
from forecasting.metrics import mase
def main():
    s = load_settings('configs/demo.yaml'); ds = load_dataset(s.data_dir)
    d = ds.demand; cut = d['date'].max() - pd.Timedelta(weeks=12)
    hist = d[d['date'] < cut]; act = d[d['date'] >= cut]
    opts = forecast_options(s)
    old = {"smooth": ("ets", "theta", "stl", "global", "seasonal_naive", "moving_average"),
           "erratic": ("ets", "theta", "stl", "global", "seasonal_naive", "moving_average")}
    for name, kw in (("new", {}), ("old", {"candidates": old, "selection_margin": 0.0})):
        t = time.time(); res = forecast(hist, **opts, **kw)
        fc = res.forecasts.merge(act[['sku','location','date','qty']], on=['sku','location','date'], how='left').fillna({'qty': 0})
        scores = []
        for (sk, lo), g in fc.groupby(['sku','location']):
            y = hist[(hist.sku == sk) & (hist.location == lo)]['qty'].to_numpy()
            scores.append(mase(g['qty'].to_numpy(), g['mean'].to_numpy(), y, 52))
        sc = np.array(scores, dtype=float)
        e = fc['mean'] - fc['qty']
        print(name, 'held-out MASE mean %.4f median %.4f WAPE %.4f cov90 %.3f cov95 %.3f secs %.0f' % (np.nanmean(sc), np.nanmedian(sc), e.abs().sum()/fc['qty'].sum(), (fc['qty'] <= fc['q90']).mean(), (fc['qty'] <= fc['q95']).mean(), time.time()-t))
if __name__ == '__main__':
    main()
