"""Tensor transforms: the course's salt-and-pepper noise as a v2 transform, batch normalization helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from datamodules.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SaltPepperNoise(v2.Transform):
    """With probability ``p``, set a fraction ``1 - snr`` of the pixels to white or black (half each).

    The same pixels change in every channel, as in the course's ``AddPepperNoise``. Works on uint8 and float
    image tensors of shape (..., C, H, W).
    """

    def __init__(self, snr: float = 0.9, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= snr <= 1.0 or not 0.0 <= p <= 1.0:
            raise DataError(f"SaltPepperNoise needs 0 <= snr <= 1 and 0 <= p <= 1, got snr={snr}, p={p}.")
        self.snr = snr
        self.p = p

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"apply": bool(torch.rand(()) < self.p)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not params["apply"] or not isinstance(inpt, torch.Tensor):
            return inpt
        noise = torch.rand((*inpt.shape[:-3], 1, *inpt.shape[-2:]), device=inpt.device)
        white = 255 if inpt.dtype == torch.uint8 else 1.0
        out = inpt.clone()
        half = (1.0 - self.snr) / 2
        out.masked_fill_((noise < half).expand_as(out), 0)
        out.masked_fill_(((noise >= half) & (noise < 2 * half)).expand_as(out), white)
        return out


def compose(augmentations: Sequence[v2.Transform] | None) -> v2.Transform | None:
    """One transform from a config list; ``None`` when the list is empty."""
    return v2.Compose(list(augmentations)) if augmentations else None


def normalize_batch(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 normalized; runs on whatever device the batch is on."""
    return F.normalize(F.to_dtype(images, torch.float32, scale=True), mean=list(mean), std=list(std))


def denormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Invert ``normalize_batch`` into [0, 1] floats, for showing images."""
    mean_t = torch.tensor(mean, device=images.device).view(-1, 1, 1)
    std_t = torch.tensor(std, device=images.device).view(-1, 1, 1)
    return (images * std_t + mean_t).clamp(0, 1)
