"""Images with segmentation masks: the image-folder data module for (photo, mask) pairs moved together."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

from datamodules.device_cache import CacheLocation
from datamodules.errors import DataError
from datamodules.gpu_augment import BatchTransform, apply_batch_augment
from datamodules.image_folder import CachedImages, ImageFolderDataModule
from datamodules.layouts import DataLayoutError
from datamodules.mask_layouts import MaskedSample, ScannedPairs, scan_mask_folder
from datamodules.splits import split_parts
from datamodules.transforms import IMAGENET_MEAN, IMAGENET_STD


class CachedPairs(CachedImages):
    """Decoded uint8 images (N, 3, H, W) with their masks (N, H, W): an augmentation moves both.

    Geometric v2 transforms (flips, crops, rotations) apply to image and mask alike, the mask with nearest
    neighbours; colour transforms touch the image only (``tv_tensors.Mask``).
    """

    def transform(self, image: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.augment(tv_tensors.Image(image), tv_tensors.Mask(target))
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)


def moved_together(
    images: torch.Tensor, masks: torch.Tensor, augment: Sequence[BatchTransform], num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run geometric batch transforms on images and masks at once: float images in [0, 1], long masks.

    The masks ride along as extra channels, one per class (one for a binary mask), so each sample's crop or
    flip is the same for both; the resampled masks are read back by threshold or argmax.
    """
    if num_classes == 1:
        channels = masks[:, None].float()
    else:
        channels = F.one_hot(masks.long(), num_classes).permute(0, 3, 1, 2).float()
    out = apply_batch_augment(torch.cat([images.float().div_(255), channels], dim=1), augment)
    images, channels = out[:, :3], out[:, 3:]
    masks = (channels[:, 0] > 0.5).long() if num_classes == 1 else channels.argmax(dim=1)
    return images, masks


class SegmentationDataModule(ImageFolderDataModule):
    """Photos and their masks (see ``datamodules.mask_layouts`` for the layouts), decoded once (disk cache).

    Binary masks (``class_names`` not given): every non-zero pixel is foreground, as the course's mattes.
    Index masks (``class_names`` given): pixel value i is class i. Batches are (normalized float images,
    long masks (N, H, W)); for ``predict``, (images, input indices). Images and masks are resized to
    ``image_size`` as they are (not cropped), so a predicted mask maps back onto the whole photo.

    Args:
        data_dir: the data set's folder.
        class_names: names of the mask values 0, 1, ... for index masks; ``None`` for binary masks.
        image_size: the size images and masks are decoded to and cached at (int or (height, width)).
        batch_size: samples per optimizer step, all devices together.
        num_workers: loader worker processes (per-sample ``augment`` runs there).
        split: train/val/test fractions for data that is not pre-split (missing pre-split parts too).
        seed: seed of the deterministic split.
        augment: v2 transforms of each training (image, mask) pair, on uint8 tensors on the host.
        batch_augment: geometric transforms of whole training batches on the device they land on
            (``datamodules.gpu_augment``); the masks move with the images.
        cache: where the decoded images live: ``disk`` (memory-mapped), ``host`` memory, or the training
            ``device`` when they fit (see ``ImageFolderDataModule``).
        cache_dir: the disk cache's folder (default ``$HELLO_LIGHTNING_CACHE``, else
            ``~/.cache/hello-lightning``).
        mean: per-channel mean for normalization.
        std: per-channel standard deviation for normalization.
        predict_dir: a folder of images to segment with ``predict``.
    """

    streamable = False

    def __init__(
        self,
        data_dir: str | Path,
        class_names: list[str] | None = None,
        image_size: int | tuple[int, int] = 128,
        batch_size: int = 8,
        num_workers: int = 0,
        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 42,
        augment: list[v2.Transform] | None = None,
        batch_augment: list[BatchTransform] | None = None,
        cache: CacheLocation = "disk",
        cache_dir: str | Path | None = None,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        predict_dir: str | Path | None = None,
    ) -> None:
        if class_names is not None and len(class_names) < 2:
            raise DataError(
                f"--data.class_names names every mask value (background first), got {class_names}; "
                "leave it out for binary masks."
            )
        super().__init__(
            data_dir=data_dir, class_names=class_names, image_size=image_size, batch_size=batch_size,
            num_workers=num_workers, split=split, seed=seed, augment=augment, batch_augment=batch_augment,
            cache=cache, cache_dir=cache_dir, mean=mean, std=std, predict_dir=predict_dir,
        )  # fmt: skip

    @property
    def class_names(self) -> list[str] | None:
        """Names of the mask values of index masks; ``None`` for binary masks."""
        return self._fixed_class_names

    @property
    def num_classes(self) -> int:
        """Output maps the network needs: 1 for binary masks, else one per class."""
        return 1 if self.class_names is None else len(self.class_names)

    def _scan_folder(self) -> ScannedPairs:
        return scan_mask_folder(self.data_dir)

    def _carve(
        self, samples: list[MaskedSample], fractions: Sequence[float]
    ) -> dict[str, list[MaskedSample]]:
        return split_parts(samples, fractions, self.seed)

    def _decode(self, samples: list[MaskedSample], stage: str) -> CachedPairs:
        images = self._load([s.image for s in samples])
        masks = self._load([s.mask for s in samples], mask=True)
        kept = sorted(set(images.kept) & set(masks.kept))  # a pair with an unreadable file is skipped
        if kept == images.kept:  # every photo is used: keep its rows where they are (memory-mapped)
            photos = images.images
        else:
            photos = images.images[torch.tensor([images.kept.index(i) for i in kept], dtype=torch.long)]
        values = masks.images[[masks.kept.index(i) for i in kept], 0]
        if self.class_names is None:
            values = (values > 0).to(torch.uint8)
        elif len(values) and int(values.max()) >= self.num_classes:
            worst = samples[kept[int(values.flatten(1).amax(1).argmax())]].mask
            raise DataLayoutError(
                f"Mask {worst} has value {int(values.max())}, but --data.class_names names only "
                f"{self.num_classes} classes (values 0 to {self.num_classes - 1})."
            )
        return CachedPairs(photos, values, self.augment if stage == "train" else None)

    def augment_batch(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``--data.batch_augment`` on a training batch, on its device: each mask moves with its photo."""
        return moved_together(images, masks, self.batch_augment, self.num_classes)
