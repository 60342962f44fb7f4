"""The orchestrator: long demand table in, forecasts with quantiles out.

:func:`forecast` owns everything that concerns more than one series: the long frame,
filling missing periods, grouping, the process pool, pooling errors for quantiles and
the run-level metrics. :func:`forecast_series` is the whole per-series pipeline (pure,
numpy in, :class:`SeriesOutcome` out):

1. classify the demand (ADI / CV², :mod:`forecasting.classify`) and pick the candidate
   models of that class (``DEFAULT_CANDIDATES``); series with fewer than ``min_obs``
   periods (new items) only get the honest simple models;
2. rolling-origin backtest of every candidate (:mod:`forecasting.backtest`), scored by
   MASE per origin (DESIGN.md), averaged over origins;
3. the candidate with the lowest mean MASE is refitted on the whole history; a candidate
   that raises, returns NaN/inf or explodes (above ``max_multiple`` x the history
   maximum) in the backtest or the refit is replaced by the next best, the fallback chain
   ending in seasonal naive and moving average; every replacement is recorded;
4. the mean forecast is clipped to ``[0, cap]``.

Quantiles are computed afterwards across all series (:mod:`forecasting.quantiles`),
which is why they are not part of the per-series step.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from threadpoolctl import threadpool_limits

from . import metrics as _metrics
from .backtest import check_forecast, rolling_origins
from .classify import classify_demand
from .models import make_model
from .quantiles import check_quantiles, quantile_column, quantiles_from_errors

__all__ = [
    "DEFAULT_CANDIDATES",
    "FALLBACK_CHAIN",
    "ForecastConfig",
    "ForecastResult",
    "SeriesOutcome",
    "forecast",
    "forecast_series",
]

logger = logging.getLogger(__name__)

#: Candidate models per demand class (tried in this order; ties go to the first).
DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "smooth": ("ets", "seasonal_naive", "moving_average"),
    "erratic": ("ets", "seasonal_naive", "moving_average"),
    # ETS assumes a demand in every period; Croston-type models were built for zeros.
    "intermittent": ("sba", "moving_average", "seasonal_naive"),
    "lumpy": ("sba", "moving_average", "seasonal_naive"),
    # Too little history to tell models apart: only simple, explainable ones.
    "short": ("moving_average", "naive"),
    "no_demand": ("moving_average",),
}
#: Always backtested after the candidates, so that a fallback has errors too.
FALLBACK_CHAIN: tuple[str, ...] = ("seasonal_naive", "moving_average")

_KEYS = ["sku", "location"]


@dataclass(frozen=True)
class ForecastConfig:
    """Per-series settings (picklable, shipped to worker processes).

    Parameters
    ----------
    horizon : int
        ``H``, periods to forecast.
    season_length : int
        ``m``, periods per seasonal cycle.
    backtest_windows : int
        Rolling origins per series.
    backtest_step : int
        Periods between origins.
    max_multiple : float
        Cap on forecasts as a multiple of the history's maximum (dimensionless, > 1).
    min_obs : int
        Series with fewer periods are "short" (new items).
    min_train : int
        Fewest training periods at a backtest origin.
    candidates : mapping
        Demand class -> candidate model names (see ``DEFAULT_CANDIDATES``).
    model_params : mapping
        Model name -> constructor parameters.
    refit_backtest : bool
        Re-estimate model parameters at every backtest origin; by default they are
        estimated at the first origin and reused (frozen) at the later ones.
    seed : int
        Seed for random steps (none in this version: every step is deterministic).
    """

    horizon: int
    season_length: int
    backtest_windows: int = 3
    backtest_step: int = 4
    max_multiple: float = 3.0
    min_obs: int = 26
    min_train: int = 3
    candidates: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CANDIDATES))
    model_params: Mapping[str, Mapping] = field(default_factory=dict)
    refit_backtest: bool = False
    seed: int = 0


@dataclass
class SeriesOutcome:
    """Everything :func:`forecast_series` learns about one series.

    Attributes
    ----------
    model : str
        Name of the model that produced ``mean``.
    mean : numpy.ndarray
        ``H`` mean forecasts, units per period, in ``[0, cap]``.
    cap : float
        ``max_multiple`` x history maximum, units per period.
    demand_class : str
        Syntetos-Boylan-Croston class, or ``no_demand``.
    adi, cv2 : float
        Classification statistics (periods, dimensionless).
    n_obs : int
        Periods of history.
    short : bool
        ``n_obs < min_obs``.
    origins, steps, errors, actuals, forecasts : numpy.ndarray
        Backtest of the used model in long form: origin index (cut-off, training =
        ``y[:origin]``), step ``h`` (1-based), error ``actual - forecast``, actual and
        forecast, units per period.
    scores : dict
        Candidate name -> ranking score: mean over origins of MASE, with the scale made
        usable when it is zero (see ``_safe_scale``); ``nan`` if the candidate failed
        or had no origin.
    chosen_scores : dict
        ``mase``, ``rmsse``, ``wape``, ``bias`` of the used model's backtest.
    fallback : str
        Why the used model is not the first choice ("" when it is).
    """

    model: str
    mean: np.ndarray
    cap: float
    demand_class: str
    adi: float
    cv2: float
    n_obs: int
    short: bool
    origins: np.ndarray
    steps: np.ndarray
    errors: np.ndarray
    actuals: np.ndarray
    forecasts: np.ndarray
    scores: dict
    chosen_scores: dict
    fallback: str


@dataclass
class ForecastResult:
    """Output of :func:`forecast` (see docs/architecture.md).

    Attributes
    ----------
    forecasts : pandas.DataFrame
        sku, location, date, mean, one column per quantile (``q50``...), model.
    selection : pandas.DataFrame
        One row per series: sku, location, model, demand_class, n_obs, adi, cv2, short,
        n_origins, mase, rmsse, wape, bias (the used model's backtest, DESIGN.md
        formulas, ``nan`` where a denominator is zero), ``mase_<model>`` per candidate
        (the ranking score, see :class:`SeriesOutcome`), error_scale (``s_i`` of
        :mod:`forecasting.quantiles`, units per period), fallback.
    errors : pandas.DataFrame
        sku, location, origin (date of the last training period), step (1..H), error
        (actual - forecast), date (target period), actual, forecast.
    metrics : dict
        Run-level figures (floats), see :func:`forecast`.
    """

    forecasts: pd.DataFrame
    selection: pd.DataFrame
    errors: pd.DataFrame
    metrics: dict


def _fit_predict(name: str, y: np.ndarray, h: int, cap: float, cfg: ForecastConfig, model=None):
    """Fit (a fresh model of ``name``, or the given unfitted ``model``) and guard."""
    if model is None:
        model = make_model(name, cfg.season_length, **dict(cfg.model_params.get(name, {})))
    return model.fit(y), check_forecast(model.predict(h), h, cap)


def _cap(y: np.ndarray, max_multiple: float) -> float:
    return float(max_multiple) * float(y.max()) if y.size else 0.0


def _safe_scale(train: np.ndarray, season_length: int) -> float:
    """MASE denominator, made usable for selection when it is zero.

    A constant training window has a zero seasonal-naive MAE; the MASE is then undefined
    (:func:`forecasting.metrics.mase` returns nan). For ranking candidates the mean
    absolute demand is used instead, and 1 for an all-zero window (ranking by MAE).
    """
    scale = _metrics.mase_scale(train, season_length)
    if not scale > 0:
        scale = float(np.mean(np.abs(train))) if train.size else 0.0
    return scale if scale > 0 else 1.0


def _nanmean(values: list[float]) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def _candidate_names(label: str, short: bool, min_train_len: int, cfg: ForecastConfig) -> list[str]:
    key = "short" if short and label != "no_demand" else label
    names = list(cfg.candidates.get(key, DEFAULT_CANDIDATES[key]))
    for name in FALLBACK_CHAIN:
        if name not in names:
            names.append(name)
    # Seasonal naive needs one full season in every backtest training window.
    if min_train_len < cfg.season_length:
        names = [n for n in names if n != "seasonal_naive"] or ["moving_average"]
    return names


def forecast_series(y: np.ndarray, cfg: ForecastConfig) -> SeriesOutcome:
    """Classify, backtest, select, refit and guard one series.

    Parameters
    ----------
    y : numpy.ndarray
        Demand per period, units, oldest first, zeros included, no gaps.
    cfg : ForecastConfig
        Settings.

    Returns
    -------
    SeriesOutcome
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    h = cfg.horizon
    cls = classify_demand(y)
    short = n < cfg.min_obs
    origins = rolling_origins(n, h, cfg.backtest_windows, cfg.backtest_step, cfg.min_train)
    min_train_len = min(origins) if origins else n
    names = _candidate_names(cls.label, short, min_train_len, cfg)

    reasons: list[str] = []
    backtests: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    scores: dict[str, float] = {}
    for name in names:
        runs = []
        mases = []
        first = None
        try:
            for o in origins:
                train, actual = y[:o], y[o : o + h]
                # Parameters are estimated at the first origin only; later origins re-run
                # the model with them (``frozen``), unless refit_backtest asks otherwise.
                model = None if first is None or cfg.refit_backtest else first.frozen()
                fitted, f = _fit_predict(name, train, h, _cap(train, cfg.max_multiple), cfg, model)
                first = first or fitted
                f = f[: actual.size]
                runs.append((o, actual, f))
                mases.append(float(np.mean(np.abs(actual - f))) / _safe_scale(train, cfg.season_length))
        except Exception as exc:  # any failure disqualifies the candidate, by design
            reasons.append(f"{name} failed in backtest at origin {o} of {n}: {type(exc).__name__}: {exc}")
            scores[name] = float("nan")
            continue
        backtests[name] = runs
        scores[name] = float(np.mean(mases)) if mases else float("nan")

    # Best score first; candidates without a backtest (too little data) keep their
    # configured order after the scored ones, failed ones are not retried.
    def rank(name: str) -> tuple:
        score = scores[name]
        return (0, score, names.index(name)) if np.isfinite(score) else (1, 0.0, names.index(name))

    order = sorted((n_ for n_ in names if n_ in backtests), key=rank)
    preferred = order[0] if order else None

    cap = _cap(y, cfg.max_multiple)
    used, mean = None, None
    for name in order:
        try:
            _, mean = _fit_predict(name, y, h, cap, cfg)
            used = name
            break
        except Exception as exc:
            reasons.append(f"{name} failed on full history: {type(exc).__name__}: {exc}")
    if used is None:
        # Last resort, cannot fail on validated data: the mean of the recent periods.
        window = int(cfg.model_params.get("moving_average", {}).get("window", 8))
        mean = np.clip(np.full(h, float(np.mean(y[-window:])) if n else 0.0), 0.0, cap)
        used = "moving_average"
        reasons.append("all candidates failed; used the plain recent mean")
    if used != preferred and preferred is not None and not any(r.startswith(preferred) for r in reasons):
        reasons.append(f"{preferred} not used")
    if reasons:
        reasons.append(f"used {used}")

    runs = backtests.get(used, [])
    if runs:
        o_arr = np.concatenate([np.full(a.size, o) for o, a, _ in runs])
        s_arr = np.concatenate([np.arange(1, a.size + 1) for _, a, _ in runs])
        a_arr = np.concatenate([a for _, a, _ in runs])
        f_arr = np.concatenate([f for _, _, f in runs])
        chosen = {
            "mase": _nanmean([_metrics.mase(a, f, y[:o], cfg.season_length) for o, a, f in runs]),
            "rmsse": _nanmean([_metrics.rmsse(a, f, y[:o]) for o, a, f in runs]),
            "wape": _metrics.wape(a_arr, f_arr),
            "bias": _metrics.bias(a_arr, f_arr),
        }
    else:
        o_arr = s_arr = np.empty(0, dtype=int)
        a_arr = f_arr = np.empty(0)
        chosen = dict.fromkeys(("mase", "rmsse", "wape", "bias"), float("nan"))
    return SeriesOutcome(
        model=used,
        mean=mean,
        cap=cap,
        demand_class=cls.label,
        adi=cls.adi,
        cv2=cls.cv2,
        n_obs=n,
        short=short,
        origins=o_arr.astype(int),
        steps=s_arr.astype(int),
        errors=a_arr - f_arr,
        actuals=a_arr,
        forecasts=f_arr,
        scores=scores,
        chosen_scores=chosen,
        fallback="; ".join(reasons),
    )


