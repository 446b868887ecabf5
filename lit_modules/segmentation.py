"""Semantic segmentation over any plain network that maps images to per-class logit maps."""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.segmentation import DiceScore, MeanIoU

from lit_modules.callbacks.mask_writer import MaskWriter
from lit_modules.hparams import keep_settings_only
from lit_modules.memory_format import use_channels_last
from lit_modules.nets.errors import ConfigError
from lit_modules.optim import optimizer_config

SegmentationLoss = Literal["bce", "dice", "bce_dice", "mse"]


def soft_dice_loss(probs: torch.Tensor, one_hot: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - Dice of (N, C, H, W) probabilities against one-hot masks, per image and map, averaged."""
    overlap = (probs * one_hot).sum(dim=(2, 3))
    total = probs.sum(dim=(2, 3)) + one_hot.sum(dim=(2, 3))
    return 1 - ((2 * overlap + eps) / (total + eps)).mean()


def segmentation_loss(kind: SegmentationLoss, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The loss of (N, C, H, W) logits against (N, H, W) long masks; C = 1 is a binary mask.

    ``bce``: cross-entropy on the logits (binary with C = 1); ``dice``: soft Dice of the probabilities;
    ``bce_dice``: their sum; ``mse``: mean squared error of the probabilities, the course's loss.
    """
    binary = logits.shape[1] == 1
    if binary:
        targets = masks[:, None].to(logits.dtype)
        probs = torch.sigmoid(logits)
    else:
        targets = F.one_hot(masks, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
        probs = logits.softmax(dim=1)
    if kind == "mse":
        return F.mse_loss(probs, targets)
    cross_entropy = (
        F.binary_cross_entropy_with_logits(logits, targets) if binary else F.cross_entropy(logits, masks)
    )
    if kind == "bce":
        return cross_entropy
    if kind == "dice":
        return soft_dice_loss(probs, targets)
    if kind == "bce_dice":
        return cross_entropy + soft_dice_loss(probs, targets)
    raise ConfigError(f"Unknown segmentation loss '{kind}'; choose bce, dice, bce_dice or mse.")


class SegmentationTask(pl.LightningModule):
    """Train ``net`` to predict masks: ``(N, 3, H, W)`` images to ``(N, num_classes, H, W)`` logits.

    Batches are ``(images, masks)`` with long masks (N, H, W); for prediction, ``(images, indices)``.
    A pixel is foreground where its sigmoid is above 0.5 (binary, one output map), else it is the class of
    the largest logit. Logs ``train/loss``, ``{val,test}/loss``, ``/dice`` and ``/iou`` (per image, then
    averaged; over the classes after the background for index masks, which also get ``/dice/<class>``
    and ``/iou/<class>``). ``predict`` writes a mask and an overlay PNG per input (``MaskWriter``).

    Args:
        net: the network, e.g. ``lit_modules.nets.UNet`` (its ``num_classes`` is linked from the data).
        class_names: names of the mask values of index masks, linked from the data; ``None`` for binary.
        loss: ``bce``, ``dice``, ``bce_dice`` or the course's ``mse`` (see ``segmentation_loss``).
        optimizer: any ``torch.optim`` optimizer (class path and init args in the config).
        scheduler: any ``torch.optim.lr_scheduler`` scheduler, or none.
        predictions: where ``predict`` writes its PNGs; default ``<run folder>/predictions/``.
        channels_last: run the network in NHWC memory format (``use_channels_last``: faster convolutions).
        input_shape: one input's shape, linked from the data module: the zero batch of that shape
            (``example_input_array``) gives the model summary its in/out shapes and TensorBoard its graph.
    """

    def __init__(
        self,
        net: nn.Module,
        class_names: list[str] | None = None,
        loss: SegmentationLoss = "bce_dice",
        optimizer: OptimizerCallable = torch.optim.Adam,
        scheduler: LRSchedulerCallable | None = None,
        predictions: str | None = None,
        channels_last: bool = False,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        keep_settings_only(self)
        self.net = use_channels_last(net) if channels_last else net
        self.class_names = list(class_names) if class_names else None
        self.loss = loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.predictions = predictions
        if input_shape is not None:
            self.example_input_array = torch.zeros(1, *input_shape)
        # Binary masks are scored as index masks of two classes; the foreground is class 1.
        classes = 2 if self.class_names is None else len(self.class_names)
        metrics = MetricCollection(
            {
                "dice": DiceScore(classes, average="none", input_format="index"),
                "iou": MeanIoU(classes, per_class=True, input_format="index"),
            }
        )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    @property
    def num_classes(self) -> int:
        """Output maps of the network: 1 for binary masks."""
        return 1 if self.class_names is None else len(self.class_names)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def predicted_masks(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) logits to (N, H, W) long masks: sigmoid above 0.5 (logit above 0), or argmax."""
        return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        images, masks = batch
        logits = self(images)
        loss = segmentation_loss(self.loss, logits, masks)
        training = stage == "train"
        self.log(
            f"{stage}/loss", loss, on_step=training, on_epoch=True, prog_bar=True, batch_size=len(masks),
            sync_dist=not training,
        )  # fmt: skip
        if not training:
            metrics = self.val_metrics if stage == "val" else self.test_metrics
            metrics.update(self.predicted_masks(logits.detach()), masks)
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def _log_epoch_metrics(self, metrics: MetricCollection, prog_bar: bool) -> None:
        """Per-class Dice and IoU (synced across processes), their mean over the foreground classes."""
        for name, per_class in metrics.compute().items():
            per_class = per_class.reshape(-1)
            self.log(name, per_class[1:].nanmean(), prog_bar=prog_bar, sync_dist=True)
            for class_name, value in zip(self.class_names or [], per_class, strict=False):
                self.log(f"{name}/{class_name}", value, sync_dist=True)
        metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics(self.val_metrics, prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics(self.test_metrics, prog_bar=False)

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        images, indices = batch
        return {"index": indices, "masks": self.predicted_masks(self(images)).to(torch.uint8)}

    def configure_callbacks(self) -> list[Callback]:
        return [MaskWriter(self.predictions)]

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        return optimizer_config(self.optimizer_factory, self.scheduler_factory, params)
