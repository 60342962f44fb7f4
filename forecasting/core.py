"""The orchestrator: long demand table in, forecasts with quantiles out.

:func:`forecast` owns everything that concerns more than one series: the long frame,
filling missing periods, grouping, the worker processes (or a Dask cluster), the global
model, pooled seasonal shapes, pooling errors for quantiles and the run-level metrics.
:func:`forecast_series` is the whole per-series pipeline (pure, numpy in,
:class:`SeriesOutcome` out):

1. classify the recent demand (ADI / CV² over the last two seasons or more,
   :func:`forecasting.classify.classification_window`) and pick the candidate
   models of that class (:data:`DEFAULT_CANDIDATES`, overridable per class); series with
   fewer than ``min_obs`` periods (new items) get the ``short`` set: the honest simple
   models plus the seasonal shape borrowed from their group (:mod:`forecasting.shapes`);
2. rolling-origin backtest of every candidate (:mod:`forecasting.backtest`), scored per
   origin by MASE, RMSSE, WAPE and bias (DESIGN.md), ranked by the mean over origins of
   ``select_by`` (MASE by default);
3. the best candidate is refitted on the whole history; a candidate that raises, returns
   NaN/inf or explodes (above ``max_multiple`` x the recent history's maximum,
   :func:`~forecasting.backtest.forecast_cap`) in the backtest is out, and a failed
   default passes its role to the next candidate in the table's order; one that fails
   on the refit is replaced by the next best by mean score, the fallback chain ending
   in seasonal naive and moving average; every replacement is recorded with its reason;
4. the mean forecast is clipped to ``[0, cap]``.

The global model (:mod:`forecasting.models.global_model`) is trained across all series
once per backtest cutoff (on data before that cutoff only) and once on the whole
history; its forecasts enter step 2 as one more candidate, scored on the same origins.
Quantiles are computed afterwards across all series (:mod:`forecasting.quantiles`),
which is why they are not part of the per-series step.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from threadpoolctl import threadpool_limits

from . import metrics as _metrics
from .backtest import (UnstableForecast, check_forecast, default_backtest, effective_windows, forecast_cap, forecast_caps,
                       season_windows, select_candidate, series_origins)
from .classify import classification_window, classify_demand
from .gaps import absent_runs, implausible_gaps
from .models import MODELS, Combination, make_model
from .models.global_model import GlobalBoosting, GlobalForecast, Panel
from .models.seasonality import LONG_SEASON, is_seasonal
from .parallel import TaskRunner, release_memory
from .quantiles import (
    calibrate_levels,
    check_quantiles,
    conformal_shift,
    integer_quantiles,
    quantile_column,
    quantiles_from_errors,
    seasonal_noise,
)
from .shapes import ALL_GROUP, BorrowedShape, pooled_profiles
from .models.group_season import OPTIONS as GROUP_SEASON_OPTIONS, GroupSeasonCombination
from .promotions import backtest_multipliers, effect_matrix, estimate_effects
from .top_down import TOP_DOWN_MODEL, aggregate_top_down, top_down_labels

__all__ = [
    "DEFAULT_CANDIDATES",
    "FALLBACK_CHAIN",
    "GLOBAL_MODEL",
    "SHAPE_MODEL",
    "ForecastConfig",
    "ForecastResult",
    "SeriesOutcome",
    "candidate_table",
    "default_min_obs",
    "forecast",
    "forecast_series",
]

logger = logging.getLogger(__name__)

#: Name of the global gradient-boosting candidate (computed by the orchestrator).
GLOBAL_MODEL = "global"
#: Name of the borrowed-seasonal-shape candidate (needs a group profile).
SHAPE_MODEL = BorrowedShape.name

#: Candidate models per demand class, tried in this order (ties go to the first). Names
#: that are not registered in :data:`forecasting.models.MODELS` (and are not the
#: orchestrator's own ``global`` / ``seasonal_shape``) are skipped, so that models added
#: to the registry under these names join without touching this table; an explicit
#: ``candidates=`` entry with an unknown name is an error instead.
DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    # Regular demand: seasonal models, the global model, the seasonal baselines.
    # The combination of ETS, Theta and STL comes first: it is the default each series
    # keeps unless a challenger beats it consistently across origins (``select_candidate``).
    # Baselines are not challengers for smooth demand (they only stand in as fallbacks);
    # for erratic demand a recent mean is a fair challenger. The group's seasonal shape
    # (recent level x pooled profile) is a challenger in grouped runs: a dealer's own
    # weekly season is too noisy to estimate, its category's in its region is not
    # (product-group seasonal indices: Withycombe 1989; Mohammadipour, Boylan and
    # Syntetos 2012).
    #
    # ``top_down`` (a location's share of its SKU's aggregate over locations, see
    # :mod:`forecasting.top_down`) exists only when the caller declares the aggregates
    # (``forecast(top_down=...)``: dealers of a region share its season, promotions and
    # the SKU's trend); then it is the default, which a series' own model must beat.
    "smooth": (TOP_DOWN_MODEL, "combo", "theta", "global", SHAPE_MODEL),
    "erratic": (TOP_DOWN_MODEL, "combo", "theta", "global", "moving_average", SHAPE_MODEL),
    # ETS assumes a demand in every period; Croston-type models, TSB and temporal
    # aggregation were built for zeros. ``sba_seasonal`` is SBA under the series' own
    # shrunk multiplicative season (a day-of-week profile of daily store demand); it
    # needs two full seasons in the backtest's first training window.
    "intermittent": (TOP_DOWN_MODEL, "sba_seasonal", "sba", "tsb", "adida", "croston", "global", "moving_average",
                     SHAPE_MODEL),
    "lumpy": (TOP_DOWN_MODEL, "sba_seasonal", "sba", "tsb", "adida", "global", "moving_average", SHAPE_MODEL),
    # Too little history to tell many models apart: simple, explainable ones and the
    # seasonal shape borrowed from the series' group.
    # Between one and two seasons of their own, smooth and erratic ones get the mean of
    # the recent level and last season (``recent_seasonal``); with less, or sparse
    # demand, whose season-ago copy is noise, the recent mean leads.
    "short": ("recent_seasonal", "moving_average", "naive", SHAPE_MODEL),
    "no_demand": ("moving_average",),
}
#: Always backtested after the candidates, so that a fallback has errors too.
FALLBACK_CHAIN: tuple[str, ...] = ("seasonal_naive", "moving_average")
#: Scores kept per candidate.
SCORES = ("mase", "rmsse", "wape", "bias")
#: Scores that can rank candidates (``select_by``, ``select_by_intermittent``).
RANKING_SCORES = ("mase", "rmsse", "wape")
#: Demand classes ranked by ``select_by_intermittent`` (see :class:`ForecastConfig`).
MEAN_SCORED_CLASSES = ("intermittent", "lumpy")

_KEYS = ["sku", "location"]
_ORCHESTRATOR_MODELS = (GLOBAL_MODEL, SHAPE_MODEL, TOP_DOWN_MODEL)


def candidate_table(candidates: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """The candidate table in force: defaults, overridden per class, unknown names out.

    Parameters
    ----------
    candidates : mapping, optional
        Demand class -> model names, replacing the default list of that class.

    Returns
    -------
    dict
        Class -> available model names, in order.

    Raises
    ------
    ValueError
        Unknown class, or an explicitly requested model that does not exist.

    Examples
    --------
    >>> candidate_table({"short": ["naive"]})["short"]
    ('naive',)
    """
    known = set(MODELS) | set(_ORCHESTRATOR_MODELS)
    table = {k: tuple(n for n in v if n in known) for k, v in DEFAULT_CANDIDATES.items()}
    for key, names in (candidates or {}).items():
        if key not in DEFAULT_CANDIDATES:
            raise ValueError(f"unknown demand class {key!r} in candidates; known: {sorted(DEFAULT_CANDIDATES)}")
        names = (names,) if isinstance(names, str) else tuple(names)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown} in candidates[{key!r}]; known: {sorted(known)}")
        table[key] = names
    return table


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
        Cap on forecasts as a multiple of the recent history's maximum (dimensionless,
        > 1; :func:`~forecasting.backtest.forecast_cap`).
    min_obs : int
        Series with fewer periods are "short" (new items).
    min_train : int
        Fewest training periods at a backtest origin.
    candidates : mapping
        Demand class -> candidate model names (see :func:`candidate_table`).
    model_params : mapping
        Model name -> constructor parameters.
    refit_backtest : bool
        Re-estimate model parameters at every backtest origin; by default they are
        estimated at the first origin and reused (frozen) at the later ones.
    select_by : str
        Score that ranks candidates: ``mase`` (default), ``rmsse`` or ``wape``.
    select_by_intermittent : str or None
        Score that ranks the candidates of ``intermittent`` and ``lumpy`` series
        (:data:`MEAN_SCORED_CLASSES`); None: ``select_by``. Default ``rmsse``: an
        absolute error is smallest at the median, and the median of a series that sells
        in few weeks is zero, so MASE (or WAPE) ranks a forecast that says "nothing"
        above one that is right on average (Kolassa 2016, "Evaluating predictive count
        data distributions in retail sales forecasting", IJF 32(3); the reason the M5
        competition scored by RMSSE, Makridakis, Spiliotis and Assimakopoulos 2022, IJF
        38(4)). Safety stock and orders are set on the mean, which squared errors score.
    selection_alpha : float
        Significance level of the paired test that lets a challenger replace the class's
        first candidate (the default), see :func:`select_candidate`. Picking the minimum
        of a few noisy backtest scores overfits the backtest (the "forecast combination
        puzzle": combinations beat per-series selection out of sample; Claeskens et al.
        2016), so the default keeps its place unless the evidence is consistent across
        origins. 1 = plain minimum of the mean scores.
    seed : int
        Seed for random steps (the global model's row sample and boosting).
    """

    horizon: int
    season_length: int
    backtest_windows: int = 3
    backtest_step: int = 4
    max_multiple: float = 3.0
    min_obs: int = 26
    min_train: int = 3
    candidates: Mapping[str, tuple[str, ...]] = field(default_factory=candidate_table)
    model_params: Mapping[str, Mapping] = field(default_factory=dict)
    refit_backtest: bool = False
    select_by: str = "mase"
    select_by_intermittent: str | None = "rmsse"
    selection_alpha: float = 0.1
    seed: int = 0

    def score_for(self, demand_class: str) -> str:
        """The score that ranks the candidates of a series of ``demand_class``."""
        if self.select_by_intermittent and demand_class in MEAN_SCORED_CLASSES:
            return self.select_by_intermittent
        return self.select_by


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
        ``max_multiple`` x the recent history's maximum, units per period
        (:func:`~forecasting.backtest.forecast_cap`).
    demand_class : str
        Syntetos-Boylan-Croston class of the recent history, or ``no_demand``
        (:func:`~forecasting.classify.classification_window`).
    adi, cv2 : float
        Classification statistics over that window (periods, dimensionless).
    n_obs : int
        Periods of history.
    short : bool
        ``n_obs < min_obs``.
    origins, steps, errors, actuals, forecasts : numpy.ndarray
        Backtest of the used model in long form: origin index (cut-off, training =
        ``y[:origin]``), step ``h`` (1-based), error ``actual - forecast``, actual and
        forecast, units per period.
    scores : dict
        Candidate name -> ranking score: mean over origins of ``select_by`` (MASE with
        the scale made usable when it is zero, see ``_safe_scale``); ``nan`` if the
        candidate failed or had no origin.
    chosen_scores : dict
        ``mase``, ``rmsse``, ``wape``, ``bias`` of the used model's backtest.
    fallback : str
        Why the used model is not the first choice ("" when it is).
    candidate_scores : dict
        Candidate name -> ``{mase, rmsse, wape, bias, n_origins}`` of its backtest.
    fallback_kinds : tuple of str
        One entry per recorded failure: ``error`` (the fit raised), ``nonfinite``,
        ``explosion`` or ``other``.
    params : dict
        Fitted parameters of the used model
        (:meth:`~forecasting.models.base.SeriesModel.fitted_params`; plain JSON types,
        so that it pickles cheaply from a worker); empty for models computed outside
        (the global model, whose reference the orchestrator fills in).
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
    candidate_scores: dict = field(default_factory=dict)
    fallback_kinds: tuple = ()
    params: dict = field(default_factory=dict)


