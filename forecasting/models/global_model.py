"""A global gradient-boosting model trained across all series of a run.

Unlike the per-series models of this package, which see one array, the global model
learns one function from every series at once, so that a series borrows strength from
the others (how demand reacts to a promotion, a price cut, the season, the recent
level). It works on a :class:`Panel`: the run's demand on one period grid as a dense
``series x periods`` matrix, with ``promo`` and ``price`` matrices beside it.

Design (each choice says why):

* **Direct multi-step with the step as a feature.** One regressor predicts
  ``y_{t+h-1}`` from the information up to period ``t - 1`` for every step ``h = 1..H``;
  ``h`` is an input column. A recursive model would feed its own forecasts back as lags
  and compound its errors over 13 weeks; one model per step would need ``H`` times the
  fits. (The "MQ" layout of Wen et al. 2017, "A multi-horizon quantile recurrent
  forecaster", with a tree model.)
* **Scaled targets.** Every row is divided by the series' level at the origin,
  ``s = (mean of the last 13 periods + mean of the last 52 periods) / 2`` (fewer when
  the history is shorter), and ``log(1 + s)`` is a feature: a dealer selling 2 units and
  one selling 2,000 share the same trees, as in the M5-winning LightGBM models
  (Makridakis, Spiliotis and Assimakopoulos 2022).
* **Features**: lags 1-8, rolling means over 4, 13, 26 and 52 periods, the rolling
  standard deviation and share of zero periods over 13, the same period one and two
  seasons earlier (single and 5-period mean), the position in the seasonal cycle of the
  target period (from its calendar date), the step, the series' age, and promo and
  relative price (price / the series' median price up to the origin) of the target
  period and the last period.
* **Losses**: Poisson deviance for the mean (a log link: predictions are positive and
  effects multiplicative, which suits count demand and promotion lifts), and the
  pinball loss (``loss="quantile"``) for each quantile level (Koenker and Bassett
  1978).
* **No leakage**: a fit at cutoff ``C`` uses only rows whose target period is before
  ``C`` and whose features only use periods before their origin; a forecast from origin
  ``o >= C`` reads periods ``< o`` only. The orchestrator fits once before the earliest
  backtest origin and forecasts every backtest origin with that fit (the "frozen
  parameters" scheme of the per-series models; ``refit_backtest=True`` fits at every
  origin), and once on the whole history. It fits the mean regressors first and adds
  the quantile regressors (:meth:`GlobalBoosting.add_quantiles`) only when some series
  has chosen the global model.
* **Fit and predict apart.** :meth:`GlobalBoosting.fit` returns the regressors (a few
  hundred kB), :meth:`GlobalBoosting.predict` forecasts any origins after the cutoff
  with them, so the orchestrator fits in one worker and splits the backtest origins'
  predictions across all of them (:func:`fit_task`, :func:`predict_task`). Predicting
  the regressors for ``S x H`` rows per origin is the bulk of the cost with many origins
  (at 4,000 weekly series, 13 origins: ~1.3 s per origin vs ~9 s for the 4 fits).
  ``predict`` builds the cumulative sums once over the whole panel and reads each
  origin's columns ``<= o`` (a prefix sum does not depend on later periods, bit for
  bit), and skips series whose level at the origin is 0 (their forecast is 0).
* **Future promotions and prices** are unknown unless the caller passes them
  (``future_promo`` / ``future_price`` matrices): by default a forecast assumes no
  promotion and the last observed price, at backtest origins as in production, so that
  the backtest measures what the night will see.

Rows: for a cutoff ``C`` the training origins are the last ``2 m + H`` periods before
``C`` (at most), every series and every step; ``max_rows`` of them are drawn at random
(seeded) when there are more. Gradient boosting is single-threaded here: the
orchestrator runs several fits in parallel processes, and single-threaded histogram
sums are bit-for-bit reproducible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from ..parallel import release_memory

__all__ = ["Panel", "GlobalForecast", "GlobalFit", "GlobalBoosting", "FEATURES", "fit_task", "predict_task"]

FEATURES = (
    "step", "season_pos", "age", "log_level",
    *(f"lag{k}" for k in range(1, 9)),
    "mean4", "mean13", "mean26", "mean52", "std13", "zero_share13",
    "last_season", "last_season5", "two_seasons",
    "promo_target", "promo_last", "promo_share13", "price_target", "price_last",
)


@dataclass
class Panel:
    """A run's demand on one period grid.

    Attributes
    ----------
    y : numpy.ndarray
        ``(S, T)`` demand, units per period; ``nan`` before each series' first period.
    promo : numpy.ndarray
        ``(S, T)`` promotion flag (0/1); 0 where unknown.
    price : numpy.ndarray
        ``(S, T)`` unit price (currency); ``nan`` where unknown.
    season_pos : numpy.ndarray
        ``(T + H,)`` position of each period (history and horizon) in the seasonal cycle,
        ``0 .. m - 1``, from its calendar date.
    season_length : int
        ``m``, periods per cycle.
    has_promo, has_price : bool
        Whether the history carried those columns at all.
    """

    y: np.ndarray
    promo: np.ndarray
    price: np.ndarray
    season_pos: np.ndarray
    season_length: int
    has_promo: bool = False
    has_price: bool = False

    def rows(self, index: np.ndarray) -> "Panel":
        """The panel of the series ``index`` only (every feature reads its own series)."""
        return Panel(self.y[index], self.promo[index], self.price[index], self.season_pos, self.season_length,
                     self.has_promo, self.has_price)

    @staticmethod
    def season_positions(dates: pd.DatetimeIndex, season_length: int) -> np.ndarray:
        """Position in a yearly cycle of ``m`` bins from the day of the year.

        ``floor((dayofyear - 1) m / 366)``: week of year for ``m = 52``, month for
        ``m = 12``; for ``m = 1`` everything is 0.
        """
        m = max(int(season_length), 1)
        return np.floor((dates.dayofyear.to_numpy() - 1) * m / 366.0).astype(int)


@dataclass
class GlobalForecast:
    """Forecasts of one global fit from one cutoff.

    Attributes
    ----------
    cutoff : int
        Training used periods ``< cutoff`` only.
    mean : numpy.ndarray
        ``(O, S, H)`` mean forecasts from each origin, units per period (>= 0).
    scale : numpy.ndarray
        ``(O, S)`` level ``s`` of each series at each origin, units per period.
    origins : tuple of int
        Grid index of the first forecast period of each forecast (``>= cutoff``).
    quantiles : numpy.ndarray or None
        ``(O, S, H, Q)`` quantile forecasts, units per period, sorted along ``Q``.
    promo_lift : numpy.ndarray or None
        ``(S,)`` predicted demand with a promotion in every horizon period divided by
        the prediction without (dimensionless); ``nan`` where the base is zero.
    price_elasticity : numpy.ndarray or None
        ``(S,)`` arc elasticity ``d log q / d log p`` between the last price and 10 %
        below it (dimensionless, negative when a price cut sells more).
    error : str
        Why the fit failed ("" when it did not); ``mean`` is then all ``nan``.
    seconds : dict
        Wall seconds of the prediction's phases (``features``, ``predict``: all
        regressors in one pass), and of the fit's (``fit_mean``, ``fit_quantiles``) when
        it comes from :meth:`GlobalBoosting.fit_predict`.
    """

    cutoff: int
    mean: np.ndarray
    scale: np.ndarray
    origins: tuple = ()
    quantiles: np.ndarray | None = None
    promo_lift: np.ndarray | None = None
    price_elasticity: np.ndarray | None = None
    error: str = ""
    seconds: dict = field(default_factory=dict)

    def placed(self, index: np.ndarray, n_series: int) -> "GlobalForecast":
        """This forecast of the series ``index`` as rows of an ``n_series`` panel (``nan`` elsewhere)."""

        def grow(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            axis = 0 if a.ndim == 1 else 1  # (S,) effects; (O, S, ...) forecasts and levels
            shape = list(a.shape)
            shape[axis] = n_series
            full = np.full(shape, np.nan)
            np.moveaxis(full, axis, 0)[index] = np.moveaxis(a, axis, 0)
            return full

        return GlobalForecast(self.cutoff, grow(self.mean), grow(self.scale), self.origins, grow(self.quantiles),
                              grow(self.promo_lift), grow(self.price_elasticity), self.error, dict(self.seconds))


class _Boosting(HistGradientBoostingRegressor):
    """``HistGradientBoostingRegressor`` that can take its bins from a sibling's fit.

    The mean and quantile regressors of one fit see the same ``X`` with the same binning
    settings and seed, so their bin mappers are identical; binning 50,000 rows x 26
    features is ~9 % of each fit (measured: 4 regressors on M3 6.0 -> 5.5 CPU s).
    :meth:`GlobalBoosting._fit` hands the first fit's mapper and binned matrix to the
    others through ``_shared_bins``; they are used only when the ``X`` being binned
    equals the one they came from, otherwise (or if scikit-learn stops calling this
    hook) the regressor bins as usual. The fitted trees are the same either way
    (tested).
    """

    def _bin_data(self, X, *args, **kwargs):
        shared = self.__dict__.pop("_shared_bins", None)
        training = kwargs.get("is_training_data", args[-1] if args else False)
        if shared is not None and training is True:
            mapper, X_ref, binned = shared
            if X.shape == X_ref.shape and np.array_equal(X, X_ref, equal_nan=True):
                self._bin_mapper = mapper
                return binned
        return super()._bin_data(X, *args, **kwargs)


@njit(cache=True, nogil=True)
def _forest_kernel(X, nodes, thresholds, values, roots, starts, base, out):  # pragma: no cover - compiled
    # Tree by tree over blocks of 4,096 rows, like scikit-learn, but on 16-byte node rows
    # (feature, left, right, missing side) instead of copying a 60-byte node record at
    # every step: ~2x less CPU at 52,000 rows x 400 trees (measured 0.32 s vs 0.66 s;
    # row-major over all trees was 0.46 s, the trees then spill out of L2). The same
    # decisions (``x <= threshold`` in float64, NaN -> the node's missing side) and the
    # same float64 sum (the baseline, then the trees in order) as ``_raw_predict``.
    n = X.shape[0]
    block = 4096
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        for j in range(starts.size - 1):
            for i in range(b0, b1):
                out[i, j] = base[j]
            for t in range(starts[j], starts[j + 1]):
                root = roots[t]
                for i in range(b0, b1):
                    k = root
                    f = nodes[k, 0]
                    while f >= 0:
                        x = X[i, f]
                        if x <= thresholds[k]:
                            k = nodes[k, 1]
                        elif np.isnan(x) and nodes[k, 3]:
                            k = nodes[k, 1]
                        else:
                            k = nodes[k, 2]
                        f = nodes[k, 0]
                    out[i, j] += values[k]


_LINKS = {"LogLink": np.exp, "IdentityLink": None}


def _pack_forest(models: list):
    """The trees of fitted ``HistGradientBoostingRegressor`` s as flat arrays.

    Returns ``(nodes, thresholds, values, roots, starts, base, links)`` for
    :func:`_forest_kernel`, or ``None`` when a model is not the plain numeric,
    single-output kind this reads (categorical splits, another link, or internals that
    moved in a scikit-learn release): the caller then uses ``model.predict``.
    """
    try:
        nodes, thresholds, values, roots, starts, base, links = [], [], [], [], [0], [], []
        offset = 0
        for model in models:
            link = type(model._loss.link).__name__
            if link not in _LINKS or model.n_trees_per_iteration_ != 1 or model.is_categorical_ is not None:
                return None
            links.append(_LINKS[link])
            base.append(float(np.asarray(model._baseline_prediction).ravel()[0]))
            for (predictor,) in model._predictors:
                nd = predictor.nodes
                if nd["is_categorical"].any():
                    return None
                leaf = nd["is_leaf"].astype(bool)
                block = np.empty((nd.size, 4), dtype=np.int32)
                block[:, 0] = np.where(leaf, -1, nd["feature_idx"])
                block[:, 1] = nd["left"].astype(np.int64) + offset
                block[:, 2] = nd["right"].astype(np.int64) + offset
                block[:, 3] = nd["missing_go_to_left"]
                nodes.append(block)
                thresholds.append(nd["num_threshold"].astype(np.float64))
                values.append(nd["value"].astype(np.float64))
                roots.append(offset)
                offset += nd.size
            starts.append(len(roots))
    except (AttributeError, KeyError, ValueError, TypeError, IndexError):
        return None
    return (np.concatenate(nodes), np.concatenate(thresholds), np.concatenate(values), np.asarray(roots, np.int64),
            np.asarray(starts, np.int64), np.asarray(base, np.float64), links)


def _predict_models(models: list, X: np.ndarray, packed=None) -> list[np.ndarray]:
    """``[m.predict(X) for m in models]``, bit for bit, in one compiled pass over the rows.

    ``X`` is the float32 feature matrix (compared in float64, as scikit-learn converts
    it). The first rows are checked against ``model.predict``; any difference (a
    scikit-learn release that changed its trees' layout) falls back to it for all rows.
    Measured ~2x less CPU than scikit-learn's prediction of 4 regressors x 100 trees at
    52,000 rows, single-threaded (see :func:`_forest_kernel`).
    """
    if X.shape[0] == 0:  # (every series at level 0 at an origin; scikit-learn refuses 0 rows)
        return [np.empty(0) for _ in models]
    if packed is None:
        packed = _pack_forest(models)
    if packed is None:
        return [m.predict(X) for m in models]
    *arrays, links = packed
    X = np.ascontiguousarray(X)
    raw = np.empty((X.shape[0], len(models)))
    _forest_kernel(X, *arrays, raw)
    out = []
    for j, link in enumerate(links):
        col = np.ascontiguousarray(raw[:, j])  # numpy's exp on the same contiguous layout
        out.append(link(col) if link is not None else col)
    head = X[: min(X.shape[0], 64)]
    if not all(np.array_equal(m.predict(head), o[: head.shape[0]]) for m, o in zip(models, out)):
        return [m.predict(X) for m in models]
    return out


def _window_mean(csum: np.ndarray, ccnt: np.ndarray, rows: np.ndarray, t: np.ndarray, w: int) -> np.ndarray:
    lo = np.maximum(t - w, 0)
    n = ccnt[rows, t] - ccnt[rows, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (csum[rows, t] - csum[rows, lo]) / np.maximum(n, 1), np.nan)


class GlobalBoosting:
    """Gradient boosting (``HistGradientBoostingRegressor``) across all series.

    Parameters
    ----------
    horizon : int
        ``H``, steps forecast from each origin.
    quantiles : tuple of float
        Quantile levels fitted with the pinball loss when ``fit(..., quantiles=True)``.
    max_rows : int
        Most training rows per fit (a seeded random subset beyond it).
    max_iter : int
        Boosting iterations per regressor.
    learning_rate : float
        Shrinkage of each tree.
    max_leaf_nodes : int
        Leaves per tree.
    min_samples_leaf : int
        Fewest rows per leaf.
    history : int, optional
        Training origins per series before the cutoff; default ``2 m + H``.
    seed : int
        Seed of the row subsample and of the boosting.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = rng.poisson(5.0, (20, 80)).astype(float)
    >>> dates = pd.date_range("2024-01-01", periods=84, freq="W-MON")
    >>> panel = Panel(y, np.zeros_like(y), np.full_like(y, np.nan),
    ...               Panel.season_positions(dates, 52), 52)
    >>> fc = GlobalBoosting(horizon=4, max_iter=20).fit_predict(panel, cutoff=80)
    >>> fc.mean.shape
    (1, 20, 4)
    """

    def __init__(
        self,
        horizon: int,
        quantiles: tuple[float, ...] = (0.5, 0.9, 0.95),
        max_rows: int = 50_000,
        max_iter: int = 100,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 50,
        history: int | None = None,
        seed: int = 0,
    ):
        self.horizon = horizon
        self.quantiles = quantiles
        self.max_rows = max_rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.history = history
        self.seed = seed

    # ---- features -----------------------------------------------------------------
    def _prepare(self, panel: Panel, cutoff: int):
        y = panel.y[:, :cutoff]
        valid = np.isfinite(y)
        y0 = np.where(valid, y, 0.0)
        zero = np.zeros((y.shape[0], 1))
        csum = np.concatenate([zero, np.cumsum(y0, axis=1)], axis=1)
        csq = np.concatenate([zero, np.cumsum(y0**2, axis=1)], axis=1)
        ccnt = np.concatenate([zero, np.cumsum(valid, axis=1)], axis=1)
        czero = np.concatenate([zero, np.cumsum(valid & (y0 == 0), axis=1)], axis=1)
        cpromo = np.concatenate([zero, np.cumsum(panel.promo[:, :cutoff], axis=1)], axis=1)
        start = np.argmax(valid, axis=1)
        start[~valid.any(axis=1)] = cutoff
        return y0, valid, csum, csq, ccnt, czero, cpromo, start

    def _features(self, panel: Panel, prep, rows, t, h, known_until, prices=None, future_promo=None, future_price=None):
        """Feature matrix for origins ``t`` (first unseen period) and steps ``h``.

        ``prep`` is :meth:`_prepare`'s tuple (its ``start`` at most the latest origin),
        ``prices`` :meth:`_prices`' ``(ref, last)`` as of the origins (with a price
        column). Every feature of a row reads periods before its origin only, except the
        promotion and price of a target period ``< known_until``.
        """
        y0, valid, csum, csq, ccnt, czero, cpromo, start = prep
        m = max(int(panel.season_length), 1)
        target = t + h - 1
        m13 = _window_mean(csum, ccnt, rows, t, 13)
        m52 = _window_mean(csum, ccnt, rows, t, 52)
        scale = 0.5 * (np.nan_to_num(m13) + np.nan_to_num(m52))
        with np.errstate(invalid="ignore", divide="ignore"):
            inv = np.where(scale > 0, 1.0 / scale, np.nan)
        cols = {
            "step": h.astype(float),
            "season_pos": panel.season_pos[target].astype(float) if m > 1 else np.zeros(t.size),
            "age": np.minimum(t - start[rows], 3 * m).astype(float),
            "log_level": np.log1p(scale),
        }
        width = y0.shape[1]
        for k in range(1, 9):
            idx = t - k
            ok = idx >= start[rows]
            cols[f"lag{k}"] = np.where(ok, y0[rows, np.clip(idx, 0, width - 1)], np.nan) * inv
        for w in (4, 13, 26, 52):
            cols[f"mean{w}"] = _window_mean(csum, ccnt, rows, t, w) * inv
        sq = _window_mean(csq, ccnt, rows, t, 13)
        cols["std13"] = np.sqrt(np.maximum(sq - m13**2, 0.0)) * inv
        cols["zero_share13"] = _window_mean(czero, ccnt, rows, t, 13)

        def back(offset: int, span: int) -> np.ndarray:
            # mean of y over [target - offset - span//2, target - offset + span//2],
            # only periods before the origin t and on or after the series' start
            lo = np.maximum(target - offset - span // 2, start[rows])
            hi = np.minimum(target - offset + span // 2 + 1, t)
            n = ccnt[rows, np.clip(hi, 0, width)] - ccnt[rows, np.clip(lo, 0, width)]
            s = csum[rows, np.clip(hi, 0, width)] - csum[rows, np.clip(lo, 0, width)]
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where((hi > lo) & (n > 0), s / np.maximum(n, 1), np.nan) * inv

        if m > 1:
            cols["last_season"] = back(m, 1)
            cols["last_season5"] = back(m, 5)
            cols["two_seasons"] = back(2 * m, 5)
        else:
            cols["last_season"] = cols["last_season5"] = cols["two_seasons"] = np.full(t.size, np.nan)
        # promotions and prices: known in history, assumed (or planned) in the future
        promo = panel.promo
        T = panel.y.shape[1]
        last_idx = np.clip(t - 1, 0, width - 1)
        known = target < known_until
        after = np.clip(target - T, 0, None)
        planned = (target >= T) & (future_promo is not None)
        fut = future_promo[rows, np.minimum(after, future_promo.shape[1] - 1)] if future_promo is not None else 0.0
        promo_target = np.where(known, promo[rows, np.clip(target, 0, T - 1)], np.where(planned, fut, 0.0))
        cols["promo_target"] = promo_target.astype(float)
        cols["promo_last"] = promo[rows, last_idx].astype(float)
        cols["promo_share13"] = (cpromo[rows, t] - cpromo[rows, np.maximum(t - 13, 0)]) / np.minimum(np.maximum(t, 1), 13)
        if panel.has_price:
            ref, last_known = prices
            last_price = last_known[rows, np.clip(t - 1, 0, last_known.shape[1] - 1)]
            fut_price = last_price
            if future_price is not None:
                fut_price = np.where(target >= T, future_price[rows, np.minimum(after, future_price.shape[1] - 1)], last_price)
            price_target = np.where(known, panel.price[rows, np.clip(target, 0, T - 1)], fut_price)
            with np.errstate(invalid="ignore", divide="ignore"):
                cols["price_target"] = price_target / ref[rows]
                cols["price_last"] = last_price / ref[rows]
        else:
            cols["price_target"] = cols["price_last"] = np.full(t.size, np.nan)
        # Filled column by column: the same float64 -> float32 rounding as stacking first,
        # without a float64 copy of the whole matrix (S x H rows at prediction time).
        X = np.empty((t.size, len(FEATURES)), dtype=np.float32)
        for j, name in enumerate(FEATURES):
            X[:, j] = cols.pop(name)
        return X, scale

    @staticmethod
    def _forward_filled_prices(panel: Panel) -> np.ndarray:
        """``(S, T)`` last known price at or before each period (``nan`` before the first).

        Built once on the whole panel: a forward fill looks backward only, so its value at
        period ``t`` is the same whichever later periods the array holds, and a forecast
        from origin ``o`` reads column ``o - 1``.
        """
        price = panel.price
        # NaN only is "unknown", as in a pandas forward fill; an inf stays and is
        # replaced by the reference price in :meth:`_prices`
        known = ~np.isnan(price)
        last = np.where(known, np.arange(price.shape[1]), 0)
        np.maximum.accumulate(last, axis=1, out=last)
        return np.take_along_axis(price, last, axis=1)

    @staticmethod
    def _prices(panel: Panel, ffill: np.ndarray, cutoff: int) -> tuple[np.ndarray, np.ndarray]:
        """Reference price (median of periods ``< cutoff``) and last prices as of ``cutoff``.

        Returns ``(ref, last)``: ``ref`` ``(S,)``, ``last`` ``(S, T)`` the forward-filled
        price with the reference price where no price is known yet (read at columns
        ``< cutoff`` only).
        """
        price = panel.price[:, :cutoff]
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ref = np.nanmedian(price, axis=1) if price.size else np.full(panel.y.shape[0], np.nan)
        last = np.where(np.isfinite(ffill), ffill, ref[:, None])
        return ref, last

    def _regressor(self, loss: str, quantile: float | None = None):
        # (imported at module level: OpenMP must be loaded before threadpool_limits(1)
        # is entered, or the limit misses it and the fit runs on spinning threads)
        kwargs = {"quantile": quantile} if loss == "quantile" else {}
        return _Boosting(
            loss=loss,
            max_iter=int(self.max_iter),
            learning_rate=float(self.learning_rate),
            max_leaf_nodes=int(self.max_leaf_nodes),
            min_samples_leaf=int(self.min_samples_leaf),
            l2_regularization=1.0,
            early_stopping=False,
            random_state=int(self.seed),
            **kwargs,
        )

    def training_rows(self, panel: Panel, cutoff: int, start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Series, origin and step of the training rows of a fit at ``cutoff``.

        Every row has its target period ``t + h - 1 < cutoff`` and at least 4 periods of
        history before its origin ``t``. Returns ``(rows, t, h)`` arrays.
        """
        H = int(self.horizon)
        m = max(int(panel.season_length), 1)
        span = int(self.history) if self.history else 2 * m + H
        origins = np.arange(max(cutoff - span, 1), cutoff)
        # The candidate rows are every series x (origin, step) pair, series-major, then
        # origin, then step. They are never materialised: at 20,000 series x 117 origins
        # x 13 steps that would be 30 million rows (~1.5 GB of index arrays per fit),
        # only to keep max_rows of them. One series' (origin, step) template is built
        # instead; a series keeps a suffix of it (origins at least 4 periods after its
        # start), so a flat candidate index maps back to (series, origin, step) by a
        # search in the cumulative counts. Same rows, same order, same seeded draw.
        tt = np.repeat(origins, H)
        hh = np.tile(np.arange(1, H + 1), origins.size)
        ok = tt + hh - 1 < cutoff
        tt, hh = tt[ok], hh[ok]
        first = np.searchsorted(tt, np.asarray(start, dtype=np.int64) + 4, side="left")
        counts = tt.size - first
        ends = np.cumsum(counts)
        total = int(ends[-1]) if ends.size else 0
        if total > self.max_rows:
            rng = np.random.default_rng([int(self.seed), int(cutoff)])
            pick = np.sort(rng.choice(total, int(self.max_rows), replace=False))
        else:
            pick = np.arange(total)
        rows = np.searchsorted(ends, pick, side="right")
        within = pick - (ends[rows] - counts[rows])
        idx = first[rows] + within
        t, h = tt[idx], hh[idx]
        return rows, t, h

    def fit(self, panel: Panel, cutoff: int, *, quantiles: bool = False) -> "GlobalFit":
        """Fit the mean (and quantile) regressors on the periods before ``cutoff``.

        Parameters
        ----------
        panel : Panel
            The run's demand; only periods ``< cutoff`` are read.
        cutoff : int
            Grid index of the first period not used for training.
        quantiles : bool
            Also fit one pinball-loss regressor per quantile level (the same as
            :meth:`add_quantiles` on the mean-only fit).

        Returns
        -------
        GlobalFit
            The fitted regressors (small: ``max_iter`` trees each), to forecast any
            origin ``>= cutoff`` with :meth:`predict`, in this process or another.
        """
        # Single-threaded boosting: bit-for-bit reproducible, and OpenMP threads spinning
        # against busy cores (other workers) slow a fit down several-fold.
        with threadpool_limits(1):
            return self._fit(panel, int(cutoff), quantiles)

    def add_quantiles(self, fit: "GlobalFit") -> "GlobalFit":
        """Fit the pinball-loss regressors of a mean-only :meth:`fit`.

        They learn from the mean regressor's training matrix (kept in
        :attr:`GlobalFit.training`) with its bins, so the result is the fit that
        ``fit(panel, fit.cutoff, quantiles=True)`` would have given. The orchestrator
        fits the quantile regressors only once some series has chosen the global
        model: they are three of the four regressors, and in many runs no series uses
        them (aus_retail: none of 152).

        Parameters
        ----------
        fit : GlobalFit
            A fit of this model (mean regressor only, or already with quantiles).

        Returns
        -------
        GlobalFit
            ``fit`` with :attr:`GlobalFit.quantile_models`; ``fit`` itself when it
            has them already, has no mean regressor, or the model has no quantiles.
        """
        if fit.mean_model is None or fit.quantile_models or not self.quantiles:
            return fit
        if fit.training is None:
            raise ValueError("this fit kept no training matrix; fit with quantiles=True instead")
        with threadpool_limits(1):
            clock = time.perf_counter()
            qmodels = self._fit_quantiles(*fit.training, fit.mean_model)
        # (the seconds of this step only: the mean fit's were reported with it)
        return GlobalFit(fit.cutoff, fit.mean_model, qmodels, fit.empty,
                         seconds={"fit_quantiles": time.perf_counter() - clock})

    def _training_matrix(self, panel: Panel, cutoff: int):
        """Features ``X``, scaled targets ``z``, all-NaN feature mask and seconds."""
        clock = time.perf_counter()
        prep = self._prepare(panel, cutoff)
        start = prep[-1]
        prices = self._prices(panel, self._forward_filled_prices(panel), cutoff) if panel.has_price else None
        rows, t, h = self.training_rows(panel, cutoff, start)
        X, scale = self._features(panel, prep, rows, t, h, known_until=cutoff, prices=prices)
        target = prep[0][rows, t + h - 1]
        del prep, prices
        ok = scale > 0
        X, z = X[ok], np.minimum(target[ok] / scale[ok], 50.0)
        # A feature without any finite value (no price column, say) is constant 0 in
        # training and prediction alike; the binning cannot handle an all-NaN column.
        empty = ~np.isfinite(X).any(axis=0)
        X[:, empty] = 0.0
        return X, z, empty, {"features": time.perf_counter() - clock}

    def _fit_quantiles(self, X: np.ndarray, z: np.ndarray, mean_model) -> tuple:
        """One pinball-loss regressor per level, binned with the mean regressor's bins."""
        X64 = np.asarray(X, dtype=np.float64)  # what scikit-learn bins (its float64 copy)
        bins = (mean_model._bin_mapper, X64, mean_model._bin_mapper.transform(X64)) if hasattr(mean_model, "_bin_mapper") else None
        qmodels = []
        for q in self.quantiles:
            qm = self._regressor("quantile", float(q))
            if bins is not None:
                qm._shared_bins = bins
            qmodels.append(qm.fit(X, z))
            qm.__dict__.pop("_shared_bins", None)  # (unused if scikit-learn skipped the hook)
        return tuple(qmodels)

    def _fit(self, panel: Panel, cutoff: int, quantiles: bool) -> "GlobalFit":
        X, z, empty, seconds = self._training_matrix(panel, cutoff)
        if z.size < 50 or not np.any(z > 0):
            # Nothing to learn from (tiny or all-zero run): a flat zero forecast that the
            # per-series backtest will rank last, never an exception.
            return GlobalFit(int(cutoff), None, seconds=seconds)
        clock = time.perf_counter()
        mean_model = self._regressor("poisson").fit(X, z)
        seconds["fit_mean"] = time.perf_counter() - clock
        qmodels: tuple = ()
        training = None
        if quantiles and self.quantiles:
            clock = time.perf_counter()
            qmodels = self._fit_quantiles(X, z, mean_model)
            seconds["fit_quantiles"] = time.perf_counter() - clock
        elif self.quantiles:
            # kept for add_quantiles (~10 MB at max_rows 50,000): rebuilding it needs
            # the whole panel's cumulative sums, ~0.3 GB at 20,000 series
            training = (X, z)
        return GlobalFit(int(cutoff), mean_model, qmodels, empty, seconds=seconds, training=training)

    def predict(
        self,
        fit: "GlobalFit",
        panel: Panel,
        origins: tuple[int, ...] | None = None,
        *,
        effects: bool = False,
        plans_known: bool = False,
        future_promo: np.ndarray | None = None,
        future_price: np.ndarray | None = None,
        series: np.ndarray | None = None,
    ) -> GlobalForecast:
        """Forecast ``H`` periods from each origin with a fit of :meth:`fit`.

        Parameters
        ----------
        fit : GlobalFit
            Regressors fitted before ``fit.cutoff``.
        panel : Panel
            The run's demand; a forecast from origin ``o`` reads periods ``< o`` only
            (and the promotions and prices of its target periods when ``plans_known``).
        origins : tuple of int, optional
            Grid indices of the first forecast period of each forecast, all ``>=
            fit.cutoff`` (a model trained before the cutoff cannot leak into forecasts
            made later); default ``(fit.cutoff,)``.
        effects : bool
            Also predict, from the first origin, with a promotion in every period and
            with a 10 % lower price, for :attr:`GlobalForecast.promo_lift` and
            ``price_elasticity``.
        plans_known : bool
            Promotions and prices of target periods inside the history count as known
            plans (the backtest of a run that was given ``future`` plans); otherwise
            a forecast assumes no promotion and the last price.
        future_promo, future_price : numpy.ndarray, optional
            ``(S, H)`` planned promotions and prices of the periods after the history.
        series : numpy.ndarray, optional
            Indices of the series to forecast (default all); the others get ``nan``
            means, quantiles, levels and effects, and cost nothing. The orchestrator
            predicts the quantile regressors for the series that chose the global
            model and, at the backtest origins, for a calibration sample
            (``forecasting.core``).

        Returns
        -------
        GlobalForecast
            ``mean`` of shape ``(O, S, H)``, ``scale`` ``(O, S)``, ``quantiles``
            ``(O, S, H, Q)`` when ``fit`` has quantile regressors.

        Notes
        -----
        The cumulative sums behind the features are built once over the whole panel
        and each origin's features read them at columns ``<= o`` (prefix sums of a
        prefix are the sums of the whole up to there, bit for bit), instead of once per
        origin; and only the series with a positive level at the origin are predicted
        (the others are 0 by construction: the prediction is multiplied by that level).
        """
        with threadpool_limits(1):
            if series is None:
                return self._predict(fit, panel, origins, effects, plans_known, future_promo, future_price)
            # features read only their own series: forecast the sub-panel, then place
            # the rows (the cumulative sums of 5,000 series, not of all 20,000)
            idx = np.unique(np.asarray(series, dtype=int))
            part = self._predict(fit, panel.rows(idx), origins, effects, plans_known,
                                 None if future_promo is None else future_promo[idx],
                                 None if future_price is None else future_price[idx])
            return part.placed(idx, panel.y.shape[0])

    def _predict(self, fit, panel, origins, effects, plans_known, future_promo, future_price) -> GlobalForecast:
        H = int(self.horizon)
        S, T = panel.y.shape
        origins = tuple(int(o) for o in origins) if origins else (int(fit.cutoff),)
        if min(origins) < fit.cutoff:
            raise ValueError(f"origins {origins} before the training cutoff {fit.cutoff} would leak")
        O = len(origins)
        out = GlobalForecast(fit.cutoff, np.zeros((O, S, H)), np.zeros((O, S)), origins=origins)
        seconds = {"features": 0.0, "predict": 0.0}
        clock = time.perf_counter()
        prep = self._prepare(panel, T)
        start = prep[-1]
        ffill = self._forward_filled_prices(panel) if panel.has_price else None
        seconds["features"] += time.perf_counter() - clock
        nq = len(fit.quantile_models)
        models = [fit.mean_model, *fit.quantile_models] if fit.mean_model is not None else []
        packed = _pack_forest(models) if models else None
        mean_packed = _pack_forest(models[:1]) if models and effects and nq else packed
        if nq:
            out.quantiles = np.zeros((O, S, H, nq))
        first = None
        every = np.arange(S)
        for k, o in enumerate(origins):
            clock = time.perf_counter()
            # as of origin o, a series without any period before o starts at o
            p_prep = (*prep[:-1], np.minimum(start, o))
            # the level first (the same expression as in _features), so that series at
            # level 0 (their forecast is 0 whatever the trees say: it is scaled by the
            # level) cost neither feature rows nor predictions
            at_o = np.full(S, o)
            level = 0.5 * (np.nan_to_num(_window_mean(p_prep[2], p_prep[4], every, at_o, 13))
                           + np.nan_to_num(_window_mean(p_prep[2], p_prep[4], every, at_o, 52)))
            out.scale[k] = level
            if fit.mean_model is None:
                seconds["features"] += time.perf_counter() - clock
                continue
            alive = np.flatnonzero(level > 0)
            live = (alive[:, None] * H + np.arange(H)).ravel()  # flat (series, step) index
            prices = self._prices(panel, ffill, o) if panel.has_price else None
            Xl, sl = self._features(panel, p_prep, np.repeat(alive, H), np.full(live.size, o), np.tile(np.arange(1, H + 1), alive.size),
                                    known_until=T if plans_known else o, prices=prices, future_promo=future_promo,
                                    future_price=future_price)
            Xl[:, fit.empty] = 0.0
            seconds["features"] += time.perf_counter() - clock
            if k == 0 and effects:
                first = (Xl, sl, live)
            clock = time.perf_counter()
            preds = _predict_models(models, Xl, packed)
            mean = np.zeros(S * H)
            mean[live] = preds[0] * sl
            out.mean[k] = np.maximum(np.nan_to_num(mean.reshape(S, H)), 0.0)
            for j in range(nq):
                qv = np.zeros(S * H)
                qv[live] = preds[1 + j] * sl
                out.quantiles[k, :, :, j] = qv.reshape(S, H)
            seconds["predict"] += time.perf_counter() - clock
        if fit.mean_model is None:
            out.quantiles = None
        elif nq:
            out.quantiles = np.sort(np.maximum(np.nan_to_num(out.quantiles), 0.0), axis=3)
        if effects and fit.mean_model is not None:
            Xl, sl, live = first
            model = fit.mean_model

            def totals(X: np.ndarray) -> np.ndarray:
                v = np.zeros(S * H)
                v[live] = _predict_models([model], X, mean_packed)[0] * sl
                return v.reshape(S, H).sum(axis=1)

            promo_col = FEATURES.index("promo_target")
            Xe = Xl.copy()
            Xe[:, promo_col] = 1.0
            with_promo = totals(Xe)
            Xn = Xl.copy()
            Xn[:, promo_col] = 0.0
            no_promo = totals(Xn)
            with np.errstate(invalid="ignore", divide="ignore"):
                out.promo_lift = np.where(no_promo > 0, with_promo / no_promo, np.nan) if panel.has_promo else np.full(S, np.nan)
            if panel.has_price:
                price_col = FEATURES.index("price_target")
                Xc = Xn.copy()
                Xc[:, price_col] = Xc[:, price_col] * 0.9
                cut = totals(Xc)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out.price_elasticity = np.where((cut > 0) & (no_promo > 0), np.log(cut / no_promo) / np.log(0.9), np.nan)
            else:
                out.price_elasticity = np.full(S, np.nan)
        out.seconds = seconds
        return out

    def fit_predict(
        self,
        panel: Panel,
        cutoff: int,
        *,
        origins: tuple[int, ...] | None = None,
        quantiles: bool = False,
        effects: bool = False,
        plans_known: bool = False,
        future_promo: np.ndarray | None = None,
        future_price: np.ndarray | None = None,
    ) -> GlobalForecast:
        """:meth:`fit` at ``cutoff``, then :meth:`predict` from ``origins``.

        Parameters are those of the two methods; ``origins`` default to ``(cutoff,)``
        and must all be ``>= cutoff`` (checked before fitting).

        Returns
        -------
        GlobalForecast
            ``mean`` of shape ``(O, S, H)``, ``scale`` ``(O, S)``, ``quantiles``
            ``(O, S, H, Q)``.
        """
        origins = tuple(origins) if origins else (int(cutoff),)
        if min(origins) < cutoff:
            raise ValueError(f"origins {origins} before the training cutoff {cutoff} would leak")
        fitted = self.fit(panel, cutoff, quantiles=quantiles)
        out = self.predict(fitted, panel, origins, effects=effects, plans_known=plans_known,
                           future_promo=future_promo, future_price=future_price)
        features = fitted.seconds.get("features", 0.0) + out.seconds.get("features", 0.0)
        out.seconds = {**fitted.seconds, **out.seconds, "features": features}
        return out


