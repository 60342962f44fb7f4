"""supplyplan forecasting: per-series models, backtests, selection, quantiles, metrics.

A pure library: it takes pandas DataFrames and numpy arrays and returns them; it never
reads files, configuration, MLflow or the environment, and logs through
``logging.getLogger(__name__)``.

>>> from forecasting import forecast, ForecastResult
"""

from .core import DEFAULT_CANDIDATES, ForecastConfig, ForecastResult, SeriesOutcome, forecast, forecast_series
from .quantiles import quantile_column
from .refresh import refresh

__all__ = [
    "forecast",
    "forecast_series",
    "ForecastResult",
    "ForecastConfig",
    "SeriesOutcome",
    "DEFAULT_CANDIDATES",
    "quantile_column",
    "refresh",
]
