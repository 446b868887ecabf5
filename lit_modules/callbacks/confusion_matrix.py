"""A confusion-matrix figure after every validation epoch of a classifier."""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl
import torch
from matplotlib import pyplot as plt
from torchmetrics.classification import MulticlassConfusionMatrix

from lit_modules.callbacks.views import View
from lit_modules.nets.errors import ConfigError


class ConfusionMatrixFigure(View):
    """The validation confusion matrix as a figure: TensorBoard ``val/confusion_matrix``, PNG
    ``<run folder>/confusion_matrix/epoch_<e>.png``. Rows are true classes, columns predictions.

    Reads the logits ``validation_step`` returns (the project's classifiers do); for a model whose
    ``validation_step`` returns something else it runs the model on the batch's inputs itself. Class names
    come from the model's ``class_names``.

    Args:
        every_n_epochs: draw after the validation of every n-th epoch; other epochs cost nothing.
        normalize: ``true`` shows each row as fractions (recall per class), ``none`` raw counts.
    """

    folder = "confusion_matrix"

    def __init__(self, every_n_epochs: int = 1, normalize: Literal["true", "pred", "all", "none"] = "none"):
        super().__init__(every_n_epochs)
        self.normalize = normalize
        self.matrix: MulticlassConfusionMatrix | None = None
        self.class_names: list[str] = []

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        names = getattr(pl_module, "class_names", None)
        if not names:
            raise ConfigError("ConfusionMatrixFigure needs a classifier with a class_names attribute.")
        self.class_names = [str(n) for n in names]
        self.matrix = MulticlassConfusionMatrix(len(names), normalize=self.normalize)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.matrix is not None and self.scheduled(trainer):
            self.matrix = self.matrix.to(pl_module.device)
            self.matrix.reset()

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.matrix is None or not self.scheduled(trainer):
            return
        inputs, targets = batch[0], batch[1]
        n = len(self.class_names)
        is_logits = isinstance(outputs, torch.Tensor) and outputs.shape == (len(targets), n)
        logits = outputs if is_logits else pl_module(inputs)
        self.matrix.update(logits.detach(), targets)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.matrix is None or not self.scheduled(trainer):
            return
        values = self.matrix.compute()  # on every rank: it syncs across processes
        if not trainer.is_global_zero:
            return
        fig, ax = self.matrix.plot(
            values.cpu(), labels=self.class_names, add_text=len(self.class_names) <= 20
        )
        side = max(4.0, 0.45 * len(self.class_names) + 2)
        fig.set_size_inches(side, side)
        ax.set_title(f"validation, epoch {trainer.current_epoch}")
        fig.savefig(self.epoch_png(trainer), dpi=80, bbox_inches="tight")
        writer = self.writer(trainer, "add_figure")
        if writer is not None:
            writer.add_figure("val/confusion_matrix", fig, global_step=trainer.global_step, close=False)
        plt.close(fig)
