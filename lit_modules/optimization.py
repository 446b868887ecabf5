"""The optimizer and scheduler of a task, built from the callables its config gives."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable


def configure_optimizer(
    params: Iterable[Any], optimizer: OptimizerCallable, scheduler: LRSchedulerCallable | None
) -> Any:
    """What ``configure_optimizers`` returns; ``ReduceLROnPlateau`` watches ``monitor`` or ``val/loss``."""
    built = optimizer(params)
    if scheduler is None:
        return built
    lr_scheduler = scheduler(built)
    config: dict[str, Any] = {"scheduler": lr_scheduler}
    if isinstance(lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        config["monitor"] = getattr(lr_scheduler, "monitor", "val/loss")
    return {"optimizer": built, "lr_scheduler": config}
