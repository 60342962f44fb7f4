"""The examples in the forecasting docstrings run and give what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "forecasting.metrics",
    "forecasting.classify",
    "forecasting.quantiles",
    "forecasting.backtest",
    "forecasting.core",
    "forecasting.models",
    "forecasting.models.baseline",
    "forecasting.models.smoothing",
    "forecasting.models.intermittent",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
