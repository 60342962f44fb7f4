"""The forecaster as an MLflow pyfunc model, logged "from code" (no pickled objects).

The logged model holds two artifacts: ``settings.json`` (the forecasting options of the
run that logged it) and ``selection.csv`` (the per-series model table: which model each
SKU x location uses, its demand class and backtest scores). ``predict`` takes a long
demand history (sku, location, date, qty) and returns the forecasts table, so anyone can
reproduce a published forecast from a registered version.
"""

from __future__ import annotations

import json

import mlflow.pyfunc
import pandas as pd
from mlflow.models import set_model


class SupplyplanForecaster(mlflow.pyfunc.PythonModel):
    """Re-run ``forecasting.forecast`` with the options stored in the model version."""

    def load_context(self, context) -> None:  # noqa: D102 - MLflow hook
        with open(context.artifacts["settings"]) as fh:
            self.options_ = json.load(fh)
        self.selection_ = pd.read_csv(context.artifacts["selection"], dtype={"sku": str, "location": str})

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Forecast every series of ``model_input`` (a long demand history).

        Parameters
        ----------
        model_input : pandas.DataFrame
            Columns sku, location, date, qty (units per period).
        params : dict, optional
            Overrides of the stored options, e.g. ``{"horizon": 8}``.
        """
        from forecasting import forecast

        options = {**self.options_, **(params or {})}
        history = model_input.copy()
        history["date"] = pd.to_datetime(history["date"])
        return forecast(history, **options).forecasts


set_model(SupplyplanForecaster())
