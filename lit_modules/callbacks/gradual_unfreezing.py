"""Unfreeze a backbone block by block at given epochs, on Lightning's ``BaseFinetuning``."""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.optim import Optimizer

from lit_modules.nets.errors import ConfigError


class GradualUnfreezing(BaseFinetuning):
    """Freeze ``pl_module.net.backbone_blocks()`` before training; unfreeze it from the top in stages.

    With ``unfreeze_at_epochs=[3, 6]`` the upper half of the backbone's blocks joins the optimizer at epoch 3
    and the rest at epoch 6, each as a new param group with the head's current learning rate times
    ``lr_factor``. Unlike ``BaseFinetuning.freeze``, freezing keeps BatchNorm's running statistics in use
    (the module puts BatchNorm layers of frozen blocks in eval mode), so validation is unaffected.
    """

    def __init__(self, unfreeze_at_epochs: Sequence[int], lr_factor: float = 0.1) -> None:
        super().__init__()
        if not unfreeze_at_epochs or list(unfreeze_at_epochs) != sorted(unfreeze_at_epochs):
            raise ConfigError(
                f"unfreeze_at_epochs must be increasing epochs, got {list(unfreeze_at_epochs)}."
            )
        self.unfreeze_at_epochs = list(unfreeze_at_epochs)
        self.lr_factor = lr_factor

    def stages(self, pl_module: pl.LightningModule) -> list[list[nn.Module]]:
        """The backbone's blocks with parameters, cut into one chunk per stage, the top chunk first."""
        blocks = [m for m in pl_module.net.backbone_blocks() if any(True for _ in m.parameters())]
        n = len(self.unfreeze_at_epochs)
        bounds = [round(len(blocks) * i / n) for i in range(n + 1)]
        return [blocks[bounds[i] : bounds[i + 1]] for i in reversed(range(n))]

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        for block in pl_module.net.backbone_blocks():
            block.requires_grad_(False)

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        for at, blocks in zip(self.unfreeze_at_epochs, self.stages(pl_module), strict=True):
            frozen = any(not p.requires_grad for block in blocks for p in block.parameters())
            if epoch >= at and frozen:
                lr = optimizer.param_groups[0]["lr"] * self.lr_factor
                self.unfreeze_and_add_param_group(blocks, optimizer, lr=lr, train_bn=True)
