"""The shared image-folder data module: scan, validate, split, decode once, augment tensors, load."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate
from torchvision.transforms import v2

from datamodules.device_cache import FolderCacheLocation, cache_device, passthrough
from datamodules.disk_cache import SPARE, available_memory, decoded_bytes, human_size, load_images
from datamodules.download import download_and_extract
from datamodules.errors import DataError, DataLayoutError
from datamodules.global_batch import GlobalBatchSize
from datamodules.gpu_augment import BatchTransform, apply_batch_augment
from datamodules.image_cache import DecodedImages, cache_summary
from datamodules.layouts import Sample, scan_image_folder
from datamodules.resumable import ResumableTraining, sample_seed, seeded
from datamodules.splits import check_fractions, stratified_split
from datamodules.transforms import IMAGENET_MEAN, IMAGENET_STD, compose, denormalize, normalize_batch


class CachedImages(Dataset):
    """Decoded uint8 images with labels (or indices, for prediction) and an optional tensor augmentation.

    A key ``(index, seed)`` augments that sample with its own seed, leaving the global random state alone.
    Without an augmentation a batch is one indexing of the cached tensors (``__getitems__``), wherever they
    are (host or accelerator memory).
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, augment: v2.Transform | None = None):
        self.images, self.targets, self.augment = images, targets, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = seeded(key)
        image, target = self.images[index], self.targets[index]
        if self.augment is None:
            return image, target
        with sample_seed(seed):
            return self.transform(image, target)

    def transform(self, image: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment one sample; data sets whose targets move with the image (masks) override this."""
        return self.augment(image), target

    def __getitems__(self, keys: list[int | tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.augment is not None:
            return default_collate([self[key] for key in keys])
        index = torch.tensor([seeded(key)[0] for key in keys], device=self.images.device)
        return self.images[index], self.targets[index]

    def to(self, device: torch.device) -> CachedImages:
        self.images, self.targets = self.images.to(device), self.targets.to(device)
        return self


STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}


def _as_size(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


class ImageFolderDataModule(GlobalBatchSize, ResumableTraining, pl.LightningDataModule):
    """Images in class folders (or pre-split, or flat ``<class>.<n>.jpg``), decoded once per data set into a
    disk cache that every later run and process memory-maps (``datamodules.disk_cache``).

    Batches leave the loader as uint8 and are normalized on the device they land on.

    Args:
        data_dir: the data set's folder (see ``datamodules.layouts`` for the layouts understood).
        class_names: label order; ``None`` takes the sorted folder names.
        image_size: the size images are decoded to and cached at (int or (height, width)).
        keep_aspect: resize the shorter side and crop the centre instead of squashing to ``image_size``.
        batch_size: samples per optimizer step, all devices together (under DDP each of N processes loads
            batch_size / N; it must divide).
        num_workers: loader worker processes (augmentation runs there; 0 is fast for small images).
        cache: where the decoded images live: ``disk`` (decoded once into ``cache_dir``, then memory-mapped:
            one copy per machine, shared by its processes and later runs; streamed as with ``stream`` when
            they take more than the memory available), ``stream`` (decoded once into LitData chunks in
            ``cache_dir``, then read one image at a time: bounded memory for data larger than memory; see
            ``datamodules.stream_cache``), ``host`` (this process's memory, decoded each run), or ``device``
            (from the disk cache onto the accelerator when they take at most half of its free memory, else
            memory-mapped). From an accelerator cache a batch is one indexing on the device, with no worker
            and no copy; use ``batch_augment`` then, since ``augment`` runs per image on the host.
        cache_dir: the disk cache's folder (default ``$HELLO_LIGHTNING_CACHE``, else
            ``~/.cache/hello-lightning``).
        split: train/val/test fractions for data that is not pre-split (missing pre-split parts too).
        seed: seed of the deterministic split.
        augment: tensor transforms applied to each uint8 training image (e.g. ``torchvision.transforms.v2``).
        eval_transform: tensor transforms applied to each val/test/predict image (e.g. a centre crop).
        batch_augment: random transforms of whole training batches on the device they land on, each sample
            with its own parameters (``datamodules.gpu_augment``, e.g. ``BatchRandomResizedCrop``).
        mean: per-channel mean for normalization.
        std: per-channel standard deviation for normalization.
        predict_dir: a folder of images to classify with ``predict``.
        allow_flat: also accept flat ``<class>.<n>.jpg`` files.
        download: fetch ``url`` into ``data_dir`` and unpack it there (in ``prepare_data``).
        url: the data set's archive.
        sha256: the archive's checksum; a download that does not match is deleted.
    """

    def __init__(
        self,
        data_dir: str | Path,
        class_names: list[str] | None = None,
        image_size: int | tuple[int, int] = 32,
        keep_aspect: bool = False,
        batch_size: int = 16,
        num_workers: int = 0,
        split: tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 42,
        augment: list[v2.Transform] | None = None,
        eval_transform: list[v2.Transform] | None = None,
        batch_augment: list[BatchTransform] | None = None,
        cache: FolderCacheLocation = "disk",
        cache_dir: str | Path | None = None,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        predict_dir: str | Path | None = None,
        allow_flat: bool = False,
        download: bool = False,
        url: str | None = None,
        sha256: str | None = None,
    ) -> None:
        super().__init__()
        if download and not url:
            raise DataError("--data.download true needs --data.url (the archive to fetch).")
        if batch_size < 1:
            raise DataError(f"--data.batch_size must be a positive integer, got {batch_size}.")
        self.data_dir = Path(data_dir).expanduser()
        self.image_size = _as_size(image_size)
        self.keep_aspect = keep_aspect
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.split = check_fractions(split)
        self.seed = seed
        self.augment = compose(augment)
        self.eval_transform = compose(eval_transform)
        self.batch_augment = list(batch_augment or [])
        self.cache, self.cache_dir = cache, cache_dir
        self._mapped_from: Path | None = None  # the disk cache folder images are memory-mapped from
        self._streamed: bool | None = None  # whether the splits stream from LitData chunks (set at setup)
        self.mean, self.std = tuple(mean), tuple(std)
        self.predict_dir = Path(predict_dir).expanduser() if predict_dir else None
        self.allow_flat = allow_flat
        self.download, self.url, self.sha256 = download, url, sha256
        self._fixed_class_names = list(class_names) if class_names else None
        self._scanned = None  # the folder's listing, once read (see _scan)
        self._splits: dict[str, Dataset] = {}  # CachedImages, or StreamedImages when streamed
        self.predict_inputs: list[str] = []
        self.skipped: dict[Path, str] = {}  # files that are no readable image, and why

    def prepare_data(self) -> None:
        if self.download and self.url:
            download_and_extract(self.url, self.data_dir, self.sha256)

    @property
    def class_names(self) -> list[str]:
        """Label order, from the constructor or the folder names (a cheap listing, no decoding)."""
        if self._fixed_class_names is None:
            self._fixed_class_names = self._scan().class_names
        return self._fixed_class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One image's ``(C, H, W)`` as the model gets it (after ``eval_transform``), linked to the model."""
        probe = torch.zeros(3, *self.image_size, dtype=torch.uint8)
        return tuple((self.eval_transform(probe) if self.eval_transform else probe).shape)

    def _scan(self):
        """The folder, scanned once per data module: class names, the split and the skipped-files warning
        all read this one listing."""
        if self._scanned is None:
            self._scanned = self._scan_folder()
        return self._scanned

    def _scan_folder(self):
        return scan_image_folder(self.data_dir, self._fixed_class_names, allow_flat=self.allow_flat)

    def split_samples(self) -> dict[str, list[Sample]]:
        """Train/val/test samples: the folders' own split where given, else a seeded stratified one."""
        scanned = self._scan()
        if not scanned.splits:
            return self._carve(scanned.unsplit, self.split)
        splits = dict(scanned.splits)
        # Parts the folders lack are carved deterministically: val from train, test from val.
        if "val" not in splits and "test" not in splits:
            return self._carve(splits["train"], self.split)
        if "val" not in splits:
            val_fraction = self.split[1] / (self.split[0] + self.split[1])
            splits["train"], splits["val"] = self._carve(
                splits["train"], (1 - val_fraction, val_fraction)
            ).values()
        if "test" not in splits:
            splits["val"], splits["test"] = self._carve(splits["val"], (0.5, 0.5)).values()
        return splits

    def _carve(self, samples: list[Sample], fractions: Sequence[float]) -> dict[str, list[Sample]]:
        parts = stratified_split(samples, [s.label for s in samples], fractions, self.seed)
        return dict(zip(("train", "val", "test"), parts, strict=False))

    def _load(self, paths: list[Path], mask: bool = False) -> DecodedImages:
        """Decoded ``paths`` from the cache chosen by ``--data.cache`` (written first where absent)."""
        trainer = self.trainer
        processes = getattr(trainer, "num_devices", 1) if trainer is not None else 1  # on this machine
        decoded, mapped_from = load_images(
            paths, self.image_size, self.keep_aspect, mask, self.cache, self.cache_dir, processes
        )
        self._mapped_from = mapped_from or self._mapped_from
        self.skipped.update(decoded.skipped)
        return decoded

    streamable = True  # class folders stream; masks and boxes keep the memory-mapped cache

    def _streams(self, samples: dict[str, list[Sample]]) -> bool:
        """Whether to stream: asked for, or (with the disk cache) the data set is larger than the memory."""
        if not self.streamable:
            return False
        if self.cache != "disk":
            return self.cache == "stream"
        nbytes = decoded_bytes(sum(map(len, samples.values())), self.image_size)
        free = available_memory()
        if free is None or nbytes + SPARE <= free:
            return False
        rank_zero_info(
            f"The decoded images take {human_size(nbytes)}, more than the {human_size(free)} of memory "
            "available: streaming them from LitData chunks (as --data.cache stream)."
        )
        return True

    def _check_classes(self, labels: list[int], stage: str) -> None:
        present = set(labels)
        missing = [name for label, name in enumerate(self.class_names) if label not in present]
        if stage == "train" and missing:
            raise DataLayoutError(f"No readable training image of class '{missing[0]}' in {self.data_dir}.")

    def _decode(self, samples: list[Sample], stage: str) -> Dataset:
        augment = self.augment if stage == "train" else self.eval_transform
        if self._streamed:  # LitData is imported only where a run streams
            from datamodules.stream_cache import StreamedImages, StreamedRows, stream_images

            paths = [s.path for s in samples]
            entry = stream_images(paths, self.image_size, self.keep_aspect, self.cache_dir)
            self.skipped.update(entry.skipped)
            self._check_classes([samples[i].label for i in entry.kept], stage)
            if not entry.kept:
                raise DataLayoutError(f"No readable image in the {stage} split of {self.data_dir}.")
            labels = torch.tensor([s.label for s in samples], dtype=torch.long)
            stream = StreamedImages(entry, labels, augment, shuffle=stage == "train", seed=self.seed)
            return stream if stage == "train" else StreamedRows(stream)
        decoded = self._load([s.path for s in samples])
        labels = torch.tensor([samples[i].label for i in decoded.kept], dtype=torch.long)
        self._check_classes(labels.tolist(), stage)
        return CachedImages(decoded.images, labels, augment)

    def setup(self, stage: str) -> None:
        if stage == "predict":
            self._setup_predict()
            return
        self.check_batch_size()
        wanted = [name for name in STAGE_SPLITS[stage] if name not in self._splits]
        if not wanted:
            return
        samples = self.split_samples()
        if self._streamed is None:
            self._streamed = self._streams(samples)
        for name in wanted:  # only what this stage reads: `test` decodes no training image
            if not samples[name]:
                raise DataLayoutError(
                    f"The {name} split of {self.data_dir} is empty: add images or change --data.split."
                )
            self._splits[name] = self._decode(samples[name], name)
        if self._streamed:
            return
        nbytes = sum(self._splits[name].images.nbytes for name in wanted)
        device = cache_device(self.cache, self._training_device(), nbytes)
        for name in wanted:
            self._splits[name].to(device)

    def _training_device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _setup_predict(self) -> None:
        if self.predict_dir is None or not self.predict_dir.is_dir():
            raise DataLayoutError(
                f"predict needs --data.predict_dir pointing at a folder of images, got {self.predict_dir}."
            )
        paths = sorted(p for p in self.predict_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
        decoded = self._load(paths)
        if not decoded.kept:
            raise DataLayoutError(f"No readable image in {self.predict_dir}.")
        self.predict_inputs = [str(paths[i]) for i in decoded.kept]
        indices = torch.arange(len(decoded.kept))
        self._splits["predict"] = CachedImages(decoded.images, indices, self.eval_transform)

    def data_summary(self, stage: str) -> dict[str, Any]:
        """What ``setup(stage)`` prepared: classes, images per split, their cache, the files skipped."""
        ready = {n: self._splits[n] for n in STAGE_SPLITS.get(stage, (stage,)) if n in self._splits}
        if self._streamed and stage != "predict":
            from datamodules.stream_cache import stream_summary

            cache = stream_summary([data.entry for data in ready.values()])
        else:
            cache = cache_summary([data.images for data in ready.values()], self._mapped_from)
        return {
            "classes": self.class_names,
            "samples": {name: len(data) for name, data in ready.items()},
            "cache": cache,
            "skipped": self.skipped,
        }

    def dataset(self, split: str) -> Dataset:
        if split not in self._splits:
            raise RuntimeError(f"The {split} split is not set up: call setup() first.")
        return self._splits[split]

    def _loader_args(self, split: str) -> dict[str, Any]:
        data = self.dataset(split)
        on_host = not isinstance(data, CachedImages) or data.images.device.type == "cpu"
        workers = self.num_workers if on_host else 0  # an accelerator cache is indexed where it lives
        return {
            "batch_size": self.device_batch_size,
            "num_workers": workers,
            "persistent_workers": workers > 0,
            "pin_memory": on_host and torch.cuda.is_available(),
        }

    def _loader(self, split: str) -> DataLoader:
        data = self.dataset(split)
        if isinstance(data, IterableDataset):  # streamed: LitData's loader, whose state Lightning saves
            from datamodules.stream_cache import StreamingDataLoader

            return StreamingDataLoader(data, **self._loader_args(split))
        collate = passthrough if isinstance(data, CachedImages) else None  # a cache indexes whole batches
        return DataLoader(data, collate_fn=collate, **self._loader_args(split))

    def train_dataloader(self) -> DataLoader:
        data = self.dataset("train")
        if not isinstance(data, CachedImages):
            return self._loader("train")
        args = self._loader_args("train")
        return self.resumable_loader(data, sample_seeds=True, collate_fn=passthrough, **args)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if isinstance(batch, torch.Tensor):  # the model's example input (summary, TensorBoard's graph)
            return normalize_batch(batch, self.mean, self.std)
        images, targets = batch
        if self.batch_augment and self.trainer is not None and self.trainer.training:
            images, targets = self.augment_batch(images, targets)
        return normalize_batch(images, self.mean, self.std), targets.long()  # classes, mask values or indices

    def augment_batch(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``--data.batch_augment`` on a training batch, on its device: the images change, classes stay."""
        return apply_batch_augment(images, self.batch_augment), targets

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Normalized batches back into [0, 1] images, for showing them (the views use this)."""
        return denormalize(images, self.mean, self.std)
