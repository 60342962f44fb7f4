"""Forecast combinations: the mean or median of several models' forecasts.

Combining forecasts of different models is one of the most robust findings of the
forecasting competitions (Clemen 1989; Makridakis et al. 2020, M4: the equal-weight
"Comb" of SES, Holt and damped beat most single methods): model errors are partly
independent, so an average cancels some of them, and it avoids the noise of picking one
model per series from a short validation window. Measured on M3 monthly (1,428 series,
horizon 18, the official test data; one run, this project's 2-core machine):

==========================================  ===============  ===============
model                                       M3 sMAPE / MASE  aus_retail MASE
==========================================  ===============  ===============
``ets_auto`` (AICc-selected ETS)            14.35 / 0.864    1.298
``theta`` (standard Theta)                  13.88 / 0.863    1.497
``theta_opt`` (optimised Theta)             14.74 / 0.853    1.515
``ets_sa`` (ETS on adjusted series)         14.52 / 0.879    1.472
``stl`` (log STL + ETS)                     14.27 / 0.896    1.468
mean of ``ets_auto``, ``theta``             13.60 / 0.840    1.327
mean of ``ets_auto``, ``stl``               13.83 / 0.854    1.284
mean of ``ets_auto``, ``theta``, ``stl``    13.48 / 0.838    1.240
median of the same three                    13.64 / 0.850    1.284
(statsforecast AutoETS, same run)           14.16 / 0.863    1.265
==========================================  ===============  ===============

(M3: 1,428 monthly series, horizon 18; aus_retail: 152 series, last 24 months held
out; ``benchmarks/forecast_m3.py`` and ``forecast_aus_retail.py`` print the figures of
the whole orchestrator.) Theta is strong on short series with stable seasonality, STL
follows seasonality that drifts over long histories, ETS sits between: the three err in
different places. Hence the default members ``("ets_auto", "theta", "stl")``. Inverse-error weighting needs
out-of-sample errors per member; the orchestrator's rolling-origin backtest scores the
combination as a whole, so weights are left to it (equal weights are hard to beat:
Smith and Wallis 2009, "the forecast combination puzzle").
"""

from __future__ import annotations

import numpy as np

from .base import SeriesModel

__all__ = ["Combination", "RecentAndSeasonal"]


class Combination(SeriesModel):
    """Equal-weight mean (or median) of member models' forecasts.

    ``f_{T+h} = (1/K) sum_k f^{(k)}_{T+h}`` (or the median over ``k``), over the members
    that fit; a member that raises or returns non-finite values is left out, and the fit
    fails only when every member fails.

    Parameters
    ----------
    season_length : int
        ``m``, passed to every member.
    members : tuple of str
        Names of :data:`~forecasting.models.MODELS` to combine.
    method : {"mean", "median"}
        How forecasts are combined.
    member_params : dict, optional
        Member name -> constructor parameters.

    Attributes
    ----------
    members_ : list of SeriesModel
        The fitted members that are combined.
    failed_ : dict
        Member name -> error message, for members left out.

    Examples
    --------
    >>> import numpy as np
    >>> y = 50 + 10 * np.sin(2 * np.pi * np.arange(48) / 12)
    >>> Combination(season_length=12).fit(y).predict(2).shape
    (2,)
    """

    name = "combo"
    min_length = 4

    def __init__(
        self,
        season_length: int = 12,
        members: tuple[str, ...] = ("ets_auto", "theta", "stl"),
        method: str = "mean",
        member_params: dict | None = None,
        _frozen: tuple | None = None,
    ):
        self.season_length = season_length
        self.members = tuple(members)
        self.method = method
        self.member_params = member_params
        self._frozen = _frozen

    def get_params(self) -> dict:
        return {"season_length": self.season_length, "members": self.members, "method": self.method,
                "member_params": self.member_params}

    def frozen(self) -> "Combination":
        """Unfitted copy whose members are their own frozen copies."""
        return type(self)(**self.get_params(), _frozen=tuple(m.frozen() for m in self.members_))

    def _build(self) -> list[SeriesModel]:
        from . import make_model

        if self._frozen is not None:
            import copy

            # unfitted templates: a fit only sets attributes ending in ``_``, so a shallow
            # copy is a fresh model and the templates stay unfitted for the next origin
            return [copy.copy(m) for m in self._frozen]
        params = self.member_params or {}
        return [make_model(name, self.season_length, **dict(params.get(name, {}))) for name in self.members]

    def _fit(self, y: np.ndarray) -> None:
        if self.method not in ("mean", "median"):
            raise ValueError(f"method must be 'mean' or 'median', got {self.method!r}")
        if not self.members:
            raise ValueError("a combination needs at least one member")
        self.members_ = []
        self.failed_ = {}
        for model in self._build():
            try:
                if y.size < model.min_length:
                    raise ValueError(f"needs {model.min_length} periods")
                model.fit(y)
                if not np.all(np.isfinite(model.predict(1))):
                    raise ValueError("non-finite forecast")
                self.members_.append(model)
            except Exception as exc:  # a failed member is left out, by design
                self.failed_[model.name] = f"{type(exc).__name__}: {exc}"
        if not self.members_:
            raise ValueError(f"every member failed: {self.failed_}")

    def _fitted_params(self) -> dict:
        return {"method": self.method,
                "members": {m.name: m.fitted_params() for m in self.members_},
                "failed": sorted(self.failed_)}

    def _predict(self, h: int) -> np.ndarray:
        stack = np.stack([m.predict(h) for m in self.members_])
        return np.median(stack, axis=0) if self.method == "median" else stack.mean(axis=0)