@dataclass
class GlobalFit:
    """The regressors of one global fit (what :meth:`GlobalBoosting.fit` returns).

    Attributes
    ----------
    cutoff : int
        Training used periods ``< cutoff`` only.
    mean_model : sklearn.ensemble.HistGradientBoostingRegressor or None
        Poisson-loss regressor of the scaled demand; ``None`` when there was nothing
        to learn from (the forecasts are then 0).
    quantile_models : tuple
        One pinball-loss regressor per quantile level (empty without quantiles).
    empty : numpy.ndarray or None
        ``(len(FEATURES),)`` features without a finite training value, set to 0.
    error : str
        Why the fit failed ("" when it did not).
    seconds : dict
        Wall seconds of the fit's phases (``features``, ``fit_mean``,
        ``fit_quantiles``).
    training : tuple or None
        ``(X, z)``, the training features and scaled targets of a fit without
        quantile regressors, for :meth:`GlobalBoosting.add_quantiles`.
    """

    cutoff: int
    mean_model: object | None
    quantile_models: tuple = ()
    empty: np.ndarray | None = None
    error: str = ""
    seconds: dict = field(default_factory=dict)
    training: tuple | None = None


def fit_task(model: GlobalBoosting, panel: Panel, cutoff: int, quantiles: bool) -> GlobalFit:
    """The orchestrator's fit task: :meth:`GlobalBoosting.fit` that never raises.

    A failed fit (memory, a library error) must not sink the run: its ``error`` says
    why, and :func:`predict_task` then returns ``nan`` forecasts, which the per-series
    backtest turns into a fallback. Memory freed by the fit goes back to the OS.
    """
    with threadpool_limits(1):
        try:
            out = model.fit(panel, cutoff, quantiles=quantiles)
        except Exception as exc:
            out = GlobalFit(int(cutoff), None, error=f"{type(exc).__name__}: {exc}")
    release_memory()
    return out