@dataclass
class ForecastResult:
    """Output of :func:`forecast` (see docs/architecture.md).

    Attributes
    ----------
    forecasts : pandas.DataFrame
        sku, location, date, mean, one column per quantile (``q50``...), model.
    selection : pandas.DataFrame
        One row per series: sku, location, model, demand_class (of the recent history,
        :func:`~forecasting.classify.classification_window`), n_obs, adi, cv2, short,
        n_origins, mase, rmsse, wape, bias (the used model's backtest, DESIGN.md
        formulas, ``nan`` where a denominator is zero), selected_by (the score that ranked
        the series' candidates: ``select_by``, or ``select_by_intermittent`` for
        intermittent and lumpy series), ``mase_<model>`` per candidate (its backtest
        MASE), ``score_<model>`` per candidate (its ranking score in ``selected_by``,
        see :class:`SeriesOutcome`), error_scale (``s_i`` of
        :mod:`forecasting.quantiles`, units per period), ``pinball_q..`` (the used
        model's backtest pinball loss per quantile, units per period), group, shape
        (the borrowed profile's group or ""), promo_lift, price_elasticity, fallback,
        params (the used model's fitted parameters as compact JSON, e.g.
        ``{"alpha":0.31,"form":"MAdM",...}``; for the global model a reference to the
        run's model and feature set).
    errors : pandas.DataFrame
        sku, location, origin (date of the last training period), step (1..H), error
        (actual - forecast), date (target period), actual, forecast.
    metrics : dict
        Run-level figures (floats), see :func:`forecast`.
    scores : pandas.DataFrame
        Every candidate's backtest per series: sku, location, model, mase, rmsse, wape,
        bias, n_origins, chosen.
    coverage : pandas.DataFrame
        Held-out (leave-one-origin-out) quantile coverage per demand class, see
        :func:`forecasting.quantiles.calibrate_levels`.
    effects : pandas.DataFrame
        Promotion and price effects estimated by the global model per series: sku,
        location, group, n_promo_periods, promo_lift, price_elasticity.
    errors_by_step : pandas.DataFrame
        demand_class, step, n, mae, bias, wape of the used models' backtest errors.
    top_down : ForecastResult or None
        With ``forecast(top_down=...)``: the aggregates' own forecast (sku, location =
        the aggregate's label), whose models the members' ``top_down`` forecasts share.
    gaps : pandas.DataFrame
        Series with a run of missing rows that their own demand makes implausible
        (:func:`~forecasting.gaps.implausible_gaps`: sku, location, periods,
        first_missing, to_end, rate, allowed); read as zero demand, reported for a look
        at the extract.
    """

    forecasts: pd.DataFrame
    selection: pd.DataFrame
    errors: pd.DataFrame
    metrics: dict
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    errors_by_step: pd.DataFrame = field(default_factory=pd.DataFrame)
    top_down: "ForecastResult | None" = None
    gaps: pd.DataFrame = field(default_factory=pd.DataFrame)


def _make(name: str, cfg: ForecastConfig, profile: np.ndarray | None):
    params = dict(cfg.model_params.get(name, {}))
    if name == SHAPE_MODEL:
        prof, known = profile if isinstance(profile, tuple) else (profile, None)
        return BorrowedShape(prof, known_from=known, **{k: v for k, v in params.items() if k == "window"})
    if name == "combo" and profile is not None:
        # With a group profile the combination's members forecast the series adjusted by
        # the group's season at the series' own strength, not by 52 indices of their own
        # from two or three noisy seasons (demo network, error against the true mean over
        # the true variance, steps 1-13: 0.201 -> 0.085; see models/group_season.py).
        prof, known = profile if isinstance(profile, tuple) else (profile, None)
        return GroupSeasonCombination(prof, season_length=cfg.season_length, known_from=known,
                                      **{k: v for k, v in params.items() if k in GROUP_SEASON_OPTIONS})
    if name == "recent_seasonal" and "member_params" not in params:
        # its members follow the settings the caller gave them as models of their own
        params["member_params"] = {k: dict(cfg.model_params[k]) for k in ("moving_average", "seasonal_naive")
                                   if k in cfg.model_params} or None
    return make_model(name, cfg.season_length, **params)


def _fit_predict(name: str, y: np.ndarray, h: int, cap: float, cfg: ForecastConfig, model=None, profile=None):
    """Fit (a fresh model of ``name``, or the given unfitted ``model``) and guard."""
    if model is None:
        model = _make(name, cfg, profile)
    return model.fit(y), check_forecast(model.predict(h), h, cap)


def _fitted_params(model) -> dict:
    """The used model's fitted parameters; a model that cannot report them still
    forecasts (the parameters are for the record, never for the forecast)."""
    try:
        return model.fitted_params()
    except Exception as exc:  # reporting must not turn a good fit into a fallback
        return {"error": f"{type(exc).__name__}: {exc}"}


def _params_json(params: dict) -> str:
    # Compact, key-sorted JSON: one readable CSV cell per series, stable across runs.
    return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _global_reference(gmodel: GlobalBoosting) -> dict:
    """What a series forecast by the global model points to: the run-level model and
    its feature set, not per-series numbers (there are none; one model serves all)."""
    import hashlib

    import sklearn

    from .models.global_model import FEATURES

    ref = {"scope": "run", "estimator": "HistGradientBoostingRegressor", "loss": "poisson",
           "sklearn": sklearn.__version__, "n_features": len(FEATURES),
           "features_sha1": hashlib.sha1(",".join(FEATURES).encode()).hexdigest()[:12]}
    for key in ("max_iter", "learning_rate", "max_leaf_nodes", "min_samples_leaf", "max_rows", "seed"):
        ref[key] = getattr(gmodel, key, None)
    return ref


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


def _origin_score(select_by: str, train: np.ndarray, actual: np.ndarray, f: np.ndarray, m: int) -> float:
    """Selection score of one backtest origin (lower is better), see ``select_by``."""
    if select_by == "mase":
        return float(np.mean(np.abs(actual - f))) / _safe_scale(train, m)
    if select_by == "rmsse":
        return _metrics.rmsse(actual, f, train)
    return _metrics.wape(actual, f)


def _nanmean(values) -> float:
    arr = np.asarray(values, dtype=float)
    finite = np.isfinite(arr)
    if not finite.all():
        arr = arr[finite]
    # (sum / size is numpy's mean bit for bit, without its ~5 us of dispatch per call)
    return float(arr.sum() / arr.size) if arr.size else float("nan")


def _fallback_kind(reason: str) -> str:
    if "non-finite" in reason:
        return "nonfinite"
    if "explosion" in reason:
        return "explosion"
    if "failed" in reason:
        return "error"
    return "other"


def default_min_obs(horizon: int, season_length: int) -> int:
    """Fewest periods of history for a series' own models: ``min(2 H, max(H, 2 m))``
    for seasonal data, ``2 H`` without a season (``m = 1``).

    A series with fewer is *short* (a new item): it gets the simple ``short``
    candidates (recent mean, naive, its group's seasonal shape) and wider bands. Two
    horizons used to be the whole rule, which made every monthly series of under three
    years a new item at an 18-month horizon and forecast its recent mean, season and
    trend ignored. Two full seasons of its own (and at least one horizon) are enough
    for its own models: the seasonal ones estimate a season from two, and the backtest
    keeps training windows of at least ``min(H, n / 2)`` periods
    (:func:`~forecasting.backtest.series_origins`).

    Measured with ``benchmarks/forecast_short.py`` (histories cut to their last ``n``
    months, official hold-out; MASE, scaled pinball loss of q90 and q95), its row
    ``short < 2H`` (``min_obs = 2 H``) against the default: M3 monthly (``H = 18``)
    ``n = 24`` 1.2623 / 0.4082 -> 1.1480 / 0.3164, ``n = 30`` 1.2102 / 0.3580 ->
    1.0577 / 0.2794 (statsforecast AutoETS 1.2656 / 0.3188 and 1.1407 / 0.2977);
    aus_retail (``H = 24``) ``n = 24, 30, 36`` 1.4853, 1.4094, 1.3846 -> 1.1732,
    1.0981, 1.0208 (seasonal naive 1.2526, 1.1974, 1.1729). Weekly data (``H = 13``,
    ``m = 52``) keeps ``2 H = 26``; without a season there are no two seasons to
    count, and the two horizons stay.

    Parameters
    ----------
    horizon : int
        ``H``, periods.
    season_length : int
        ``m``, periods per cycle (1: none).

    Returns
    -------
    int
        ``min_obs``, periods.

    Examples
    --------
    >>> default_min_obs(18, 12), default_min_obs(13, 52), default_min_obs(28, 7), default_min_obs(6, 1)
    (24, 26, 28, 12)
    """
    h, m = int(horizon), int(season_length)
    if m < 2:
        return 2 * h
    return min(2 * h, max(h, 2 * m))


def _seasonal_floor(y: np.ndarray, cfg: ForecastConfig, short: bool) -> int:
    """``m`` when the backtest of ``y`` should train on two seasons
    (:func:`~forecasting.backtest.series_origins`): a series with its own models and a
    season of at most :data:`~forecasting.models.seasonality.LONG_SEASON` periods that
    :func:`~forecasting.models.seasonality.is_seasonal` finds; else 0. (Two years of a
    52-week season would leave a weekly backtest few origins; not measured.)"""
    m = int(cfg.season_length)
    if short or not 2 <= m <= LONG_SEASON or y.size <= 2 * m:
        return 0
    return m if is_seasonal(y, m) else 0


def _candidate_names(label: str, short: bool, min_train_len: int, cfg: ForecastConfig, available: set,
                     n_obs: int | None = None) -> list[str]:
    key = "short" if short and label != "no_demand" else label
    names = [n for n in cfg.candidates.get(key, DEFAULT_CANDIDATES[key]) if n in available or n in MODELS]
    if key == "short" and (cfg.season_length < 2 or (n_obs is not None and n_obs < cfg.season_length)
                           or label in MEAN_SCORED_CLASSES):
        names = [nm for nm in names if nm != "recent_seasonal"] or ["moving_average"]
    names = [n for n in names if n not in _ORCHESTRATOR_MODELS or n in available]
    for name in FALLBACK_CHAIN:
        if name not in names:
            names.append(name)
    # Seasonal naive needs one full season in every backtest training window.
    if min_train_len < cfg.season_length:
        names = [n for n in names if n != "seasonal_naive"] or ["moving_average"]
    # Without two seasons (or any season) SBA's seasonal variant is SBA: not a challenger.
    if cfg.season_length < 2 or min_train_len < 2 * cfg.season_length:
        names = [n for n in names if n != "sba_seasonal"] or ["moving_average"]
    return names


