"""Image classification over any plain network that takes ``num_classes``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lit_modules.classification import ClassificationTask
from lit_modules.hparams import keep_settings_only
from lit_modules.nets.init import InitScheme, initialize


class ImageClassifier(ClassificationTask):
    """Classify images with ``net``: ``lit_modules.nets.LeNet``, ``SmallCNN``, ``torchvision.models.AlexNet``.

    Args:
        net: the network; its ``num_classes`` is linked from the data module.
        init: weight initialisation scheme for its conv and linear layers.
        channels_last: keep activations in NHWC memory format (faster convolutions on GPUs).
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
        self.channels_last = channels_last
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if compile:
            self.net.compile()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.net(images)
