"""The per-series model interface.

Every model works on one series held in a 1-D numpy array of demand per period (units,
zeros included, oldest first) and follows scikit-learn conventions: ``__init__`` only
stores parameters, ``fit(y, X=None)`` validates and learns and returns ``self``, fitted
attributes end in ``_``, ``predict(h)`` returns ``h`` values, never negative (an
additive model on low demand may go below zero; demand cannot). Models do not hide NaN
or cap large values: the orchestrator (:mod:`forecasting.core`) owns those guardrails,
so that an unstable fit is detected there and replaced by a fallback instead of being
silently clipped.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["SeriesModel", "check_series", "check_horizon", "jsonable_params", "line_fit"]

#: Significant digits kept for fitted parameters: enough to re-run a model to well
#: below forecast noise, short enough for a readable CSV cell.
PARAM_DIGITS = 6


def jsonable_params(value):
    """Convert fitted parameters to plain JSON types.

    numpy scalars become Python ``float``/``int``/``bool``, floats are rounded to
    :data:`PARAM_DIGITS` significant digits, non-finite floats become ``None`` (JSON has
    no NaN), arrays and tuples become lists, dict keys strings. The result pickles and
    ``json.dumps`` without a custom encoder, which is what the worker/Dask path and the
    selection table's ``params`` column need.

    Parameters
    ----------
    value : dict, list, scalar or numpy.ndarray
        Parameters as a model holds them.

    Returns
    -------
    dict, list, str, int, float, bool or None

    Examples
    --------
    >>> import numpy as np
    >>> jsonable_params({"alpha": np.float64(0.123456789), "order": (1, 0, 2), "x": np.nan})
    {'alpha': 0.123457, 'order': [1, 0, 2], 'x': None}
    """
    if isinstance(value, dict):
        return {str(k): jsonable_params(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable_params(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return float(f"{v:.{PARAM_DIGITS}g}") if np.isfinite(v) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def check_series(y: ArrayLike, min_length: int = 1) -> np.ndarray:
    """Validate one demand series and return it as a float array.

    Parameters
    ----------
    y : array-like
        Demand per period, units; must be 1-D, finite and non-negative.
    min_length : int
        Fewest periods the model needs.

    Returns
    -------
    numpy.ndarray
        ``float64`` copy of ``y``.
    """
    arr = np.asarray(y, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {arr.shape}")
    if arr.size < min_length:
        raise ValueError(f"y has {arr.size} periods, the model needs at least {min_length}")
    # Fast path (called for every fit of every backtest origin): a NaN makes the minimum
    # NaN and fails ``>= 0``, an inf makes the maximum non-finite; only a series that
    # fails gets the detailed checks below, for the message.
    if arr.size and arr.min() >= 0 and np.isfinite(arr.max()):
        return arr.copy()
    if not np.all(np.isfinite(arr)):
        raise ValueError("y contains NaN or infinite values")
    if np.any(arr < 0):
        raise ValueError("y contains negative demand")
    return arr.copy()


def line_fit(x: np.ndarray) -> tuple[float, float]:
    """Least squares line through ``x_t`` over ``t = 0 .. n-1``, in closed form.

    ``B = sum (t - tbar) x_t / sum (t - tbar)^2`` with ``tbar = (n - 1) / 2`` and
    ``sum (t - tbar)^2 = n (n^2 - 1) / 12``; ``A = mean(x) - B tbar`` (the normal
    equations of simple regression, e.g. Draper and Smith 1998, ch. 1). The same line as
    ``numpy.polyfit(t, x, 1)`` to float precision, without its Vandermonde matrix and
    SVD: the line is fitted at every backtest origin of several models.

    Parameters
    ----------
    x : numpy.ndarray
        Values, units per period; at least two.

    Returns
    -------
    tuple of float
        ``(B, A)``: slope (units per period per period) and intercept at ``t = 0``
        (units per period), in ``polyfit``'s order.

    Examples
    --------
    >>> line_fit(np.array([1.0, 3.0, 5.0]))
    (2.0, 1.0)
    """
    n = x.size
    tbar = 0.5 * (n - 1)
    slope = float((np.arange(n, dtype=float) - tbar) @ x) / (n * (n * n - 1) / 12.0)
    return slope, float(np.mean(x)) - slope * tbar


def check_horizon(h: int) -> int:
    """Validate a forecast horizon ``h`` (periods, >= 1)."""
    if int(h) != h or h < 1:
        raise ValueError(f"horizon must be a positive integer, got {h!r}")
    return int(h)


class SeriesModel:
    """Base class: ``fit(y, X=None) -> self`` and ``predict(h) -> ndarray``.

    Subclasses set ``name`` (the label written to the ``model`` column of forecasts) and
    implement ``_fit(y)`` and ``_predict(h)``. ``X`` (external regressors, periods x
    features) is accepted for a stable signature; models of this version ignore it.
    """

    name: str = "model"
    #: Fewest observations ``fit`` accepts.
    min_length: int = 1

    def fit(self, y: ArrayLike, X: ArrayLike | None = None) -> "SeriesModel":
        """Learn from demand history.

        Parameters
        ----------
        y : array-like
            Demand per period, units, oldest first.
        X : array-like, optional
            External regressors (periods x features); ignored by this model.

        Returns
        -------
        self
        """
        arr = check_series(y, self.min_length)
        self.n_obs_ = arr.size
        self._fit(arr)
        return self

    def predict(self, h: int) -> np.ndarray:
        """Forecast the mean demand of the next ``h`` periods.

        Parameters
        ----------
        h : int
            Horizon, periods.

        Returns
        -------
        numpy.ndarray
            ``h`` values, units per period, clipped at zero (NaN is passed through so
            that the orchestrator can detect a failed fit).
        """
        if not hasattr(self, "n_obs_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit first")
        h = check_horizon(h)
        return np.maximum(np.asarray(self._predict(h), dtype=float).reshape(h), 0.0)

    def fitted_params(self) -> dict:
        """What the fit estimated, as a small JSON-able dict.

        Logged per series (the ``params`` column of the orchestrator's selection table,
        the MLflow parameter table of issue 5) so that a planner can see *why* a
        forecast looks as it does: smoothing constants, the ETS form, the ARIMA order,
        the level the forecast starts from. Units: levels and slopes in units per
        period, smoothing constants and coefficients dimensionless.

        Returns
        -------
        dict
            Plain Python types only (see :func:`jsonable_params`).
        """
        if not hasattr(self, "n_obs_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit first")
        return jsonable_params(self._fitted_params())

    def _fitted_params(self) -> dict:
        # Default: the fitted scalar attributes (``level_`` -> ``level``); models with
        # richer state override this with named, documented entries.
        out = {}
        for key, value in vars(self).items():
            if key.endswith("_") and not key.startswith("_") and key != "n_obs_":
                if isinstance(value, (bool, int, float, str, np.number, np.bool_)):
                    out[key[:-1]] = value
        return out

    def _fit(self, y: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, h: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def frozen(self) -> "SeriesModel":
        """An unfitted copy whose data-driven hyper-parameters are fixed.

        Used by the rolling-origin backtest: parameters are estimated once, at the first
        origin, and later origins only re-run the model's filter with them, which is
        several times cheaper for optimised models (see :class:`~forecasting.models.ETS`).
        Models without estimated hyper-parameters return a plain clone.

        Returns
        -------
        SeriesModel
        """
        return type(self)(**self.get_params())

    def forecast_origins(self, y: ArrayLike, origins, h: int) -> list[tuple]:
        """``fit(y[:o]).predict(h)`` of this unfitted model at each origin ``o``.

        The rolling-origin backtest calls it on a :meth:`frozen` model for all origins
        after the first at once, so that a model can re-run its filter for many training
        windows in one compiled pass instead of one Python fit per window (see
        :class:`~forecasting.models.GroupSeasonCombination`). This default fits a fresh
        copy per origin: a fit sets only attributes ending in ``_``, so a shallow copy of
        an unfitted model is a fresh model.

        Parameters
        ----------
        y : array-like
            Demand per period, units, oldest first.
        origins : sequence of int
            Training lengths (periods), increasing.
        h : int
            Horizon, periods.

        Returns
        -------
        list of tuple
            ``(forecast, None)`` or ``(None, exception)`` per origin: a failure at one
            origin is recorded, not raised, so the caller decides what it means.
        """
        import copy

        out = []
        for o in origins:
            model = copy.copy(self)
            try:
                model.fit(y[: int(o)])
                out.append((model.predict(h), None))
            except Exception as exc:  # recorded per origin, see Returns
                out.append((None, exc))
        return out

    def _checked_prefix(self, y: ArrayLike, origins) -> np.ndarray | None:
        """``y`` as floats when every training window ``y[:o]`` would pass
        :func:`check_series` (the fast paths of :meth:`forecast_origins`), else ``None``:
        the default path then raises the specific error per origin."""
        arr = np.asarray(y, dtype=float)
        if arr.ndim != 1 or not len(origins) or int(min(origins)) < max(self.min_length, 1):
            return None
        head = arr[: int(max(origins))]
        return arr if head.min() >= 0 and np.isfinite(head.max()) else None

    def get_params(self) -> dict:
        """Constructor parameters (scikit-learn style), for logging and cloning."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
