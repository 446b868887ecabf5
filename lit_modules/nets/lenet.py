"""LeNet-5 as the course builds it, with optional normalization and dropout."""

from __future__ import annotations

import torch
from torch import nn

from lit_modules.nets.norm import NormKind, norm1d, norm2d


class LeNet(nn.Module):
    """Two 5x5 conv + max-pool stages, then 120-84-``num_classes`` fully connected layers.

    Designed for 32x32 inputs; an adaptive pool to 5x5 lets other sizes through. ``norm="batch"`` is the
    course's LeNet with BatchNorm.
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, norm: NormKind = "none", dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            norm2d(norm, 6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            norm2d(norm, 16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d((5, 5)),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            norm1d(norm, 120),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(120, 84),
            norm1d(norm, 84),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
