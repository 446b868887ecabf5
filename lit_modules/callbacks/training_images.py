"""The first training batch of an epoch as the network sees it: after augmentation, de-normalised."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torchvision.utils import make_grid, save_image

from lit_modules.callbacks.views import View, denormalized, enlarged
from lit_modules.nets.errors import ConfigError


class TrainingImages(View):
    """A grid of the first ``max_images`` images of the first training batch, every ``every_n_epochs`` epochs.

    The batch is taken after ``on_after_batch_transfer`` (augmented and normalized) and de-normalised with
    the data module's ``denormalize``. TensorBoard image ``train/images``; PNG
    ``<run folder>/train_images/epoch_<e>.png``.
    """

    folder = "train_images"

    def __init__(self, max_images: int = 32, every_n_epochs: int = 1, min_size: int = 64) -> None:
        super().__init__(every_n_epochs)
        self.max_images, self.min_size = max_images, min_size

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx != 0 or not self.due(trainer):
            return
        images = batch[0]
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise ConfigError("TrainingImages needs batches of (N, C, H, W) images first in the batch.")
        shown = enlarged(denormalized(trainer, images[: self.max_images]), self.min_size)
        grid = make_grid(shown.cpu(), nrow=8, pad_value=1.0)
        writer = self.writer(trainer)
        if writer is not None:
            writer.add_image("train/images", grid, global_step=trainer.global_step)
        save_image(grid, self.epoch_png(trainer))
