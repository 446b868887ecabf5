"""Hyperparameters recorded with a run's final metrics: TensorBoard's HParams tab then compares runs."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger


class HparamsWithMetrics(Callback):
    """At the end of ``fit``, give each TensorBoard logger its hyperparameters again, now with the final
    metrics (Lightning's ``log_hyperparams(params, metrics)``): one row per run in the HParams tab.

    Lightning records the hyperparameters (the model's and the data's settings) at the start of a fit, when
    there are no metrics yet; this adds the latest value of every metric whose name starts with one of
    ``prefixes``. Other loggers keep what they record themselves (CSV and MLflow store every metric).
    """

    def __init__(self, prefixes: tuple[str, ...] = ("val/",)) -> None:
        self.prefixes = tuple(prefixes)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.fast_dev_run:
            return
        metrics = {
            name: value.item()
            for name, value in trainer.callback_metrics.items()
            if name.startswith(self.prefixes) and value.numel() == 1
        }
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger) and metrics:
                logger.log_hyperparams(logger.hparams, metrics=metrics, step=trainer.global_step)
