"""Top-down forecasts: a location's share of its item's aggregate demand.

A dealer x SKU weekly series is mostly noise around a level that the same SKU's other
dealers share: the season is the region's, promotions run region-wide, the trend is the
SKU's. The aggregate (the SKU's demand summed over the dealers of a region) is far
smoother, so its level, trend and season are estimated much better than any one
dealer's. The ``top_down`` candidate forecasts the aggregate with the full engine
(:func:`forecasting.forecast`: backtest, model selection, promotion effects, group
seasons) and gives each member its recent share of it (shrunk towards the share its location
takes of the aggregate's other SKUs when the caller names the locations,
:meth:`TopDown.shares_at`):

``f_{i,T+h} = p_i(T) * F_{g,T+h}``, ``p_i(c) = sum_{t in W_i(c)} y_{i,t} / sum_{t in W_i(c)} Y_{g,t}``

with ``Y_g = sum_{i in g} y_i`` the aggregate, ``F_g`` its forecast from the same cutoff,
and ``W_i(c)`` the last ``window`` periods before cutoff ``c`` (default one season, so
that the season cancels in the ratio) in which series ``i`` exists. This is the
"proportions of historical averages" method of Gross and Sohl (1990), the top-down
approach of Athanasopoulos, Ahmed and Hyndman (2009, section 2). At every backtest
origin both the share and the aggregate's forecast are computed from the periods
before it: the aggregate's own rolling-origin backtest supplies its forecasts there.

Measured on the demo network (seed 0; aggregate = SKU x region, ``forecast.top_down:
region``):

- hold-out, last 13 weeks (``benchmarks/forecast_demo_holdout.py``): MASE 0.692 -> 0.674
  (smooth 0.590 -> 0.584, erratic 0.588 -> 0.578, intermittent 0.908 -> 0.849, lumpy
  0.836 -> 0.821), every class's q90 / q95 coverage within 3 points;
- against the generator's true means (outside the repo, three origins of the 52-week
  replay window, weeks 117, 130 and 143): the squared error over the true variance,
  summed over steps 1-13, fell from 0.91 / 0.74 / 0.64 (the engine's own choice per
  series) to 0.64 / 0.43 / 0.42;
- 52-week VMI replay (``benchmarks/bullwhip_backtest.py``): dealer stock 1.163 -> 1.095
  x the baseline's at fill 0.981 -> 0.979 (1.158 -> 1.104 x the oracle's at that fill).

With pooled shares (:meth:`TopDown.shares_at`: each dealer's share shrunk towards its
size over all the region's SKUs, empirical Bayes), session 8, on the demo data before
its launch-ramp fix (the figures above are on the same data):

- share error against the generator's true share, volume-weighted RMS of the log ratio
  at origins 104, 117 and 130 (outside the repo): 0.18-0.19 own, 0.011-0.016 pooled
  (the demo's dealers differ only in size, so the between-SKU variance is estimated at
  0 and the prior takes over);
- hold-out: MASE 0.674 -> 0.671 (smooth 0.580, erratic 0.574, intermittent 0.852,
  lumpy 0.811), q90 / q95 0.906 / 0.954;
- 52-week VMI replay with the 13-week lead-in: dealer stock 1.030 -> 1.013 x the
  baseline's at fill 0.981 (1.082 -> 1.066 x the oracle's at that fill).

On the corrected demo data (established SKUs no longer ramp up in the first weeks), the
hold-out gives MASE 0.708 and q90 / q95 coverage 0.907 / 0.954, every class within 3
points; the dealers' 4-week forecast sums err by 8.8 % (smooth) and 10.6 % (erratic)
RMS against the true means at origins 104-143 (outside the repo), with 1.2-1.3 % from
the shares.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

__all__ = ["TOP_DOWN_MODEL", "TopDown", "aggregate_top_down", "top_down_labels"]

#: Candidate name of the top-down forecast in the selection table.
TOP_DOWN_MODEL = "top_down"

_KEYS = ["sku", "location"]
#: Iterative proportional fitting sweeps of the pooled shares' prior (converges in a few).
_IPF_SWEEPS = 50


def _cumulative(a: np.ndarray) -> np.ndarray:
    """Running sums along periods with a leading 0: ``sum(a[:, lo:hi]) = c[:, hi] - c[:, lo]``."""
    return np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], axis=1)


def top_down_labels(keys: pd.DataFrame, top_down: pd.DataFrame | Mapping | None) -> np.ndarray:
    """Aggregate label of every series (``None``: in no aggregate).

    Parameters
    ----------
    keys : pandas.DataFrame
        sku, location of each series.
    top_down : pandas.DataFrame or mapping
        location -> label (columns ``location, group``, or a mapping); the aggregate of
        a series is its SKU at every location with the same label.

    Returns
    -------
    numpy.ndarray of object
        ``"<sku>\\x1f<label>"`` per series, ``None`` for locations without a label.
    """
    if top_down is None:
        return np.array([None] * len(keys), dtype=object)
    if isinstance(top_down, pd.DataFrame):
        if not {"location", "group"} <= set(top_down.columns):
            raise ValueError("top_down must have columns location and group")
        mapping = dict(zip(top_down["location"].astype(str), top_down["group"]))
    elif isinstance(top_down, Mapping):
        mapping = {str(k): v for k, v in top_down.items()}
    else:
        raise ValueError(f"top_down must be a DataFrame (location, group) or a mapping, got {type(top_down).__name__}")
    label = keys["location"].astype(str).map(mapping)
    ok = label.notna().to_numpy()
    out = np.array([None] * len(keys), dtype=object)
    out[ok] = (keys["sku"].astype(str).to_numpy()[ok] + "\x1f" + label[ok].astype(str).to_numpy())
    return out


def _location_prior(volume: np.ndarray, loc_index: np.ndarray, agg_index: np.ndarray) -> np.ndarray:
    """Members' prior shares ``q_i = w_l(i) / sum_{j in g(i)} w_l(j)`` of the model
    ``E volume_i = w_l(i) A_g(i)``, fitted by iterative proportional fitting (Deming and
    Stephan 1940: the Poisson log-linear model's maximum likelihood)."""
    n_loc, n_agg = int(loc_index.max()) + 1, int(agg_index.max()) + 1
    w = np.ones(n_loc)
    for _ in range(_IPF_SWEEPS):
        level = np.bincount(agg_index, volume, n_agg) / np.maximum(np.bincount(agg_index, w[loc_index], n_agg), 1e-300)
        new = np.bincount(loc_index, volume, n_loc) / np.maximum(np.bincount(loc_index, level[agg_index], n_loc), 1e-300)
        done = np.allclose(new, w, rtol=1e-10, atol=0.0)
        w = new
        if done:
            break
    wi = w[loc_index]
    return wi / np.maximum(np.bincount(agg_index, wi, n_agg)[agg_index], 1e-300)


def _shrink_shares(p: np.ndarray, q: np.ndarray, v_ratio: np.ndarray, G: np.ndarray,
                   agg_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Own shares ``p`` shrunk towards priors ``q`` (empirical Bayes, see
    :meth:`TopDown.shares_at`), rescaled to keep each aggregate's sum; returns the shares
    and the own weights."""
    n_agg = int(agg_index.max()) + 1
    v = np.maximum(v_ratio, q * (1.0 - q) / G)
    use = (np.bincount(agg_index, minlength=n_agg)[agg_index] >= 2) & (q > 0)
    tau2 = 0.0
    if use.any():
        dev = ((p - q) ** 2 - v)[use] / q[use] ** 2
        tau2 = max(0.0, float(np.sum(G[use] * dev) / np.sum(G[use])))
    prec = tau2 * q * q
    lam = np.divide(prec, prec + v, out=np.ones_like(v), where=(prec + v) > 0)
    shrunk = q + lam * (p - q)
    total_own = np.bincount(agg_index, p, n_agg)
    total_shrunk = np.bincount(agg_index, shrunk, n_agg)
    scale = np.divide(total_own, total_shrunk, out=np.ones(n_agg), where=total_shrunk > 0)
    return shrunk * scale[agg_index], lam


class TopDown:
    """The aggregates of a run and the shares of their members.

    Parameters
    ----------
    labels : numpy.ndarray
        Aggregate label per series (:func:`top_down_labels`).
    Y : numpy.ndarray
        ``(S, T)`` demand per series and grid period (zeros before a series starts).
    start_pos : numpy.ndarray
        First grid period of each series.
    window : int
        Periods of the share window (one season).
    locations : numpy.ndarray, optional
        Location of each series. With it, a member's share is its own share shrunk
        towards the share its location takes of the same aggregate's other SKUs
        (:meth:`shares_at`); without it, the own share alone.

    Attributes
    ----------
    names : numpy.ndarray
        The aggregates' labels.
    member_of : numpy.ndarray
        Aggregate index per series (-1: none).
    totals : numpy.ndarray
        ``(G, T)`` aggregate demand.
    start : numpy.ndarray
        First grid period of each aggregate (its earliest member's).
    """

    def __init__(self, labels: np.ndarray, Y: np.ndarray, start_pos: np.ndarray, window: int,
                 locations: np.ndarray | None = None):
        if int(window) < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        has = np.array([lab is not None for lab in labels], dtype=bool)
        codes = np.full(len(labels), -1)
        names = np.array([], dtype=object)
        if has.any():
            c, names = pd.factorize(pd.Series(labels[has], dtype=object), sort=True)
            codes[has] = c
            names = np.asarray(names, dtype=object)
        self.names = names
        self.member_of = codes
        self.window = int(window)
        # Before its first row a member has no demand (``_prepare`` leaves NaN there): it
        # adds nothing to its aggregate, and its own window starts at its start anyway.
        # NaN would make the aggregate missing wherever any member had not started yet,
        # and every running sum of that member missing from its start on.
        Y = np.nan_to_num(np.asarray(Y, dtype=float), nan=0.0)
        self.totals = np.zeros((len(names), Y.shape[1]))
        np.add.at(self.totals, codes[has], Y[has])
        start_pos = np.asarray(start_pos, dtype=int)
        self.start = np.full(len(names), Y.shape[1], dtype=int)
        np.minimum.at(self.start, codes[has], start_pos[has])
        self._cum_y = _cumulative(Y)
        self._cum_g = _cumulative(self.totals)
        self._start_pos = start_pos
        self._location = None
        if locations is not None and has.any():
            self._location = pd.factorize(pd.Series(np.asarray(locations), dtype=object))[0]
            # sums of squares and cross products for the ratio estimator's variance
            own_total = np.zeros_like(Y)
            own_total[has] = self.totals[codes[has]]
            self._cum_yy = _cumulative(Y * Y)
            self._cum_yg = _cumulative(Y * own_total)
            self._cum_gg = _cumulative(self.totals * self.totals)
        self._cache: dict[int, dict[str, np.ndarray]] = {}

    def share(self, i: int, cutoff: int) -> float:
        """Share of series ``i`` in its aggregate before grid period ``cutoff`` (:meth:`shares_at`).

        0 when the aggregate sold nothing there (its forecast is then shared by no one).
        """
        if self.member_of[i] < 0:
            return 0.0
        return float(self.shares_at(cutoff)["share"][i])

    def shares_at(self, cutoff: int) -> dict[str, np.ndarray]:
        r"""Every member's share of its aggregate from the periods before ``cutoff``.

        **Own share** (Gross and Sohl 1990): :math:`\hat p_i = y_i / G_i`, the member's
        demand over its window :math:`W_i` (the last ``window`` periods in which it
        exists) over its aggregate's over the same periods.

        **Pooled share** (only with ``locations``). One dealer x SKU share over one
        season rests on few sales (its relative standard error is 10-20 % for a
        smooth demo series), while a dealer's size shows in all its SKUs. A
        multiplicative model :math:`E\,\tilde y_i = w_{l(i)} A_{g(i)}` (location
        weight times aggregate level, the Poisson log-linear model with main effects,
        fitted by iterative proportional fitting, Deming and Stephan 1940) on the own
        shares scaled to the aggregate's full window, :math:`\tilde y_i = \hat p_i
        G_g`, gives the prior :math:`q_i = w_{l(i)} / \sum_{j \in g} w_{l(j)}`.

        **Shrinkage** (empirical Bayes, Fay and Herriot 1979): the own share's sampling
        variance is the ratio estimator's (Cochran 1977, section 6.3),

        .. math:: v_i = \frac{n_i}{G_i^2} \frac{1}{n_i - 1}
                  \sum_{t \in W_i} (y_t - \hat p_i Y_{g,t})^2,

        floored at the multinomial :math:`q_i (1 - q_i) / G_i` (a member without sales
        still has a sampling error); the members' relative deviations from their
        priors have the common variance :math:`\tau^2 = \max(0, \sum_i G_i
        [(\hat p_i - q_i)^2 - v_i] / q_i^2 / \sum_i G_i)` beyond sampling noise (a
        method-of-moments estimate as Marshall 1991's, over members of aggregates with
        at least two); and each member keeps the weight

        .. math:: \lambda_i = \frac{\tau^2 q_i^2}{\tau^2 q_i^2 + v_i}, \qquad
                  p_i = q_i + \lambda_i (\hat p_i - q_i)

        on its own share, rescaled so that an aggregate's shares keep their sum. Where
        dealers' shares really differ by SKU, :math:`\tau^2` is large and the own
        shares stay; where they differ only by noise, the prior takes over.

        Returns
        -------
        dict of str to numpy.ndarray
            Per series: ``share`` (used), ``own`` (:math:`\hat p_i`), ``prior``
            (:math:`q_i`) and ``weight`` (:math:`\lambda_i`); without ``locations``
            ``prior`` is NaN and ``weight`` 1. 0 shares where the aggregate sold
            nothing over the window.
        """
        cutoff = int(cutoff)
        if cutoff not in self._cache:
            self._cache[cutoff] = self._estimate(cutoff)
        return self._cache[cutoff]

    def _estimate(self, cutoff: int) -> dict[str, np.ndarray]:
        n_series = len(self.member_of)
        g = self.member_of
        lo = np.maximum(cutoff - self.window, self._start_pos)
        live = (g >= 0) & (cutoff > lo)
        idx = np.flatnonzero(live)
        gi, lo_i = g[idx], lo[idx]
        y = self._cum_y[idx, cutoff] - self._cum_y[idx, lo_i]
        G = self._cum_g[gi, cutoff] - self._cum_g[gi, lo_i]
        sold = G > 0
        own = np.zeros(n_series)
        own[idx[sold]] = y[sold] / G[sold]
        out = {"share": own.copy(), "own": own, "prior": np.full(n_series, np.nan), "weight": np.ones(n_series)}
        if self._location is None or not sold.any():
            return out
        idx, gi, lo_i, y, G = idx[sold], gi[sold], lo_i[sold], y[sold], G[sold]
        p = own[idx]
        n = cutoff - lo_i
        ss = (self._cum_yy[idx, cutoff] - self._cum_yy[idx, lo_i]) - 2 * p * (self._cum_yg[idx, cutoff] - self._cum_yg[idx, lo_i]) \
            + p * p * (self._cum_gg[gi, cutoff] - self._cum_gg[gi, lo_i])
        v_ratio = np.where(n > 1, n * np.maximum(ss, 0.0) / np.maximum(n - 1, 1) / (G * G), 0.0)

        # the prior is fitted on full-window equivalents (a member that started inside
        # the window counts as if it had sold at its share throughout)
        full = self._cum_g[gi, cutoff] - self._cum_g[gi, max(cutoff - self.window, 0)]
        _, loc_index = np.unique(self._location[idx], return_inverse=True)
        _, agg_index = np.unique(gi, return_inverse=True)
        q = _location_prior(p * full, loc_index, agg_index)
        shrunk, lam = _shrink_shares(p, q, v_ratio, G, agg_index)
        out["share"][idx] = shrunk
        out["prior"][idx] = q
        out["weight"][idx] = lam
        return out

    @staticmethod
    def models_of(aggregates) -> dict:
        """Aggregate name -> the model its forecast used, from the aggregates' result."""
        if aggregates is None:
            return {}
        sel = aggregates.selection
        return dict(zip(sel["sku"].astype(str) + "\x1f" + sel["location"].astype(str), sel["model"].astype(str)))

    def record(self, i: int, cutoff: int, models: Mapping) -> dict:
        """What a member's ``top_down`` forecast is made of, for ``selection.params``:
        aggregate (label), aggregate_sku, share (at ``cutoff``), aggregate_model
        (``models``: :meth:`models_of` the aggregates' result; "" when absent) and, with
        pooled shares, own_share, pooled_share and own_weight (:meth:`shares_at`)."""
        name = str(self.names[self.member_of[i]])
        sku, label = name.split("\x1f", 1)
        est = self.shares_at(cutoff)
        out = {"aggregate": label, "aggregate_sku": sku, "share": round(float(est["share"][i]), 6),
               "aggregate_model": models.get(name, "")}
        if np.isfinite(est["prior"][i]):
            out.update(own_share=round(float(est["own"][i]), 6), pooled_share=round(float(est["prior"][i]), 6),
                       own_weight=round(float(est["weight"][i]), 4))
        return out

    def frame(self, grid: pd.DatetimeIndex, promo: np.ndarray | None, price: np.ndarray | None) -> pd.DataFrame:
        """The aggregates as a long history (sku, location = label, date, qty[, promo, price]).

        An aggregate's promo is 1 when any member's is (campaigns run region-wide), its
        price the mean of its members' prices.
        """
        rows = []
        has = self.member_of >= 0
        G, T = self.totals.shape
        agg_promo = agg_price = None
        if promo is not None:
            agg_promo = np.zeros((G, T))
            np.maximum.at(agg_promo, self.member_of[has], np.asarray(promo, dtype=float)[has])
        if price is not None:
            p = np.asarray(price, dtype=float)[has]
            total = np.zeros((G, T))
            count = np.zeros((G, T))
            np.add.at(total, self.member_of[has], np.nan_to_num(p))
            np.add.at(count, self.member_of[has], np.isfinite(p))
            agg_price = np.divide(total, count, out=np.full((G, T), np.nan), where=count > 0)
        for g, name in enumerate(self.names):
            sku, label = str(name).split("\x1f", 1)
            t = np.arange(self.start[g], T)
            part = {"sku": sku, "location": label, "date": grid[t], "qty": self.totals[g, t]}
            if agg_promo is not None:
                part["promo"] = agg_promo[g, t]
            if agg_price is not None:
                part["price"] = agg_price[g, t]
            rows.append(pd.DataFrame(part))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=[*_KEYS, "date", "qty"])

    def groups(self, group_of: np.ndarray) -> pd.DataFrame | None:
        """sku, location, group of the aggregates: the most common seasonal-shape group
        of their members (``group_of`` per series; None when no member has one)."""
        has = self.member_of >= 0
        if not any(g is not None for g in group_of[has]):
            return None
        lab = pd.DataFrame({"g": self.member_of[has], "group": group_of[has]}).dropna()
        mode = lab.groupby("g")["group"].agg(lambda s: s.value_counts().index[0])
        names = [str(n).split("\x1f", 1) for n in self.names[mode.index.to_numpy()]]
        return pd.DataFrame({"sku": [n[0] for n in names], "location": [n[1] for n in names], "group": mode.to_numpy()})

    def final_means(self, forecasts: pd.DataFrame, horizon: int) -> np.ndarray:
        """``(G, H)`` forecast means of the aggregates from their forecast table (0 where absent)."""
        key_of = {name: g for g, name in enumerate(self.names)}
        g = (forecasts["sku"].astype(str) + "\x1f" + forecasts["location"].astype(str)).map(key_of)
        out = np.zeros((len(self.names), horizon))
        part = forecasts.assign(_g=g.to_numpy()).dropna(subset=["_g"]).sort_values(["_g", "date"])
        for gi, rows in part.groupby("_g"):
            vals = rows["mean"].to_numpy(float)[:horizon]
            out[int(gi), : vals.size] = vals
        return out

    def future(self, future: pd.DataFrame | None, keys: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame | None:
        """The members' planned promo / price aggregated as :meth:`frame` does."""
        if future is None:
            return None
        lab = pd.Series(labels, index=pd.MultiIndex.from_frame(keys[_KEYS].astype(str)))
        f = future.assign(sku=future["sku"].astype(str), location=future["location"].astype(str))
        f["_g"] = lab.reindex(pd.MultiIndex.from_frame(f[_KEYS])).to_numpy()
        f = f.loc[f["_g"].notna()]
        if f.empty:
            return None
        f["location"] = f["_g"].astype(str).str.split("\x1f", n=1).str[1]
        agg = {c: ("max" if c == "promo" else "mean") for c in ("promo", "price") if c in f.columns}
        if not agg:
            return None
        return f.groupby([*_KEYS, "date"], as_index=False).agg(agg)


def aggregate_top_down(
    keys: pd.DataFrame,
    Y: np.ndarray,
    start_pos: np.ndarray,
    grid: pd.DatetimeIndex,
    promo: np.ndarray | None,
    price: np.ndarray | None,
    labels: np.ndarray,
    group_of: np.ndarray,
    future: pd.DataFrame | None,
    horizon: int,
    window: int,
    run: Callable[..., Any],
) -> tuple[list, Any, TopDown]:
    """Forecast the aggregates and turn them into every member's ``top_down`` candidate.

    Parameters
    ----------
    keys, Y, start_pos, grid, promo, price
        The run's series (as :func:`forecasting.core._prepare` returns them).
    labels : numpy.ndarray
        Aggregate label per series (:func:`top_down_labels`).
    group_of : numpy.ndarray
        Seasonal-shape group per series; an aggregate takes its members' most common one.
    future : pandas.DataFrame, optional
        The members' planned promo / price of the forecast periods.
    horizon : int
        ``H``.
    window : int
        Share window, periods.
    run : callable
        ``run(history, groups, future)`` -> :class:`forecasting.core.ForecastResult` of the
        aggregates (the caller's :func:`forecasting.forecast` with its own options).

    Returns
    -------
    externals : list
        Per series ``None`` or ``({origin: H forecasts}, H final forecasts)`` (units per
        period; origins in the series' own periods, as ``forecast_series`` expects).
    result : ForecastResult or None
        The aggregates' forecast (its selection says which model each aggregate used).
    top : TopDown
    """
    top = TopDown(labels, Y, start_pos, window, locations=keys["location"].to_numpy())
    externals: list = [None] * len(keys)
    if not len(top.names):
        return externals, None, top
    res = run(top.frame(grid, promo, price), top.groups(group_of), top.future(future, keys, labels))
    T = Y.shape[1]
    final = top.final_means(res.forecasts, horizon)
    key_of = {name: g for g, name in enumerate(top.names)}
    err = res.errors
    by_cut: dict[int, dict[int, np.ndarray]] = {}
    if len(err):
        ek = (err["sku"].astype(str) + "\x1f" + err["location"].astype(str)).map(key_of).to_numpy()
        cut = grid.get_indexer(pd.to_datetime(err["origin"])) + 1  # training = grid[:cut]
        table = pd.DataFrame({"g": ek, "cut": cut, "step": err["step"].to_numpy(int), "f": err["forecast"].to_numpy(float)})
        table = table.loc[(table["cut"] > 0) & (table["step"] <= horizon)]
        wide = table.pivot_table(index=["g", "cut"], columns="step", values="f", aggfunc="first")
        wide = wide.reindex(columns=range(1, horizon + 1)).dropna()
        for (g, c), row in zip(wide.index, wide.to_numpy(float)):
            by_cut.setdefault(int(g), {})[int(c)] = row
    for i in np.flatnonzero(top.member_of >= 0):
        g = top.member_of[i]
        local = {int(c) - int(start_pos[i]): top.share(i, int(c)) * f
                 for c, f in by_cut.get(int(g), {}).items() if int(c) - int(start_pos[i]) >= 1}
        externals[i] = (local, top.share(i, T) * final[g])
    return externals, res, top
