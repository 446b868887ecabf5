"""Unlabelled face images (CelebA's ``img_align_celeba``, or any folder of images) for a GAN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader, DistributedSampler
from torchvision.datasets import CelebA

from datamodules.device_cache import CacheLocation, TensorRows, cache_device, passthrough
from datamodules.disk_cache import load_images
from datamodules.errors import DataError, DataLayoutError
from datamodules.global_batch import GlobalBatchSize
from datamodules.image_cache import cache_summary
from datamodules.splits import seeded_permutation
from datamodules.transforms import normalize_batch

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
IMAGE_SIZES = (32, 64, 128)
TO_TANH_RANGE = (0.5, 0.5, 0.5)  # (x - 0.5) / 0.5 maps [0, 1] to the generator's [-1, 1]


def find_images(data_dir: Path) -> list[Path]:
    """Every image file under ``data_dir`` (any depth), sorted, so the order is the same on every machine."""
    return sorted(
        p
        for p in data_dir.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


class FacesDataModule(GlobalBatchSize, pl.LightningDataModule):
    """Images without labels, decoded once (shorter side resized, centre cropped) and cached as uint8 on disk.

    Training batches are image tensors only, scaled to [-1, 1] on the device they land on. The validation
    set is a fixed, seeded sample of the same images: the real side of the model's image-quality distances.

    Args:
        data_dir: a folder of images, searched at any depth (e.g. CelebA's ``img_align_celeba``).
        image_size: side of the square images: 32, 64 or 128.
        batch_size: images per optimizer step, all devices together (under DDP each of N processes loads
            batch_size / N; it must divide).
        num_workers: loader worker processes (0 is fastest for cached tensors).
        cache: where the decoded images live: ``disk`` (decoded once into ``cache_dir``, then memory-mapped by
            every run and process), ``host`` (this process's memory), or ``device`` (the accelerator's memory
            when they take at most half of what is free, else memory-mapped): a batch is one indexing there.
        cache_dir: the disk cache's folder (default ``$HELLO_LIGHTNING_CACHE``, else
            ``~/.cache/hello-lightning``).
        max_images: use only the first ``max_images`` files (sorted by path), for quick runs.
        val_images: how many real images the quality distances compare against.
        seed: seed of the validation sample and of the training shuffle.
        download: fetch CelebA through ``torchvision.datasets.CelebA`` into ``data_dir`` when it holds no
            images (needs the ``gdown`` package and network access; Google Drive limits daily downloads).
    """

    def __init__(
        self,
        data_dir: str | Path = "data/faces",
        image_size: int = 64,
        batch_size: int = 64,
        num_workers: int = 0,
        max_images: int | None = None,
        val_images: int = 1000,
        seed: int = 42,
        download: bool = False,
        cache: CacheLocation = "disk",
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        if image_size not in IMAGE_SIZES:
            raise DataError(f"--data.image_size must be one of {IMAGE_SIZES}, got {image_size}.")
        if batch_size < 1:
            raise DataError(f"--data.batch_size must be a positive integer, got {batch_size}.")
        if max_images is not None and max_images < 1:
            raise DataError(f"--data.max_images must be a positive integer or null, got {max_images}.")
        if val_images < 2:
            raise DataError(
                f"--data.val_images must be at least 2 (two halves of real images), got {val_images}."
            )
        self.data_dir = Path(data_dir).expanduser()
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.max_images = max_images
        self.val_images = val_images
        self.seed = seed
        self.download = download
        self.cache, self.cache_dir = cache, cache_dir
        self._mapped_from: Path | None = None
        self.images: torch.Tensor | None = None
        self.val_indices: torch.Tensor | None = None
        self.skipped: dict[Path, str] = {}  # files that are no readable image, and why

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images, for the model to generate."""
        return (3, self.image_size, self.image_size)

    def prepare_data(self) -> None:
        if self.download and not (self.data_dir.is_dir() and find_images(self.data_dir)):
            rank_zero_info(f"Downloading CelebA into {self.data_dir} through torchvision ...")
            try:
                CelebA(str(self.data_dir), split="all", download=True)
            except Exception as err:  # no gdown, no network, or Google Drive's daily quota
                raise DataLayoutError(
                    f"Could not download CelebA into {self.data_dir}: {err}\nInstall gdown and retry later, "
                    "or fetch img_align_celeba.zip from the CelebA site by hand, unpack it and point "
                    "--data.data_dir at the img_align_celeba folder."
                ) from err

    def _files(self) -> list[Path]:
        if not self.data_dir.is_dir():
            raise DataLayoutError(
                f"Image folder {self.data_dir} does not exist. Point --data.data_dir at a folder of face "
                "images (e.g. CelebA's img_align_celeba/), or pass --data.download true to fetch CelebA."
            )
        files = find_images(self.data_dir)[: self.max_images]
        if not files:
            raise DataLayoutError(
                f"No image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {self.data_dir}. "
                "Point --data.data_dir at a folder of face images."
            )
        return files

    def setup(self, stage: str) -> None:
        self.check_batch_size()
        if self.images is not None:
            return
        size = (self.image_size, self.image_size)
        processes = getattr(self.trainer, "num_devices", 1) if self.trainer is not None else 1
        decoded, self._mapped_from = load_images(
            self._files(),
            size,
            keep_aspect=True,
            cache=self.cache,
            cache_dir=self.cache_dir,
            processes=processes,
        )
        images, self.skipped = decoded.images, decoded.skipped
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        self.images = images.to(cache_device(self.cache, device, images.nbytes))
        if len(self.images) < self.batch_size:
            raise DataLayoutError(
                f"{self.data_dir} has {len(self.images)} readable image(s), fewer than one batch of "
                f"{self.batch_size}: add images or lower --data.batch_size."
            )
        count = min(self.val_images, len(self.images))
        self.val_indices = torch.tensor(
            seeded_permutation(len(self.images), self.seed)[:count], device=self.images.device
        )

    def data_summary(self, stage: str) -> dict[str, Any]:
        """What ``setup`` prepared: images for training and for the validation metrics, their cache."""
        if self.images is None or self.val_indices is None:
            return {}
        return {
            "samples": {"train": len(self.images), "val": len(self.val_indices)},
            "cache": cache_summary([self.images], self._mapped_from),
            "skipped": self.skipped,
        }

    def _sampler(self) -> DistributedSampler:
        # Seeded by (seed, epoch) through Lightning's set_epoch: a resumed run sees the same batches.
        trainer = self.trainer
        return DistributedSampler(
            self.images,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
            shuffle=True,
            seed=self.seed,
            drop_last=True,
        )

    def train_dataloader(self) -> DataLoader:
        on_host = self.images.device.type == "cpu"
        workers = self.num_workers if on_host else 0  # an accelerator cache is indexed where it lives
        return DataLoader(
            TensorRows(self.images),
            batch_size=self.device_batch_size,
            sampler=self._sampler(),
            drop_last=True,  # BatchNorm and the D/G balance dislike a last batch of a few images
            collate_fn=passthrough,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=on_host and torch.cuda.is_available(),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            TensorRows(self.images[self.val_indices]),
            batch_size=self.device_batch_size,
            collate_fn=passthrough,
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return normalize_batch(batch, TO_TANH_RANGE, TO_TANH_RANGE)
