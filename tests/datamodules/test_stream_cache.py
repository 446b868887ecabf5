"""Streaming from LitData chunks: the same images and labels as the other caches, written once, shuffled
across classes, picked when the images exceed memory, and read with bounded memory."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

import datamodules.image_folder as folder_module
from datamodules import ImageFolderDataModule, RMBDataModule
from tests.conftest import REPO, image_bytes


def _fingerprints(images: torch.Tensor, labels: torch.Tensor) -> list[tuple[str, int]]:
    return sorted(
        (hashlib.sha1(image.numpy().tobytes()).hexdigest(), int(label))
        for image, label in zip(images, labels, strict=True)
    )


def _epoch(loader) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    batches = list(loader)
    return (
        torch.cat([images for images, _ in batches]),
        torch.cat([labels for _, labels in batches]),
        [labels for _, labels in batches],
    )


def test_a_streamed_epoch_reads_every_training_image_once_in_mixed_batches(image_folder, monkeypatch) -> None:
    from datamodules import stream_cache

    monkeypatch.setattr(stream_cache, "CHUNK_BYTES", "4KB")  # about five images a chunk: many chunks
    data = image_folder(["1", "100"], per_class=40, name="images/train")  # listed class by class
    image_folder(["1", "100"], per_class=4, name="images/val")
    data = data.parent
    streamed = RMBDataModule(data, image_size=16, batch_size=8, cache="stream")
    streamed.setup("fit")
    mapped = RMBDataModule(data, image_size=16, batch_size=8)
    mapped.setup("fit")
    reference = mapped.dataset("train")
    loader = streamed.train_dataloader()
    images, labels, batches = _epoch(loader)
    assert images.dtype == torch.uint8 and images.shape[1:] == (3, 16, 16)
    assert _fingerprints(images, labels) == _fingerprints(reference.images, reference.targets)
    assert len(list(streamed.dataset("train").entry.folder.glob("*.bin"))) > 10
    mixed = sum(len(set(b.tolist())) == 2 for b in batches)
    assert mixed >= len(batches) - 1  # items are written shuffled: no chunk holds one class only
    second, _, _ = _epoch(loader)
    assert not torch.equal(second, images)  # a new order each epoch
    assert _fingerprints(images, labels) == _fingerprints(*_epoch(loader)[:2])
    val_images, val_labels, _ = _epoch(streamed.val_dataloader())
    val = mapped.dataset("val")
    assert _fingerprints(val_images, val_labels) == _fingerprints(val.images, val.targets)
    assert "LitData chunks, streamed" in streamed.data_summary("fit")["cache"]


def test_chunks_are_written_once_and_skip_unreadable_files(image_folder, decodes) -> None:
    data = image_folder(["1", "100"], per_class=10)
    (data / "1" / "img_003.jpg").write_bytes(b"")
    first = RMBDataModule(data, image_size=16, cache="stream")
    first.setup("fit")
    second = RMBDataModule(data, image_size=16, cache="stream")
    second.setup("fit")
    assert len(decodes) == 18  # train and val, once
    assert [p.name for p in second.skipped] == ["img_003.jpg"]
    assert second.skipped == first.skipped
    assert len(second.dataset("train")) + len(second.dataset("val")) == 17


def test_setup_streams_when_the_decoded_images_exceed_memory(image_folder, monkeypatch) -> None:
    data = image_folder(["1", "100"], per_class=10)  # 18 images of 768 bytes decoded at 16 x 16
    monkeypatch.setattr(folder_module, "available_memory", lambda: folder_module.SPARE + 1000)
    too_big = ImageFolderDataModule(data, image_size=16)
    too_big.setup("fit")
    assert "LitData chunks, streamed" in too_big.data_summary("fit")["cache"]
    monkeypatch.setattr(folder_module, "available_memory", lambda: folder_module.SPARE + 10**6)
    fits = ImageFolderDataModule(data, image_size=16)
    fits.setup("fit")
    assert "(memory-mapped)" in fits.data_summary("fit")["cache"]


def test_a_class_without_a_readable_image_is_named(tmp_path) -> None:
    root = tmp_path / "images"
    for name, count in (("1", 10), ("100", 2)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i}.jpg").write_bytes(image_bytes(0, i) if name == "1" else b"")
    with pytest.raises(Exception, match="No readable training image of class '100'"):
        RMBDataModule(root, image_size=16, cache="stream").setup("fit")


LIMITED_RUN = """
import resource, sys
from pathlib import Path
from lit_modules.cli import main
import datamodules.stream_cache  # LitData and what it imports, mapped before the limit is set

