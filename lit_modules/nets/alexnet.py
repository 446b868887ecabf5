"""AlexNet from torchvision, built for any number of classes."""

from __future__ import annotations

from torchvision.models import AlexNet


def alexnet(num_classes: int, dropout: float = 0.5) -> AlexNet:
    """torchvision's AlexNet (no weights); its adaptive pool accepts inputs from 63x63 up."""
    return AlexNet(num_classes=num_classes, dropout=dropout)