def _run_chunk(series: list[np.ndarray], cfg: ForecastConfig) -> list[SeriesOutcome]:
    # BLAS with one thread in every process, also in the serial path: a multi-threaded
    # BLAS sums in a different order, the last bits of the least-squares fits differ,
    # and the optimiser can then stop elsewhere, so n_jobs=1 and n_jobs>1 would differ.
    with threadpool_limits(1):
        return [forecast_series(y, cfg) for y in series]


def _init_worker() -> None:
    # One process per core already: nested BLAS/OpenMP threads would oversubscribe the
    # cores. The env vars cover libraries loaded later; threadpoolctl the loaded ones.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    threadpool_limits(1)


def _prepare(history: pd.DataFrame, freq: str, end=None) -> tuple[pd.DataFrame, list[np.ndarray], pd.DatetimeIndex]:
    """Validate the long frame and cut it into gap-free arrays, one per series."""
    missing = [c for c in (*_KEYS, "date", "qty") if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing}; needs sku, location, date, qty")
    frame = history[[*_KEYS, "date", "qty"]].copy()
    if frame.empty:
        raise ValueError("history has no rows")
    frame["date"] = pd.to_datetime(frame["date"])
    qty = pd.to_numeric(frame["qty"], errors="coerce").astype(float)
    if qty.isna().any() or not np.all(np.isfinite(qty)):
        raise ValueError("history qty has missing or non-numeric values")
    if (qty < 0).any():
        raise ValueError("history qty has negative values")
    frame["qty"] = qty
    if frame[_KEYS].isna().any().any():
        raise ValueError("history has missing sku or location")
    if frame.duplicated([*_KEYS, "date"]).any():
        raise ValueError("history has duplicate (sku, location, date) rows")
    offset = to_offset(freq)
    dates = frame["date"]
    off_grid = ~dates.map(offset.is_on_offset).astype(bool)
    if off_grid.any():
        bad = dates[off_grid].iloc[0]
        raise ValueError(f"date {bad.date()} is not on the {freq} grid")
    last = dates.max()
    if end is not None:
        last = pd.Timestamp(end)
        if not offset.is_on_offset(last):
            raise ValueError(f"end {last.date()} is not on the {freq} grid")
        if dates.max() > last:
            raise ValueError(f"history has dates after end {last.date()}")
    grid = pd.date_range(dates.min(), last, freq=offset)
    pos = grid.get_indexer(dates)
    frame["_pos"] = pos
    frame = frame.sort_values([*_KEYS, "_pos"], kind="mergesort")
    grouped = frame.groupby(_KEYS, sort=True, observed=True)
    keys = grouped.size().index.to_frame(index=False)
    sizes = grouped.size().to_numpy()
    bounds = np.cumsum(sizes)[:-1]
    last = len(grid) - 1
    series = []
    # Each series runs from its own first row to the last date of the whole history:
    # missing periods inside that span, and after a series' last row, are zero demand.
    for p, q in zip(np.split(frame["_pos"].to_numpy(), bounds), np.split(frame["qty"].to_numpy(), bounds)):
        y = np.zeros(last - p[0] + 1)
        y[p - p[0]] = q
        series.append(y)
    return keys, series, grid


