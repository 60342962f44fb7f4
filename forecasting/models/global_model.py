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
  origin), and once on the whole history.
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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

__all__ = ["Panel", "GlobalForecast", "GlobalBoosting", "FEATURES"]

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
    """

    cutoff: int
    mean: np.ndarray
    scale: np.ndarray
    origins: tuple = ()
    quantiles: np.ndarray | None = None
    promo_lift: np.ndarray | None = None
    price_elasticity: np.ndarray | None = None
    error: str = ""


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

    def _features(self, panel: Panel, prep, rows, t, h, known_until, future_promo=None, future_price=None):
        """Feature matrix for origins ``t`` (first unseen period) and steps ``h``."""
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
            ref = self._ref_price
            last_price = self._last_price(panel, rows, t)
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

    def _last_price(self, panel: Panel, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        # last known price before t (forward fill along periods)
        return self._ffill_price[rows, np.clip(t - 1, 0, self._ffill_price.shape[1] - 1)]

    def _set_prices(self, panel: Panel, cutoff: int) -> None:
        price = panel.price[:, :cutoff]
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                self._ref_price = np.nanmedian(price, axis=1) if price.size else np.full(panel.y.shape[0], np.nan)
        filled = pd.DataFrame(price.T).ffill().to_numpy().T
        self._ffill_price = np.where(np.isfinite(filled), filled, self._ref_price[:, None])

    def _regressor(self, loss: str, quantile: float | None = None):
        # (imported at module level: OpenMP must be loaded before threadpool_limits(1)
        # is entered, or the limit misses it and the fit runs on spinning threads)
        kwargs = {"quantile": quantile} if loss == "quantile" else {}
        return HistGradientBoostingRegressor(
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
        """Fit on the periods before ``cutoff`` and forecast ``H`` periods from origins.

        Parameters
        ----------
        panel : Panel
            The run's demand (only periods ``< cutoff`` are used for training; a
            forecast from origin ``o`` reads periods ``< o``).
        cutoff : int
            Grid index of the first period not used for training.
        origins : tuple of int, optional
            Grid indices of the first forecast period of each forecast, all ``>=
            cutoff`` (a model trained before ``cutoff`` cannot leak into forecasts made
            later); default ``(cutoff,)``.
        quantiles : bool
            Also fit one pinball-loss regressor per quantile level.
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

        Returns
        -------
        GlobalForecast
            ``mean`` of shape ``(O, S, H)``, ``scale`` ``(O, S)``, ``quantiles``
            ``(O, S, H, Q)``.
        """
        # Single-threaded boosting: bit-for-bit reproducible, and OpenMP threads spinning
        # against busy cores (other workers) slow a fit down several-fold.
        with threadpool_limits(1):
            return self._fit_predict(panel, cutoff, origins, quantiles, effects, plans_known, future_promo, future_price)

    def _fit_predict(self, panel, cutoff, origins, quantiles, effects, plans_known, future_promo, future_price) -> GlobalForecast:
        H = int(self.horizon)
        S, T = panel.y.shape
        origins = tuple(origins) if origins else (int(cutoff),)
        if min(origins) < cutoff:
            raise ValueError(f"origins {origins} before the training cutoff {cutoff} would leak")
        prep = self._prepare(panel, cutoff)
        start = prep[-1]
        if panel.has_price:
            self._set_prices(panel, cutoff)
        rows, t, h = self.training_rows(panel, cutoff, start)
        X, scale = self._features(panel, prep, rows, t, h, known_until=cutoff)
        target = prep[0][rows, t + h - 1]
        # The cumulative-sum matrices (seven S x T arrays) are rebuilt per origin below;
        # holding the training set's copy too would double the fit's peak memory.
        del prep
        ok = scale > 0
        X, z = X[ok], np.minimum(target[ok] / scale[ok], 50.0)
        O = len(origins)
        out = GlobalForecast(cutoff, np.zeros((O, S, H)), np.zeros((O, S)), origins=origins)
        p_rows = np.repeat(np.arange(S), H)
        p_h = np.tile(np.arange(1, H + 1), S)
        pred_X = []
        for k, o in enumerate(origins):
            p_prep = self._prepare(panel, o)
            if panel.has_price:
                self._set_prices(panel, o)
            Xp, p_scale = self._features(panel, p_prep, p_rows, np.full(S * H, o), p_h, known_until=T if plans_known else o,
                                         future_promo=future_promo, future_price=future_price)
            out.scale[k] = p_scale.reshape(S, H)[:, 0]
            del p_prep
            pred_X.append((Xp, p_scale))
        if z.size < 50 or not np.any(z > 0):
            # Nothing to learn from (tiny or all-zero run): a flat zero forecast that the
            # per-series backtest will rank last, never an exception.
            return out
        # A feature without any finite value (no price column, say) is constant 0 in
        # training and prediction alike; the binning cannot handle an all-NaN column.
        empty = ~np.isfinite(X).any(axis=0)
        X[:, empty] = 0.0
        for Xp, _ in pred_X:
            Xp[:, empty] = 0.0
        model = self._regressor("poisson").fit(X, z)
        for k, (Xp, p_scale) in enumerate(pred_X):
            out.mean[k] = np.maximum(np.nan_to_num((model.predict(Xp) * p_scale).reshape(S, H)), 0.0)
        if quantiles and self.quantiles:
            qvals = np.zeros((O, S, H, len(self.quantiles)))
            for j, q in enumerate(self.quantiles):
                qm = self._regressor("quantile", float(q)).fit(X, z)
                for k, (Xp, p_scale) in enumerate(pred_X):
                    qvals[k, :, :, j] = (qm.predict(Xp) * p_scale).reshape(S, H)
            out.quantiles = np.sort(np.maximum(np.nan_to_num(qvals), 0.0), axis=3)
        if effects:
            Xp, p_scale = pred_X[0]
            promo_col = FEATURES.index("promo_target")
            Xe = Xp.copy()
            Xe[:, promo_col] = 1.0
            with_promo = (model.predict(Xe) * p_scale).reshape(S, H).sum(axis=1)
            Xn = Xp.copy()
            Xn[:, promo_col] = 0.0
            no_promo = (model.predict(Xn) * p_scale).reshape(S, H).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out.promo_lift = np.where(no_promo > 0, with_promo / no_promo, np.nan) if panel.has_promo else np.full(S, np.nan)
            if panel.has_price:
                price_col = FEATURES.index("price_target")
                Xc = Xn.copy()
                Xc[:, price_col] = Xc[:, price_col] * 0.9
                cut = (model.predict(Xc) * p_scale).reshape(S, H).sum(axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out.price_elasticity = np.where((cut > 0) & (no_promo > 0), np.log(cut / no_promo) / np.log(0.9), np.nan)
            else:
                out.price_elasticity = np.full(S, np.nan)
        return out
