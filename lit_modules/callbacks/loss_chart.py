"""Training and validation loss on one TensorBoard chart (a custom-scalars layout over the logged tags)."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback


class LossChart(Callback):
    """Adds a chart ``losses/train and val`` to TensorBoard's Custom Scalars tab, drawing ``train/loss_epoch``
    and ``val/loss`` as two lines; nothing is logged twice.

    Args:
        tags: the scalar tags on the chart (regular expressions, as TensorBoard reads them).
    """

    def __init__(self, tags: tuple[str, ...] = ("train/loss_epoch", "val/loss")) -> None:
        self.tags = list(tags)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if hasattr(logger.experiment, "add_custom_scalars"):
                layout = {"losses": {"train and val": ["Multiline", self.tags]}}
                logger.experiment.add_custom_scalars(layout)
