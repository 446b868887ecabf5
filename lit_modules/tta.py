"""Test-time augmentation: average a network's logits over FiveCrop or TenCrop views of each image."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torchvision.transforms.v2 import functional as F

from lit_modules.nets.errors import ConfigError

TestTimeViews = Literal["none", "five_crop", "ten_crop"]


def crops(images: torch.Tensor, views: TestTimeViews, fraction: float) -> torch.Tensor:
    """(V, N, C, H, W): the four corners and the centre (``ten_crop``: and their mirror images), each
    ``fraction`` of the side and resized back to (H, W), so any network takes them."""
    if images.ndim != 4:
        raise ConfigError(
            f"--model.tta {views} needs batches of (N, C, H, W) images, got {tuple(images.shape)}."
        )
    size = [max(1, round(side * fraction)) for side in images.shape[-2:]]
    cut = F.five_crop(images, size) if views == "five_crop" else F.ten_crop(images, size)
    return torch.stack([F.resize(view, list(images.shape[-2:]), antialias=True) for view in cut])


def averaged_logits(
    forward: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    views: TestTimeViews,
    fraction: float,
) -> torch.Tensor:
    """``forward(images)``, or with views its logits averaged over them (one forward pass for all)."""
    if views == "none":
        return forward(images)
    batch = crops(images, views, fraction)
    logits = forward(batch.flatten(0, 1))
    return logits.view(len(batch), len(images), -1).mean(dim=0)
