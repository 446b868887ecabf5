"""Masks made visible: each of a few validation photos beside its true mask and the predicted one."""

from __future__ import annotations

import lightning.pytorch as pl
import matplotlib
import torch
from torchvision.utils import make_grid, save_image

from lit_modules.callbacks.views import FixedValImages, denormalized, evaluating


def colorize(masks: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, H, W) class masks as (N, 3, H, W) images in [0, 1]: background black, a binary mask white,
    other classes in the colours of matplotlib's ``tab10``."""
    if num_classes == 1:
        palette = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    else:
        colours = [matplotlib.colormaps["tab10"](i % 10)[:3] for i in range(num_classes - 1)]
        palette = torch.tensor([(0.0, 0.0, 0.0), *colours])
    return palette[masks.long().cpu()].permute(0, 3, 1, 2)


class SegmentationViews(FixedValImages):
    """A grid of photo / true mask / predicted mask for ``num_images`` fixed validation photos.

    The photos are the first ``num_images`` of the validation set, picked once. Every ``every_n_epochs``
    epochs the grid goes to TensorBoard (``segmentation/val``) and to
    ``<run folder>/segmentation/epoch_<e>.png``, one photo per row.

    Args:
        num_images: how many validation photos.
        every_n_epochs: draw after the validation of every n-th epoch.
    """

    folder = "segmentation"

    def __init__(self, num_images: int = 4, every_n_epochs: int = 1) -> None:
        super().__init__(num_images, every_n_epochs)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_epoch_end(trainer, pl_module)
        if not self.due(trainer) or self.images is None or self.targets is None:
            return
        with torch.no_grad(), evaluating(pl_module):
            logits = pl_module(self.images.to(pl_module.device))
        predicted = pl_module.predicted_masks(logits).cpu()
        num_classes = logits.shape[1]
        photos = denormalized(trainer, self.images).cpu()
        rows = torch.stack([photos, colorize(self.targets, num_classes), colorize(predicted, num_classes)], 1)
        grid = make_grid(rows.flatten(0, 1), nrow=3, padding=2, pad_value=0.5)
        writer = self.writer(trainer)
        if writer is not None:
            writer.add_image("segmentation/val", grid, global_step=trainer.global_step)
        save_image(grid, self.epoch_png(trainer))
