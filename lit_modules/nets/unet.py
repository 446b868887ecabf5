"""UNet (Ronneberger et al., 2015): an encoder-decoder whose decoder stages also see the encoder's maps.

The layout and the module names are those of the widely used brain-segmentation UNet the course trains
(``encoder1``..``encoder4``, ``pool1``..``pool4``, ``bottleneck``, ``upconv4``..``upconv1``,
``decoder4``..``decoder1``, ``conv``; blocks of ``<name>conv1``, ``<name>norm1``, ``<name>relu1``, ...), so
a course state dict loads as it is (``lit_modules.nets.loading.load_weights``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from lit_modules.nets.errors import ConfigError
from lit_modules.nets.norm import NormKind, norm2d


def conv_block(in_channels: int, features: int, name: str, norm: NormKind) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by a normalization and ReLU (no conv bias before a norm)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, channels in enumerate((in_channels, features), start=1):
        layers[f"{name}conv{i}"] = nn.Conv2d(channels, features, 3, padding=1, bias=norm == "none")
        layers[f"{name}norm{i}"] = norm2d(norm, features)
        layers[f"{name}relu{i}"] = nn.ReLU(inplace=True)
    return nn.Sequential(layers)


class UNet(nn.Module):
    """A UNet returning one logit map per class: (N, num_classes, H, W) for (N, in_channels, H, W) inputs.

    ``num_classes=1`` is a binary mask (sigmoid of the logit); more are index masks (softmax over classes).
    H and W must be multiples of ``2 ** depth``. The defaults are the course's layout (with 32 features).

    Args:
        num_classes: output maps (linked from the data module).
        in_channels: input channels.
        features: channels of the first stage; each deeper stage doubles them.
        depth: pooling stages (the bottleneck runs at 1 / 2**depth of the input size).
        norm: normalization after each convolution (``lit_modules.nets.norm``).
    """

    def __init__(
        self,
        num_classes: int = 1,
        in_channels: int = 3,
        features: int = 32,
        depth: int = 4,
        norm: NormKind = "batch",
    ) -> None:
        super().__init__()
        if num_classes < 1 or features < 1 or depth < 1:
            raise ConfigError(
                f"UNet needs num_classes, features and depth >= 1, got {num_classes}, {features}, {depth}."
            )
        self.num_classes, self.depth = num_classes, depth
        channels = in_channels
        for level in range(1, depth + 1):
            width = features * 2 ** (level - 1)
            self.add_module(f"encoder{level}", conv_block(channels, width, f"enc{level}", norm))
            self.add_module(f"pool{level}", nn.MaxPool2d(kernel_size=2, stride=2))
            channels = width
        self.bottleneck = conv_block(channels, channels * 2, "bottleneck", norm)
        for level in range(depth, 0, -1):
            width = features * 2 ** (level - 1)
            self.add_module(f"upconv{level}", nn.ConvTranspose2d(width * 2, width, kernel_size=2, stride=2))
            self.add_module(f"decoder{level}", conv_block(width * 2, width, f"dec{level}", norm))
        self.conv = nn.Conv2d(features, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.depth
        if x.shape[-2] % factor or x.shape[-1] % factor:
            raise ConfigError(
                f"UNet of depth {self.depth} needs a height and width divisible by {factor}, "
                f"got {tuple(x.shape[-2:])}."
            )
        skips = []
        for level in range(1, self.depth + 1):
            x = self.get_submodule(f"encoder{level}")(x)
            skips.append(x)
            x = self.get_submodule(f"pool{level}")(x)
        x = self.bottleneck(x)
        for level in range(self.depth, 0, -1):
            x = self.get_submodule(f"upconv{level}")(x)
            x = self.get_submodule(f"decoder{level}")(torch.cat((x, skips.pop()), dim=1))
        return self.conv(x)