def mapped(key):
    return int(Path("/proc/self/status").read_text().split(key + ":")[1].split()[0]) * 1024

start = mapped("VmSize")
resource.setrlimit(resource.RLIMIT_AS, (start + int(sys.argv[1]),) * 2)
try:
    main(sys.argv[2:])
finally:
    print(f"mapped beyond start-up: {mapped('VmPeak') - start} bytes", flush=True)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
def test_a_data_set_twice_the_memory_limit_streams(tmp_path) -> None:
    """3 GiB of decoded images in a process limited to 1.5 GiB beyond start-up (``ulimit -v``, which counts
    every mapping): the default cache sees the limit and streams; memory-mapping or holding the images would
    need twice the limit. Asked to hold them in memory, setup refuses with the flag to set."""
    data = tmp_path / "images"
    for label, name in enumerate(("1", "100")):
        (data / name).mkdir(parents=True)
        for i in range(500):
            (data / name / f"{i:03d}.jpg").write_bytes(image_bytes(label, i, size=(1024, 1024)))
    decoded = 1000 * 3 * 1024 * 1024
    limit = decoded // 2
    args = [
        "fit", "--config", str(REPO / "configs" / "rmb_lenet.yaml"), "--data.data_dir", str(data),
        "--data.image_size", "1024", "--data.batch_size", "2", "--data.cache_dir", str(tmp_path / "cache"),
        "--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "10", "--trainer.limit_val_batches", "2",
        "--trainer.limit_test_batches", "2", "--trainer.enable_progress_bar", "false",
        "--trainer.logger", "false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}

    def run(*extra: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", LIMITED_RUN, str(limit), *args, *extra]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    try:
        streamed = run()
        output = streamed.stdout + streamed.stderr
        assert streamed.returncode == 0, output
        assert re.search(r"take 2.9 GiB, more than the 1.\d GiB of memory available: streaming", output)
        assert "LitData chunks, streamed" in output and "test/acc" in output
        grown = int(output.split("mapped beyond start-up: ")[1].split()[0])
        assert grown < limit  # the limit held, and the run never needed the data set's size
        held = run("--data.cache", "host")
        refused = held.stdout + held.stderr
        assert held.returncode != 0 and "Traceback" not in refused, refused
        assert "--data.cache host: the decoded images take" in refused, refused
    finally:
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)  # gigabytes: not left for pytest to keep


def test_masks_keep_the_memory_mapped_cache_when_larger_than_memory(tmp_path, monkeypatch) -> None:
    from datamodules import SegmentationDataModule
    from tests.conftest import write_portraits

    data = write_portraits(tmp_path / "portraits", count=8)
    monkeypatch.setattr(folder_module, "available_memory", lambda: folder_module.SPARE + 10)
    masks = SegmentationDataModule(data, image_size=16, batch_size=2, split=(0.5, 0.5, 0.0))
    masks.setup("fit")
    assert "(memory-mapped)" in masks.data_summary("fit")["cache"]


def test_streamed_augmentation_is_new_each_epoch_and_replays_within_one(image_folder) -> None:
    """The seed of an image's augmentation holds the epoch: the same image is cropped anew next epoch, and
    the same way again when its epoch is read again (as a resumed run reads it)."""
    from torchvision.transforms import v2

    data = image_folder(["1", "100"], per_class=6, name="images/train").parent
    image_folder(["1", "100"], per_class=2, name="images/val")
    streamed = RMBDataModule(data, image_size=16, batch_size=4, cache="stream")
    streamed.setup("fit")
    dataset = streamed.dataset("train")
    dataset.augment = v2.RandomCrop(16, padding=6)

    def views(epoch: int) -> list[torch.Tensor]:
        dataset.set_epoch(epoch)
        return [dataset[i][0] for i in range(6)]

    first = views(1)
    assert all(torch.equal(a, b) for a, b in zip(first, views(1), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, views(2), strict=True))
