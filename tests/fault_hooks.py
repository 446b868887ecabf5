"""Test-only hooks for the fault tests: signals at a chosen step, a loss that turns NaN, vanishing files."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn


class SignalAtStep(Callback):
    """Send ``signal_name`` (SIGTERM, SIGINT) to this very process after global step ``step``."""

    def __init__(self, step: int, signal_name: str = "SIGTERM") -> None:
        self.step, self.signum = step, getattr(signal, signal_name)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class NanLossAfter(nn.CrossEntropyLoss):
    """Cross-entropy whose ``calls``-th training call onwards returns NaN."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls, self.seen = calls, 0

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = super().forward(logits, targets)
        if torch.is_grad_enabled():
            self.seen += 1
            if self.seen >= self.calls:
                return loss * float("nan")
        return loss


class SpoilImagesOnFitStart(Callback):
    """After setup, delete half of the image files under ``folder`` and truncate the rest to garbage."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for i, path in enumerate(sorted(self.folder.rglob("*.jpg"))):
            if i % 2:
                path.unlink()
            else:
                path.write_bytes(b"not a jpeg any more")
