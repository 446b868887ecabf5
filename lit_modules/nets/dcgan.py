"""The DCGAN generator and discriminator (Radford et al., 2015), and a fixed random feature net for KID.

Depth follows the image size: the generator grows a 4x4 map by transposed convolutions, doubling the side
and halving the channels each time, until it reaches the images' side; the discriminator mirrors it. Both
take ``image_shape`` ``(channels, height, width)``, linked from the data module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from lit_modules.nets.errors import ConfigError


def _upsamplings(image_shape: Sequence[int]) -> int:
    """How many x2 steps lead from a 4x4 map to the images' side (square, a power of two, at least 16)."""
    _, height, width = image_shape
    steps = math.log2(height) - 2 if height > 0 else -1
    if height != width or steps < 2 or not steps.is_integer():
        raise ConfigError(
            "DCGAN needs square images whose side is a power of two >= 16, "
            f"got image_shape={tuple(image_shape)}."
        )
    return int(steps)


def dcgan_init(module: nn.Module) -> nn.Module:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02); BatchNorm weights N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
    return module


class Generator(nn.Module):
    """Noise ``(N, nz)`` -> images ``(N, *image_shape)`` in [-1, 1] (tanh); ``ngf`` is its width."""

    def __init__(self, image_shape: Sequence[int] = (3, 64, 64), nz: int = 100, ngf: int = 64) -> None:
        super().__init__()
        steps = _upsamplings(image_shape)
        channels = image_shape[0]
        width = ngf * 2 ** (steps - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(steps - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.nz, self.image_shape = nz, tuple(image_shape)
        self.main = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.nz, 1, 1))


class Discriminator(nn.Module):
    """Images ``(N, *image_shape)`` -> one logit per image ``(N,)`` (no sigmoid); ``ndf`` is its width."""

    def __init__(self, image_shape: Sequence[int] = (3, 64, 64), ndf: int = 64) -> None:
        super().__init__()
        steps = _upsamplings(image_shape)
        channels = image_shape[0]
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(steps - 1):
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, True),
            ]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.main(images).flatten()


class RandomFeatures(nn.Module):
    """A frozen, randomly initialised conv net whose pooled activations serve as image features.

    Built from ``seed`` alone, so every machine gets the same extractor with no download. Features: the
    global mean of each of three conv-ReLU stages, concatenated (``sum(widths)`` numbers per image).
    """

    def __init__(self, channels: int = 3, widths: tuple[int, ...] = (64, 128, 256), seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.stages = nn.ModuleList()
        for width in widths:
            conv = nn.Conv2d(channels, width, 3, 2, 1)
            fan_in = conv.weight[0].numel()
            with torch.no_grad():
                conv.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
                conv.bias.zero_()
            self.stages.append(nn.Sequential(conv, nn.ReLU()))
            channels = width
        self.requires_grad_(False)  # conv and ReLU only: train and eval mode compute the same

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = []
        for stage in self.stages:
            images = stage(images)
            pooled.append(images.mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)
