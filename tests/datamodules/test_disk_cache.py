"""The on-disk decoded cache: reused across runs and commands, keyed by its files, safe against two writers
and a killed one, sized before it is written."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch

from datamodules import ImageFolderDataModule, RMBDataModule, disk_cache
from datamodules.disk_cache import cache_root, load_images
from datamodules.errors import DataError
from datamodules.image_cache import decode_images
from tests.conftest import REPO, image_bytes

RMB = str(REPO / "configs" / "rmb_lenet.yaml")


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir())


def _jpegs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:04d}.jpg").write_bytes(image_bytes(i % 3, i))
    return sorted(folder.iterdir())


def test_fit_then_test_then_predict_decode_each_file_once(image_folder, run_cli, decodes, tmp_path) -> None:
    data = image_folder(["1", "100"], per_class=10)
    cache = tmp_path / "my_cache"
    common = ["--config", RMB, "--data.data_dir", str(data), "--data.cache_dir", str(cache)]
    run_cli("fit", *common, "--trainer.max_epochs", "1", "--test_after_fit", "false")
    assert len(decodes) == 18  # train and val
    run_cli("test", *common, "--ckpt_path", "best")
    assert len(decodes) == 20  # the test split, new to the cache
    run_cli("fit", *common, "--trainer.max_epochs", "1", "--model.optimizer.init_args.lr", "0.01")
    run_cli("predict", *common, "--ckpt_path", "best", "--data.predict_dir", str(data / "1"))
    assert len(decodes) == 30  # a second fit and its test decode nothing; predict its own 10 files
    assert len(_entries(cache)) == 4  # train, val, test, predict


def test_a_second_data_module_maps_the_same_images(image_folder, decodes) -> None:
    data = image_folder(["1", "100"], per_class=10)
    first = RMBDataModule(data, image_size=16)
    first.setup("fit")
    second = RMBDataModule(data, image_size=16)
    second.setup("fit")
    assert len(decodes) == 18
    in_memory = RMBDataModule(data, image_size=16, cache="host")
    in_memory.setup("fit")
    for split in ("train", "val"):
        torch.testing.assert_close(
            second.dataset(split).images, in_memory.dataset(split).images, atol=0, rtol=0
        )
        assert torch.equal(second.dataset(split).targets, in_memory.dataset(split).targets)
    assert "(memory-mapped)" in second.data_summary("fit")["cache"]
    assert in_memory.data_summary("fit")["cache"].startswith("host memory")


def test_the_key_covers_image_size_and_resize_mode(tmp_path, decodes) -> None:
    paths = _jpegs(tmp_path / "photos", 4)
    load_images(paths, (8, 8))
    load_images(paths, (8, 8))
    assert len(decodes) == 4
    load_images(paths, (8, 12))
    load_images(paths, (8, 8), keep_aspect=True)
    load_images(paths, (8, 8), mask=True)
    assert len(decodes) == 16


def test_a_changed_file_is_decoded_again(tmp_path, decodes) -> None:
    paths = _jpegs(tmp_path / "photos", 6)
    before, _ = load_images(paths, (8, 8))
    paths[2].write_bytes(image_bytes(0, 0, size=(60, 60)))  # new content, size and modification time
    os.utime(paths[2], ns=(time.time_ns(), time.time_ns() + 10**9))
    after, _ = load_images(paths, (8, 8))
    assert len(decodes) == 12  # the stale entry is not read
    torch.testing.assert_close(after.images, decode_images(paths, (8, 8)).images, atol=0, rtol=0)
    assert not torch.equal(after.images[2], before.images[2])
    paths[5].unlink()  # a removed file changes the key too
    assert load_images(paths[:5], (8, 8))[0].images.shape[0] == 5


def test_unreadable_files_are_skipped_in_the_cache_too(tmp_path) -> None:
    paths = _jpegs(tmp_path / "photos", 3)
    (tmp_path / "photos" / "0001.jpg").write_bytes(b"")
    first, _ = load_images(paths, (8, 8))
    again, _ = load_images(paths, (8, 8))
    assert again.kept == first.kept == [0, 2]
    assert again.skipped == first.skipped == {paths[1]: "empty file"}
    assert again.images.shape == (2, 3, 8, 8)


def test_the_cached_file_is_never_written_through(tmp_path) -> None:
    paths = _jpegs(tmp_path / "photos", 3)
    first, root = load_images(paths, (8, 8))
    original = first.images.clone()
    first.images.zero_()  # copy on write: this process's pages only
    again, _ = load_images(paths, (8, 8))
    assert torch.equal(again.images, original)
    assert root == tmp_path / "image_cache"


def test_a_half_written_or_damaged_entry_is_rebuilt(tmp_path, decodes) -> None:
    paths = _jpegs(tmp_path / "photos", 4)
    reference, root = load_images(paths, (8, 8))
    reference = reference.images.clone()  # its pages change with the file
    entry = _entries(root)[0]
    with open(entry / "images.u8", "r+b") as data:
        data.truncate(100)
    again, _ = load_images(paths, (8, 8))
    assert len(decodes) == 8
    assert torch.equal(again.images, reference)


WRITER = """
import sys, time
from pathlib import Path
from datamodules import disk_cache, image_cache
original = image_cache.decode_image
decoded = []
def slow(path, *args, **kwargs):
    time.sleep(float(sys.argv[2]))
    decoded.append(path)
    return original(path, *args, **kwargs)
