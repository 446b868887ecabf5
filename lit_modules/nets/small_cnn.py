"""A small conv-norm-ReLU network with global average pooling: works at any input size."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lit_modules.nets.norm import NormKind, norm2d


class SmallCNN(nn.Module):
    """Stages of two 3x3 conv-norm-ReLU blocks and a 2x2 max-pool, then pool, dropout, linear."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        widths: Sequence[int] = (32, 64, 128, 256),
        norm: NormKind = "batch",
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=norm == "none"), norm2d(norm, width)]
                layers.append(nn.ReLU(inplace=True))
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
