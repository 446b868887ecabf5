"""Callbacks: what watches a run and writes its results."""

from lit_modules.callbacks.finite_loss import FiniteLoss, NonFiniteLossError
from lit_modules.callbacks.interruption import Interruption
from lit_modules.callbacks.metrics_json import MetricsJson
from lit_modules.callbacks.prediction_csv import PredictionCsv

__all__ = ["FiniteLoss", "Interruption", "MetricsJson", "NonFiniteLossError", "PredictionCsv"]