image_cache.decode_image = slow
images, _ = disk_cache.load_images(sorted(Path(sys.argv[1]).iterdir()), (8, 8))
print(len(decoded), int(images.images.sum()))
"""


def _writer(folder: Path, delay: float) -> subprocess.Popen:
    """Another process decoding ``folder`` into the cache, ``delay`` seconds per image; started once it is
    writing."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", WRITER, str(folder), str(delay)]
    writer = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(cache_root().glob("*.partial")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return writer


def test_a_writer_killed_midway_leaves_nothing_that_is_trusted(tmp_path, decodes) -> None:
    paths = _jpegs(tmp_path / "photos", 40)
    writer = _writer(tmp_path / "photos", 0.2)
    time.sleep(0.5)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert list(cache_root().glob("*.partial")), "the writer was killed while writing"
    images, root = load_images(paths, (8, 8))  # the lock died with its holder
    assert len(decodes) == 40
    assert torch.equal(images.images, decode_images(paths, (8, 8)).images)
    assert not list(root.glob("*.partial"))


def test_a_second_process_waits_for_the_writer_and_maps_its_file(tmp_path, decodes) -> None:
    paths = _jpegs(tmp_path / "photos", 30)
    writer = _writer(tmp_path / "photos", 0.05)
    images, root = load_images(paths, (8, 8))  # while the other process writes the same entry
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert decodes == [] and out.split() == ["30", str(int(images.images.sum()))]
    assert len(_entries(root)) == 1


def test_the_cache_folder_comes_from_the_flag_then_the_environment(tmp_path, monkeypatch) -> None:
    assert cache_root(tmp_path / "flag") == tmp_path / "flag"
    assert cache_root() == tmp_path / "image_cache"  # HELLO_LIGHTNING_CACHE, set for every test
    monkeypatch.delenv("HELLO_LIGHTNING_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "hello-lightning"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "hello-lightning"


def test_sizes_are_checked_before_anything_is_decoded(tmp_path, monkeypatch, decodes) -> None:
    paths = _jpegs(tmp_path / "photos", 4)  # 768 bytes decoded at 8x8
    monkeypatch.setattr(disk_cache, "available_memory", lambda: disk_cache.SPARE + 1000)
    with pytest.raises(DataError, match=r"--data.cache host: .* in each of 2 processes.* --data.cache disk"):
        load_images(paths, (8, 8), cache="host", processes=2)
    assert load_images(paths, (8, 8), cache="host")[1] is None  # one copy fits
    full = disk_cache.shutil.disk_usage(tmp_path)._replace(free=disk_cache.SPARE)
    monkeypatch.setattr(disk_cache.shutil, "disk_usage", lambda path: full)
    with pytest.warns(UserWarning, match="decoding into memory instead"):
        images, mapped_from = load_images(paths, (8, 8))
    assert mapped_from is None and images.images.shape == (4, 3, 8, 8)
    monkeypatch.setattr(disk_cache, "available_memory", lambda: 0)
    with pytest.raises(DataError, match=r"free in .*image_cache.* point --data.cache_dir at a disk with"):
        load_images(paths, (8, 8))
    assert len(decodes) == 8
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(DataError, match=r"Cannot create the decoded-image cache folder .*--data.cache_dir"):
        load_images(paths, (8, 8), cache_dir=blocker / "cache")


def _private_bytes() -> int:
    """This process's anonymous resident memory: what it holds itself, not pages of mapped files."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("RssAnon:")[1].split()[0]) * 1024


def _memory_an_epoch_adds(root: Path) -> tuple[dict[str, int], int]:
    """Private bytes each cache mode adds over an epoch of ``root``'s images, and the images' bytes."""
    grown = {}
    for run, cache in (("writes", "disk"), ("maps", "disk"), ("copies", "host")):
        data = ImageFolderDataModule(root, image_size=96, batch_size=16, split=(0.8, 0.2, 0.0), cache=cache)
        before = _private_bytes()
        data.setup("fit")
        for _ in data.train_dataloader():  # an epoch
            pass
        grown[run] = _private_bytes() - before
        nbytes = data.dataset("train").images.nbytes
        del data
    return grown, nbytes


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads Linux's /proc")
def test_an_epoch_over_mapped_images_holds_no_private_copy(tmp_path) -> None:
    """Images page in from the cache file as batches touch them; only ``--data.cache host`` copies them.

    Measured in a fresh process: one that has freed large buffers before (a test worker) reuses them for
    the copy, which then adds no resident memory."""
    root = tmp_path / "images"
    for name in ("a", "b"):
        _jpegs(root / name, 250)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
        grown, nbytes = fresh.submit(_memory_an_epoch_adds, root).result()
    assert nbytes == 400 * 3 * 96 * 96  # 11 MB
    assert grown["maps"] < nbytes / 4 and grown["copies"] > nbytes * 3 / 4


@pytest.mark.parametrize("module", ["faces", "segmentation"])
def test_faces_and_segmentation_read_the_cache_too(module, tmp_path, decodes) -> None:
    from datamodules import FacesDataModule, SegmentationDataModule
    from tests.conftest import write_portraits

    folder = _jpegs(tmp_path / "faces", 8)[0].parent if module == "faces" else write_portraits(tmp_path / "p")
    make = {
        "faces": lambda: FacesDataModule(folder, image_size=32, batch_size=4),
        "segmentation": lambda: SegmentationDataModule(folder, batch_size=2),
    }[module]
    first = make()
    first.setup("fit")
    files = len(decodes)  # photos, and masks for segmentation
    second = make()
    second.setup("fit")
    assert len(decodes) == files > 0
    assert "(memory-mapped)" in second.data_summary("fit")["cache"]
    tensors = {
        "faces": lambda dm: [dm.images],
        "segmentation": lambda dm: [dm.dataset("train").images, dm.dataset("train").targets],
    }[module]
    for a, b in zip(tensors(first), tensors(second), strict=True):
        assert torch.equal(a, b)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads Linux's /proc")
def test_available_memory_counts_an_address_space_limit(monkeypatch) -> None:
    """``ulimit -v`` caps what a process can map, however much memory the machine has free."""
    vm_size = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) * 1024
    monkeypatch.setattr(disk_cache.resource, "getrlimit", lambda which: (vm_size + 2**20, -1))
    assert disk_cache.available_memory() <= 2**20


def test_an_entry_too_big_to_map_names_the_limit_and_the_flag(tmp_path, monkeypatch) -> None:
    paths = _jpegs(tmp_path / "photos", 3)
    load_images(paths, (8, 8))  # written and readable

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    monkeypatch.setattr(disk_cache.np, "memmap", no_room)
    with pytest.raises(DataError, match=r"Cannot memory-map .* \(ulimit -v\).* --data.cache stream"):
        load_images(paths, (8, 8))
