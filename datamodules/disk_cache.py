"""A decoded-once image cache on disk: written once per data set, then memory-mapped by every run and process.

An entry is a folder named by a hash of what decides its content (the files in order with their sizes,
modification times and inode change times, the decoded size, the resize mode, mask or photo, the decoder's
version), holding ``images.u8`` (the rows of uint8 (C, H, W) images, raw) and ``meta.json`` (shape and
skipped files). Later runs and commands (``fit``, ``test``, ``predict``) open it at once as a numpy memory
map, so the processes of a node share one copy through the page cache, and data larger than memory pages
in from disk.

Safe against two writers (a file lock per entry: the second waits, then reads what the first wrote) and a
killed writer (an entry is written under a temporary name, synced, then renamed into place; a leftover
temporary folder is removed by the next writer). A changed file changes the key, so a stale entry is
never read; old entries stay until the cache folder is deleted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import PIL
import torch
from filelock import FileLock, Timeout
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from datamodules.device_cache import CacheLocation
from datamodules.errors import DataError
from datamodules.image_cache import DecodedImages, decode_images, iter_decoded

try:
    import resource  # Unix only
except ImportError:
    resource = None

CACHE_ENV = "HELLO_LIGHTNING_CACHE"
FORMAT = 2  # bump when the entry layout or the decoding changes
DATA, META = "images.u8", "meta.json"
SPARE = 2**30  # bytes of memory or disk left free beyond the estimate
Entry = TypeVar("Entry")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$HELLO_LIGHTNING_CACHE``, else the user cache folder
    (``$XDG_CACHE_HOME/hello-lightning``, by default ``~/.cache/hello-lightning``)."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hello-lightning"


def cache_key(paths: Sequence[Path], size: tuple[int, int], keep_aspect: bool, mask: bool) -> str:
    """A hash of everything that decides an entry's content; a file added, removed or changed changes it."""
    digest = hashlib.sha256(
        json.dumps([FORMAT, PIL.__version__, list(size), keep_aspect, mask, len(paths)]).encode()
    )
    for path in map(os.path.abspath, paths):
        digest.update(os.fsencode(path))  # the bytes the file system holds, UTF-8 or not
        try:
            stat = os.stat(path)
            digest.update(f"\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}\n".encode())
        except OSError:
            digest.update(b"\0missing\n")
    return digest.hexdigest()[:32]


def decoded_bytes(count: int, size: tuple[int, int], mask: bool = False) -> int:
    """What ``count`` images take once decoded (an upper bound: unreadable files take nothing)."""
    return count * (1 if mask else 3) * size[0] * size[1]