class RecentAndSeasonal(Combination):
    """Mean of an item's recent level and its value a season earlier: the forecast of
    an item with one to two seasons of history.

    ``f_{T+h} = (MA_T + y_{T+h-m(k+1)}) / 2``, ``k = floor((h-1)/m)``: the equal-weight
    combination of the moving average (:class:`~forecasting.models.MovingAverage`) and
    seasonal naive (:class:`~forecasting.models.SeasonalNaive`). Between one and two
    seasons no model can tell a season from noise in the item's own history; the recent
    mean ignores a season that is there, last season's copy carries one season's noise.
    Their errors are partly independent, so their mean errs less than the worse of
    the two and often less than either (Clemen 1989, "Combining forecasts: a review
    and annotated bibliography", IJF 5(4)). Measured on histories cut to their last
    ``n`` months (scratch runs, outside the repository; MASE of recent mean / seasonal
    naive / their mean): M3
    monthly ``n = 18`` 1.4600 / 1.4389 / 1.3707, ``n = 23`` 1.3357 / 1.3377 / 1.2638;
    aus_retail ``n = 18`` 2.4171 / 1.4136 / 1.7004, ``n = 23`` 2.1235 / 1.2592 /
    1.4983. For white noise without a season it costs: its squared error is
    ``(1 + (1 + 1/p) / 4) sigma^2`` against the moving average's ``(1 + 1/p) sigma^2``
    (``p`` the window), 14 % more at ``p = 8``.

    Without a season (``m < 2``) or before one full season the seasonal member cannot
    fit, and the forecast is the moving average (the combination leaves out a failed
    member).

    Parameters
    ----------
    season_length : int
        ``m``, periods per cycle.
    members, method, member_params
        As :class:`Combination`; default the moving average and seasonal naive, mean.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.r_[np.arange(1.0, 13.0), np.full(8, 10.0)]      # 20 months
    >>> RecentAndSeasonal(season_length=12).fit(y).predict(3)   # (10 + 9, 10 + 10, 10 + 11) / 2
    array([ 9.5, 10. , 10.5])
    """

    name = "recent_seasonal"

    def __init__(
        self,
        season_length: int = 12,
        members: tuple[str, ...] = ("moving_average", "seasonal_naive"),
        method: str = "mean",
        member_params: dict | None = None,
        _frozen: tuple | None = None,
    ):
        super().__init__(season_length, members, method, member_params, _frozen)

    def _build(self) -> list[SeriesModel]:
        models = super()._build()
        if int(self.season_length) < 2:  # seasonal naive of m = 1 is naive, not a season
            models = [m for m in models if m.name != "seasonal_naive"] or models
        return models
