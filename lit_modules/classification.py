"""What every classifier shares: its network, loss, per-stage torchmetrics, optimizer and scheduler."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from lit_modules.nets.errors import ConfigError
from lit_modules.optim import optimizer_config
from lit_modules.tta import TestTimeViews, averaged_logits


class ClassificationTask(pl.LightningModule):
    """Base of the classifiers: ``net`` maps a batch's inputs to class logits; the task trains and scores it.

    Batches are ``(inputs, targets)``; for prediction the targets are the inputs' indices. Logs
    ``{train,val,test}/loss``, ``/acc`` (micro) and ``/macro_f1``; a test also logs each class's
    ``test/precision/<class>``, ``test/recall/<class>`` and ``test/f1/<class>``.

    Args:
        net: the network (``class_path`` and ``init_args`` in the config; ``num_classes`` is linked from the
            data module).
        class_names: label order, linked from the data module.
        optimizer: any ``torch.optim`` optimizer (class path and init args in the config).
        scheduler: any ``torch.optim.lr_scheduler`` scheduler, or none; ``ReduceLROnPlateau`` watches
            its ``monitor`` (Lightning's variant) or ``val/loss``.
        loss: any loss taking (logits, class indices); default cross-entropy.
        input_shape: one input's shape, linked from an image data module: the zero batch of that shape
            (``example_input_array``) gives the model summary its in/out shapes and TensorBoard its graph.
        tta: test-time augmentation for ``test`` and ``predict``: logits averaged over ``five_crop`` or
            ``ten_crop`` views of each image (``lit_modules.tta``); fit and validation see plain images.
        tta_crop: side of each view as a fraction of the image's.
    """

    def __init__(
        self,
        net: nn.Module,
        class_names: list[str],
        optimizer: OptimizerCallable = torch.optim.Adam,
        scheduler: LRSchedulerCallable | None = None,
        loss: nn.Module | None = None,
        input_shape: tuple[int, ...] | None = None,
        tta: TestTimeViews = "none",
        tta_crop: float = 0.875,
    ) -> None:
        super().__init__()
        if len(class_names) < 2:
            raise ConfigError(f"A classifier needs at least 2 classes, got class_names={class_names}.")
        self.net = net
        self.class_names = list(class_names)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.criterion = loss if loss is not None else nn.CrossEntropyLoss()
        if input_shape is not None:
            self.example_input_array = torch.zeros(1, *input_shape)
        if not 0 < tta_crop <= 1:  # checked now, not when a fit's test starts
            raise ConfigError(f"--model.tta_crop must be in (0, 1], got {tta_crop}.")
        self.tta, self.tta_crop = tta, tta_crop
        n = len(class_names)
        metrics = MetricCollection(
            {"acc": MulticlassAccuracy(n, average="micro"), "macro_f1": MulticlassF1Score(n, average="macro")}
        )
        self.val_metrics = metrics.clone(prefix="val/")
        per_class = {
            "precision": MulticlassPrecision(n, average=None),
            "recall": MulticlassRecall(n, average=None),
            "f1": MulticlassF1Score(n, average=None),
        }
        self.test_metrics = metrics.clone(prefix="test/")
        self.test_metrics.add_metrics(per_class)
        # Training loss sum, correct guesses and samples of the epoch, added up on the device.
        self.register_buffer("train_totals", torch.zeros(3), persistent=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def forward(self, inputs: Any) -> torch.Tensor:
        return self.net(inputs)

    def logits_and_loss(self, inputs: Any, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits the metrics score and the loss to minimise; a model of several members overrides it."""
        logits = self(inputs)
        return logits, self.criterion(logits, targets)

    def _eval_step(self, batch: Any, stage: str, metrics: MetricCollection) -> torch.Tensor:
        """Validation or test: update the stage's metric objects (they sync themselves under DDP) and log
        the loss, averaged over the processes. Returns the logits."""
        inputs, targets = batch
        if stage == "test" and self.tta != "none":
            logits = averaged_logits(self, inputs, self.tta, self.tta_crop)
            loss = self.criterion(logits, targets)
        else:
            logits, loss = self.logits_and_loss(inputs, targets)
        metrics.update(logits, targets)
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=len(targets), sync_dist=True)
        return logits

    def _log_epoch_metrics(self, metrics: MetricCollection, prog_bar: bool) -> None:
        """Compute (synced across processes) and log once per epoch, then start afresh.

        A per-class metric is logged as one number per class, ``<name>/<class>``."""
        values: dict[str, torch.Tensor] = {}
        for name, value in metrics.compute().items():
            if value.numel() == 1:
                values[name] = value
            else:
                values.update({f"{name}/{c}": v for c, v in zip(self.class_names, value, strict=True)})
        self.log_dict(values, prog_bar=prog_bar, sync_dist=True)
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        loss_sum, correct, samples = self.train_totals.tolist()
        if samples:  # as each process saw its share, averaged over the processes
            self.log_dict(
                {"train/loss_epoch": loss_sum / samples, "train/acc": correct / samples}, sync_dist=True
            )
        self.train_totals.zero_()

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics(self.val_metrics, prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics(self.test_metrics, prog_bar=False)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """The loss to minimise. A metric object's update or a ``self.log`` call each cost more than a small
        network's whole step, so the epoch's ``train/loss_epoch`` and ``train/acc`` add up in
        ``train_totals`` on the device, and ``train/loss_step`` is logged only at the steps whose logs
        Lightning writes (every ``trainer.log_every_n_steps``)."""
        inputs, targets = batch
        logits, loss = self.logits_and_loss(inputs, targets)
        self.train_totals[0] += loss.detach() * len(targets)
        self.train_totals[1] += (logits.detach().argmax(-1) == targets).sum()
        self.train_totals[2] += len(targets)
        if (
            self.trainer.global_step + 1
        ) % self.trainer.log_every_n_steps == 0:  # a step whose logs are written
            self.log("train/loss_step", loss.detach(), prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Returns the logits, for callbacks that read them (e.g. the confusion matrix)."""
        return self._eval_step(batch, "val", self.val_metrics)

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Returns the logits, for callbacks that read them (e.g. the test confusion matrix)."""
        return self._eval_step(batch, "test", self.test_metrics)

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        inputs, indices = batch
        logits = averaged_logits(self, inputs, self.tta, self.tta_crop)
        return {"index": indices, "probs": logits.softmax(dim=-1)}

    def parameter_groups(self) -> Iterable[Any]:
        """What the optimizer gets; subclasses return param groups (e.g. per-layer learning rates)."""
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self) -> Any:
        return optimizer_config(self.optimizer_factory, self.scheduler_factory, self.parameter_groups())
