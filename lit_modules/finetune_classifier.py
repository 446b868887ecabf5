"""Transfer learning: the course's ways of freezing a pretrained backbone under a new head."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from lit_modules.callbacks.gradual_unfreezing import GradualUnfreezing
from lit_modules.classification import ClassificationTask
from lit_modules.hparams import keep_settings_only
from lit_modules.nets.errors import ConfigError
from lit_modules.nets.torchvision_classifier import TorchvisionClassifier

Strategy = Literal["none", "frozen", "zero_lr", "discriminative", "gradual"]


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class FinetuneClassifier(ClassificationTask):
    """Finetune a ``TorchvisionClassifier`` (``resnet18``, ``mobilenet_v3_small``...) from starting weights.

    The network's starting weights load when a fit starts from scratch; a run restored with ``--ckpt_path``
    takes every weight from the checkpoint, so testing or resuming a finetuned run needs no download.

    Strategies (what trains besides the new head):
        ``none``: everything. ``frozen``: nothing, the backbone has ``requires_grad=False``.
        ``zero_lr``: the backbone sits in the optimizer with learning rate 0, so its weights stay put.
        ``discriminative``: the backbone learns at the head's rate times ``backbone_lr_factor``.
        ``gradual``: the backbone starts frozen and is unfrozen from the top at ``unfreeze_at_epochs``, each
        stage with the head's current rate times ``backbone_lr_factor``.

    Args:
        net: the model, its new head and its starting weights (``--model.net.init_args.name``, ``weights``).
        strategy: see above.
        backbone_lr_factor: backbone learning rate relative to the head's, for discriminative and gradual.
        unfreeze_at_epochs: epochs at which gradual unfreezing adds the next stage of blocks.
        train_frozen_bn: let BatchNorm layers of a frozen (or zero-lr) backbone update their running
            statistics; by default they stay in eval mode, so the statistics the weights came with are kept.
        **kwargs: see ``ClassificationTask`` (class names, optimizer, scheduler, loss).
    """

    def __init__(
        self,
        net: TorchvisionClassifier,
        strategy: Strategy = "zero_lr",
        backbone_lr_factor: float = 0.1,
        unfreeze_at_epochs: list[int] | None = None,
        train_frozen_bn: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(net=net, **kwargs)
        self.save_hyperparameters()
        keep_settings_only(self)
        if strategy == "gradual" and not unfreeze_at_epochs:
            raise ConfigError("strategy gradual needs --model.init_args.unfreeze_at_epochs, e.g. [3, 6].")
        self.strategy = strategy
        self.backbone_lr_factor = backbone_lr_factor
        self.unfreeze_at_epochs = unfreeze_at_epochs
        self.train_frozen_bn = train_frozen_bn
        self.starting_weights_loaded = False
        if strategy == "frozen":
            for block in self.net.backbone_blocks():
                block.requires_grad_(False)

    def on_fit_start(self) -> None:
        # A resumed run's checkpoint holds every weight; a second fit of this module goes on from where it is.
        if self.trainer.ckpt_path is None and not self.starting_weights_loaded:
            rank_zero_info(self.net.load_starting_weights())
            self.starting_weights_loaded = True

    def _base_lr(self) -> float:
        """The learning rate the configured optimizer gives a param group by default."""
        return self.optimizer_factory([nn.Parameter(torch.zeros(1))]).defaults["lr"]

    def parameter_groups(self) -> Iterable[Any]:
        """The head first; zero-lr and discriminative add the backbone as a second group with its own rate."""
        if self.strategy not in ("zero_lr", "discriminative"):
            return super().parameter_groups()
        lr = 0.0 if self.strategy == "zero_lr" else self._base_lr() * self.backbone_lr_factor
        backbone = [p for block in self.net.backbone_blocks() for p in block.parameters()]
        return [{"params": list(self.net.head.parameters())}, {"params": backbone, "lr": lr}]

    def configure_callbacks(self) -> list[Callback]:
        if self.strategy != "gradual":
            return []
        return [GradualUnfreezing(self.unfreeze_at_epochs, self.backbone_lr_factor)]

    def train(self, mode: bool = True) -> FinetuneClassifier:
        """Training mode, except BatchNorm layers that do not learn keep their running statistics."""
        super().train(mode)
        if mode and not self.train_frozen_bn:
            for block in self.net.backbone_blocks():
                for layer in block.modules():
                    frozen = self.strategy == "zero_lr" or not any(
                        p.requires_grad for p in layer.parameters()
                    )
                    if isinstance(layer, BATCH_NORMS) and frozen:
                        layer.eval()
        return self

    def on_train_epoch_start(self) -> None:
        self.train()  # gradual unfreezing may just have made some BatchNorm layers trainable
