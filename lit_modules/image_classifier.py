"""Image classification over any plain network that takes ``num_classes``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_modules.classification import ClassificationTask
from lit_modules.hparams import keep_settings_only
from lit_modules.memory_format import use_channels_last
from lit_modules.nets.init import InitScheme, initialize


class ImageClassifier(ClassificationTask):
    """Classify images with ``net``: ``lit_modules.nets.LeNet``, ``SmallCNN``, ``torchvision.models.AlexNet``.

    Args:
        net: the network; its ``num_classes`` is linked from the data module.
        init: weight initialisation scheme for its conv and linear layers.
        channels_last: run the network in NHWC memory format (``use_channels_last``: faster convolutions).
        compile: compile the network with ``torch.compile`` (``nn.Module.compile``: parameter names, and so
            checkpoints, stay the same). The first steps are slower while it compiles.
        **kwargs: see ``ClassificationTask`` (class names, optimizer, scheduler, loss).
    """

    def __init__(
        self,
        net: nn.Module,
        init: InitScheme = "default",
        channels_last: bool = False,
        compile: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(net=initialize(net, init), **kwargs)
        self.save_hyperparameters()
        keep_settings_only(self)
        if channels_last:
            use_channels_last(self.net)
        if compile:
            self.net.compile()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)
