"""Object detection over any plain network with torchvision's detection API (losses in training, boxes in
eval)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torchmetrics.detection import MeanAveragePrecision

from lit_modules.callbacks.box_writer import BoxWriter
from lit_modules.hparams import keep_settings_only
from lit_modules.memory_format import use_channels_last
from lit_modules.optim import optimizer_config

MAP_NAMES = ("map", "map_50", "map_75")  # COCO mAP over IoU 0.5:0.95, at IoU 0.5, at IoU 0.75


class DetectionTask(pl.LightningModule):
    """Train ``net`` to find objects: batches are (list of images, list of ``{"boxes", "labels"}``).

    Training sums the network's loss dict and logs it as ``train/loss`` and each part as ``train/<part>``
    (Faster R-CNN: ``loss_classifier``, ``loss_box_reg``, ``loss_objectness``, ``loss_rpn_box_reg``).
    Validation and test log torchmetrics' COCO mean average precision ``{val,test}/map``, ``/map_50`` and
    ``/map_75``. ``predict`` writes one CSV row per box and each photo with its boxes drawn (``BoxWriter``).

    Args:
        net: the network, e.g. ``lit_modules.nets.TorchvisionDetector`` (its ``num_classes`` is linked).
        class_names: label names, background first, linked from the data.
        optimizer: any ``torch.optim`` optimizer (class path and init args in the config).
        scheduler: any ``torch.optim.lr_scheduler`` scheduler, or none.
        channels_last: run the network's convolutions in NHWC memory format (``use_channels_last``: faster).
        score_threshold: ``predict`` writes and draws the boxes scored at least this.
        predictions: the folder ``predict`` writes into; default the run folder.
    """

    def __init__(
        self,
        net: nn.Module,
        class_names: list[str] | None = None,
        optimizer: OptimizerCallable = torch.optim.SGD,
        scheduler: LRSchedulerCallable | None = None,
        channels_last: bool = False,
        score_threshold: float = 0.5,
        predictions: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        keep_settings_only(self)
        self.net = use_channels_last(net) if channels_last else net
        self.class_names = list(class_names) if class_names else None
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.score_threshold = score_threshold
        self.predictions = predictions
        self.starting_weights_loaded = False
        self.val_map = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
        self.test_map = self.val_map.clone()

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return self.net(list(images))

    def on_fit_start(self) -> None:
        # A resumed run's checkpoint holds every weight; a second fit of this module goes on from where it is.
        load = getattr(self.net, "load_starting_weights", None)
        if load is not None and self.trainer.ckpt_path is None and not self.starting_weights_loaded:
            rank_zero_info(load())
            self.starting_weights_loaded = True

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, targets = batch
        losses = self.net(list(images), targets)
        loss = sum(losses.values())
        size = len(images)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        for name, part in losses.items():
            self.log(f"train/{name}", part, on_step=False, on_epoch=True, batch_size=size)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, targets = batch
        self.val_map.update(self(images), targets)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        images, targets = batch
        self.test_map.update(self(images), targets)

    def _log_map(self, metric: MeanAveragePrecision, stage: str) -> None:
        scores = metric.compute()  # gathers every process's boxes first
        for name in MAP_NAMES:
            self.log(f"{stage}/{name}", scores[name].float(), prog_bar=name == "map_50", sync_dist=True)
        metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_map(self.val_map, "val")

    def on_test_epoch_end(self) -> None:
        self._log_map(self.test_map, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        images, indices = batch
        return {"index": indices, "detections": [{k: v.cpu() for k, v in d.items()} for d in self(images)]}

    def configure_callbacks(self) -> list[Callback]:
        return [BoxWriter(self.predictions, self.score_threshold)]

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        return optimizer_config(self.optimizer_factory, self.scheduler_factory, params)
