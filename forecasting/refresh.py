"""Cheap forecast refresh: the previous run's models on new history, no re-selection.

A full :func:`forecasting.forecast` backtests every candidate model at several rolling
origins, fits the global model once per backtest cutoff and selects per series. A
planner does not re-select models every week: it re-selects on a slower cadence
(monthly, quarterly) and, in between, *refreshes* the chosen models on the newest
demand. :func:`refresh` is that weekly step:

- every series keeps the model it chose in ``previous`` (``previous.selection.model``);
- by default (``refit="states"``) the model keeps the parameters estimated in the
  previous run (smoothing constants, ETS form, Theta's ``alpha`` and ``theta``, the STL
  base model's parameters; read back from the selection's ``params`` JSON) and only
  re-runs its filter on the new history, so levels, trends and seasonal states absorb
  the new periods. This is the "frozen parameters" scheme of the rolling-origin backtest
  (:meth:`forecasting.models.base.SeriesModel.frozen`), several times cheaper than an
  optimised fit. ``refit="full"`` re-estimates the parameters too (same model, same
  ``model_params``). Models without estimated parameters (moving average, Croston
  family, ADIDA, naive...) are simply fitted again, which is cheap;
- a model that used its group's seasonal profile in the previous run (the borrowed
  shape, and a ``combo`` fitted on the series adjusted by the group's season) gets the
  profile pooled from the new history, as :func:`forecasting.forecast` would give it:
  a grouped combination's members are non-seasonal, so without the profile its refresh
  was a flat line through the season (52-week demo replay: the refreshed forecasts fell
  from 1.03 to 0.86 of the true mean over a rising quarter);
- series that chose the run-level ``global`` model get a stand-in, recorded in the
  selection's ``refresh`` column: their best non-global candidate by the previous
  backtest ranking score (``score_<model>`` columns), fully fitted (``global_stand_in=
  "second_best"``, the default; one boosting fit per week on the whole panel costs more
  than the rest of the refresh), or their previous forecast carried forward
  (``"previous"``) for the periods it still covers;
- the same guardrails as :func:`forecasting.forecast`: a forecast that is non-finite,
  or above ``max_multiple`` x the recent history's maximum
  (:func:`forecasting.backtest.forecast_cap`), or whose fit raises, is replaced by
  the fallback chain (the same model fully refitted, then
  :data:`forecasting.core.FALLBACK_CHAIN`, then the plain recent mean), counted in
  ``metrics`` (``n_fallback``, ``n_fallback_error`` / ``_nonfinite`` / ``_explosion``)
  and logged;
- quantiles come from the previous run's backtest errors (its ``errors`` table, i.e.
  its error scales and pooled standardised error quantiles, with the same cross-fitting,
  level adjustment, centring and calibration as :func:`forecasting.forecast`, see
  :func:`forecasting.quantiles.quantiles_from_errors`) around the new means;
- series absent from ``previous`` (a new SKU, a new location) go through the full
  :func:`forecasting.forecast` path on just those series (they are mostly short
  series, whose candidates are cheap; the global model is not trained for them).

A refresh can itself be refreshed: the chain keeps the last full run's errors and
choice (``selected_model``), and a stand-in fitted once keeps its parameters (and its
``stand_in`` label) in the refreshes after it.

The result has the columns of :func:`forecasting.forecast`; ``selection`` gets
``refresh`` (how each series was refreshed: ``states``, ``full``, ``stand_in:<model>``,
``previous``, ``new`` or ``fallback:<model>``), ``selected_model`` (the model the last
selection chose) and ``refresh_of`` (the id of the run refreshed), and ``metrics``
``refresh`` = 1 and the counts.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from threadpoolctl import threadpool_limits

from .backtest import check_forecast, forecast_cap
from .core import (
    FALLBACK_CHAIN,
    GLOBAL_MODEL,
    SHAPE_MODEL,
    ForecastResult,
    _chunks,
    _fallback_kind,
    _future_matrices,
    _group_labels,
    _params_json,
    _prepare,
    _report_gaps,
    candidate_table,
    forecast,
)
from .models import MODELS, Combination, GroupSeasonCombination, make_model
from .models.group_season import OPTIONS as GROUP_SEASON_OPTIONS
from .parallel import TaskRunner, release_memory
from .quantiles import check_quantiles, integer_quantiles, quantile_column, quantiles_from_errors, seasonal_noise
from .gaps import implausible_gaps
from .promotions import effect_matrix
from .top_down import TOP_DOWN_MODEL, TopDown, top_down_labels
from .shapes import ALL_GROUP, BorrowedShape, pooled_profiles

__all__ = ["refresh", "REFRESH_MODES", "GLOBAL_STAND_INS"]

logger = logging.getLogger(__name__)

#: How model parameters are treated: kept from the previous run, or re-estimated.
REFRESH_MODES = ("states", "full")
#: What replaces the run-level global model in a refresh.
GLOBAL_STAND_INS = ("second_best", "previous")

_KEYS = ["sku", "location"]
_ETS_NAMES = {"alpha": "smoothing_level", "beta": "smoothing_trend", "phi": "damping_trend"}


def _frozen_from_params(name: str, params: Mapping, season_length: int, model_params: Mapping, profile=None):
    """An unfitted model of ``name`` whose estimated parameters are fixed at ``params``.

    ``params`` is the model's :meth:`~forecasting.models.base.SeriesModel.fitted_params`
    (as stored in the selection table). Returns ``None`` for models without estimated
    parameters (a plain refit is as cheap) or when ``params`` lacks what is needed.
    A ``combo`` fitted on the series adjusted by its group's season (``params``
    ``adjustment`` ``group_season``) comes back as that
    :class:`~forecasting.models.GroupSeasonCombination` around ``profile`` (the group's
    ``m`` factors, index 0 at the series' first period), its members frozen as the
    non-seasonal models they were fitted as; without a profile it cannot be rebuilt
    (``None``).
    """
    opts = dict(model_params.get(name, {}))
    if name == "combo" and params.get("adjustment") == "group_season":
        members = params.get("members")
        if profile is None or not isinstance(members, Mapping) or not members:
            return None
        failed = set(params.get("failed") or ())
        member_opts = dict(opts.get("member_params") or {})
        frozen = []
        for member, p in members.items():
            if member in failed:
                continue
            # the members forecast the adjusted series: non-seasonal (season_length 1)
            model = _frozen_from_params(member, p, 1, member_opts) if isinstance(p, Mapping) else None
            if model is None:
                model = make_model(member, 1, **dict(member_opts.get(member, {})))
            frozen.append(model)
        if not frozen:
            return None
        accepted = {k: v for k, v in opts.items() if k in GROUP_SEASON_OPTIONS and k != "members"}
        inner = Combination(season_length=1, members=tuple(m.name for m in frozen),
                            method=accepted.get("method", "mean"), member_params=accepted.get("member_params"),
                            _frozen=tuple(frozen))
        return GroupSeasonCombination(profile, season_length=season_length, members=inner.members,
                                      _frozen={True: inner}, **accepted)
    if name in ("ets_auto", "ets_sa"):
        if "form" not in params or params.get("alpha") is None:
            return None
        fixed = {k: float(params[k]) for k in ("alpha", "beta", "gamma", "phi", "l0", "b0") if params.get(k) is not None}
        return make_model(name, season_length, **{**opts, "form": params["form"], "fixed": fixed})
    if name in ("theta", "theta_opt"):
        if params.get("alpha") is None or params.get("theta") is None:
            return None
        fixed = {"alpha": float(params["alpha"]), "theta": float(params["theta"])}
        if params.get("l0") is not None:
            fixed["l0"] = float(params["l0"])
        return make_model(name, season_length, **{**opts, "fixed": fixed})
    if name == "ets":
        if params.get("alpha") is None:
            return None
        smoothing = {_ETS_NAMES[k]: float(params[k]) for k in _ETS_NAMES if params.get(k) is not None}
        return make_model(name, season_length, **{**opts, "smoothing": smoothing})
    if name == "stl":
        base_name, base_params = params.get("base"), params.get("base_params")
        if not base_name or not isinstance(base_params, Mapping):
            return None
        base = _frozen_from_params(base_name, base_params, 1, {})
        if base is None:
            return None
        return make_model(name, season_length, **{**opts, "fixed": base})
    if name == "combo":
        members = params.get("members")
        if not isinstance(members, Mapping) or not members:
            return None
        failed = set(params.get("failed") or ())
        frozen = []
        member_opts = dict(opts.get("member_params") or {})
        for member, p in members.items():
            if member in failed:
                continue
            model = _frozen_from_params(member, p, season_length, member_opts) if isinstance(p, Mapping) else None
            if model is None:
                model = make_model(member, season_length, **dict(member_opts.get(member, {})))
            frozen.append(model)
        if not frozen:
            return None
        base = make_model(name, season_length, **opts)
        return type(base)(**{**base.get_params(), "members": tuple(m.name for m in frozen), "_frozen": tuple(frozen)})
    return None


def _fresh(name: str, season_length: int, model_params: Mapping, profile):
    params = dict(model_params.get(name, {}))
    if name == SHAPE_MODEL:
        if profile is None:
            raise ValueError("no group profile to borrow a seasonal shape from")
        return BorrowedShape(profile, **{k: v for k, v in params.items() if k == "window"})
    if name == "combo" and profile is not None:
        # as forecasting.core._make: the group's season, the members on the adjusted series
        return GroupSeasonCombination(profile, season_length=season_length,
                                      **{k: v for k, v in params.items() if k in GROUP_SEASON_OPTIONS})
    return make_model(name, season_length, **params)


def _refresh_one(y: np.ndarray, name: str, params_json: str, stand_in: str | None, h: int, m: int, max_multiple: float,
                 mode: str, model_params: Mapping, profile) -> tuple:
    """Refit one series' model; returns (mean, used model, how, params, reasons)."""
    cap = forecast_cap(y, max_multiple, m, h)
    reasons: list[str] = []
    attempts: list[tuple[str, str]] = []  # (model, how)
    if stand_in is not None:
        attempts.append((stand_in, f"stand_in:{stand_in}"))
    else:
        if mode == "states" and name in MODELS:
            attempts.append((name, "states"))
        attempts.append((name, "full"))
    for fb in FALLBACK_CHAIN:
        attempts.append((fb, f"fallback:{fb}"))
    for model_name, how in attempts:
        try:
            model = None
            if how == "states":
                try:
                    params = json.loads(params_json) if params_json else {}
                except (TypeError, ValueError):
                    params = {}
                model = (_frozen_from_params(model_name, params, m, model_params, profile if model_name == name else None)
                         if isinstance(params, dict) else None)
                if model is None:
                    continue  # nothing estimated to keep: the plain fit below is the refresh
            if model is None:
                # the group season belongs to the chosen model; a fallback is fitted plain
                model = _fresh(model_name, m, model_params, profile if model_name in (name, SHAPE_MODEL) else None)
            if y.size < model.min_length:
                raise ValueError(f"needs {model.min_length} periods, has {y.size}")
            if model_name == "seasonal_naive" and y.size < m:
                raise ValueError(f"needs one season ({m} periods)")
            model.fit(y)
            mean = check_forecast(model.predict(h), h, cap)
            try:
                fitted = model.fitted_params()
            except Exception as exc:  # the record must not turn a good fit into a fallback
                fitted = {"error": f"{type(exc).__name__}: {exc}"}
            return mean, model_name, how, fitted, reasons
        except Exception as exc:
            reasons.append(f"{model_name} ({how}) failed on refresh: {type(exc).__name__}: {exc}")
    window = int(model_params.get("moving_average", {}).get("window", 8))
    level = float(np.mean(y[-window:])) if y.size else 0.0
    mean = np.clip(np.full(h, level), 0.0, cap)
    reasons.append("all refresh fits failed; used the plain recent mean")
    return mean, "moving_average", "fallback:recent_mean", {"window": min(window, y.size), "level": level}, reasons


def _refresh_chunk(series, names, params, stand_ins, profiles, h, m, max_multiple, mode, model_params) -> list:
    # One BLAS thread everywhere, as in forecast(): n_jobs=1 and n_jobs>1 agree bit for bit.
    with threadpool_limits(1):
        out = [_refresh_one(y, nm, pj, si, h, m, max_multiple, mode, model_params, pr)
               for y, nm, pj, si, pr in zip(series, names, params, stand_ins, profiles)]
    release_memory()
    return out


def _second_best(row: pd.Series, columns: Sequence[str]) -> str:
    best, score = None, np.inf
    for col in columns:
        name = col.split("_", 1)[1]
        if name == GLOBAL_MODEL or name not in MODELS:  # a shape needs a profile: not a stand-in
            continue
        value = row[col]
        if np.isfinite(value) and value < score:
            best, score = name, float(value)
    return best or FALLBACK_CHAIN[-1]


def _concat(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    # empty frames out first: pandas is changing how they set the result's dtypes
    parts = [f for f in (first, second) if len(f)]
    return pd.concat(parts, ignore_index=True) if parts else first


def _previous_id(previous: ForecastResult) -> str:
    """The refreshed run's id: its ``run_id`` metric or attribute, else its origin."""
    rid = getattr(previous, "run_id", None) or previous.metrics.get("run_id")
    if rid:
        return str(rid)
    dates = pd.to_datetime(previous.forecasts["date"]) if len(previous.forecasts) else None
    return f"forecast@{dates.min().date()}" if dates is not None else "forecast"


def refresh(
    history: pd.DataFrame,
    previous: ForecastResult,
    horizon: int,
    freq: str = "W-MON",
    season_length: int = 52,
    quantiles: Sequence[float] = (0.5, 0.9, 0.95),
    n_jobs: int = 1,
    seed: int = 0,
    *,
    refit: str = "states",
    global_stand_in: str = "second_best",
    previous_id: str | None = None,
    max_multiple: float = 3.0,
    model_params: Mapping[str, Mapping] | None = None,
    short_widen: float = 1.5,
    min_pool: int = 50,
    chunks_per_job: int = 4,
    end=None,
    groups: pd.DataFrame | None = None,
    scheduler: Any = None,
    calibrate: bool = True,
    executor=None,
    top_down=None,
    top_down_window: int | None = None,
    **forecast_options,
) -> ForecastResult:
    """Refresh a previous forecast on new history without re-selecting models.

    See the module docstring for the method.

    Parameters
    ----------
    history : pandas.DataFrame
        sku, location, date, qty (as :func:`forecasting.forecast`), usually the
        previous run's history plus the periods since.
    previous : ForecastResult
        The run whose model choices (``selection.model``, ``selection.params``) and
        backtest errors (``errors``) are reused.
    horizon, freq, season_length, quantiles, n_jobs, seed, max_multiple, model_params,
    short_widen, min_pool, chunks_per_job, end, groups, scheduler, calibrate
        As :func:`forecasting.forecast` (the same options as the previous run, so that
        the refresh is that run's models on more data).
    refit : str
        ``states`` (default): parameters from the previous run, states re-run on the new
        history; ``full``: parameters re-estimated.
    global_stand_in : str
        For series that chose the ``global`` model: ``second_best`` (their best other
        candidate by the previous backtest score, fully fitted) or ``previous`` (the
        previous forecast carried forward over the periods it still covers; the
        remaining periods repeat its last value).
    previous_id : str, optional
        Id of the refreshed run, written to ``selection.refresh_of``; default the
        previous result's ``run_id`` (attribute or metric) or ``forecast@<first date>``.
    top_down, top_down_window
        As :func:`forecasting.forecast`: series that chose ``top_down`` get their share
        (over the new history) of their aggregate's refreshed forecast (the previous
        run's ``top_down`` result refreshed on the new aggregates). Without them, or
        without ``previous.top_down``, such series get a stand-in as for ``global``.
    executor : concurrent.futures.Executor, optional
        Run the refits on this pool (e.g. one kept for a whole replay, so that a weekly
        refresh does not start ``n_jobs`` fresh processes); default a
        :class:`~forecasting.parallel.TaskRunner` of ``n_jobs`` processes (or the
        ``scheduler``). The results are the same either way.
    **forecast_options
        Further :func:`forecasting.forecast` options (backtest_windows, backtest_step,
        min_obs, candidates, select_by, selection_alpha, refit_backtest, future,
        global_params...), used for series absent from ``previous``.

    Returns
    -------
    ForecastResult
        ``forecasts`` (sku, location, date, mean, quantile columns, model; >= 0, no NaN,
        quantiles monotone), ``selection`` (the previous selection rows with ``model``
        and ``params`` of the refreshed fit, plus ``refresh``, ``selected_model`` and
        ``refresh_of``; new series' rows from their own forecast), ``errors`` (the
        previous backtest errors, plus the new series'), ``scores``, ``coverage``,
        ``effects``, ``errors_by_step`` (previous, plus new series), ``metrics`` with
        ``refresh`` (1.0), n_series, n_refreshed, n_new, n_stand_in, n_fallback and
        n_fallback_error / _nonfinite / _explosion, n_gap_series (as :func:`forecast`), seconds.

    Examples
    --------
    >>> import pandas as pd
    >>> from forecasting import forecast
    >>> dates = pd.date_range("2024-01-01", periods=44, freq="W-MON")
    >>> hist = pd.DataFrame({"sku": "A", "location": "D1", "date": dates,
    ...                      "qty": [5.0, 7.0, 6.0, 8.0] * 11})
    >>> first = forecast(hist.iloc[:40], horizon=4, season_length=4, global_model=False)
    >>> again = refresh(hist, first, horizon=4, season_length=4)
    >>> bool((again.selection["model"] == first.selection["model"]).all())
    True
    """
    started = time.perf_counter()
    h = int(horizon)
    if h < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    m = int(season_length)
    if refit not in REFRESH_MODES:
        raise ValueError(f"refit must be one of {REFRESH_MODES}, got {refit!r}")
    if global_stand_in not in GLOBAL_STAND_INS:
        raise ValueError(f"global_stand_in must be one of {GLOBAL_STAND_INS}, got {global_stand_in!r}")
    if not max_multiple > 1:
        raise ValueError(f"max_multiple must be > 1, got {max_multiple}")
    qs = check_quantiles(quantiles)
    model_params = {k: dict(v) for k, v in (model_params or {}).items()}
    source = previous_id or _previous_id(previous)
    prev_sel = previous.selection
    missing = [c for c in (*_KEYS, "model") if c not in prev_sel.columns]
    if missing:
        raise ValueError(f"previous.selection lacks column(s) {missing}")

    keys, series, grid, start_pos, Y, _promo, _price, runs = _prepare(history, freq, end)
    gaps = implausible_gaps(keys, series, grid, start_pos, *runs, season_length=m, horizon=h)
    n_series = len(series)
    offset = to_offset(freq)
    dates = pd.date_range(grid[-1] + offset, periods=h, freq=offset)

    # ---- which series were selected before, and which are new --------------------------
    lookup = prev_sel.assign(_k=prev_sel["sku"].astype(str) + "\x1f" + prev_sel["location"].astype(str))
    lookup = lookup.drop_duplicates("_k").set_index("_k")
    key_str = (keys["sku"].astype(str) + "\x1f" + keys["location"].astype(str)).to_numpy()
    known = pd.Index(lookup.index).get_indexer(key_str)
    old = np.flatnonzero(known >= 0)
    new = np.flatnonzero(known < 0)
    # the new series' gaps are reported by their own forecast below
    gap_keys = (gaps["sku"].astype(str) + "\x1f" + gaps["location"].astype(str)).to_numpy()
    _report_gaps(gaps[np.isin(gap_keys, key_str[old])])
    prev_rows = lookup.iloc[known[old]].reset_index(drop=True)

    # ---- promotion effects of the previous run: models refit on base demand ------------
    fit_series = series
    future_mult = np.ones((n_series, h))
    if _promo is not None and {"promo_factor", "post_promo_factor"} <= set(prev_rows.columns) and len(old):
        lift = np.ones(n_series)
        dip = np.ones(n_series)
        lift[old] = pd.to_numeric(prev_rows["promo_factor"], errors="coerce").fillna(1.0).to_numpy(float)
        dip[old] = pd.to_numeric(prev_rows["post_promo_factor"], errors="coerce").fillna(1.0).to_numpy(float)
        if (lift != 1.0).any() or (dip != 1.0).any():
            E = effect_matrix(_promo, lift, dip)
            fit_series = [y / E[i, start_pos[i]:] for i, y in enumerate(series)]
            plan = forecast_options.get("future")
            if plan is not None and "promo" in plan.columns:
                fpromo, _ = _future_matrices(plan, keys, dates, None)
                future_mult = effect_matrix(fpromo, lift, dip, previous=_promo[:, -1])
    # ---- group profiles for series that borrow a seasonal shape ------------------------
    # (the borrowed shape, and a combination that forecast the series adjusted by its
    # group's season: without the profile its members are non-seasonal and a refresh
    # would forecast a flat line through the season)
    group_of = _group_labels(keys, groups)
    profiles: list = [None] * n_series
    prev_params = prev_rows["params"].astype(str) if "params" in prev_rows else pd.Series([""] * len(old))
    wants_profile = ((prev_rows["model"] == SHAPE_MODEL).to_numpy()
                     | ((prev_rows["model"] == "combo").to_numpy()
                        & prev_params.str.contains('"adjustment":"group_season"', regex=False).to_numpy()))
    if m >= 2 and wants_profile.any():
        pooled = pooled_profiles(fit_series, start_pos, group_of, m)
        for j, i in enumerate(old):
            if not wants_profile[j]:
                continue
            key = group_of[i] if group_of[i] in pooled else ALL_GROUP
            if key in pooled:
                profiles[i] = pooled[key][(start_pos[i] + np.arange(m)) % m]

    # ---- the global model's stand-in ---------------------------------------------------
    # the ranking score of every candidate (older results carry it as ``mase_<model>``)
    prefix = "score_" if any(c.startswith("score_") for c in prev_rows.columns) else "mase_"
    mase_cols = [c for c in prev_rows.columns if c.startswith(prefix)]
    chosen = prev_rows["model"].astype(str).to_numpy()
    # a refresh of a refresh keeps the last full run's choice on record (and its stand-ins)
    selected = (prev_rows["selected_model"].astype(str).to_numpy() if "selected_model" in prev_rows else chosen.copy())
    is_global = chosen == GLOBAL_MODEL
    stand_ins: list = [None] * len(old)
    carried = np.zeros(len(old), dtype=bool)
    if is_global.any():
        if global_stand_in == "previous":
            carried = is_global
        else:
            for j in np.flatnonzero(is_global):
                stand_ins[j] = _second_best(prev_rows.iloc[j], mase_cols)
    params_col = prev_rows["params"].astype(str).to_numpy() if "params" in prev_rows else np.array([""] * len(old))

    # ---- top-down series: their share of the refreshed aggregate -----------------------
    is_td = chosen == TOP_DOWN_MODEL
    td_means: dict[int, tuple[np.ndarray, str]] = {}
    td_result = getattr(previous, "top_down", None)
    if is_td.any():
        if top_down is not None and td_result is not None:
            labels = top_down_labels(keys, top_down)
            top = TopDown(labels, Y, start_pos, int(top_down_window) if top_down_window else max(m, h),
                          locations=keys["location"].to_numpy())
            agg_options = {k: v for k, v in forecast_options.items() if k != "future"}
            agg_options["global_model"] = False
            td_result = refresh(
                top.frame(grid, _promo, _price), td_result, h, freq=freq, season_length=m, quantiles=qs,
                n_jobs=n_jobs, seed=seed, refit=refit, global_stand_in=global_stand_in, max_multiple=max_multiple,
                model_params=model_params, short_widen=short_widen, min_pool=min_pool, chunks_per_job=chunks_per_job,
                end=grid[-1], groups=top.groups(group_of), scheduler=scheduler, calibrate=False, executor=executor,
                future=top.future(forecast_options.get("future"), keys, labels), **agg_options,
            )
            final = top.final_means(td_result.forecasts, h)
            agg_models = top.models_of(td_result)
            for j in np.flatnonzero(is_td):
                i = old[j]
                g = top.member_of[i]
                if g >= 0:
                    td_means[int(j)] = (top.share(i, len(grid)) * final[g],
                                        _params_json(top.record(i, len(grid), agg_models)))
        for j in np.flatnonzero(is_td):
            if int(j) not in td_means:  # no aggregate to share: a stand-in, as for global
                stand_ins[j] = _second_best(prev_rows.iloc[j], mase_cols)
    handled = np.zeros(len(old), dtype=bool)
    handled[list(td_means)] = True

    # ---- refit the previously chosen models --------------------------------------------
    fit_idx = np.flatnonzero(~carried & ~handled)
    outcomes: dict[int, tuple] = {}
    if fit_idx.size:
        import os

        workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
        def tasks_for(parts):
            out = []
            for part in parts:
                js = fit_idx[part]
                out.append(([fit_series[old[j]] for j in js], [chosen[j] for j in js], [params_col[j] for j in js],
                            [stand_ins[j] for j in js], [profiles[old[j]] for j in js],
                            h, m, float(max_multiple), refit, model_params))
            return out

        if executor is not None and scheduler is None:
            n_workers = max(1, int(getattr(executor, "_max_workers", workers)))
            parts = _chunks(fit_idx.size, n_workers * max(1, int(chunks_per_job)))
            futures = [executor.submit(_refresh_chunk, *t) for t in tasks_for(parts)]
            results = [f.result() for f in futures]
        else:
            with TaskRunner(min(workers, fit_idx.size), scheduler) as runner:
                parts = (_chunks(fit_idx.size, runner.workers * max(1, int(chunks_per_job)))
                         if runner.backend != "serial" else [slice(0, fit_idx.size)])
                results = runner.map(_refresh_chunk, tasks_for(parts))
        for part, res in zip(parts, results):
            for j, r in zip(fit_idx[part], res):
                outcomes[int(j)] = r

    means_old = np.zeros((len(old), h))
    used = chosen.copy().astype(object)
    how = np.array(["states" if refit == "states" else "full"] * len(old), dtype=object)
    kept_stand_in = (selected == GLOBAL_MODEL) & ~is_global
    how[kept_stand_in] = np.array([f"stand_in:{c}" for c in chosen[kept_stand_in]], dtype=object)
    fitted_params = params_col.copy().astype(object)
    fallback_text = np.array([""] * len(old), dtype=object)
    kinds: list[tuple] = [()] * len(old)
    prev_fc = previous.forecasts
    if carried.any():
        pf = prev_fc.assign(_k=prev_fc["sku"].astype(str) + "\x1f" + prev_fc["location"].astype(str))
        pf = pf.loc[pd.to_datetime(pf["date"]) >= dates[0]]
        by_key = {k: g.sort_values("date")["mean"].to_numpy(float) for k, g in pf.groupby("_k", sort=False)}
    for j in range(len(old)):
        if handled[j]:
            mean, fitted_params[j] = td_means[j]
            means_old[j] = np.clip(mean, 0.0, forecast_cap(series[old[j]], max_multiple, m, h))
            how[j] = TOP_DOWN_MODEL
            continue
        if carried[j]:
            vals = by_key.get(key_str[old[j]], np.zeros(0)) if carried.any() else np.zeros(0)
            y = series[old[j]]
            cap = forecast_cap(y, max_multiple, m, h)
            if vals.size:
                vals = np.concatenate([vals[:h], np.full(max(0, h - vals.size), vals[min(vals.size, h) - 1])])
                means_old[j] = np.clip(vals, 0.0, cap)
                how[j] = "previous"
                continue
            mean, name, hw, fp, reasons = _refresh_one(y, FALLBACK_CHAIN[-1], "", None, h, m, max_multiple, "full",
                                                       model_params, None)
            reasons = ["previous forecast does not reach this period"] + reasons
        else:
            mean, name, hw, fp, reasons = outcomes[j]
            # base demand times the planned promotions' effects (ones without a plan)
            mean = np.clip(mean * future_mult[old[j]], 0.0, forecast_cap(series[old[j]], max_multiple, m, h))
        means_old[j] = mean
        used[j] = name
        if not (kept_stand_in[j] and hw in ("states", "full")):
            how[j] = hw
        fitted_params[j] = _params_json(fp)
        if reasons:
            fallback_text[j] = "; ".join(reasons + [f"used {name}"])
            kinds[j] = tuple(_fallback_kind(r) for r in reasons if "failed" in r or "non-finite" in r or "explosion" in r)

    # ---- quantiles from the previous backtest errors -----------------------------------
    values_old = np.zeros((len(old), h, len(qs)))
    if len(old):
        err = previous.errors
        err = err.loc[err["step"].to_numpy() <= h] if len(err) else err
        ek = (err["sku"].astype(str) + "\x1f" + err["location"].astype(str)).to_numpy() if len(err) else np.array([], dtype=object)
        pos_old = pd.Series(np.arange(len(old)), index=key_str[old])
        e_series = pos_old.reindex(ek).to_numpy()
        ok = ~pd.isna(e_series)
        e_series = e_series[ok].astype(int)
        sub = err.loc[ok] if len(err) else err
        # a fold is the origin's period on the common calendar (shared by all series cut there)
        origin_dates = pd.DatetimeIndex(pd.to_datetime(sub["origin"])) if len(sub) else pd.DatetimeIndex([])
        fold = grid.get_indexer(origin_dates)
        if (fold < 0).any():  # an origin before this history's first date: its own fold, after the grid
            fold = np.where(fold >= 0, fold, len(grid) + pd.factorize(origin_dates)[0])
        short = prev_rows["short"].astype(bool).to_numpy() if "short" in prev_rows else np.zeros(len(old), dtype=bool)
        dclass = prev_rows["demand_class"].astype(str).to_numpy() if "demand_class" in prev_rows else np.array(["smooth"] * len(old))
        classes = np.where(short & (dclass != "no_demand"), "short", dclass)
        levels = np.array([float(np.mean(series[i])) for i in old])
        # the prior's noise from the history before each series' first origin, as the
        # full run computed it (forecasting.quantiles, step 2)
        first = np.full(len(old), len(grid) + 1)
        if len(sub):
            in_grid = fold < len(grid)
            np.minimum.at(first, e_series[in_grid], fold[in_grid])
        noise = np.array([seasonal_noise(series[i][:max(0, int(first[j]) - int(start_pos[i]) + 1)], m)
                          if first[j] < len(grid) else 0.0 for j, i in enumerate(old)])
        caps = np.array([forecast_cap(series[i], max_multiple, m, h) for i in old])
        qres = quantiles_from_errors(
            means_old, e_series, sub["step"].to_numpy(int), sub["error"].to_numpy(float), levels, classes, qs,
            short=short, cap=caps, min_pool=min_pool, short_widen=short_widen,
            err_origins=fold.astype(np.int64), err_forecasts=sub["forecast"].to_numpy(float),
            err_folds=fold, calibrate=calibrate, noise=noise,
        )
        values_old = integer_quantiles(qres.values, [bool(np.all(series[i] == np.round(series[i]))) for i in old])
        error_scale = qres.scales
    else:
        error_scale = np.zeros(0)

    # ---- the forecast table of the refreshed series ------------------------------------
    old_keys = keys.iloc[old].reset_index(drop=True)
    rep = np.repeat(np.arange(len(old)), h)
    fc = old_keys.iloc[rep].reset_index(drop=True)
    fc["date"] = np.tile(dates.values, len(old))
    fc["mean"] = means_old.ravel()
    for k, q in enumerate(qs):
        fc[quantile_column(q)] = values_old[:, :, k].ravel()
    fc["model"] = np.repeat(used, h)

    sel = prev_rows.drop(columns=[c for c in ("_k",) if c in prev_rows]).copy()
    sel[_KEYS] = old_keys[_KEYS].to_numpy()
    sel["selected_model"] = selected
    sel["model"] = used
    sel["n_obs"] = [series[i].size for i in old]
    sel["error_scale"] = error_scale
    sel["params"] = fitted_params
    sel["fallback"] = fallback_text
    sel["refresh"] = how

    frames_fc, frames_sel = [fc], [sel]
    errors = previous.errors
    if len(errors):
        ekeys = errors["sku"].astype(str) + "\x1f" + errors["location"].astype(str)
        errors = errors.loc[ekeys.isin(set(key_str[old])).to_numpy()]
    frames_err = [errors]
    scores, by_step, coverage, effects = previous.scores, previous.errors_by_step, previous.coverage, previous.effects
    n_new_fallback = 0
    if new.size:
        # new SKUs / locations: the full forecast path on just these series
        new_keys = keys.iloc[new]
        hk = history[_KEYS].astype(str)
        mask = (hk["sku"] + "\x1f" + hk["location"]).isin(set(key_str[new])).to_numpy()
        # one boosting fit on a handful of new series would learn nothing the short
        # candidates do not (and the short class does not list it)
        options = {**forecast_options, "global_model": False}
        fresh = forecast(history.loc[mask], horizon=h, freq=freq, season_length=m, quantiles=qs, n_jobs=n_jobs,
                         seed=seed, max_multiple=max_multiple, model_params=model_params, short_widen=short_widen,
                         min_pool=min_pool, chunks_per_job=chunks_per_job, end=grid[-1], groups=groups,
                         scheduler=scheduler, calibrate=calibrate, **options)
        frames_fc.append(fresh.forecasts)
        nsel = fresh.selection.copy()
        nsel["selected_model"] = nsel["model"]
        nsel["refresh"] = "new"
        frames_sel.append(nsel)
        frames_err.append(fresh.errors)
        scores = _concat(scores, fresh.scores)
        by_step = _concat(by_step, fresh.errors_by_step)
        n_new_fallback = int(fresh.metrics.get("n_fallback", 0))
        del new_keys
    forecasts = pd.concat(frames_fc, ignore_index=True)
    forecasts = forecasts.sort_values([*_KEYS, "date"], kind="mergesort").reset_index(drop=True)
    selection = pd.concat(frames_sel, ignore_index=True)
    selection["refresh_of"] = source
    selection = selection.sort_values(_KEYS, kind="mergesort").reset_index(drop=True)
    errors = pd.concat([e for e in frames_err if len(e)], ignore_index=True) if any(len(e) for e in frames_err) else previous.errors.iloc[:0]

    metrics = {"refresh": 1.0, "n_series": float(n_series), "n_refreshed": float(len(old)), "n_new": float(new.size),
               "n_stand_in": float(sum(1 for s in how if str(s).startswith("stand_in") or s == "previous"))}
    metrics["n_fallback"] = float(sum(bool(t) for t in fallback_text) + n_new_fallback)
    for kind in ("error", "nonfinite", "explosion"):
        metrics[f"n_fallback_{kind}"] = float(sum(kind in k for k in kinds))
    for name, count in selection["model"].value_counts().sort_index().items():
        metrics[f"n_model_{name}"] = float(count)
    metrics["n_gap_series"] = float(len(gaps))
    metrics["seconds"] = time.perf_counter() - started
    n_fb = int(metrics["n_fallback"])
    log = logger.warning if n_fb else logger.info
    log("refresh of %s: %d series (%d refreshed, %d new, %d stand-ins for %s), %d with fallback, %.1f s",
        source, n_series, len(old), new.size, int(metrics["n_stand_in"]), GLOBAL_MODEL, n_fb, metrics["seconds"])
    out = ForecastResult(forecasts=forecasts, selection=selection, errors=errors, metrics=metrics, scores=scores,
                         coverage=coverage, effects=effects, errors_by_step=by_step, top_down=td_result,
                         gaps=gaps)
    return out
