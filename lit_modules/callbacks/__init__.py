"""Callbacks: what watches a run and writes its results."""

from lit_modules.callbacks.gradual_unfreezing import GradualUnfreezing
from lit_modules.callbacks.metrics_json import MetricsJson
from lit_modules.callbacks.prediction_csv import PredictionCsv

__all__ = ["GradualUnfreezing", "MetricsJson", "PredictionCsv"]