def _chunks(n: int, parts: int) -> list[slice]:
    size = max(1, math.ceil(n / parts))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def forecast(
    history: pd.DataFrame,
    horizon: int,
    freq: str = "W-MON",
    season_length: int = 52,
    quantiles: Sequence[float] = (0.5, 0.9, 0.95),
    n_jobs: int = 1,
    seed: int = 0,
    *,
    backtest_windows: int = 3,
    backtest_step: int | None = None,
    max_multiple: float = 3.0,
    min_obs: int | None = None,
    candidates: Mapping[str, Sequence[str]] | None = None,
    model_params: Mapping[str, Mapping] | None = None,
    short_widen: float = 1.5,
    min_pool: int = 50,
    chunks_per_job: int = 4,
    end=None,
    refit_backtest: bool = False,
) -> ForecastResult:
    """Forecast every sku x location of a long demand table, with quantiles.

    Parameters
    ----------
    history : pandas.DataFrame
        Columns sku, location, date (period start, on the ``freq`` grid), qty (units per
        period, >= 0). Other columns (promo, price) are ignored in this version. Each
        series runs from its first row to the last date of the whole table (or
        ``end``); missing periods are zero demand.
    horizon : int
        ``H``, periods to forecast after the last history date.
    freq : str
        Pandas offset alias of the period grid (``W-MON`` weekly, ``MS`` monthly...).
    season_length : int
        ``m``, periods per seasonal cycle (52 weekly, 12 monthly, 1 = none).
    quantiles : sequence of float
        Quantile levels in (0, 1); one output column each, named by
        :func:`~forecasting.quantiles.quantile_column`.
    n_jobs : int
        Worker processes (``-1``: one per CPU). Results are identical for any value.
    seed : int
        Seed for random steps. This version has none (backtest, selection and error
        quantiles are deterministic); the argument keeps the contract stable.
    backtest_windows : int
        Rolling origins per series (each forecasts ``H`` periods).
    backtest_step : int, optional
        Periods between origins; default ``max(1, H // 3)``.
    max_multiple : float
        Forecasts above ``max_multiple`` x the history maximum count as an explosion
        (fallback); all outputs are capped there.
    min_obs : int, optional
        Series with fewer periods are short (new items): simple models and quantiles
        widened by ``short_widen``. Default ``2 H``.
    candidates : mapping, optional
        Demand class (smooth, erratic, intermittent, lumpy, short, no_demand) ->
        candidate model names; overrides ``DEFAULT_CANDIDATES`` per class.
    model_params : mapping, optional
        Model name -> constructor parameters, e.g. ``{"moving_average": {"window": 8},
        "sba": {"alpha": 0.1}}``.
    short_widen : float
        Error-scale multiplier for short series, see :mod:`forecasting.quantiles`.
    min_pool : int
        Fewest pooled errors per (class, step) before the pool is widened.
    chunks_per_job : int
        Chunks of series per worker (load balancing when ``n_jobs > 1``).
    end : date-like, optional
        Last period of the history (on the grid). Default: the table's last date. Give
        it when trailing zero-demand rows may be missing, so that every series still
        runs up to the as-of period and the forecast starts right after it.
    refit_backtest : bool
        Re-optimise model parameters at every backtest origin. Default: estimate them
        at the first (oldest) origin and reuse them at the later ones, which makes an
        origin cost ~1 ms instead of ~4 ms for ETS and barely changes the scores; the
        final fit on the whole history is always fully optimised.

    Returns
    -------
    ForecastResult
        ``forecasts`` (>= 0, no NaN, quantiles monotone), ``selection``, ``errors`` and
        ``metrics`` with: n_series, n_short, n_fallback, mean_mase, median_mase, wape,
        bias (pooled over the backtest), ``backtest_coverage_q..`` (in-sample share of
        backtest actuals at or below the quantile rebuilt from the pooled errors),
        ``quantiles_poisson`` (1 if the Poisson fallback was used), ``n_model_<name>``
        and ``seconds``.

    Examples
    --------
    >>> import pandas as pd
    >>> dates = pd.date_range("2024-01-01", periods=40, freq="W-MON")
    >>> hist = pd.DataFrame({"sku": "A", "location": "D1", "date": dates,
    ...                      "qty": [5.0, 7.0, 6.0, 8.0] * 10})
    >>> res = forecast(hist, horizon=4, freq="W-MON", season_length=4)
    >>> list(res.forecasts.columns)
    ['sku', 'location', 'date', 'mean', 'q50', 'q90', 'q95', 'model']
    >>> len(res.forecasts)
    4
    """
    started = time.perf_counter()
    h = int(horizon)
    if h < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if int(season_length) < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")
    if not max_multiple > 1:
        raise ValueError(f"max_multiple must be > 1, got {max_multiple}")
    qs = check_quantiles(quantiles)
    merged = dict(DEFAULT_CANDIDATES)
    for key, names in (candidates or {}).items():
        if key not in DEFAULT_CANDIDATES:
            raise ValueError(f"unknown demand class {key!r} in candidates")
        merged[key] = tuple(names)
    cfg = ForecastConfig(
        horizon=h,
        season_length=int(season_length),
        backtest_windows=int(backtest_windows),
        backtest_step=int(backtest_step) if backtest_step else max(1, h // 3),
        max_multiple=float(max_multiple),
        min_obs=int(min_obs) if min_obs is not None else 2 * h,
        candidates=merged,
        model_params={k: dict(v) for k, v in (model_params or {}).items()},
        refit_backtest=bool(refit_backtest),
        seed=int(seed),
    )
    keys, series, grid = _prepare(history, freq, end)
    last_date = grid[-1]
    n_series = len(series)
    workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    workers = min(workers, n_series)
    if workers <= 1:
        outcomes = _run_chunk(series, cfg)
    else:
        parts = _chunks(n_series, workers * max(1, int(chunks_per_job)))
        # spawn: fresh interpreters, safe even if the caller runs threads (fork is not).
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
            futures = [pool.submit(_run_chunk, series[s], cfg) for s in parts]
            outcomes = [o for fut in futures for o in fut.result()]

    offset = to_offset(freq)
    dates = pd.date_range(last_date + offset, periods=h, freq=offset)
    means = np.stack([o.mean for o in outcomes])
    groups = np.array(["short" if o.short and o.demand_class != "no_demand" else o.demand_class for o in outcomes])
    err_series = np.concatenate([np.full(o.errors.size, i) for i, o in enumerate(outcomes)]).astype(int)
    err_steps = np.concatenate([o.steps for o in outcomes]).astype(int)
    err_values = np.concatenate([o.errors for o in outcomes])
    levels = np.array([float(np.mean(y)) for y in series])
    qres = quantiles_from_errors(
        means,
        err_series,
        err_steps,
        err_values,
        levels,
        groups,
        qs,
        short=np.array([o.short for o in outcomes]),
        cap=np.array([o.cap for o in outcomes]),
        min_pool=min_pool,
        short_widen=short_widen,
        err_origins=np.concatenate([o.origins for o in outcomes]).astype(int),
        err_forecasts=np.concatenate([o.forecasts for o in outcomes]),
    )

    rep = np.repeat(np.arange(n_series), h)
    fc = keys.iloc[rep].reset_index(drop=True)
    fc["date"] = np.tile(dates.values, n_series)
    fc["mean"] = means.ravel()
    for j, q in enumerate(qs):
        fc[quantile_column(q)] = qres.values[:, :, j].ravel()
    fc["model"] = np.repeat([o.model for o in outcomes], h)

    cand_names = sorted({name for o in outcomes for name in o.scores})
    sel = keys.copy()
    sel["model"] = [o.model for o in outcomes]
    sel["demand_class"] = [o.demand_class for o in outcomes]
    sel["n_obs"] = [o.n_obs for o in outcomes]
    sel["adi"] = [o.adi for o in outcomes]
    sel["cv2"] = [o.cv2 for o in outcomes]
    sel["short"] = [o.short for o in outcomes]
    sel["n_origins"] = [len(np.unique(o.origins)) for o in outcomes]
    for col in ("mase", "rmsse", "wape", "bias"):
        sel[col] = [o.chosen_scores[col] for o in outcomes]
    for name in cand_names:
        sel[f"mase_{name}"] = [o.scores.get(name, np.nan) for o in outcomes]
    sel["error_scale"] = qres.scales
    sel["fallback"] = [o.fallback for o in outcomes]

    err = keys.iloc[err_series].reset_index(drop=True)
    # Series i covers the last n_i periods of the grid; origin o means training y[:o],
    # so the last training period sits at grid position start_i + o - 1.
    start_pos = np.array([len(grid) - y.size for y in series], dtype=int)
    origin_pos = start_pos[err_series] + np.concatenate([o.origins for o in outcomes]).astype(int) - 1
    err["origin"] = grid[origin_pos]
    err["step"] = err_steps
    err["error"] = err_values
    err["date"] = grid[origin_pos + err_steps]
    err["actual"] = np.concatenate([o.actuals for o in outcomes])
    err["forecast"] = np.concatenate([o.forecasts for o in outcomes])

    metrics = _run_metrics(outcomes, sel, err, err_series, qres, groups, qs)
    metrics["seconds"] = time.perf_counter() - started
    n_fb = int(metrics["n_fallback"])
    log = logger.warning if n_fb else logger.info
    log("forecast: %d series, %d with fallback, %d short, mean MASE %.3f, %.1f s", n_series, n_fb,
        int(metrics["n_short"]), metrics["mean_mase"], metrics["seconds"])
    return ForecastResult(forecasts=fc, selection=sel, errors=err, metrics=metrics)


def _run_metrics(outcomes, sel, err, err_series, qres, groups, qs) -> dict:
    """Run-level accuracy figures for tracking (all floats)."""
    out: dict[str, float] = {
        "n_series": float(len(outcomes)),
        "n_short": float(sum(o.short for o in outcomes)),
        "n_fallback": float(sum(bool(o.fallback) for o in outcomes)),
    }
    mase = sel["mase"].to_numpy(dtype=float)
    finite = mase[np.isfinite(mase)]
    out["mean_mase"] = float(finite.mean()) if finite.size else float("nan")
    out["median_mase"] = float(np.median(finite)) if finite.size else float("nan")
    actual = err["actual"].to_numpy(dtype=float)
    fcst = err["forecast"].to_numpy(dtype=float)
    total = float(actual.sum())
    out["wape"] = float(np.abs(actual - fcst).sum() / total) if total > 0 else float("nan")
    out["bias"] = float((fcst - actual).sum() / total) if total > 0 else float("nan")
    out["quantiles_poisson"] = float(qres.method == "poisson")
    if qres.z_quantiles and actual.size:
        # In-sample: the share of backtest errors at or below the pooled quantile they
        # helped to estimate (a consistency check, not a held-out coverage).
        steps = err["step"].to_numpy(dtype=int)
        names = sorted(qres.z_quantiles)
        table = np.stack([qres.z_quantiles[g] for g in names])
        gidx = np.searchsorted(names, groups)
        z_q = table[gidx[err_series], steps - 1]
        usable = np.isfinite(qres.z)
        covered = qres.z[usable, None] <= z_q[usable] + 1e-12
        for j, q in enumerate(qs):
            out[f"backtest_coverage_{quantile_column(q)}"] = float(covered[:, j].mean()) if usable.any() else float("nan")
    for name, count in sel["model"].value_counts().sort_index().items():
        out[f"n_model_{name}"] = float(count)
    return out
