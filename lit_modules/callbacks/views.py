"""What the drawing callbacks share: when to draw, where pictures go, and how images are made showable."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import matplotlib
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from matplotlib.figure import Figure
from torch import nn

from lit_modules.callbacks.run_folder import run_folder
from lit_modules.nets.errors import ConfigError


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode, then give each back the mode it had (frozen parts stay frozen)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def find_layer(model: nn.Module, path: str, owner: str) -> nn.Module:
    """``model.get_submodule(path)`` with an error that lists the conv layers to choose from."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        raise ConfigError(
            f"{owner}: the model has no layer '{path}'. Give a module path as printed by the model, "
            f"e.g. one of its conv layers: {convs[-6:] or 'none'}."
        ) from None


def last_conv_name(model: nn.Module, owner: str) -> str:
    """The module path of the last ``nn.Conv2d`` in ``model`` (the usual Grad-CAM layer)."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise ConfigError(f"{owner}: the model has no nn.Conv2d layer; name a 4-D feature layer explicitly.")
    return names[-1]


def denormalized(trainer: pl.Trainer, images: torch.Tensor) -> torch.Tensor:
    """Normalized (N, C, H, W) images back into [0, 1], by the data module's own ``denormalize``.

    Without one each image is min-max scaled instead.
    """
    images = images.detach().float()
    undo = getattr(trainer.datamodule, "denormalize", None)
    if undo is not None:
        return undo(images)
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    return (images - low) / (high - low).clamp_min(1e-12)


def enlarged(images: torch.Tensor, min_size: int) -> torch.Tensor:
    """Upsample (N, C, H, W) so the shorter side is at least ``min_size`` (small inputs stay readable)."""
    scale = math.ceil(min_size / min(images.shape[-2:]))
    if scale <= 1:
        return images
    return F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False).clamp(0, 1)


def labelled_grid(images: torch.Tensor, titles: Sequence[str], columns: int = 4) -> Figure:
    """A matplotlib figure of (N, 3, H, W) images in [0, 1], each with its title."""
    rows = math.ceil(len(images) / columns)
    cols = min(columns, len(images))
    fig = Figure(figsize=(2.2 * cols, 2.4 * rows), layout="constrained")
    for i, (image, title) in enumerate(zip(images, titles, strict=True)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(image.permute(1, 2, 0).cpu().numpy())
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return fig


def heat_overlay(images: torch.Tensor, maps: torch.Tensor, colormap: str, alpha: float) -> torch.Tensor:
    """Blend (N, H, W) maps in [0, 1], coloured by a matplotlib colour map, onto (N, 3, H, W) images."""
    colours = matplotlib.colormaps[colormap](maps.detach().float().cpu().numpy())[..., :3]
    heat = torch.from_numpy(colours).permute(0, 3, 1, 2).float()
    return ((1 - alpha) * images.cpu() + alpha * heat).clamp(0, 1)


def tag_part(text: str) -> str:
    """A label made safe for a TensorBoard tag."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text)


class View(Callback):
    """Base of the callbacks that draw every ``every_n_epochs`` epochs, to TensorBoard and PNG files.

    Pictures go to the first logger whose experiment has the needed method (TensorBoard's ``add_image``,
    ``add_figure``, ...) and, always, to ``<run folder>/<folder>/``. Without such a logger the callback says
    so once and writes only the PNGs. Nothing is drawn during the sanity check or ``fast_dev_run``.
    """

    folder = "views"

    def __init__(self, every_n_epochs: int = 1) -> None:
        if every_n_epochs < 1:
            raise ConfigError(f"{type(self).__name__}: every_n_epochs must be >= 1, got {every_n_epochs}.")
        self.every_n_epochs = every_n_epochs
        self._said_no_writer = False

    def scheduled(self, trainer: pl.Trainer) -> bool:
        """This epoch draws (on every rank: metrics that sync need all of them)."""
        return (
            not trainer.sanity_checking
            and not trainer.fast_dev_run
            and (trainer.current_epoch + 1) % self.every_n_epochs == 0
        )

    def due(self, trainer: pl.Trainer) -> bool:
        """This epoch draws, and this process is the one that writes."""
        return trainer.is_global_zero and self.scheduled(trainer)

    def writer(self, trainer: pl.Trainer, method: str = "add_image") -> Any | None:
        """The first logger experiment with ``method``, or None (said once: only PNGs then)."""
        for logger in trainer.loggers:
            if hasattr(logger.experiment, method):
                return logger.experiment
        if not self._said_no_writer:
            self._said_no_writer = True
            rank_zero_info(
                f"{type(self).__name__}: no logger takes pictures ({method}); writing PNGs only, to "
                f"{self.png_path(trainer, '').parent}/ (use a TensorBoardLogger to see them in TensorBoard)."
            )
        return None

    def png_path(self, trainer: pl.Trainer, name: str) -> Path:
        """``<run folder>/<folder>/<name>``, its folder created."""
        path = (run_folder(trainer) or Path(trainer.default_root_dir)) / self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def epoch_png(self, trainer: pl.Trainer, prefix: str = "") -> Path:
        return self.png_path(trainer, f"{prefix}epoch_{trainer.current_epoch:03d}.png")


class FixedValImages(View):
    """A ``View`` that keeps ``num_images`` validation images and labels, picked once.

    They are picked during the first validation epoch after the sanity check, as evenly over the classes
    as the data allows (the model's ``class_names`` tell how many) where the targets are class indices,
    the first ones otherwise (masks), and never change afterwards.
    """

    def __init__(self, num_images: int, every_n_epochs: int = 1) -> None:
        super().__init__(every_n_epochs)
        if num_images < 1:
            raise ConfigError(f"{type(self).__name__}: num_images must be >= 1, got {num_images}.")
        self.num_images = num_images
        self.images: torch.Tensor | None = None
        self.targets: torch.Tensor | None = None
        self._picked = False

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._picked or trainer.sanity_checking or dataloader_idx != 0:
            return
        images, targets = batch[0], batch[1]
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise ConfigError(
                f"{type(self).__name__} needs batches of (N, C, H, W) images first in the batch."
            )
        kept = 0 if self.targets is None else len(self.targets)
        if targets.ndim == 1:  # class indices: spread the picks over the classes
            quota = math.ceil(self.num_images / len(getattr(pl_module, "class_names", None) or [0]))
            counts = Counter([] if self.targets is None else self.targets.tolist())
            chosen: list[int] = []
            for i, target in enumerate(targets.tolist()):
                if kept + len(chosen) == self.num_images:
                    break
                if counts[target] < quota:
                    counts[target] += 1
                    chosen.append(i)
        else:  # e.g. masks: the first images
            chosen = list(range(min(len(images), self.num_images - kept)))
        if not chosen:
            return
        new_images, new_targets = (
            images[chosen].detach().cpu().clone(),
            targets[chosen].detach().cpu().clone(),
        )
        self.images = new_images if self.images is None else torch.cat([self.images, new_images])
        self.targets = new_targets if self.targets is None else torch.cat([self.targets, new_targets])

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and self.images is not None:
            self._picked = True
