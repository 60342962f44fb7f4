"""The forecaster as an MLflow pyfunc model, logged "from code" (no pickled objects).

The logged model holds two artifacts:

``settings.json``
    The ``forecasting.forecast`` options of the run that logged it.
``parameters.csv``
    The per-series parameter table (:func:`pipelines.tracking.parameter_table`): for each
    SKU x location its chosen model, demand class, backtest scores and its parameters as
    JSON (fitted when the engine exposes them, else the configured ones).
``groups.csv``, ``top_down.csv`` (when the run had them)
    The run's seasonal-shape groups and top-down aggregates (``forecasting.forecast``'s
    ``groups`` and ``top_down``), passed back to the forecaster.

``predict`` takes a long demand history (sku, location, date, qty, optionally promo and
price) and returns the forecasts table by re-running the forecaster with the stored
options, so anyone can reproduce a published forecast from a registered version. The
planned promotion calendar of the forecast periods (the nightly job's ``promotions``
input) travels in the same frame as rows with an empty ``qty``, dated after the history.
With ``params={"output": "parameters"}`` it returns the per-series parameter table instead.
Versions logged before the parameter table existed carry ``selection.csv``, read the
same way.
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
        table = context.artifacts.get("parameters") or context.artifacts.get("selection")
        self.parameters_ = pd.read_csv(table, dtype={"sku": str, "location": str}, keep_default_na=False, na_values=[""])
        self.inputs_ = {}
        for name in ("groups", "top_down"):
            path = context.artifacts.get(name)
            if path:
                self.inputs_[name] = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Forecast every series of ``model_input`` (a long demand history).

        Parameters
        ----------
        model_input : pandas.DataFrame
            Columns sku, location, date, qty (units per period) and optionally promo
            (0/1) and price (currency per unit). Rows with an empty ``qty`` are the
            planned calendar of the forecast periods (``forecasting.forecast``'s
            ``future``: promo / price only) and must be dated after the last history
            row; a run with such rows also treats the history's promotions as planned
            in its backtest, as the nightly job does when given a ``promotions`` file.
        params : dict, optional
            Overrides of the stored options, e.g. ``{"horizon": 8}``; ``{"output":
            "parameters"}`` returns the per-series parameter table instead.
        """
        params = dict(params or {})
        if params.pop("output", "forecasts") == "parameters":
            return self.parameters_.copy()
        from forecasting import forecast

        options = {**self.options_, **self.inputs_, **params}
        if "quantiles" in options:
            options["quantiles"] = tuple(options["quantiles"])
        history = model_input.copy()
        history["date"] = pd.to_datetime(history["date"])
        future = None
        planned = pd.to_numeric(history["qty"], errors="coerce").isna() if "qty" in history else None
        if planned is not None and planned.any():
            cols = [c for c in ("sku", "location", "date", "promo", "price") if c in history]
            future = history.loc[planned, cols].reset_index(drop=True)
            history = history.loc[~planned].reset_index(drop=True)
            last = history["date"].max()
            early = future["date"] <= last
            if early.any():
                raise ValueError(
                    f"{int(early.sum())} row(s) with an empty qty are dated at or before the last history "
                    f"period ({pd.Timestamp(last).date()}); only planned periods after the history may omit qty"
                )
        return forecast(history, future=future, **options).forecasts


set_model(SupplyplanForecaster())
