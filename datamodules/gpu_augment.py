"""Random augmentations of whole batches on the device they are on, each sample with its own parameters.

torchvision's per-image transforms run one Python call per image in the loader; here one batch costs a few
kernel launches: ``RandomResizedCrop`` is one ``torchvision.ops.roi_align`` call over per-sample boxes, and a
horizontal flip is one ``torch.where``. Data modules apply them in ``on_after_batch_transfer`` to float
images in [0, 1] (before normalization), so the model code does not change.

Hand-written because torchvision's v2 transforms draw one set of random parameters per call, i.e. per batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import roi_align

from datamodules.errors import DataError

ATTEMPTS = 10  # as torchvision's RandomResizedCrop.get_params


def random_resized_crop_boxes(
    count: int,
    height: int,
    width: int,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``count`` crop boxes ``(top, left, h, w)`` (long), drawn as ``RandomResizedCrop.get_params`` does.

    Each sample tries up to 10 (area, aspect ratio) draws and takes the first that fits, at a uniformly
    drawn integer position; where none fits it falls back to the centre crop clamped to ``ratio``.
    """
    device = generator.device if generator is not None else device
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def uniform(
        low: float | torch.Tensor, high: float | torch.Tensor, shape: tuple[int, ...]
    ) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape, generator=generator, device=device, dtype=torch.float64)

    target_area = area * uniform(scale[0], scale[1], (count, ATTEMPTS))
    aspect = torch.exp(uniform(*log_ratio, (count, ATTEMPTS)))
    w = torch.round(torch.sqrt(target_area * aspect)).long()
    h = torch.round(torch.sqrt(target_area / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.float().argmax(dim=1, keepdim=True)  # the first attempt that fits (0 when none does)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)

    # No attempt fits: the whole image, cropped in the centre to the nearest allowed aspect ratio.
    in_ratio = width / height
    if in_ratio < min(ratio):
        fallback_w, fallback_h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        fallback_w, fallback_h = round(height * max(ratio)), height
    else:
        fallback_w, fallback_h = width, height
    none_fits = ~fits.any(dim=1)
    w = torch.where(none_fits, fallback_w, w)
    h = torch.where(none_fits, fallback_h, h)

    # torch.randint(0, n + 1) draws each of 0..n with equal chance; so does floor(u * (n + 1)).
    top = (
        torch.rand(count, generator=generator, device=device, dtype=torch.float64) * (height - h + 1)
    ).long()
    left = (
        torch.rand(count, generator=generator, device=device, dtype=torch.float64) * (width - w + 1)
    ).long()
    top = torch.where(none_fits, (height - h) // 2, top)
    left = torch.where(none_fits, (width - w) // 2, left)
    return torch.stack([top, left, h, w], dim=1)


def resized_crops(images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop box ``(top, left, h, w)`` of each image and resize it to ``size``, bilinear, in one call.

    Equals torchvision's ``resized_crop`` (bilinear, no antialias) for each image, except that an enlarged
    crop's outermost output pixels blend in the image pixel just outside the box instead of repeating the
    box's edge pixel.
    """
    top, left, h, w = boxes.to(images.dtype).unbind(1)
    index = torch.arange(len(images), device=images.device, dtype=images.dtype)
    rois = torch.stack([index, left, top, left + w, top + h], dim=1)
    # aligned=True puts pixel centres at +0.5 (as interpolate with align_corners=False); one bilinear sample
    # per output pixel, at its centre, is plain bilinear resizing.
    return roi_align(images, rois, output_size=size, spatial_scale=1.0, sampling_ratio=1, aligned=True)


class BatchTransform(nn.Module):
    """A random transform of a float (N, C, H, W) batch, each sample with its own random parameters."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class BatchRandomResizedCrop(BatchTransform):
    """``torchvision.transforms.v2.RandomResizedCrop`` (bilinear, no antialias) for a whole batch at once.

    Args:
        size: output (height, width), or one int for a square.
        scale: range of the crop's share of the image area.
        ratio: range of the crop's aspect ratio (width / height).
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
    ) -> None:
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if not 0 < scale[0] <= scale[1] or not 0 < ratio[0] <= ratio[1] or math.isinf(ratio[1]):
            raise DataError(
                f"BatchRandomResizedCrop needs 0 < low <= high for scale and ratio, got {scale}, {ratio}."
            )
        self.scale, self.ratio = tuple(scale), tuple(ratio)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        boxes = random_resized_crop_boxes(
            len(images), height, width, self.scale, self.ratio, device=images.device
        )
        return resized_crops(images, boxes, self.size)


class BatchRandomHorizontalFlip(BatchTransform):
    """Mirror each image left-right with probability ``p``, independently."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise DataError(f"BatchRandomHorizontalFlip needs 0 <= p <= 1, got {p}.")
        self.p = p

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        flip = torch.rand(len(images), device=images.device) < self.p
        return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)


def apply_batch_augment(images: torch.Tensor, augment: Sequence[BatchTransform]) -> torch.Tensor:
    """Run ``augment`` in order on a uint8 or float batch; returns float32 in [0, 1]."""
    out = images.float().div_(255) if images.dtype == torch.uint8 else images.float()
    for transform in augment:
        out = transform(out)
    return out