def quantile_task(model: GlobalBoosting, fit: GlobalFit) -> GlobalFit:
    """The orchestrator's quantile task: :meth:`GlobalBoosting.add_quantiles` that never raises.

    It needs no panel (the fit carries its training matrix), so a process pool ships
    only the small fit. A failure comes back as a fit without regressors whose
    ``error`` says why.
    """
    with threadpool_limits(1):
        try:
            out = model.add_quantiles(fit)
        except Exception as exc:
            out = GlobalFit(int(fit.cutoff), None, error=f"{type(exc).__name__}: {exc}")
    release_memory()
    return out


def predict_task(model: GlobalBoosting, fit: GlobalFit, panel: Panel, origins: tuple, effects: bool, plans_known: bool,
                 future_promo=None, future_price=None, series=None) -> GlobalForecast:
    """The orchestrator's prediction task: :meth:`GlobalBoosting.predict` that never raises.

    A failed fit or prediction gives all-``nan`` means and says why in ``error``.
    Several of these run side by side on one fit (the backtest origins split across
    the workers), each shipped the small fitted regressors instead of refitting.
    """
    S = panel.y.shape[0]
    failed = GlobalForecast(int(fit.cutoff), np.full((len(origins), S, model.horizon), np.nan), np.zeros((len(origins), S)),
                            origins=tuple(origins), error=fit.error)
    if not fit.error:
        with threadpool_limits(1):
            try:
                failed = None
                out = model.predict(fit, panel, origins, effects=effects, plans_known=plans_known,
                                    future_promo=future_promo, future_price=future_price,
                                    series=series)
            except Exception as exc:
                failed = GlobalForecast(int(fit.cutoff), np.full((len(origins), S, model.horizon), np.nan),
                                        np.zeros((len(origins), S)), origins=tuple(origins),
                                        error=f"{type(exc).__name__}: {exc}")
    release_memory()
    return out if failed is None else failed
