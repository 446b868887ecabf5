"""Stop ``fit`` at the first NaN or infinite training loss, naming the step and the last good checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class FiniteLoss(Callback):
    """Raise ``NonFiniteLossError`` when a training step's loss is NaN or infinite.

    Each step's loss is read one step later, when the device has long finished it, so training never
    waits on the host; it is also read before any checkpoint is written, so a bad step never replaces a
    good ``last.ckpt``. Steps that return no loss (manual optimization) are not checked.
    """

    def __init__(self) -> None:
        self._pending: tuple[torch.Tensor, int, int, int] | None = None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._check(trainer)
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            self._pending = (loss.detach(), trainer.current_epoch, batch_idx, trainer.global_step)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict
    ) -> None:
        self._check(trainer)

    def _check(self, trainer: pl.Trainer) -> None:
        if self._pending is None:
            return
        loss, epoch, batch_idx, step = self._pending
        self._pending = None
        if bool(torch.isfinite(loss).all()):
            return
        checkpoint = trainer.checkpoint_callback
        last = checkpoint.last_model_path if isinstance(checkpoint, ModelCheckpoint) else ""
        best = checkpoint.best_model_path if isinstance(checkpoint, ModelCheckpoint) else ""
        raise NonFiniteLossError(
            f"The training loss is {loss.float().mean().item()} at epoch {epoch}, batch {batch_idx} "
            f"(global step {step}); training stopped there.\n"
            f"Last good checkpoint: {last or 'none saved yet'}" + (f" (best: {best})" if best else "") + "\n"
            "Lower the learning rate, clip gradients (--trainer.gradient_clip_val) or check the data, then "
            "start again (or resume with --ckpt_path last)."
        )