def available_memory() -> int | None:
    """Bytes of memory this process can still take: ``MemAvailable``, within a cgroup's limit and the
    process's address-space limit (``ulimit -v``); None when none can be read."""
    known = []
    try:
        meminfo = Path("/proc/meminfo").read_text()
        known.append(int(meminfo.split("MemAvailable:")[1].split()[0]) * 1024)
    except (OSError, IndexError, ValueError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            known.append(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        pass
    address_space = resource.getrlimit(resource.RLIMIT_AS)[0] if resource else -1
    if address_space >= 0:  # RLIM_INFINITY is -1
        try:
            status = Path("/proc/self/status").read_text()
            known.append(address_space - int(status.split("VmSize:")[1].split()[0]) * 1024)
        except (OSError, IndexError, ValueError):
            pass
    return min(known) if known else None


SIZE_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


def human_size(nbytes: int) -> str:
    """``1536`` -> ``1.5 KiB``: a size in the largest unit that keeps a digit before the point."""
    value, unit = float(nbytes), 0
    while abs(value) >= 1024 and unit < len(SIZE_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{int(value)} bytes" if unit == 0 else f"{value:.1f} {SIZE_UNITS[unit]}"


def read_meta(entry: Path, paths: Sequence[Path]) -> tuple[dict[str, Any], list[int], dict[Path, str]] | None:
    """A complete entry's ``meta.json`` for ``paths``, the positions that decoded and the files skipped (with
    why); None when absent, of another format or for another file list."""
    try:
        meta = json.loads((entry / META).read_text())
        if meta["format"] != FORMAT or meta["files"] != len(paths):
            return None
        skipped = {int(i): why for i, why in meta["skipped"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    kept = [i for i in range(len(paths)) if i not in skipped]
    return meta, kept, {Path(paths[i]): why for i, why in skipped.items()}


def _read(entry: Path, paths: Sequence[Path]) -> DecodedImages | None:
    """A complete entry as a memory map (copy on write: the file is never changed), or None."""
    found = read_meta(entry, paths)
    if found is None:
        return None
    meta, kept, skipped = found
    try:
        shape = tuple(meta["shape"])
        if (entry / DATA).stat().st_size != math.prod(shape):
            return None
        mapped = (
            np.memmap(entry / DATA, np.uint8, "c", shape=shape) if shape[0] else np.empty(shape, np.uint8)
        )
    except OSError as err:
        if err.errno == errno.ENOMEM:  # the entry is fine: this process may not map that much
            raise DataError(
                f"Cannot memory-map the {human_size((entry / DATA).stat().st_size)} of decoded images in "
                f"{entry} (Cannot allocate memory): the process's address space is limited (ulimit -v). "
                "Raise the limit, or for class folders use --data.cache stream."
            ) from err
        return None
    except (ValueError, KeyError, TypeError):
        return None
    return DecodedImages(torch.from_numpy(mapped), kept, skipped)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(entry: Path, fill: Callable[[Path], dict[str, Any]]) -> None:
    """Fill a temporary folder beside ``entry`` (``fill`` writes its files and returns the metadata), sync
    it, rename it into place (under the entry's lock)."""
    partial = entry.with_name(f"{entry.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)  # what a killed writer left
    shutil.rmtree(entry, ignore_errors=True)  # an entry that failed to read back
    partial.mkdir(parents=True)
    try:
        meta = fill(partial)
        for written in partial.iterdir():
            _fsync(written)
    except BaseException as err:  # nothing half-written stays behind, whatever stopped the writing
        shutil.rmtree(partial, ignore_errors=True)
        if not isinstance(err, OSError):
            raise
        raise DataError(
            f"Writing the decoded-image cache into {partial} failed ({err.strerror}): free space there or "
            "point --data.cache_dir at another disk."
        ) from err
    (partial / META).write_text(json.dumps(meta))
    _fsync(partial / META)
    os.rename(partial, entry)
    _fsync(entry.parent)


def _rows_writer(
    paths: Sequence[Path], size: tuple[int, int], keep_aspect: bool, mask: bool
) -> Callable[[Path], dict[str, Any]]:
    """What fills an entry with the decoded images as raw rows, one after the other."""

    def fill(folder: Path) -> dict[str, Any]:
        skipped: dict[int, str] = {}
        with open(folder / DATA, "wb") as out:
            for i, result in enumerate(iter_decoded(paths, size, keep_aspect, mask=mask)):
                if isinstance(result, str):
                    skipped[i] = result
                else:
                    out.write(result.contiguous().numpy().data)
        shape = [len(paths) - len(skipped), 1 if mask else 3, *size]
        return {"format": FORMAT, "files": len(paths), "shape": shape, "skipped": skipped}

    return fill


def written_once(
    entry: Path, read: Callable[[Path], Entry | None], fill: Callable[[Path], dict[str, Any]]
) -> Entry:
    """The entry as ``read`` opens it, written by ``fill`` first when absent or unreadable: one writer at a
    time (a file lock; the others wait, then read what it wrote)."""
    found = read(entry)
    if found is not None:
        return found
    lock = FileLock(entry.with_name(f"{entry.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        rank_zero_info(f"Waiting for another process to finish decoding into {entry} ...")
        lock.acquire()
    except OSError as err:  # a read-only folder or disk: its entries can be read, none can be written
        raise DataError(
            f"The decoded-image cache folder {entry.parent} cannot be written ({err.strerror or err}): "
            f"point --data.cache_dir (or ${CACHE_ENV}) at a writable folder."
        ) from err
    try:
        found = read(entry)  # written while this process waited
        if found is None:
            _write(entry, fill)
            found = read(entry)
    finally:
        lock.release()
    if found is None:
        raise DataError(f"The decoded-image cache {entry} could not be read back: delete it and run again.")
    return found


def _check_memory(nbytes: int, processes: int) -> None:
    free = available_memory()
    if free is not None and nbytes * processes + SPARE > free:
        each = f" in each of {processes} processes" if processes > 1 else ""
        raise DataError(
            f"--data.cache host: the decoded images take {human_size(nbytes)}{each}, more than the "
            f"{human_size(free)} of memory available: use --data.cache disk (memory-mapped, one copy per "
            "machine; class folders stream what exceeds the memory)."
        )


def check_disk(root: Path, nbytes: int) -> bool:
    """Whether ``root`` can hold ``nbytes`` more; an error if it cannot be created."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(
            f"Cannot create the decoded-image cache folder {root} ({err.strerror}): point --data.cache_dir "
            f"(or ${CACHE_ENV}) at a writable folder."
        ) from err
    return nbytes + SPARE <= shutil.disk_usage(root).free


def load_images(
    paths: Sequence[Path],
    size: tuple[int, int],
    keep_aspect: bool = False,
    mask: bool = False,
    cache: CacheLocation = "disk",
    cache_dir: str | Path | None = None,
    processes: int = 1,
) -> tuple[DecodedImages, Path | None]:
    """Decoded ``paths`` (see ``decode_image``) and the cache folder they are memory-mapped from (None: in
    memory).

    ``cache="host"`` decodes into this process's memory, after checking that ``processes`` copies fit.
    Otherwise the images come from the disk cache, written first if absent; when the disk lacks room but
    memory has it, they are decoded into memory with a warning; when neither has it, a ``DataError`` names
    the flag to set. Nothing is decoded before these checks pass.
    """
    nbytes = decoded_bytes(len(paths), size, mask)
    if cache == "host":
        _check_memory(nbytes, processes)
        return decode_images(paths, size, keep_aspect, mask=mask), None
    root = cache_root(cache_dir)
    entry = root / cache_key(paths, size, keep_aspect, mask)
    found = _read(entry, paths)
    if found is not None:
        return found, root
    if not check_disk(root, nbytes):
        free = shutil.disk_usage(root).free
        try:
            _check_memory(nbytes, processes)
        except DataError:
            raise DataError(
                f"The decoded images take {human_size(nbytes)}, more than the {human_size(free)} free in "
                f"{root} and than the memory available: point --data.cache_dir at a disk with "
                f"{human_size(nbytes + SPARE)} free."
            ) from None
        rank_zero_warn(
            f"{root} has {human_size(free)} free, too little for {human_size(nbytes)} of decoded images: "
            "decoding into memory instead, once per process and run (--data.cache_dir picks another folder)."
        )
        return decode_images(paths, size, keep_aspect, mask=mask), None
    decoded = written_once(
        entry, lambda found: _read(found, paths), _rows_writer(paths, size, keep_aspect, mask)
    )
    return decoded, root
