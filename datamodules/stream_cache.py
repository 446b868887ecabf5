"""Decoded images streamed from LitData chunks with bounded memory: the path for data larger than memory.

One split's images are decoded once (the disk cache's key, folder and lock) into LitData's optimized chunk
format, in a fixed shuffled order, and read back by ``litdata.StreamingDataset``, which reads one item at
a time from the chunk files, so a process holds a few chunks' worth of images whatever the data set's size.

LitData rather than WebDataset or MosaicML Streaming: it is Lightning's own (its docs recommend it for
this); its ``StreamingDataLoader`` state goes into Lightning's checkpoints, so a streamed run resumes
mid-epoch; it shards by process and node by itself; the same reader takes a local folder or object storage.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from datamodules.disk_cache import (
    FORMAT,
    cache_key,
    cache_root,
    check_disk,
    decoded_bytes,
    human_size,
    read_meta,
    written_once,
)
from datamodules.errors import DataError
from datamodules.image_cache import iter_decoded
from datamodules.resumable import sample_seed

os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")  # no call to the package index at run time
from litdata import StreamingDataLoader, StreamingDataset, complete_dataset
from litdata.streaming.writer import BinaryWriter

__all__ = [  # StreamingDataLoader too: the data module takes LitData's names from here, imported when used
    "StreamEntry", "StreamedImages", "StreamedRows", "StreamingDataLoader", "stream_images", "stream_summary",
]  # fmt: skip

# LitData gives each loader worker its own share, so Lightning's caution about an iterable data set's length
# under several workers does not apply.
warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")

CHUNK_BYTES = "64MB"  # one chunk file: what a reader pages through at a time


@dataclass
class StreamEntry:
    folder: Path  # the chunks
    kept: list[int]  # positions in the input list that decoded
    skipped: dict[Path, str]  # file -> reason
    nbytes: int  # the decoded images' size


def _read(entry: Path, paths: Sequence[Path], nbytes: int) -> StreamEntry | None:
    found = read_meta(entry, paths)
    if found is None:
        return None
    _, kept, skipped = found
    return StreamEntry(entry, kept, skipped, nbytes)


def _chunk_writer(
    paths: Sequence[Path], size: tuple[int, int], keep_aspect: bool
) -> Callable[[Path], dict[str, Any]]:
    """What fills an entry with LitData chunks of ``{"index": position in paths, "image": uint8 (3, H, W)}``.

    The items are written in a seeded random order: a stream shuffles chunks and items within a chunk, so
    a folder sorted by class must not become class-sorted chunks.
    """

    def fill(folder: Path) -> dict[str, Any]:
        order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(0)).tolist()
        writer = BinaryWriter(str(folder), chunk_bytes=CHUNK_BYTES)
        skipped: dict[int, str] = {}
        written = 0
        for i, result in zip(order, iter_decoded([paths[i] for i in order], size, keep_aspect), strict=True):
            if isinstance(result, str):
                skipped[i] = result
            else:
                writer.add_item(written, {"index": i, "image": result})
                written += 1
        if written:  # else the entry only records what was skipped, and setup says no image is readable
            writer.done()
            complete_dataset(str(folder))  # the index, now: other processes wait on the lock, not on merge()
        return {"format": FORMAT, "files": len(paths), "skipped": skipped}

    return fill


def stream_images(
    paths: Sequence[Path],
    size: tuple[int, int],
    keep_aspect: bool = False,
    cache_dir: str | Path | None = None,
) -> StreamEntry:
    """LitData chunks of decoded ``paths`` (see ``decode_image``), written first if absent, under the disk
    cache's folder (``datamodules.disk_cache.cache_root``)."""
    nbytes = decoded_bytes(len(paths), size)
    root = cache_root(cache_dir)
    entry = root / f"{cache_key(paths, size, keep_aspect, mask=False)}-chunks"
    found = _read(entry, paths, nbytes)
    if found is not None:
        return found
    if not check_disk(root, nbytes):
        raise DataError(
            f"--data.cache stream: the decoded images take {human_size(nbytes)}, more than is free in "
            f"{root}: point --data.cache_dir at a larger disk."
        )
    return written_once(entry, lambda e: _read(e, paths, nbytes), _chunk_writer(paths, size, keep_aspect))


class StreamedImages(StreamingDataset):
    """One split's chunks as ``(uint8 image, label)`` samples, read one at a time.

    Each image's augmentation is seeded by the shuffle's seed, the epoch and the image, not by the global
    random state, so a resumed run (LitData's loader state in Lightning's checkpoint) replays the rest of
    the epoch exactly, whatever the number of workers.

    Args:
        entry: the split's chunks (``stream_images``).
        labels: the label of every input position (``item["index"]`` picks one).
        augment: per-image tensor transforms, run as each image is read.
        shuffle: a new order every epoch (chunks shuffled, then the items within each). Under several
            processes and nodes each iterates over its own equal share, the remainder left out.
        seed: the shuffle's seed; every process and node must pass the same one.
    """

    def __init__(
        self,
        entry: StreamEntry,
        labels: torch.Tensor,
        augment: v2.Transform | None = None,
        shuffle: bool = False,
        seed: int = 42,
    ) -> None:
        super().__init__(
            str(entry.folder), shuffle=shuffle, seed=seed, item_shuffle_window="full", batch_decode=False
        )
        self.entry, self.labels, self.augment = entry, labels, augment

    def __getitem__(self, index: Any) -> tuple[torch.Tensor, torch.Tensor]:
        item = super().__getitem__(index)
        image, position = item["image"], item["index"]
        if self.augment is None:
            return image, self.labels[position]
        with sample_seed(hash((self.seed, self.current_epoch, position))):
            return self.augment(image), self.labels[position]


class StreamedRows(Dataset):
    """Evaluation's view of a split's chunks: item ``i`` read from its chunk when asked for.

    Map-style, so under several processes Lightning's distributed sampler shares it out as it does the
    other caches (equal shares, every item read); a stream hands out whole chunks and can leave a process
    none.
    """

    def __init__(self, stream: StreamedImages) -> None:
        self.stream, self.entry = stream, stream.entry

    def __len__(self) -> int:
        return len(self.entry.kept)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.stream[index]


def stream_summary(entries: Sequence[StreamEntry]) -> str:
    """Where the streamed images live, in words (``data_summary``'s cache line)."""
    folders = sorted({str(e.folder.parent) for e in entries})
    size = sum(e.nbytes for e in entries) / 2**20
    return f"{', '.join(folders)} (LitData chunks, streamed), {size:.1f} MiB"
