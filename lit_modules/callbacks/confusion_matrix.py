"""Confusion-matrix figures of a classifier: after validation epochs, and after a test."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from matplotlib import pyplot as plt
from torchmetrics.classification import MulticlassConfusionMatrix

from lit_modules.callbacks.views import View
from lit_modules.nets.errors import ConfigError

Normalize = Literal["true", "pred", "all", "none"]


class ConfusionMatrixFigure(View):
    """The validation confusion matrix as a figure: TensorBoard ``val/confusion_matrix``, PNG
    ``<run folder>/confusion_matrix/epoch_<e>.png``. Rows are true classes, columns predictions.

    Reads the logits ``validation_step`` returns (the project's classifiers do); for a model whose
    ``validation_step`` returns something else it runs the model on the batch's inputs itself. Class names
    come from the model's ``class_names``. Batches whose targets are no tensor of classes (a detector's
    boxes) are not counted, and a matrix that counted nothing is not drawn.

    Args:
        every_n_epochs: draw after the validation of every n-th epoch; other epochs cost nothing.
        normalize: ``true`` shows each row as fractions (recall per class), ``none`` raw counts.
    """

    folder = "confusion_matrix"
    stage = "val"

    def __init__(self, every_n_epochs: int = 1, normalize: Normalize = "none"):
        super().__init__(every_n_epochs)
        self.normalize = normalize
        self.matrix: MulticlassConfusionMatrix | None = None
        self.class_names: list[str] = []

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        names = getattr(pl_module, "class_names", None)
        if not names:
            raise ConfigError(f"{type(self).__name__} needs a classifier with a class_names attribute.")
        self.class_names = [str(n) for n in names]
        self.matrix = MulticlassConfusionMatrix(len(names), normalize=self.normalize)

    def active(self, trainer: pl.Trainer, stage: str) -> bool:
        """This stage's epoch is counted and drawn."""
        return self.matrix is not None and stage == self.stage and self.scheduled(trainer)

    def png(self, trainer: pl.Trainer) -> Path:
        return self.epoch_png(trainer)

    def title(self, trainer: pl.Trainer) -> str:
        return f"validation, epoch {trainer.current_epoch}"

    def _start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.active(trainer, stage):
            self.matrix = self.matrix.to(pl_module.device)
            self.matrix.reset()

    def _update(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, stage: str
    ):
        if not self.active(trainer, stage):
            return
        inputs, targets = batch[0], batch[1]
        if not isinstance(targets, torch.Tensor):  # e.g. boxes of a detector: no class per input to count
            return
        n = len(self.class_names)
        is_logits = isinstance(outputs, torch.Tensor) and outputs.shape == (len(targets), n)
        logits = outputs if is_logits else pl_module(inputs)
        self.matrix.update(logits.detach(), targets)

    def _draw(self, trainer: pl.Trainer, stage: str) -> None:
        if not self.active(trainer, stage) or not self.matrix.update_called:
            return
        values = self.matrix.compute()  # on every rank: it syncs across processes
        if not trainer.is_global_zero:
            return
        fig, ax = self.matrix.plot(
            values.cpu(), labels=self.class_names, add_text=len(self.class_names) <= 20
        )
        side = max(4.0, 0.45 * len(self.class_names) + 2)
        fig.set_size_inches(side, side)
        ax.set_title(self.title(trainer))
        fig.savefig(self.png(trainer), dpi=80, bbox_inches="tight")
        writer = self.writer(trainer, "add_figure")
        if writer is not None:
            writer.add_figure(f"{stage}/confusion_matrix", fig, global_step=trainer.global_step, close=False)
        plt.close(fig)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(trainer, pl_module, "val")

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        self._update(trainer, pl_module, outputs, batch, "val")

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._draw(trainer, "val")

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(trainer, pl_module, "test")

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        self._update(trainer, pl_module, outputs, batch, "test")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._draw(trainer, "test")


class TestConfusionMatrix(ConfusionMatrixFigure):
    """The test confusion matrix of any classifier (a model with ``class_names``), once per ``test``:
    TensorBoard ``test/confusion_matrix``, PNG ``<run folder>/confusion_matrix/test.png``. Other models are
    left alone. ``hello-lightning`` always adds it (``--test_confusion_matrix.normalize``).
    """

    stage = "test"
    __test__ = False  # not a pytest class

    def __init__(self, normalize: Normalize = "none"):
        super().__init__(every_n_epochs=1, normalize=normalize)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if getattr(pl_module, "class_names", None):
            super().setup(trainer, pl_module, stage)

    def active(self, trainer: pl.Trainer, stage: str) -> bool:
        return self.matrix is not None and stage == self.stage and not trainer.fast_dev_run

    def png(self, trainer: pl.Trainer) -> Path:
        return self.png_path(trainer, "test.png")

    def title(self, trainer: pl.Trainer) -> str:
        return "test"
