"""Per-series forecasting models on numpy arrays.

All models follow :class:`~forecasting.models.base.SeriesModel`: ``fit(y, X=None)``
returns the model, ``predict(h)`` returns ``h`` mean forecasts. :data:`MODELS` maps the
names used in forecasts' ``model`` column to the classes; :func:`make_model` builds one
from a name, a season length and options.
"""

from __future__ import annotations

import functools
import inspect

from .base import SeriesModel, check_series
from .baseline import MovingAverage, Naive, SeasonalNaive
from .intermittent import ADIDA, SBA, TSB, Croston, SeasonalSBA
from .smoothing import ETS, AutoETS, AutoETSAdjusted, seasonal_indices
from .theta import OptimisedTheta, Theta
from .combination import Combination, RecentAndSeasonal
from .arima import ARIMA
from .stl import STLForecaster
from .group_season import GroupSeasonCombination

__all__ = [
    "SeriesModel",
    "check_series",
    "Naive",
    "SeasonalNaive",
    "MovingAverage",
    "ETS",
    "AutoETS",
    "AutoETSAdjusted",
    "Theta",
    "OptimisedTheta",
    "STLForecaster",
    "Combination",
    "RecentAndSeasonal",
    "GroupSeasonCombination",
    "ARIMA",
    "seasonal_indices",
    "Croston",
    "SBA",
    "SeasonalSBA",
    "TSB",
    "ADIDA",
    "MODELS",
    "make_model",
]

MODELS: dict[str, type[SeriesModel]] = {
    cls.name: cls for cls in (Naive, SeasonalNaive, MovingAverage, ETS, AutoETS, AutoETSAdjusted, Theta, OptimisedTheta, Combination, RecentAndSeasonal, STLForecaster, ARIMA, Croston, SBA, SeasonalSBA, TSB, ADIDA)
}


def make_model(name: str, season_length: int = 1, **params) -> SeriesModel:
    """Build a model by name.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`: baselines ``naive``, ``seasonal_naive``,
        ``moving_average``; smoothing ``ets`` (shrunk profile + damped trend, for long
        seasons such as 52 weeks), ``ets_auto`` (ETS family by AICc), ``ets_sa`` (ETS on
        the seasonally adjusted series); ``theta``, ``theta_opt``; ``stl``; ``combo``
        (mean of ``ets_auto``, ``theta`` and ``stl`` by default); ``arima`` (non-seasonal
        ARIMA on the seasonally adjusted series, order by AICc); intermittent ``croston``,
        ``sba``, ``sba_seasonal`` (SBA with a shrunk multiplicative season), ``tsb``, ``adida``.
    season_length : int
        Season length, periods; passed to the models that take one.
    **params
        Constructor parameters; those the model does not take are ignored, so one
        options mapping can serve all models.

    Returns
    -------
    SeriesModel
        An unfitted model.

    Examples
    --------
    >>> make_model("seasonal_naive", season_length=12)
    SeasonalNaive(season_length=12)
    """
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None
    accepted = _accepted(cls)
    kwargs = {k: v for k, v in params.items() if k in accepted}
    if "season_length" in accepted:
        kwargs["season_length"] = season_length
    return cls(**kwargs)


@functools.lru_cache(maxsize=None)
def _accepted(cls: type) -> frozenset:
    # inspect.signature costs ~0.15 ms, and models are made for every candidate of
    # every series
    return frozenset(inspect.signature(cls.__init__).parameters) - {"self"}
