"""Photos with object boxes: the image-folder data module for detection, boxes moved with their photo."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from datamodules.box_layouts import BoxedSample, ScannedBoxes, scan_box_folder
from datamodules.device_cache import CacheLocation
from datamodules.image_folder import CachedImages, ImageFolderDataModule
from datamodules.splits import split_parts

Target = dict[str, torch.Tensor]  # "boxes": float (K, 4) x1, y1, x2, y2 in pixels; "labels": long (K,)


def photo_sizes(paths: Sequence[Path]) -> list[tuple[int, int]]:
    """(width, height) of each photo, from its header (nothing is decoded)."""
    sizes = []
    for path in paths:
        with Image.open(path) as img:
            sizes.append(img.size)
    return sizes


def scaled_target(sample: BoxedSample, size: tuple[int, int], image_size: tuple[int, int]) -> Target:
    """The sample's boxes resized with its photo from ``size`` (w, h) to ``image_size`` (h, w); boxes left
    narrower or lower than a pixel are dropped."""
    boxes = torch.tensor(sample.boxes, dtype=torch.float32).reshape(-1, 4)
    scale = torch.tensor([image_size[1] / size[0], image_size[0] / size[1]] * 2)
    boxes = (boxes * scale).clamp_min(0).minimum(torch.tensor([image_size[1], image_size[0]] * 2))
    keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    return {"boxes": boxes[keep], "labels": torch.tensor(sample.labels, dtype=torch.long)[keep]}


class CachedBoxes(CachedImages):
    """Decoded uint8 images (N, 3, H, W) with one target dict each; a batch is a list of images and a list
    of targets (images may differ in size after a crop or scale jitter).

    An augmentation moves the boxes with the image (``tv_tensors.BoundingBoxes``): flips and crops shift
    and cut them, colour changes leave them; ``SanitizeBoundingBoxes`` then drops the boxes that became
    degenerate, with their labels.
    """

    def __init__(self, images: torch.Tensor, targets: list[Target], augment: v2.Transform | None = None):
        if augment is not None:
            augment = v2.Compose([augment, v2.SanitizeBoundingBoxes(min_size=1)])
        super().__init__(images, targets, augment)  # type: ignore[arg-type]

    def transform(self, image: torch.Tensor, target: Target) -> tuple[torch.Tensor, Target]:
        boxes = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=tuple(image.shape[-2:]))
        image, moved = self.augment(tv_tensors.Image(image), {"boxes": boxes, "labels": target["labels"]})
        return image.as_subclass(torch.Tensor), {
            "boxes": moved["boxes"].as_subclass(torch.Tensor),
            "labels": moved["labels"],
        }

    def __getitems__(self, keys: list[int | tuple[int, int]]) -> tuple[list[torch.Tensor], list[Target]]:
        images, targets = zip(*(self[key] for key in keys), strict=True)
        return list(images), list(targets)

    def to(self, device: torch.device) -> CachedBoxes:
        self.images = self.images.to(device)
        self.targets = [{k: v.to(device) for k, v in t.items()} for t in self.targets]
        return self


class DetectionDataModule(ImageFolderDataModule):
    """Photos and their boxes (see ``datamodules.box_layouts`` for the layouts), decoded once per data set.

    Every photo is resized to ``image_size`` with its boxes. Batches are ``(images, targets)``: a list of
    float (3, H, W) images in [0, 1] (torchvision's detection models normalize inside) and a list of
    ``{"boxes", "labels"}`` dicts, as those models take them; for ``predict``, ``(images, input indices)``.
    ``class_names`` starts with ``background`` (label 0), so ``num_classes`` counts it, as torchvision's
    detection models do.

    Args:
        data_dir: the data set's folder.
        image_size: the size photos are decoded to and cached at (int or (height, width)).
        batch_size: photos per optimizer step, all devices together.
        num_workers: loader worker processes (``augment`` runs there).
        split: train/val/test fractions, cut after a seeded shuffle.
        seed: seed of the deterministic split.
        augment: v2 transforms of each training photo with its boxes (flips, crops, scale jitter,
            photometric changes), on uint8 tensors; degenerate boxes are then removed.
        cache: where the decoded images live: ``disk`` (decoded once into ``cache_dir``, then memory-mapped
            by every run), ``host`` memory (decoded every run) or the training ``device`` when they fit.
        cache_dir: the disk cache's folder (default ``$HELLO_LIGHTNING_CACHE``, else
            ``~/.cache/hello-lightning``).
        predict_dir: a folder of photos to detect objects in with ``predict``.
    """

    streamable = False

    def __init__(
        self,
        data_dir: str | Path,
        image_size: int | tuple[int, int] = 320,
        batch_size: int = 4,
        num_workers: int = 0,
        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 42,
        augment: list[v2.Transform] | None = None,
        cache: CacheLocation = "disk",
        cache_dir: str | Path | None = None,
        predict_dir: str | Path | None = None,
    ) -> None:
        super().__init__(
            data_dir=data_dir, image_size=image_size, batch_size=batch_size, num_workers=num_workers,
            split=split, seed=seed, augment=augment, cache=cache, cache_dir=cache_dir,
            predict_dir=predict_dir,
        )  # fmt: skip
        self.predict_sizes: list[tuple[int, int]] = []  # (width, height) of each predict input

    def _scan_folder(self) -> ScannedBoxes:
        return scan_box_folder(self.data_dir)

    @property
    def class_names(self) -> list[str]:
        """``background`` and the object classes, label 0, 1, ..."""
        return self._scan().class_names

    def _carve(self, samples: list[BoxedSample], fractions: Sequence[float]) -> dict[str, list[BoxedSample]]:
        return split_parts(samples, fractions, self.seed)

    def _decode(self, samples: list[BoxedSample], stage: str) -> CachedBoxes:
        decoded = self._load([s.image for s in samples])
        kept = [samples[i] for i in decoded.kept]
        sizes = photo_sizes([s.image for s in kept])
        targets = [scaled_target(s, size, self.image_size) for s, size in zip(kept, sizes, strict=True)]
        return CachedBoxes(decoded.images, targets, self.augment if stage == "train" else None)

    def _setup_predict(self) -> None:
        super()._setup_predict()
        self.predict_sizes = photo_sizes([Path(p) for p in self.predict_inputs])

    def data_summary(self, stage: str) -> dict[str, Any]:
        summary = super().data_summary(stage)
        for name in summary["samples"]:
            data = self._splits[name]
            if isinstance(data, CachedBoxes):
                summary["samples"][name] = f"{len(data)} ({sum(len(t['boxes']) for t in data.targets)} boxes)"
        return summary

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, targets = batch
        return [F.to_dtype(image, torch.float32, scale=True) for image in images], targets

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Batches are [0, 1] images already (the detection models normalize inside)."""
        return images.clamp(0, 1)