class _Backtest:
    """One series' rolling-origin backtest: every (model, origin) fit computed once.

    A combination's members are often also candidates of their own (``theta`` is both
    a default candidate and a member of ``combo``), and with the same constructor
    parameters the member's fit at an origin is the very same computation as the
    candidate's. This memo keys each fit by the model's class and constructor
    parameters (``repr``) and the origin, so a combination reuses the forecasts its
    members already made, and the per-origin scales of the scores are computed once,
    not once per candidate. It reproduces exactly what fitting the models one by one
    gives (:class:`~forecasting.models.Combination` and ``SeriesModel.frozen``):

    - origin 0 (the oldest): a fresh fit; later origins: the origin-0 fit's
      ``frozen()`` copy (a fresh fit at every origin with ``refit``);
    - a combination leaves out a member whose fit raises, that needs more data or whose
      one-step forecast is not finite; at later origins only the members that fitted
      at origin 0 take part (its frozen copy holds only those); it fails when every
      member fails; its forecast is the mean (median) of the members' forecasts,
      clipped at zero.

    Parameters
    ----------
    y : numpy.ndarray
        The series, units per period.
    origins : list of int
        Backtest cut-offs, oldest first (training data ``y[:o]``).
    horizon : int
        ``H``, periods forecast from each origin.
    season_length : int
        ``m``, periods; the MASE scale's lag.
    select_by : str
        Ranking score (``mase``, ``rmsse`` or ``wape``).
    refit : bool
        Fresh fit at every origin (``refit_backtest``).
    max_multiple : float
        Guardrail cap as a multiple of the training data's maximum.
    fit_y : numpy.ndarray, optional
        What the models fit (base demand: ``y`` with the promotions divided out).
    multiplier : numpy.ndarray, optional
        Promotion multiplier of every period of ``y``; each target period's base forecast
        is multiplied by it before scoring.
    origin_multipliers : mapping, optional
        Origin -> the ``H`` multipliers of its target periods, estimated from the data
        before that origin; they take the place of ``multiplier`` for that origin.
    """

    def __init__(self, y: np.ndarray, origins: Sequence[int], horizon: int, season_length: int,
                 select_by: str, refit: bool = False, max_multiple: float = 3.0,
                 fit_y: np.ndarray | None = None, multiplier: np.ndarray | None = None,
                 origin_multipliers: Mapping[int, np.ndarray] | None = None):
        self.y = y
        # models fit on ``fit_y`` (base demand, promotions divided out); their forecasts
        # are scored on ``y`` after multiplying each target period by ``multiplier``
        # (the promotion effect known at the origin; see forecasting.promotions)
        self.fit_y = y if fit_y is None else fit_y
        self.multiplier = multiplier
        self.origin_multipliers = dict(origin_multipliers or {})
        self.origins = list(origins)
        self.h = int(horizon)
        self.m = int(season_length)
        self.select_by = select_by
        self.refit = bool(refit)
        self.max_multiple = float(max_multiple)
        self._fits: dict[tuple, Any] = {}   # (key, k) -> (raw forecast, exception)
        self._first: dict[str, Any] = {}    # key -> the fitted model of origin 0
        self._combo_ok: dict[str, list] = {}  # combination key -> member indices fitted at origin 0
        self._members: dict[str, list] = {}   # combination key -> its unfitted member templates
        self._pinned: list = []

    # -- fits ---------------------------------------------------------------------------
    def key(self, model) -> str:
        """Class and constructor parameters: equal keys, equal fits (models are
        deterministic). A model with an array parameter of more than 8 values (a group
        profile), or whose ``repr`` is abridged (``...``), shares with no one: it is
        keyed by its identity and kept alive so that the identity is not reused."""
        # (the array is not printed: a (k, 52) profile stack costs ~0.1 ms to print)
        arrays = any(isinstance(v, np.ndarray) and v.size > 8 for v in model.get_params().values())
        text = f"{type(model).__module__}.{type(model).__qualname__}:{'' if arrays else repr(model)}"
        if arrays or "..." in text:
            text = f"{text}#{id(model)}"
            self._pinned.append(model)
        return text

    def forecast(self, model, k: int, key: str | None = None) -> np.ndarray:
        """Raw forecast (``predict(H)``) of the unfitted ``model`` at origin ``k``;
        raises what the fit or the forecast raised. ``key``: ``self.key(model)``,
        when the caller has it already."""
        raw, exc = self._run(model, key or self.key(model), k)
        if exc is not None:
            raise exc
        return raw

    def _run(self, model, key: str, k: int):
        hit = self._fits.get((key, k))
        if hit is not None:
            return hit
        if isinstance(model, Combination):
            out = self._combine(model, key, k)
        else:
            out = self._fit(model, key, k)
        self._fits[(key, k)] = out
        return out

    def _fit(self, model, key: str, k: int):
        if k > 0 and not self.refit:
            first = self._first.get(key)
            if first is None:  # failed at origin 0: that failure stands for every origin
                return None, self._run(model, key, 0)[1]
            # every later origin at once: a model may re-run its frozen filter for all
            # training windows in one compiled pass (SeriesModel.forecast_origins)
            todo = [j for j in range(k, len(self.origins)) if (key, j) not in self._fits]
            results = first.frozen().forecast_origins(self.fit_y, [self.origins[j] for j in todo], self.h)
            for j, out in zip(todo[1:], results[1:]):
                self._fits[(key, j)] = out
            return results[0]
        else:
            # ``model`` is an unfitted template that stays unfitted: a fit sets only
            # attributes ending in ``_``, so a shallow copy is a fresh model.
            model = copy.copy(model)
        try:
            model.fit(self.fit_y[: self.origins[k]])
            raw = model.predict(self.h)
        except Exception as exc:  # recorded; the caller decides what a failure means
            return None, exc
        if k == 0:
            self._first[key] = model
        return raw, None

    def _combine(self, combo: Combination, key: str, k: int):
        if combo.method not in ("mean", "median"):
            return None, ValueError(f"method must be 'mean' or 'median', got {combo.method!r}")
        members = self._members.get(key)
        if members is None:
            members = self._members[key] = [(m, self.key(m)) for m in combo._build()]
        if not members:
            return None, ValueError("a combination needs at least one member")
        n_train = self.origins[k]
        if k > 0 and not self.refit:
            if key not in self._combo_ok:
                self._run(combo, key, 0)
            active = self._combo_ok.get(key, [])
        else:
            active = range(len(members))
        raws, failed, used = [], {}, []
        for i in active:
            member, member_key = members[i]
            if n_train < member.min_length:
                failed[member.name] = f"ValueError: needs {member.min_length} periods"
                continue
            raw, exc = self._run(member, member_key, k)
            if exc is None and not np.all(np.isfinite(raw[:1])):
                exc = ValueError("non-finite forecast")
            if exc is not None:
                failed[member.name] = f"{type(exc).__name__}: {exc}"
                continue
            raws.append(raw)
            used.append(i)
        if k == 0:
            self._combo_ok[key] = used
        if not raws:
            return None, ValueError(f"every member failed: {failed}")
        stack = np.stack(raws)
        mean = np.median(stack, axis=0) if combo.method == "median" else stack.mean(axis=0)
        return np.maximum(np.asarray(mean, dtype=float).reshape(self.h), 0.0), None

    # -- guard and scores ---------------------------------------------------------------
    def _prepare(self) -> None:
        """Per-origin actuals, caps and metric scales, shared by every candidate.

        Scales by running sums over the series (all origins in one pass):
        ``mase_scale(y[:o], m)``, ``rmsse_scale(y[:o])`` and ``_safe_scale(y[:o], m)``
        of :mod:`forecasting.metrics`, equal to float precision.
        """
        y, h = self.y, self.h
        o = np.asarray(self.origins, dtype=int)
        self._o = o
        self.lengths = np.minimum(h, y.size - o)
        self.mask = np.arange(h)[None, :] < self.lengths[:, None]
        self.actual = np.zeros((o.size, h))
        for k, (ok, length) in enumerate(zip(o, self.lengths)):
            self.actual[k, :length] = y[ok : ok + length]
        self.mult = np.ones((o.size, h))
        if self.multiplier is not None:
            for k, (ok, length) in enumerate(zip(o, self.lengths)):
                at = self.origin_multipliers.get(int(ok))
                self.mult[k, :length] = self.multiplier[ok : ok + length] if at is None else at[:length]
        # the cap each origin's forecast is held to, from the history before it only; on
        # the models' scale (base demand, promotions divided out), like the raw forecasts
        # it checks: a planned promotion may lift a forecast above the recent peaks
        self.caps = forecast_caps(self.fit_y, o, self.max_multiple, self.m, h)

        def lag_mean(lag: int) -> np.ndarray:
            # mean |y_t - y_{t-lag}| over t < o, nan where o <= lag
            run = np.concatenate([[0.0], np.cumsum(np.abs(y[lag:] - y[:-lag]))]) if y.size > lag else np.zeros(1)
            cnt = o - lag
            safe = np.clip(cnt, 0, run.size - 1)
            return np.where(cnt > 0, run[safe] / np.maximum(cnt, 1), np.nan)

        lag_m = lag_mean(self.m) if self.m >= 1 else np.full(o.size, np.nan)
        self.s_mase = np.where(o > self.m, lag_m, lag_mean(1))
        d2 = np.concatenate([[0.0], np.cumsum(np.diff(y) ** 2)]) if y.size > 1 else np.zeros(1)
        self.s_rmsse = np.where(o >= 2, d2[np.clip(o - 1, 0, d2.size - 1)] / np.maximum(o - 1, 1), np.nan)
        level = np.concatenate([[0.0], np.cumsum(np.abs(y))])[o] / np.maximum(o, 1)
        sel = np.where(self.s_mase > 0, self.s_mase, np.where(o > 0, level, 0.0))
        self.s_select = np.where(sel > 0, sel, 1.0)

    def target_multiplier(self, k: int) -> np.ndarray:
        """The ``H`` multipliers of origin ``k``'s target periods (1 past the data)."""
        if not hasattr(self, "caps"):
            self._prepare()
        return self.mult[k]

    def guard(self, raws: list) -> tuple[np.ndarray | None, int | None]:
        """:func:`~forecasting.backtest.check_forecast` of the first ``len(raws)``
        origins' raw forecasts at once.

        Returns
        -------
        tuple
            ``(F, None)``, ``F`` the forecasts clipped to ``[0, cap_k]`` and multiplied by
            the target periods' promotion multipliers (origins x H), or
            ``(None, k)`` with ``k`` the first origin whose forecast fails the guardrail
            (``check_forecast(raws[k], ...)`` raises the reason).
        """
        if not hasattr(self, "caps"):
            self._prepare()
        k_n = len(raws)
        if k_n == 0:
            return np.zeros((0, self.h)), None
        raws = [r if getattr(r, "ndim", 0) == 1 else np.ravel(np.asarray(r, dtype=float)) for r in raws]
        if any(r.size != self.h for r in raws):
            for k, r in enumerate(raws):
                try:
                    check_forecast(r, self.h, self.caps[k])
                except UnstableForecast:
                    return None, k
        R = np.asarray(raws, dtype=float)
        caps = self.caps[:k_n, None]
        ok = np.isfinite(R).all(axis=1) & ~(R > caps + 1e-6 * np.maximum(caps, 1.0)).any(axis=1)
        if not ok.all():
            return None, int(np.argmin(ok))
        return np.clip(R, 0.0, caps) * self.mult[:k_n], None

    def evaluate(self, F: np.ndarray) -> tuple[list, np.ndarray, dict]:
        """:meth:`score` with the runs as ``(origin, actual, forecast)`` per origin,
        the forecast cut to the actuals."""
        F, ranks, scores = self.score(F)
        runs = [(int(o), self.actual[k, :length], F[k, :length]) for k, (o, length) in enumerate(zip(self._o, self.lengths))]
        return runs, ranks, scores

    def runs_arrays(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Origin, step (1-based), actual and forecast of every scored period of
        :meth:`score`'s forecasts ``F``, origin by origin (the runs, concatenated)."""
        mask = self.mask
        steps = np.broadcast_to(np.arange(1, self.h + 1), mask.shape)
        return np.repeat(self._o, self.lengths), steps[mask], self.actual[mask], F[mask]

    def score(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """Scored forecasts, per-origin ranking scores and backtest scores of one candidate.

        Parameters
        ----------
        F : numpy.ndarray
            Guarded forecasts, origins x ``H``, units per period.

        Returns
        -------
        tuple
            ``F`` with the steps past the end of the data set to 0, the ranking score
            per origin (:func:`_origin_score`, dimensionless) and ``{mase, rmsse, wape,
            bias, n_origins}``: MASE and RMSSE averaged over origins, WAPE and bias over
            all pooled errors (:mod:`forecasting.metrics` formulas).
        """
        lengths, A = self.lengths, self.actual
        F = np.where(self.mask, F, 0.0)  # steps past the end of the data count for nothing
        E = A - F
        abs_sum = np.abs(E).sum(axis=1)
        mae = abs_sum / lengths
        mse = (E * E).sum(axis=1) / lengths
        with np.errstate(divide="ignore", invalid="ignore"):
            mase = np.where(self.s_mase > 0, mae / self.s_mase, np.nan)
            rmsse = np.where(self.s_rmsse > 0, np.sqrt(mse / self.s_rmsse), np.nan)
            if self.select_by == "mase":
                ranks = mae / self.s_select
            elif self.select_by == "rmsse":
                ranks = rmsse
            else:
                act = np.abs(A).sum(axis=1)
                ranks = np.where(act > 0, abs_sum / act, np.nan)
        a_sum = float(A.sum())
        scores = {
            "mase": _nanmean(mase),
            "rmsse": _nanmean(rmsse),
            "wape": float(abs_sum.sum() / a_sum) if a_sum > 0 else float("nan"),
            "bias": float(-E.sum() / a_sum) if a_sum > 0 else float("nan"),
            "n_origins": int(lengths.size),
        }
        return F, np.asarray(ranks, dtype=float), scores


def forecast_series(
    y: np.ndarray,
    cfg: ForecastConfig,
    *,
    profile: np.ndarray | None = None,
    external: Mapping[str, tuple[Mapping[int, np.ndarray], np.ndarray]] | None = None,
    effect: tuple[np.ndarray, np.ndarray] | None = None,
) -> SeriesOutcome:
    """Classify, backtest, select, refit and guard one series.

    Parameters
    ----------
    y : numpy.ndarray
        Demand per period, units, oldest first, zeros included, no gaps.
    cfg : ForecastConfig
        Settings.
    profile : numpy.ndarray, optional
        ``m`` multiplicative seasonal factors borrowed from the series' group, index 0
        belonging to ``y[0]`` (enables the ``seasonal_shape`` candidate).
    external : mapping, optional
        Forecasts computed outside this function (the global model): name ->
        ``({origin: H forecasts}, H final forecasts)``, units per period. A candidate
        that lacks one of this series' origins is not considered.
    effect : tuple, optional
        Promotion effects (:mod:`forecasting.promotions`): ``(e, k)``,
        ``(e, k, at_origin)`` or ``(e, k, at_origin, e_bt)``, with ``e`` the ``n``
        multipliers of ``y`` (the series models fit on base demand ``y / e``) and ``k``
        the ``n + H`` multipliers known when forecasting (the planned promotions; ones
        where none are known), applied to every model's base forecast of a backtest
        target or forecast period: ``F_t = k_t * \hat b_t``. ``at_origin`` maps a
        backtest origin to the ``H`` multipliers of its target periods as estimated from
        the data before it; an origin it lacks uses ``k``. ``e_bt``: the ``n``
        multipliers of the history the backtest's models fit (``y / e_bt``), with the
        effects known at the earliest origin; default ``e``. External forecasts are
        already on the demand scale. Scores, errors and ``mean`` are all in units of
        ``y``.

    Returns
    -------
    SeriesOutcome
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    h = cfg.horizon
    external = dict(external or {})
    cls = classify_demand(y[-classification_window(y, cfg.season_length, h):])
    short = n < cfg.min_obs
    # A series long enough for its own models but young against the horizon would have
    # its earliest origins clipped to ``min_train`` periods: a fit on a few periods fails
    # or explodes (any failure disqualifies a candidate) and its errors widen every band.
    # Its origins keep training windows of at least min(H, n / 2) (series_origins).
    origins = series_origins(n, h, cfg.backtest_windows, cfg.backtest_step, cfg.min_train, own_models=not short,
                             season_length=_seasonal_floor(y, cfg, short))
    min_train_len = min(origins) if origins else n
    available = set(external) | ({SHAPE_MODEL} if profile is not None else set())
    names = _candidate_names(cls.label, short, min_train_len, cfg, available, n)
    # an externally computed candidate must cover exactly this series' origins
    names = [nm for nm in names if nm not in external or all(o in external[nm][0] for o in origins)]

    reasons: list[str] = []
    backtests: dict[str, np.ndarray] = {}  # name -> scored forecasts, origins x H
    scores: dict[str, float] = {}
    cand_scores: dict[str, dict] = {}
    per_origin: dict[str, np.ndarray] = {}
    # Parameters are estimated at the first origin only; later origins re-run the model
    # with them (``frozen``), unless refit_backtest. Every (model, origin) fit is made
    # once: a combination reuses the forecasts of its members that are candidates too.
    y_fit, known, at_origin = y, None, None
    y_bt = y
    if effect is not None:
        e, known = (np.asarray(a, dtype=float) for a in effect[:2])
        at_origin = {int(o): np.asarray(v, dtype=float) for o, v in (effect[2] if len(effect) > 2 else {}).items()}
        e_bt = np.asarray(effect[3], dtype=float) if len(effect) > 3 and effect[3] is not None else e
        if e.shape != (n,) or known.shape != (n + h,) or not (np.all(e > 0) and np.all(known > 0)):
            raise ValueError(f"effect must be positive arrays of {n} and {n + h} multipliers")
        if e_bt.shape != (n,) or not np.all(e_bt > 0):
            raise ValueError(f"effect's backtest multipliers must be a positive array of {n}")
        if any(v.shape != (h,) or not np.all(v > 0) for v in at_origin.values()):
            raise ValueError(f"effect's per-origin multipliers must be positive arrays of {h}")
        y_fit = y / e
        y_bt = y / e_bt
    select_by = cfg.score_for(cls.label)
    bt = _Backtest(y, origins, h, cfg.season_length, select_by, cfg.refit_backtest, cfg.max_multiple,
                   fit_y=y_bt, multiplier=None if known is None else known[:n], origin_multipliers=at_origin)
    for name in names:
        raws: list = []
        model = key = None
        try:
            for k, o in enumerate(origins):
                if name in external:
                    raw = np.asarray(external[name][0][o], dtype=float)[:h]
                    # on the demand scale already: the guard multiplies it back
                    raws.append(raw / bt.target_multiplier(k) if known is not None and raw.size == h else raw)
                else:
                    if model is None:
                        model = _make(name, cfg, profile)
                        key = bt.key(model)
                    raws.append(bt.forecast(model, k, key))
            F, bad = bt.guard(raws)
        except Exception as exc:  # the fit at origin o failed; an earlier origin's guard first
            F, bad = bt.guard(raws)
            if bad is None:
                reasons.append(f"{name} failed in backtest at origin {o} of {n}: {type(exc).__name__}: {exc}")
                scores[name] = float("nan")
                continue
        if bad is not None:  # any failure disqualifies the candidate, by design
            try:
                check_forecast(np.ravel(raws[bad]), h, float(bt.caps[bad]))
                exc = UnstableForecast("guard failed")  # pragma: no cover - guard and check agree
            except Exception as err:
                exc = err
            reasons.append(f"{name} failed in backtest at origin {origins[bad]} of {n}: {type(exc).__name__}: {exc}")
            scores[name] = float("nan")
            continue
        F, ranks, cand = bt.score(F)
        backtests[name] = F
        per_origin[name] = ranks
        if ranks.size:
            cand_scores[name] = cand
        if select_by == "mase":
            scores[name] = float(np.mean(ranks)) if ranks.size else float("nan")
        else:
            scores[name] = float(cand_scores[name][select_by]) if ranks.size else float("nan")

    # The default (first listed candidate) unless a listed challenger beats it
    # consistently across origins (paired test, ``select_candidate``); the rest follow
    # by mean score as the fallback order. Candidates without a backtest (too little
    # data) keep their configured order after the scored ones; failed ones are not
    # retried.
    configured = set(cfg.candidates.get("short" if short and cls.label != "no_demand" else cls.label, ()))
    # Fallback-chain models that the class does not list are backtested only so that a
    # fallback has errors; they compete only when every listed candidate failed.
    listed = [nm for nm in names if nm in backtests and (nm in configured or not configured)]
    pool = listed or [nm for nm in names if nm in backtests]
    # A default that failed in the backtest passes its role to the next candidate in
    # the table's order, not to the lowest mean score: the scores are as noisy as
    # ever, so the preference order still decides unless the evidence is consistent.
    # (Handing it to the minimum made ``naive``, the noisiest, win whenever a few
    # origins happened to favour it: with ``ets_auto`` listed first for new SKUs, too
    # short for it at the first origin, 8 of the demo hold-out's 24 took ``naive``.)
    default = next((nm for nm in pool if np.isfinite(per_origin[nm]).any()), None)
    pick = select_candidate({nm: per_origin[nm] for nm in pool}, default, cfg.selection_alpha,
                            horizon=cfg.horizon, step=cfg.backtest_step)

    def rank(name: str) -> tuple:
        score = scores[name]
        if not np.isfinite(score):
            return (3, 0.0, names.index(name))
        tier = 0 if name == pick else (1 if name in configured or not configured else 2)
        return (tier, score, names.index(name))

    order = sorted((n_ for n_ in names if n_ in backtests), key=rank)
    preferred = order[0] if order else None

    cap = forecast_cap(y, cfg.max_multiple, cfg.season_length, h)
    # the series' own models forecast base demand: held to the cap of the base history
    base_cap = cap if known is None else forecast_cap(y_fit, cfg.max_multiple, cfg.season_length, h)
    used, mean, params = None, None, {}
    for name in order:
        try:
            if name in external:
                mean = check_forecast(np.asarray(external[name][1], dtype=float), h, cap)
            else:
                fitted, mean = _fit_predict(name, y_fit, h, base_cap, cfg, None, profile)
                params = _fitted_params(fitted)
                if known is not None:
                    mean = np.clip(mean * known[n:], 0.0, cap)
            used = name
            break
        except Exception as exc:
            reasons.append(f"{name} failed on full history: {type(exc).__name__}: {exc}")
    if used is None:
        # Last resort, cannot fail on validated data: the mean of the recent periods.
        window = int(cfg.model_params.get("moving_average", {}).get("window", 8))
        mean = np.clip(np.full(h, float(np.mean(y[-window:])) if n else 0.0), 0.0, cap)
        used = "moving_average"
        params = {"window": min(window, n), "level": float(mean[0]) if h else 0.0}
        reasons.append("all candidates failed; used the plain recent mean")
    kinds = tuple(_fallback_kind(r) for r in reasons)
    if used != preferred and preferred is not None and not any(r.startswith(preferred) for r in reasons):
        reasons.append(f"{preferred} not used")
    if reasons:
        reasons.append(f"used {used}")

    if used in backtests and backtests[used].shape[0]:
        o_arr, s_arr, a_arr, f_arr = bt.runs_arrays(backtests[used])
        chosen = {k: cand_scores[used][k] for k in SCORES}
    else:
        o_arr = s_arr = np.empty(0, dtype=int)
        a_arr = f_arr = np.empty(0)
        chosen = dict.fromkeys(SCORES, float("nan"))
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
        candidate_scores=cand_scores,
        fallback_kinds=kinds,
        params=params,
    )


def _run_chunk(series: list[np.ndarray], cfg: ForecastConfig, profiles=None, externals=None, effects=None) -> list[SeriesOutcome]:
    # BLAS with one thread in every process, also in the serial path: a multi-threaded
    # BLAS sums in a different order, the last bits of the least-squares fits differ,
    # and the optimiser can then stop elsewhere, so n_jobs=1 and n_jobs>1 would differ.
    profiles = profiles or [None] * len(series)
    externals = externals or [None] * len(series)
    effects = effects or [None] * len(series)
    with threadpool_limits(1):
        out = [forecast_series(y, cfg, profile=p, external=e, effect=fx)
               for y, p, e, fx in zip(series, profiles, externals, effects)]
    release_memory()
    return out


def _global_task(model: GlobalBoosting, panel: Panel, cutoff: int, origins: tuple, quantiles: bool, effects: bool,
                 plans_known: bool, future_promo, future_price) -> GlobalForecast:
    # One thread: several fits run side by side in worker processes, and single-threaded
    # histogram sums make local and Dask runs bit-for-bit identical.
    with threadpool_limits(1):
        try:
            out = model.fit_predict(panel, cutoff, origins=origins, quantiles=quantiles, effects=effects,
                                    plans_known=plans_known, future_promo=future_promo, future_price=future_price)
        except Exception as exc:  # a failed global fit must not sink the run: NaN -> fallback
            S = panel.y.shape[0]
            out = GlobalForecast(cutoff, np.full((len(origins), S, model.horizon), np.nan), np.zeros((len(origins), S)),
                                 origins=tuple(origins), error=f"{type(exc).__name__}: {exc}")
    # the fit's matrices are freed now; give their pages back before the series chunks
    release_memory()
    return out


def _global_quantile_fits(runner, gmodel: GlobalBoosting, fits: list, panel_ref, cutoffs: list, gfinal: GlobalForecast,
                          users: np.ndarray, calibration: np.ndarray | None, plans: bool, fpromo, fprice):
    """Quantile regressors of the global model, fitted once some series has chosen it.

    Adds the pinball-loss regressors to the mean-only fits (the one before the first
    backtest origin and the final one, side by side), predicts their quantiles at the
    backtest origins for the calibration sample and at the end of the history for the
    series in ``users``: what :func:`_global_quantiles` needs.

    Returns
    -------
    gfinal : GlobalForecast
        The final forecast with ``quantiles`` (``nan`` for the series not in ``users``).
    gcal : list or None
        ``(origin, qhat, scale)`` per backtest origin; ``None`` when a fit or the final
        prediction failed (logged: the series keep their pooled-error quantiles).
    """
    from .models.global_model import predict_task, quantile_task

    T = int(gfinal.origins[0]) if gfinal.origins else int(gfinal.cutoff)
    qfits = runner.map(quantile_task, [(gmodel, f) for f in fits])
    shares = [tuple(int(c) for c in part) for part in np.array_split(cutoffs, max(1, min(runner.workers, len(cutoffs)))) if part.size]
    tasks = [(gmodel, qfits[0], panel_ref, part, False, plans, None, None, calibration) for part in shares]
    tasks.append((gmodel, qfits[-1], panel_ref, (T,), False, plans, fpromo, fprice, users))
    results = runner.map(predict_task, tasks)
    spent: dict = {}
    for r in [*qfits, *results]:
        for key, sec in r.seconds.items():
            spent[key] = spent.get(key, 0.0) + sec
    logger.info("forecast: global model quantile task seconds %s (%d series use the model)",
                {k: round(v, 2) for k, v in spent.items()}, users.size)
    failed = next((r.error for r in [*qfits, results[-1]] if r.error), "")
    if failed or results[-1].quantiles is None:
        logger.warning("forecast: global model quantile regressors failed (%s); the %d series that use the global "
                       "model keep their pooled backtest-error quantiles", failed or "no quantiles", users.size)
        return gfinal, None
    gfinal.quantiles = results[-1].quantiles
    gcal = [(o, r.quantiles[k], r.scale[k]) for r in results[:-1] if r.quantiles is not None for k, o in enumerate(r.origins)]
    return gfinal, gcal


def _prepare(history: pd.DataFrame, freq: str, end=None):
    """Validate the long frame and cut it into gap-free arrays, one per series.

    Returns keys, series, grid, start positions, the promo / price matrices
    (``(S, T)``, ``None`` when the column is absent) and the longest run of missing rows
    of every series (:func:`~forecasting.gaps.absent_runs`: lengths and starts).
    """
    if not isinstance(history, pd.DataFrame):
        raise ValueError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in (*_KEYS, "date", "qty") if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing}; needs sku, location, date, qty")
    extra = [c for c in ("promo", "price") if c in history.columns]
    if len(history) == 0:
        raise ValueError("history has no rows")
    # Column by column, without copying or sorting the whole frame: at 20,000 weekly
    # series the long frame has ~3 million rows and every frame-wide copy, sort or
    # per-row Python call costs hundreds of MB or seconds. Rows are placed into the
    # (series, period) matrix by integer codes instead, in any order.
    try:
        dates = pd.to_datetime(history["date"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"history date is not a date column: {exc}") from None
    if dates.isna().any():
        raise ValueError("history has missing dates")
    qty = pd.to_numeric(history["qty"], errors="coerce").astype(float).to_numpy()
    if not np.all(np.isfinite(qty)):
        bad = history["qty"].to_numpy()[~np.isfinite(qty)][0]
        raise ValueError(f"history qty has missing or non-numeric values (e.g. {bad!r})")
    if (qty < 0).any():
        raise ValueError(f"history qty has negative values (e.g. {float(qty[qty < 0][0])})")
    if any(history[c].isna().any() for c in _KEYS):
        raise ValueError("history has missing sku or location")
    offset = to_offset(freq)
    # A date belongs to the grid iff it is one of the grid's periods from the first date
    # on (this also rejects a time of day, or a week off a multi-week grid, which a
    # per-date is_on_offset test lets through).
    first_date, last = dates.min(), dates.max()
    grid = pd.date_range(first_date, last, freq=offset)
    pos = grid.get_indexer(dates)
    if (pos < 0).any():
        bad = dates[pos < 0].iloc[0]
        raise ValueError(f"date {bad.date()} is not on the {freq} grid")
    if end is not None:
        last = pd.Timestamp(end)
        if not offset.is_on_offset(last):
            raise ValueError(f"end {last.date()} is not on the {freq} grid")
        if dates.max() > last:
            raise ValueError(f"history has dates after end {last.date()}")
        grid = pd.date_range(first_date, last, freq=offset)
    grouped = history.groupby(_KEYS, sort=True, observed=True)
    keys = grouped.size().index.to_frame(index=False)
    row_series = grouped.ngroup().to_numpy()
    S, T = len(keys), len(grid)
    cell = row_series.astype(np.int64) * T + pos
    ordered = np.sort(cell)
    if (ordered[1:] == ordered[:-1]).any():
        i = int(np.argmax(pd.Series(cell).duplicated().to_numpy()))
        dup = (history[_KEYS[0]].iloc[i], history[_KEYS[1]].iloc[i], dates.iloc[i])
        raise ValueError(f"history has duplicate (sku, location, date) rows, e.g. {tuple(str(v) for v in dup)}")
    del ordered, cell
    first = np.full(S, T, dtype=np.int64)
    np.minimum.at(first, row_series, pos)
    # Each series runs from its own first row to the last date of the whole history:
    # missing periods inside that span, and after a series' last row, are zero demand.
    Y = np.full((S, T), np.nan)
    Y[np.arange(T)[None, :] >= first[:, None]] = 0.0
    Y[row_series, pos] = qty
    series = [Y[i, first[i]:].copy() for i in range(S)]
    runs = absent_runs(row_series, pos, S, T)
    promo = price = None
    if "promo" in extra:
        p = pd.to_numeric(history["promo"], errors="coerce").fillna(0.0).to_numpy(float)
        promo = np.zeros((S, T))
        promo[row_series, pos] = (p > 0).astype(float)
    if "price" in extra:
        pr = pd.to_numeric(history["price"], errors="coerce").to_numpy(float)
        price = np.full((S, T), np.nan)
        price[row_series, pos] = np.where(pr > 0, pr, np.nan)
    return keys, series, grid, first.astype(int), Y, promo, price, runs


def _report_gaps(gaps: pd.DataFrame, shown: int = 5) -> None:
    """Log the series whose runs of missing rows :mod:`forecasting.gaps` flags (read as
    zero demand, as the contract says, but worth a look at the extract)."""
    if gaps.empty:
        return
    worst = gaps.sort_values(["periods", "sku", "location"], ascending=[False, True, True]).head(shown)
    examples = "; ".join(
        f"{r.sku}/{r.location}: {r.periods} periods from {pd.Timestamp(r.first_missing).date()}"
        + (" to the end" if r.to_end else "") + f" (demand in {r.rate:.0%} of its periods)"
        for r in worst.itertuples())
    logger.warning("forecast: %d series have a run of periods without rows that their own demand makes implausible; "
                   "the runs are read as zero demand, check the extract (longest: %s)", len(gaps), examples)


def _group_labels(keys: pd.DataFrame, groups: pd.DataFrame | None) -> np.ndarray:
    """Group of every series from a ``groups`` table (sku[, location], group)."""
    if groups is None:
        return np.array([None] * len(keys), dtype=object)
    if not isinstance(groups, pd.DataFrame) or "group" not in groups.columns or "sku" not in groups.columns:
        raise ValueError("groups must be a DataFrame with columns sku, group and optionally location")
    on = [c for c in _KEYS if c in groups.columns]
    table = groups[[*on, "group"]].drop_duplicates(on)
    merged = keys.merge(table.astype({c: keys[c].dtype for c in on}, errors="ignore"), on=on, how="left")
    return merged["group"].astype(object).where(merged["group"].notna(), None).to_numpy()


def _future_matrices(future: pd.DataFrame | None, keys: pd.DataFrame, dates: pd.DatetimeIndex, panel: Panel | None):
    """Planned promo / price of the forecast periods as ``(S, H)`` matrices (price only
    with a ``panel`` that has prices)."""
    if future is None:
        return None, None
    missing = [c for c in (*_KEYS, "date") if c not in future.columns]
    if missing:
        raise ValueError(f"future lacks column(s) {missing}; needs sku, location, date and promo and/or price")
    S, H = len(keys), len(dates)
    idx = keys.reset_index().rename(columns={"index": "_i"})
    f = future.assign(date=pd.to_datetime(future["date"])).merge(idx, on=_KEYS, how="inner")
    col = dates.get_indexer(f["date"])
    f = f[col >= 0]
    col = col[col >= 0]
    promo = price = None
    if "promo" in f.columns:
        promo = np.zeros((S, H))
        promo[f["_i"].to_numpy(), col] = (pd.to_numeric(f["promo"], errors="coerce").fillna(0).to_numpy() > 0).astype(float)
    if "price" in f.columns and panel is not None and panel.has_price:
        last = pd.DataFrame(panel.price.T).ffill().to_numpy().T[:, -1]
        price = np.repeat(last[:, None], H, axis=1)
        vals = pd.to_numeric(f["price"], errors="coerce").to_numpy(float)
        ok = vals > 0
        price[f["_i"].to_numpy()[ok], col[ok]] = vals[ok]
    return promo, price


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
    backtest_windows: int | None = None,
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
    groups: pd.DataFrame | None = None,
    scheduler: Any = None,
    global_model: bool = True,
    global_params: Mapping[str, Any] | None = None,
    future: pd.DataFrame | None = None,
    select_by: str = "mase",
    select_by_intermittent: str | None = "rmsse",
    calibrate: bool = True,
    selection_alpha: float = 0.1,
    promo_effects: bool = True,
    top_down: pd.DataFrame | Mapping | None = None,
    top_down_window: int | None = None,
) -> ForecastResult:
    """Forecast every sku x location of a long demand table, with quantiles.

    Parameters
    ----------
    history : pandas.DataFrame
        Columns sku, location, date (period start, on the ``freq`` grid), qty (units per
        period, >= 0); optional promo (0/1) and price (currency per unit), which feed the
        global model. Each series runs from its first row to the last date of the whole
        table (or ``end``); missing periods are zero demand.
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
        Local worker processes (``-1``: one per CPU). Results are identical for any value.
    seed : int
        Seed of the global model's row sample and boosting (everything else is
        deterministic).
    backtest_windows : int, optional
        Rolling origins per series (each forecasts ``H`` periods). Default: the fewest,
        at least 3 and at most 13, whose test periods span a season (11 for weekly data,
        ``H = 13``, ``m = 52``; 3 when ``H >= m``;
        :func:`~forecasting.backtest.default_backtest`), fewer when the history is too
        short for them (:func:`~forecasting.backtest.season_windows`). A challenger can
        replace a class's first candidate only when the origins span at least two
        horizons, ``(backtest_windows - 1) * backtest_step >= H``; 3 origins ``H // 3``
        apart span less and keep the first candidate
        (:func:`~forecasting.backtest.select_candidate`).
    backtest_step : int, optional
        Periods between origins; default ``max(1, H // 3)``, wider when 13 origins at
        that step cannot span a season.
    max_multiple : float
        Forecasts above ``max_multiple`` x the maximum of the recent history count as
        an explosion (fallback); all outputs are capped there. The recent window spans
        a season, the horizon and five mean periods per demand
        (:func:`~forecasting.backtest.forecast_cap`): an item without demand in it (phased
        out) is forecast zero, with the reason in ``selection.fallback``.
    min_obs : int, optional
        Series with fewer periods are short (new items): the ``short`` candidates and
        quantiles widened by ``short_widen``. Default :func:`default_min_obs`,
        ``min(2 H, max(H, 2 m))`` (``2 H`` for ``m = 1``).
    candidates : mapping, optional
        Demand class (smooth, erratic, intermittent, lumpy, short, no_demand) ->
        candidate model names; overrides :data:`DEFAULT_CANDIDATES` per class.
    model_params : mapping, optional
        Model name -> constructor parameters, e.g. ``{"moving_average": {"window": 8},
        "sba": {"alpha": 0.1}}``.
    short_widen : float
        Error-scale multiplier for short series, see :mod:`forecasting.quantiles`.
    min_pool : int
        Fewest pooled errors per (class, step) before the pool is widened.
    chunks_per_job : int
        Chunks of series per worker (load balancing when running in parallel).
    end : date-like, optional
        Last period of the history (on the grid). Default: the table's last date.
    refit_backtest : bool
        Re-optimise model parameters at every backtest origin (default: estimate them
        at the first origin and reuse them; the final fit is always fully optimised).
    groups : pandas.DataFrame, optional
        Columns sku, group and optionally location (e.g. the item's category, or
        category and region): series of a group share a pooled seasonal profile that
        short series borrow (:mod:`forecasting.shapes`). Without it, short series
        borrow the run-wide profile.
    scheduler : str or dask.distributed.Client, optional
        Run the tasks on this Dask cluster (e.g. ``"tcp://host:8786"``) instead of
        local processes; the results are identical.
    global_model : bool
        Train the global gradient-boosting candidate (:mod:`forecasting.models.
        global_model`) at every backtest cutoff and on the whole history.
    global_params : mapping, optional
        Constructor parameters of :class:`~forecasting.models.global_model.
        GlobalBoosting` (``max_rows``, ``max_iter``, ``learning_rate``...).
    future : pandas.DataFrame, optional
        Planned promo and/or price of the forecast periods (sku, location, date, promo,
        price). Without it the forecast assumes no promotion and the last price; with
        it, the backtest also uses the (then known) promotions of its target periods.
    select_by : str
        Backtest score that ranks candidates: ``mase``, ``rmsse`` or ``wape``.
    select_by_intermittent : str or None
        The score that ranks ``intermittent`` and ``lumpy`` series instead (default
        ``rmsse``, scored on the mean rather than the median; see
        :class:`ForecastConfig`); None: ``select_by`` for every class.
    selection_alpha : float
        Significance level of the paired test across backtest origins that a challenger
        must pass to replace the class's first candidate (see :class:`ForecastConfig`
        and :func:`~forecasting.backtest.select_candidate`); 1 = plain minimum.
    promo_effects : bool
        With a ``promo`` column in ``history``, fit the per-series models on base demand
        (promotion lift and post-promotion dip divided out, estimated per SKU, see
        :mod:`forecasting.promotions`) and multiply their forecasts by the effects of the
        promotions planned in ``future`` (in the backtest: of the target periods' known
        promotions, with the effects estimated from the data before each origin,
        :func:`~forecasting.promotions.backtest_multipliers`; the history the backtest's
        models fit is divided by the effects estimated before its earliest origin, the
        final fit's by the whole history's). Without ``future`` promotions the
        forecasts, and the backtest's, are base demand. The
        effects used are in ``selection`` and ``effects`` (``promo_factor``,
        ``post_promo_factor``).
    calibrate : bool
        Adjust each class's quantile levels so that their leave-one-origin-out coverage
        on the backtest matches the nominal level (:func:`~forecasting.quantiles.
        calibrate_levels`).
    top_down : pandas.DataFrame or mapping, optional
        location -> aggregate label (columns ``location, group``, e.g. each dealer's
        region): a series' aggregate is its SKU summed over the locations with its
        label. The aggregates are forecast by this function (same options, no global
        model) and every member gets the ``top_down`` candidate, its share of the
        aggregate's forecast (:mod:`forecasting.top_down`), which is then its class's
        default (smooth, erratic, intermittent, lumpy). ``selection.params`` of a
        series that uses it names the aggregate, the share and the aggregate's model;
        the aggregates' own result is ``result.top_down``.
    top_down_window : int, optional
        Periods of the share window; default one season (``season_length``, at least
        ``horizon``).

    Returns
    -------
    ForecastResult
        ``forecasts`` (>= 0, no NaN, quantiles monotone), ``selection``, ``errors``,
        ``scores``, ``coverage``, ``effects``, ``errors_by_step`` and ``metrics`` with:
        n_series, n_short, n_fallback, n_fallback_error / _nonfinite / _explosion,
        n_gap_series (series with a run of missing rows their demand makes implausible,
        :mod:`forecasting.gaps`; logged with their dates), mean_mase, median_mase,
        mean_rmsse, median_rmsse (of each series' chosen model),
        wape, bias (pooled over the backtest),
        ``backtest_coverage_q..`` (in-sample share of backtest actuals at or below the
        quantile rebuilt from the pooled errors), ``holdout_coverage_q.._<class>``
        (leave-one-origin-out), ``quantiles_poisson``, ``n_model_<name>``,
        ``promo_lift_median``, ``price_elasticity_median``, global_seconds and seconds.

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
    m = int(season_length)
    if m < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")
    if not 0 < float(selection_alpha) <= 1:
        raise ValueError(f"selection_alpha must be in (0, 1], got {selection_alpha}")
    if not max_multiple > 1:
        raise ValueError(f"max_multiple must be > 1, got {max_multiple}")
    if backtest_windows is not None and int(backtest_windows) < 1:
        raise ValueError(f"backtest_windows must be >= 1, got {backtest_windows}")
    if backtest_step is not None and int(backtest_step) < 1:
        raise ValueError(f"backtest_step must be >= 1, got {backtest_step}")
    if select_by not in RANKING_SCORES:
        raise ValueError(f"select_by must be mase, rmsse or wape, got {select_by!r}")
    if select_by_intermittent is not None and select_by_intermittent not in RANKING_SCORES:
        raise ValueError(f"select_by_intermittent must be mase, rmsse, wape or None, got {select_by_intermittent!r}")
    qs = check_quantiles(quantiles)
    table = candidate_table(candidates)
    windows, step = default_backtest(h, m, backtest_windows, backtest_step)
    cfg = ForecastConfig(
        horizon=h,
        season_length=m,
        backtest_windows=windows,
        backtest_step=step,
        max_multiple=float(max_multiple),
        min_obs=int(min_obs) if min_obs is not None else default_min_obs(h, m),
        candidates=table,
        model_params={k: dict(v) for k, v in (model_params or {}).items()},
        refit_backtest=bool(refit_backtest),
        select_by=select_by,
        select_by_intermittent=select_by_intermittent,
        selection_alpha=float(selection_alpha),
        seed=int(seed),
    )
    keys, series, grid, start_pos, Y, promo, price, runs = _prepare(history, freq, end)
    gaps = implausible_gaps(keys, series, grid, start_pos, *runs, season_length=m, horizon=h)
    _report_gaps(gaps)
    windows = season_windows(len(grid), h, m, cfg.backtest_windows, cfg.backtest_step)
    reduced = windows != cfg.backtest_windows
    if reduced:
        logger.info("forecast: %d backtest origins instead of %d, so that the first one has a full season (%d "
                    "periods) of history: with %d periods, %d origins %d apart would leave it %d, and the "
                    "seasonal candidates (seasonal naive, the group's shape) could not be scored at all; the "
                    "errors then cover %d of the season's periods (short history, not the configuration)",
                    windows, cfg.backtest_windows, m, len(grid), cfg.backtest_windows, cfg.backtest_step,
                    len(grid) - h - (cfg.backtest_windows - 1) * cfg.backtest_step,
                    min(m, (windows - 1) * cfg.backtest_step + h))
        cfg = dataclasses.replace(cfg, backtest_windows=windows)
    span = (cfg.backtest_windows - 1) * cfg.backtest_step + h
    needed = math.ceil((m - h) / cfg.backtest_step) + 1 if m > h else cfg.backtest_windows
    # only when the history has room for the origins the advice asks for (a season before
    # the first): else season_windows would cut them back, and a nested call that is
    # passed an already reduced count (the top-down aggregates) must not warn
    room = len(grid) - h - (needed - 1) * cfg.backtest_step >= m
    if m >= 2 and span < m and not reduced and room:
        # Errors from part of the cycle only: selection and quantiles then learn the
        # bias of those season phases (e.g. lagging a rising season) and carry it to
        # the next ones (measured on the demo network: 6 origins 4 weeks apart gave
        # held-out q90 coverage 0.945 and MASE 0.775; 13 origins, one year, 0.919 and
        # 0.749).
        logger.warning("forecast: the backtest's test periods span %d periods, less than one season (%d); "
                       "set backtest_windows >= %d (step %d) so that errors cover every season phase",
                       span, m, needed, cfg.backtest_step)
    if cfg.selection_alpha < 1 and effective_windows(cfg.backtest_windows, h, cfg.backtest_step) < 2:
        # not a warning: keeping the first candidate is the better bet on such evidence
        logger.info("forecast: the backtest's origins span less than two horizons, so every series keeps its "
                    "class's first candidate (challengers are scored, not switched to); set backtest_windows "
                    ">= %d (step %d) to let a consistently better challenger win",
                    math.ceil(h / cfg.backtest_step) + 1, cfg.backtest_step)
    last_date = grid[-1]
    T = len(grid)
    n_series = len(series)
    offset = to_offset(freq)
    dates = pd.date_range(last_date + offset, periods=h, freq=offset)
    group_of = _group_labels(keys, groups)

    # ---- promotion effects: the series models see base demand ------------------------
    fx = None
    fit_series = series
    early_series = series  # base demand as known at the backtest's earliest origin
    # the backtest's earliest origin on the grid (a shorter series' origins come later)
    first_origin = T - h - (cfg.backtest_windows - 1) * cfg.backtest_step
    series_effects: list = [None] * n_series
    if promo_effects and promo is not None and promo.any():
        fx = estimate_effects(Y, promo, keys["sku"].astype(str).to_numpy())
        if fx.active:
            E = effect_matrix(promo, fx.lift, fx.dip)
            planned = future is not None and "promo" in future.columns
            if planned:
                fpromo_plan, _ = _future_matrices(future, keys, dates, None)
                K_future = effect_matrix(fpromo_plan, fx.lift, fx.dip, previous=promo[:, -1])
            origins_of: list = [[] for _ in series]
            at_cut: dict = {}
            if planned:
                # with a plan the backtest knows its target periods' promotions too, and
                # scores them with the effects estimated before each origin
                # (forecasting.promotions.backtest_multipliers)
                origins_of = [series_origins(y.size, h, cfg.backtest_windows, cfg.backtest_step, cfg.min_train,
                                             own_models=y.size >= cfg.min_obs,
                                             season_length=_seasonal_floor(y, cfg, y.size < cfg.min_obs))
                              for y in series]
                cuts = {start_pos[i] + o for i, own in enumerate(origins_of) for o in own if o > 0}
                at_cut = backtest_multipliers(Y, promo, keys["sku"].astype(str).to_numpy(), cuts, h)
            # The backtest's models fit base demand divided by the effects known at its
            # earliest origin: divided by the whole history's, their training windows
            # would carry the lift of the very periods they are scored on.
            if 0 < first_origin < T:
                fx_bt = estimate_effects(Y[:, :first_origin], promo[:, :first_origin], keys["sku"].astype(str).to_numpy())
                E_bt = effect_matrix(promo, fx_bt.lift, fx_bt.dip)
            else:
                E_bt = E
            fit_series, early_series = [], []
            for i, y in enumerate(series):
                e = E[i, start_pos[i]:]
                known = np.concatenate([e, K_future[i]]) if planned else np.ones(y.size + h)
                at_origin = {o: at_cut[start_pos[i] + o][i] for o in origins_of[i] if o > 0}
                series_effects[i] = (e, known, at_origin, E_bt[i, start_pos[i]:])
                fit_series.append(y / e)
                early_series.append(y / E_bt[i, start_pos[i]:])
            logger.info("forecast: promotion effects per SKU (run-wide lift %.2f, post-promotion %.2f); %s",
                        fx.run_lift, fx.run_dip,
                        "planned promotions applied" if planned else "no promotion plan: forecasts are base demand")

    # ---- pooled seasonal shapes for series too short for their own ------------------
    profiles: list = [None] * n_series
    shape_of = np.array([""] * n_series, dtype=object)
    uses_shape = any(SHAPE_MODEL in v for v in table.values())
    if uses_shape and m >= 2:
        # Every series of a grouped run may choose the group's shape (the caller declared
        # that its series share a calendar: a category's season, a region's climate); in
        # an ungrouped run only series too short for a season of their own borrow it.
        # The backtest origins see the profile as known before the earliest origin (one
        # season of members suffices there), the final fit the one from all history, so
        # the shape's backtest score is not flattered by the periods it is scored on.
        # A run with under two seasons of history (two years of weekly data or less)
        # pools its members' single seasons: one dealer's season is noise there, but a
        # group's is not, and without it every forecast of the run is non-seasonal.
        pooled = pooled_profiles(fit_series, start_pos, group_of, m, min_seasons=2 if T >= 2 * m else 1)
        early = pooled_profiles(early_series, start_pos, group_of, m, end=first_origin, min_seasons=1) if first_origin >= m else {}
        for i, y in enumerate(series):
            short_series = y.size < 2 * m
            if not short_series and groups is None:
                continue
            key = group_of[i] if group_of[i] in pooled else ALL_GROUP
            if key not in pooled:
                continue
            rot = (start_pos[i] + np.arange(m)) % m
            ekey = group_of[i] if group_of[i] in early else ALL_GROUP
            if ekey in early:
                profiles[i] = (np.stack([early[ekey][rot], pooled[key][rot]]), (first_origin - start_pos[i], y.size))
            elif short_series:
                # no history before the backtest for a profile: short series keep the
                # final one at every origin (their only seasonal information)
                profiles[i] = (pooled[key][rot][None], (0,))
            else:
                continue
            shape_of[i] = str(key)

    # ---- top-down: the aggregates' forecasts shared out to their members -------------
    td_ext: list = [None] * n_series
    td_result, td = None, None
    td_seconds = 0.0
    if top_down is not None and any(TOP_DOWN_MODEL in v for v in table.values()):
        t_td = time.perf_counter()
        td_labels = top_down_labels(keys, top_down)

        def run_aggregates(hist_g, groups_g, future_g):
            # the same engine and options on the aggregates (a series model per
            # aggregate; the global model is for the members)
            return forecast(hist_g, h, freq=freq, season_length=m, quantiles=qs, n_jobs=n_jobs, seed=seed,
                            backtest_windows=cfg.backtest_windows, backtest_step=cfg.backtest_step,
                            max_multiple=max_multiple, min_obs=min_obs, candidates=candidates,
                            model_params=model_params, short_widen=short_widen, min_pool=min_pool,
                            chunks_per_job=chunks_per_job, end=grid[-1], refit_backtest=refit_backtest,
                            groups=groups_g, scheduler=scheduler, global_model=False, future=future_g,
                            select_by=select_by, select_by_intermittent=select_by_intermittent, calibrate=False,
                            selection_alpha=selection_alpha, promo_effects=promo_effects)

        window = int(top_down_window) if top_down_window else max(m, h)
        td_ext, td_result, td = aggregate_top_down(keys, Y, start_pos, grid, promo, price, td_labels, group_of,
                                                   future, h, window, run_aggregates)
        td_seconds = time.perf_counter() - t_td
        logger.info("forecast: top-down candidate from %d aggregates in %.1f s", len(td.names), td_seconds)

    # the caller's and _prepare's freed temporaries (a long frame's worth) go back to the
    # OS before the workers start, so that the run's peak is the workers' working sets
    release_memory()
    workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    with TaskRunner(min(workers, max(n_series, 1)), scheduler) as runner:
        # ---- the global model: one fit per backtest cutoff and one on everything ----
        t_global = time.perf_counter()
        externals: list = [None] * n_series
        gfinal = gcal = None
        uses_global = global_model and any(GLOBAL_MODEL in v for v in table.values())
        if uses_global:
            panel = Panel(
                y=Y,
                promo=promo if promo is not None else np.zeros_like(Y),
                price=price if price is not None else np.full_like(Y, np.nan),
                season_pos=Panel.season_positions(grid.append(dates), m),
                season_length=m,
                has_promo=promo is not None,
                has_price=price is not None,
            )
            gparams = {"seed": int(seed), **dict(global_params or {})}
            gmodel = GlobalBoosting(horizon=h, quantiles=qs, **gparams)
            cutoffs = [T - h - k * cfg.backtest_step for k in range(cfg.backtest_windows)]
            cutoffs = sorted(c for c in set(cutoffs) if c >= max(8, cfg.min_train))
            fpromo, fprice = _future_matrices(future, keys, dates, panel)
            panel_ref = runner.scatter(panel)
            plans = future is not None
            if cfg.refit_backtest:
                tasks = [(gmodel, panel_ref, c, (c,), c == cutoffs[-1], False, plans, None, None) for c in cutoffs]
                tasks.append((gmodel, panel_ref, T, (T,), True, True, plans, fpromo, fprice))
                results = runner.map(_global_task, tasks)
                fits = []
            else:
                # One fit before the earliest origin forecasts every backtest origin: no
                # leakage, and the same "frozen parameters" scheme as the series models.
                # Fits first (that one and the final one side by side), then the
                # predictions, the backtest origins split into one share per worker and
                # the final forecast: predicting for S x H rows per origin costs more
                # than the fits from ~6 origins on, and as a single task it left the
                # other workers idle. The mean regressors only: the quantile regressors
                # (three of the four) serve only the series that choose the global
                # model, and are fitted after the selection if any does (below; in
                # aus_retail none does, and they took ~7 s of its ~20 s wall).
                from .models.global_model import fit_task, predict_task

                fit_at = ([cutoffs[0]] if cutoffs else []) + [T]
                fits = runner.map(fit_task, [(gmodel, panel_ref, c, False) for c in fit_at])
                # biggest shares first, the final forecast (1 origin + 3 effect
                # predictions) last, so that a process pool hands it to the first free worker
                shares = [tuple(int(c) for c in part) for part in np.array_split(cutoffs, max(1, min(runner.workers, len(cutoffs)))) if part.size]
                tasks = [(gmodel, fits[0], panel_ref, part, False, plans) for part in shares]
                tasks.append((gmodel, fits[-1], panel_ref, (T,), True, plans, fpromo, fprice))
                results = runner.map(predict_task, tasks)
            # (the backtest shares of one failed fit say so once)
            for cutoff, error in dict.fromkeys((r.cutoff, r.error) for r in results if r.error):
                logger.warning("forecast: global model failed at cutoff %d of %d: %s", cutoff, T, error)
            spent = {}
            for r in [*fits, *results]:
                for key, sec in r.seconds.items():
                    spent[key] = spent.get(key, 0.0) + sec
            # task seconds summed over the workers (the quantile regressors' share is asked
            # for whenever the global model's cost comes up)
            logger.info("forecast: global model task seconds %s", {k: round(v, 2) for k, v in spent.items()})
            gfinal = results[-1]
            by_origin = {o: r.mean[k] for r in results[:-1] for k, o in enumerate(r.origins)}
            if cfg.refit_backtest:
                gcal = [(o, r.quantiles[k], r.scale[k]) for r in results[:-1] if r.quantiles is not None for k, o in enumerate(r.origins)]
            for i in range(n_series):
                local = {c - start_pos[i]: by_origin[c][i] for c in by_origin if c - start_pos[i] >= 1}
                externals[i] = {GLOBAL_MODEL: (local, gfinal.mean[0, i])}
        global_seconds = time.perf_counter() - t_global
        for i, ext in enumerate(td_ext):
            if ext is not None:
                externals[i] = {**(externals[i] or {}), TOP_DOWN_MODEL: ext}

        # ---- per-series backtest, selection and refit ------------------------------
        parts = _chunks(n_series, runner.workers * max(1, int(chunks_per_job))) if runner.backend != "serial" else [slice(0, n_series)]
        chunk_out = runner.map(_run_chunk, [(series[s], cfg, profiles[s], externals[s], series_effects[s]) for s in parts])
        outcomes = [o for chunk in chunk_out for o in chunk]

        # ---- the global model's quantile regressors, for the series that chose it ----
        chosen = np.array([o.model == GLOBAL_MODEL for o in outcomes], dtype=bool)
        # (refit_backtest fitted them above, at its last cutoff and on the whole history)
        if uses_global and not cfg.refit_backtest and chosen.any():
            t_q = time.perf_counter()
            gfinal, gcal = _global_quantile_fits(runner, gmodel, fits, panel_ref, cutoffs, gfinal, np.flatnonzero(chosen),
                                                 _calibration_sample(n_series, int(seed)), plans, fpromo, fprice)
            global_seconds += time.perf_counter() - t_q

    means = np.stack([o.mean for o in outcomes]) if outcomes else np.empty((0, h))
    classes = np.array(["short" if o.short and o.demand_class != "no_demand" else o.demand_class for o in outcomes])
    err_series = np.concatenate([np.full(o.errors.size, i) for i, o in enumerate(outcomes)]).astype(int)
    err_steps = np.concatenate([o.steps for o in outcomes]).astype(int)
    err_values = np.concatenate([o.errors for o in outcomes])
    err_origins = np.concatenate([o.origins for o in outcomes]).astype(int)
    levels = np.array([float(np.mean(y)) for y in series])
    # each series' noise before its first backtest origin: the quantiles' prior scale
    noise = np.array([seasonal_noise(y[:int(o.origins.min())], m) if o.origins.size else 0.0
                      for y, o in zip(series, outcomes)])
    caps = np.array([o.cap for o in outcomes])
    qres = quantiles_from_errors(
        means,
        err_series,
        err_steps,
        err_values,
        levels,
        classes,
        qs,
        short=np.array([o.short for o in outcomes]),
        cap=caps,
        min_pool=min_pool,
        short_widen=short_widen,
        err_origins=err_origins,
        err_forecasts=np.concatenate([o.forecasts for o in outcomes]),
        # folds: the grid position of the origin, shared by all series cut there
        err_folds=start_pos[err_series] + err_origins,
        calibrate=calibrate,
        noise=noise,
    )
    values = qres.values
    models = np.array([o.model for o in outcomes])
    if gfinal is not None and gfinal.quantiles is not None and gcal:
        values = _global_quantiles(values, models, classes, gfinal, gcal, Y, qs, caps, min_pool)
    # count demand gets whole-unit quantiles (same coverage, see forecasting.quantiles)
    values = integer_quantiles(values, [bool(np.all(y == np.round(y))) for y in series])

    rep = np.repeat(np.arange(n_series), h)
    fc = keys.iloc[rep].reset_index(drop=True)
    fc["date"] = np.tile(dates.values, n_series)
    fc["mean"] = means.ravel()
    for j, q in enumerate(qs):
        fc[quantile_column(q)] = values[:, :, j].ravel()
    fc["model"] = np.repeat(models, h)

    cand_names = sorted({name for o in outcomes for name in o.scores})
    sel = keys.copy()
    sel["model"] = models
    sel["demand_class"] = [o.demand_class for o in outcomes]
    sel["n_obs"] = [o.n_obs for o in outcomes]
    sel["adi"] = [o.adi for o in outcomes]
    sel["cv2"] = [o.cv2 for o in outcomes]
    sel["short"] = [o.short for o in outcomes]
    sel["n_origins"] = [len(np.unique(o.origins)) for o in outcomes]
    for col in SCORES:
        sel[col] = [o.chosen_scores[col] for o in outcomes]
    sel["selected_by"] = [cfg.score_for(o.demand_class) for o in outcomes]
    for name in cand_names:
        sel[f"mase_{name}"] = [o.candidate_scores.get(name, {}).get("mase", np.nan) for o in outcomes]
    for name in cand_names:
        sel[f"score_{name}"] = [o.scores.get(name, np.nan) for o in outcomes]
    sel["error_scale"] = qres.scales
    for j, q in enumerate(qs):
        sel[f"pinball_{quantile_column(q)}"] = qres.pinball[:, j]
    sel["group"] = [g if g is not None else "" for g in group_of]
    sel["shape"] = shape_of
    lift = gfinal.promo_lift if gfinal is not None and gfinal.promo_lift is not None else np.full(n_series, np.nan)
    elast = gfinal.price_elasticity if gfinal is not None and gfinal.price_elasticity is not None else np.full(n_series, np.nan)
    sel["promo_lift"] = lift
    sel["price_elasticity"] = elast
    active = fx is not None and fx.active
    sel["promo_factor"] = fx.lift if active else 1.0
    sel["post_promo_factor"] = fx.dip if active else 1.0
    sel["fallback"] = [o.fallback for o in outcomes]
    gref = _global_reference(gmodel) if gfinal is not None else {}
    sel["params"] = [_params_json(gref if o.model == GLOBAL_MODEL else o.params) for o in outcomes]
    if td is not None:
        # which aggregate, what share of it, which model forecast it: every number traced
        agg_models = td.models_of(td_result)
        for i, o in enumerate(outcomes):
            if o.model == TOP_DOWN_MODEL:
                sel.at[i, "params"] = _params_json(td.record(i, T, agg_models))

    err = keys.iloc[err_series].reset_index(drop=True)
    # Series i covers grid positions start_i..T-1; origin o means training y[:o], so
    # the last training period sits at grid position start_i + o - 1.
    origin_pos = start_pos[err_series] + err_origins - 1
    err["origin"] = grid[origin_pos]
    err["step"] = err_steps
    err["error"] = err_values
    err["date"] = grid[origin_pos + err_steps]
    err["actual"] = np.concatenate([o.actuals for o in outcomes])
    err["forecast"] = np.concatenate([o.forecasts for o in outcomes])

    scores = _scores_table(keys, outcomes)
    effects = keys.copy()
    effects["group"] = sel["group"]
    effects["n_promo_periods"] = promo.sum(axis=1).astype(int) if promo is not None else 0
    effects["promo_lift"] = lift
    effects["price_elasticity"] = elast
    effects["promo_factor"] = sel["promo_factor"].to_numpy()
    effects["post_promo_factor"] = sel["post_promo_factor"].to_numpy()
    by_step = _errors_by_step(err, classes[err_series])

    metrics = _run_metrics(outcomes, sel, err, err_series, qres, classes, qs)
    metrics["n_gap_series"] = float(len(gaps))
    metrics["global_seconds"] = global_seconds
    metrics["top_down_seconds"] = td_seconds
    metrics["n_aggregates"] = float(len(td.names)) if td is not None else 0.0
    metrics["promo_adjusted"] = float(active)
    metrics["promo_factor_run"] = fx.run_lift if active else 1.0
    metrics["post_promo_factor_run"] = fx.run_dip if active else 1.0
    for _, row in qres.coverage.iterrows():
        for q in qs:
            col = f"coverage_{quantile_column(q)}"
            if col in row and np.isfinite(row[col]):
                metrics[f"holdout_{col}_{row['demand_class']}"] = float(row[col])
    for name, values_ in (("promo_lift", lift), ("price_elasticity", elast)):
        finite = values_[np.isfinite(values_)]
        metrics[f"{name}_median"] = float(np.median(finite)) if finite.size else float("nan")
    metrics["seconds"] = time.perf_counter() - started
    n_fb = int(metrics["n_fallback"])
    log = logger.warning if n_fb else logger.info
    why = ", ".join(f"{int(metrics[f'n_fallback_{k}'])} {k}" for k in ("error", "nonfinite", "explosion") if metrics[f"n_fallback_{k}"])
    log("forecast: %d series, %d with fallback%s, %d short, mean MASE %.3f, %.1f s (%s backend)", n_series, n_fb,
        f" ({why})" if why else "", int(metrics["n_short"]), metrics["mean_mase"], metrics["seconds"], runner.backend)
    return ForecastResult(forecasts=fc, selection=sel, errors=err, metrics=metrics, scores=scores,
                          coverage=qres.coverage, effects=effects, errors_by_step=by_step, top_down=td_result,
                          gaps=gaps)


#: Most series whose global-model quantiles are predicted at the backtest origins to
#: calibrate them (a seeded random sample beyond it). Each series gives ``origins x H``
#: scores, so 5,000 series at 13 origins of 13 weeks are ~845,000 scores: the conformal
#: quantiles of a class are estimated to well under a point of coverage, and predicting
#: the three quantile regressors for every series of a 20,000-series run cost ~60 % of
#: the global model's prediction time (scale benchmark: 20 s of its 27 s wall).
GLOBAL_CALIBRATION_SERIES = 5_000


def _calibration_sample(n_series: int, seed: int) -> np.ndarray | None:
    """Series indices for :data:`GLOBAL_CALIBRATION_SERIES` (``None``: all of them)."""
    if n_series <= GLOBAL_CALIBRATION_SERIES:
        return None
    rng = np.random.default_rng([int(seed), 20_000])  # (a stream of its own, apart from the run's other draws)
    return np.sort(rng.choice(n_series, GLOBAL_CALIBRATION_SERIES, replace=False))


def _global_quantiles(values, models, classes, gfinal: GlobalForecast, gcal: list, Y, qs, caps, min_pool):
    """Conformalised quantile regression for the series that use the global model.

    ``Q_i(q) = qhat_i(q) + s_i c_g(q)``: the boosting's pinball-loss quantiles ``qhat``
    shifted by ``c_g(q)``, the conformal quantile of the scores ``(y - qhat) / s`` of
    class ``g`` over the backtest origins (Romano, Patterson and Candes 2019, one-sided
    version); ``s`` is the global model's level at the origin. In runs of more than
    :data:`GLOBAL_CALIBRATION_SERIES` series the scores come from a seeded sample of
    that many series (``qhat`` is ``nan`` for the others).
    """
    use = models == GLOBAL_MODEL
    if not use.any():
        return values
    T = Y.shape[1]
    blocks, block_groups = [], []
    for origin, qhat, scale in gcal:
        width = min(qhat.shape[1], T - origin)
        if width < 1:
            continue
        actual = Y[:, origin : origin + width]
        ok = (scale > 0)[:, None] & np.isfinite(actual) & np.isfinite(qhat[:, :width, 0])
        sc = (actual[:, :, None] - qhat[:, :width, :]) / np.where(scale > 0, scale, 1.0)[:, None, None]
        blocks.append(sc[ok])
        block_groups.append(np.repeat(classes[:, None], width, axis=1)[ok])
    if not blocks:
        return values
    shift = conformal_shift(np.concatenate(blocks), np.concatenate(block_groups), classes[use], qs, min_pool)
    out = values.copy()
    idx = np.flatnonzero(use)
    adj = gfinal.quantiles[0, idx] + gfinal.scale[0, idx, None, None] * np.stack([shift[g] for g in classes[idx]])[:, None, :]
    adj = np.minimum(np.maximum(adj, 0.0), caps[idx, None, None])
    out[idx] = np.maximum.accumulate(adj, axis=2)
    return out


def _scores_table(keys: pd.DataFrame, outcomes: list[SeriesOutcome]) -> pd.DataFrame:
    rows = []
    for i, o in enumerate(outcomes):
        for name, s in o.candidate_scores.items():
            rows.append((i, name, s["mase"], s["rmsse"], s["wape"], s["bias"], s["n_origins"], name == o.model))
    frame = pd.DataFrame(rows, columns=["_i", "model", "mase", "rmsse", "wape", "bias", "n_origins", "chosen"])
    out = keys.iloc[frame["_i"].to_numpy()].reset_index(drop=True)
    return pd.concat([out, frame.drop(columns="_i")], axis=1)


def _errors_by_step(err: pd.DataFrame, classes: np.ndarray) -> pd.DataFrame:
    """MAE, bias and WAPE of the used models' backtest errors per class and step."""
    if err.empty:
        return pd.DataFrame(columns=["demand_class", "step", "n", "mae", "bias", "wape"])
    frame = pd.DataFrame({"demand_class": classes, "step": err["step"].to_numpy(), "abs": err["error"].abs().to_numpy(),
                          "fe": (err["forecast"] - err["actual"]).to_numpy(), "actual": err["actual"].to_numpy()})
    g = frame.groupby(["demand_class", "step"], sort=True)
    out = g.agg(n=("abs", "size"), mae=("abs", "mean"), fe=("fe", "sum"), abs_sum=("abs", "sum"), actual=("actual", "sum")).reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["bias"] = np.where(out["actual"] > 0, out["fe"] / out["actual"], np.nan)
        out["wape"] = np.where(out["actual"] > 0, out["abs_sum"] / out["actual"], np.nan)
    return out[["demand_class", "step", "n", "mae", "bias", "wape"]]


def _run_metrics(outcomes, sel, err, err_series, qres, groups, qs) -> dict:
    """Run-level accuracy figures for tracking (all floats)."""
    out: dict[str, float] = {
        "n_series": float(len(outcomes)),
        "n_short": float(sum(o.short for o in outcomes)),
        "n_fallback": float(sum(bool(o.fallback) for o in outcomes)),
    }
    for kind in ("error", "nonfinite", "explosion"):
        out[f"n_fallback_{kind}"] = float(sum(kind in o.fallback_kinds for o in outcomes))
    # RMSSE scores the mean for every class (MASE is smallest at the median, which is
    # zero for intermittent series): the champion gate's default, consistent with the
    # ranking of intermittent and lumpy series (ForecastConfig.select_by_intermittent).
    for score in ("mase", "rmsse"):
        values = sel[score].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        out[f"mean_{score}"] = float(finite.mean()) if finite.size else float("nan")
        out[f"median_{score}"] = float(np.median(finite)) if finite.size else float("nan")
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
