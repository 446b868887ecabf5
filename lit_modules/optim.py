"""Optimizer and scheduler callables from the config, turned into what ``configure_optimizers`` returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable


def optimizer_config(
    optimizer: OptimizerCallable, scheduler: LRSchedulerCallable | None, params: Iterable[Any]
) -> dict[str, Any]:
    """``{"optimizer", "lr_scheduler"}`` for ``params``; ``ReduceLROnPlateau`` watches its ``monitor``
    (Lightning's variant) or ``val/loss``."""
    built = optimizer(params)
    if scheduler is None:
        return {"optimizer": built}
    lr_scheduler = scheduler(built)
    config: dict[str, Any] = {"scheduler": lr_scheduler}
    if isinstance(lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        config["monitor"] = getattr(lr_scheduler, "monitor", "val/loss")
    return {"optimizer": built, "lr_scheduler": config}
