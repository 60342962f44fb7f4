"""Daily store-item demand with a known truth: supplyplan beside statsforecast.

Run: ``.venv/bin/python benchmarks/forecast_daily.py`` (needs the ``bench`` extra;
about 3 minutes on 2 cores; ``--skip-peers`` for supplyplan only, ``--series N``).

Why: the other benchmarks are monthly, quarterly or weekly. Demand kept by day (a
retailer's or a dealer's point of sale, the M5 competition's data) is mostly
intermittent *and* seasonal by day of week, and its noise swamps the season in any one
week; a model has to average the weekly profile over many weeks and keep the zeros.
No daily demand data of that kind ships in the installed packages, so the series are
simulated (seeded), which has one advantage: the true mean of every held-out day is
known, so accuracy can be scored against it rather than only against one noisy draw.

Data (:func:`simulate`, seed ``--seed``): ``--series`` store-item series of 1,000 days,
the next 28 held out. Per series:

- mean demand per day ``mu = L w_{day of week} a_t d_t`` with the level ``L``
  log-normal (median 0.8 a day, from about 0.05 to 20), a day-of-week profile
  ``w ~ 7 Dirichlet(8)`` (a closed Sunday, ``w = 0``, for one series in ten), an
  annual wave ``a_t = 1 + A sin(2 pi t / 365.25 + phase)``, ``A ~ U(0, 0.3)``, and a
  slow drift ``d_t = exp(random walk, sd 0.01 a day)``;
- demand ``y_t ~ NegativeBinomial(mean mu_t, size k)``, ``k ~ U(1, 5)``
  (over-dispersed counts: variance ``mu + mu^2 / k``).

Scores, each per series and then averaged (MASE and RMSSE with the seasonal naive scale
of lag 7; the M5 competition's RMSSE uses lag 1, whose scale a weekly profile
inflates):

- ``excess``: ``sum (f - mu)^2 / sum (y - mu)^2`` over all held-out days and series,
  the forecast's squared distance from the true mean as a share of the irreducible
  noise (0 = the truth; a forecast's expected squared error is ``1 + excess`` times
  the noise's);
- MASE, RMSSE (sMAPE is left out: on intermittent days it scores a zero forecast of a
  zero day as perfect and any other as the worst, so it rewards forecasting nothing);
- coverage of q90 / q95 (share of actuals at or below).

supplyplan runs through :func:`forecasting.forecast` with its defaults (season 7,
2 worker processes); statsforecast's AutoETS, AutoTheta and SeasonalNaive with
``season_length=7``, intervals at 80 and 90 % as q90 / q95 (``benchmarks/_accuracy.py``).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import pandas as pd

from benchmarks._accuracy import PEERS, long_frame, orchestrator_options, parse_args, run_statsforecast, run_supplyplan, scores

DAYS = 1000
H = 28
M = 7


def simulate(n_series: int, seed: int = 0, days: int = DAYS, horizon: int = H):
    """Seeded daily store-item demand (module docstring).

    Returns
    -------
    ids, locations : list of str
    trains : list of numpy.ndarray
        ``days`` periods each, units per day.
    actuals, truth : numpy.ndarray
        ``(n_series, horizon)`` held-out demand and its true mean, units per day.
    end : pandas.Timestamp
        Last training day.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(days + horizon)
    dates = pd.date_range("2022-01-03", periods=days + horizon, freq="D")
    dow = dates.dayofweek.to_numpy()
    ids, trains, actuals, truth = [], [], [], []
    for i in range(n_series):
        w = rng.dirichlet(np.full(7, 8.0)) * 7
        if rng.random() < 0.1:
            w[6] = 0.0
            w = w * 7 / w.sum()
        level = rng.lognormal(np.log(0.8), 1.2)
        wave = 1 + rng.uniform(0, 0.3) * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, 2 * np.pi))
        drift = np.exp(np.cumsum(rng.normal(0, 0.01, t.size)))
        mu = level * w[dow] * wave * drift
        k = rng.uniform(1, 5)
        y = rng.negative_binomial(k, k / (k + mu)).astype(float)
        ids.append(f"ITEM-{i:04d}")
        trains.append(y[:days])
        actuals.append(y[days:])
        truth.append(mu[days:])
    return ids, ["STORE"] * n_series, trains, np.stack(actuals), np.stack(truth), dates[days - 1]


def truth_scores(trains, actuals, truth, mean) -> dict:
    """``excess`` and RMSSE (lag-7 scale) of one system's mean forecasts."""
    noise = float(np.sum((actuals - truth) ** 2))
    excess = float(np.sum((mean - truth) ** 2)) / noise
    rmsse = []
    for y, a, f in zip(trains, actuals, mean):
        scale = np.mean((y[M:] - y[:-M]) ** 2)
        if scale > 0:
            rmsse.append(np.sqrt(np.mean((a - f) ** 2) / scale))
    return {"excess": excess, "rmsse": float(np.mean(rmsse))}


def _extra(p) -> None:
    p.add_argument("--series", type=int, default=500, help="number of series (default 500)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra)
    ids, locations, trains, actuals, truth, end = simulate(args.series, args.seed)
    frame = long_frame(ids, locations, trains, end, "D")
    results = [run_supplyplan(frame, ids, locations, H, M, args.jobs, orchestrator_options(args), "D")]
    if not args.skip_peers:
        results += [run_statsforecast(name, frame, ids, locations, H, M, args.jobs, "D") for name in PEERS]
    print(f"\nDaily store-item demand, {len(ids)} simulated series of {DAYS} days (seed {args.seed}), "
          f"the next {H} held out; season {M}")
    print(f"{'system':<15}{'excess':>8}{'MASE':>8}{'RMSSE':>8}{'cov q90':>9}{'cov q95':>9}{'wall s':>8}{'peak MiB':>10}")
    for r in results:
        s = {**scores(trains, actuals, r, M), **truth_scores(trains, actuals, truth, r.mean)}
        print(f"{r.name:<15}{s['excess']:>8.3f}{s['mase']:>8.4f}{s['rmsse']:>8.4f}"
              f"{s['cov90']:>9.3f}{s['cov95']:>9.3f}{r.seconds:>8.1f}{r.peak_mib:>10.0f}")
    sp = results[0]
    models = pd.Series(sp.extra["models"]).sort_values(ascending=False)
    print("supplyplan models chosen:", models.to_dict(), f"; fallbacks: {sp.extra['fallbacks']}")
    classes = pd.Series(sp.extra["classes"])
    rows = []
    for cls in sorted(classes.unique()):
        sel = (classes == cls).to_numpy()
        t = truth_scores([trains[i] for i in np.flatnonzero(sel)], actuals[sel], truth[sel], sp.mean[sel])
        rows.append(f"  {cls:<13}{int(sel.sum()):>6}  excess {t['excess']:.3f}  cov q90 {np.mean(actuals[sel] <= sp.q90[sel]):.3f}")
    print("supplyplan per demand class (series, excess, q90 coverage):")
    print("\n".join(rows))
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
