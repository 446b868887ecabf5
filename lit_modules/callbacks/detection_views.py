"""Boxes made visible: a few validation photos with their true boxes and the predicted ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torchvision.utils import draw_bounding_boxes, make_grid, save_image

from lit_modules.callbacks.views import View, evaluating
from lit_modules.nets.errors import ConfigError

TRUE_COLOUR, PREDICTED_COLOUR = "lime", "red"


def draw_boxes(
    image: torch.Tensor, boxes: torch.Tensor, captions: Sequence[str] | None = None, colour: str = "red"
) -> torch.Tensor:
    """A (3, H, W) image (uint8, or float in [0, 1]) with ``boxes`` (K, 4, x1 y1 x2 y2) drawn, as uint8."""
    if image.is_floating_point():
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    if len(boxes) == 0:  # nothing found: the photo as it is (torchvision would warn)
        return image.cpu()
    width = max(1, round(min(image.shape[-2:]) / 150))
    return draw_bounding_boxes(
        image.cpu(), boxes.detach().float().cpu(), labels=list(captions) if captions else None,
        colors=colour, width=width,
    )  # fmt: skip


def captions(
    labels: torch.Tensor, scores: torch.Tensor | None, class_names: Sequence[str] | None
) -> list[str]:
    """``pedestrian 0.93`` per box (the label number without class names, no score for true boxes)."""
    names = [class_names[i] if class_names else str(i) for i in labels.tolist()]
    return names if scores is None else [f"{n} {s:.2f}" for n, s in zip(names, scores.tolist(), strict=True)]


class DetectionViews(View):
    """The first ``num_images`` validation photos, each shown twice: with its true boxes (green) and with
    the boxes the model predicts with a score of at least ``score_threshold`` (red). Every ``every_n_epochs``
    epochs to TensorBoard (``detection/val``) and to ``<run folder>/detection/epoch_<e>.png``.

    Args:
        num_images: how many validation photos.
        every_n_epochs: draw after the validation of every n-th epoch.
        score_threshold: the lowest score of a predicted box that is drawn.
    """

    folder = "detection"

    def __init__(self, num_images: int = 4, every_n_epochs: int = 1, score_threshold: float = 0.5) -> None:
        super().__init__(every_n_epochs)
        if num_images < 1:
            raise ConfigError(f"{type(self).__name__}: num_images must be >= 1, got {num_images}.")
        self.num_images, self.score_threshold = num_images, score_threshold
        self.images: list[torch.Tensor] = []
        self.targets: list[dict[str, torch.Tensor]] = []

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        if trainer.sanity_checking or len(self.images) >= self.num_images:
            return
        images, targets = batch
        room = self.num_images - len(self.images)
        self.images += [image.detach().cpu() for image in images[:room]]
        self.targets += [{k: v.detach().cpu() for k, v in t.items()} for t in targets[:room]]

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.due(trainer) or not self.images:
            return
        with torch.no_grad(), evaluating(pl_module):
            found = pl_module([image.to(pl_module.device) for image in self.images])
        names = getattr(pl_module, "class_names", None)
        tiles = []
        for image, target, detections in zip(self.images, self.targets, found, strict=True):
            keep = detections["scores"] >= self.score_threshold
            tiles.append(
                draw_boxes(image, target["boxes"], captions(target["labels"], None, names), TRUE_COLOUR)
            )
            tiles.append(draw_boxes(
                image, detections["boxes"][keep],
                captions(detections["labels"][keep], detections["scores"][keep], names), PREDICTED_COLOUR,
            ))  # fmt: skip
        size = max(t.shape[-2] for t in tiles), max(t.shape[-1] for t in tiles)
        padded = [
            torch.nn.functional.pad(t, (0, size[1] - t.shape[-1], 0, size[0] - t.shape[-2])) for t in tiles
        ]
        grid = make_grid(torch.stack(padded).float() / 255, nrow=2, padding=2, pad_value=0.5)
        writer = self.writer(trainer)
        if writer is not None:
            writer.add_image("detection/val", grid, global_step=trainer.global_step)
        save_image(grid, self.epoch_png(trainer))
