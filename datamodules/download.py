"""Checksummed download and safe extraction.

A download is written under a temporary name beside its archive and renamed only once it is complete and,
where a SHA-256 is given, verified: a broken download is never reused. Archives unpack only inside their
folder: tar members go through Python's ``data`` filter (no absolute paths, no ``..``, no links leaving
the folder, no device files), and every member is checked before the first is written; zip members are
cleaned of ``..`` and absolute parts by ``zipfile`` itself.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_warn
from torchvision.datasets.utils import download_url

from datamodules.errors import DataError


class ChecksumError(DataError):
    """A downloaded file does not have the expected SHA-256."""


def sha256sum(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, archive: Path, sha256: str | None) -> str:
    """Download ``url`` to ``archive`` through a temporary file; its SHA-256, checked against ``sha256``."""
    partial = archive.with_name(f"{archive.name}.partial")
    partial.unlink(missing_ok=True)  # what an interrupted download left: never resumed or reused
    try:
        download_url(url, str(archive.parent), partial.name)
        actual = sha256sum(partial)
    except Exception as err:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"Could not download {url} into {archive.parent}: {err}. Download it by hand into {archive} "
            "and run again, or point --data.data_dir at an unpacked copy."
        ) from err
    if sha256 is not None and actual != sha256:
        partial.unlink()
        raise ChecksumError(f"{url}: expected SHA-256 {sha256}, got {actual}; the file was deleted.")
    if sha256 is None:
        rank_zero_warn(f"{url} was downloaded without a checksum to verify (its SHA-256 is {actual}).")
    partial.replace(archive)
    return actual


def unpack(archive: Path, root: Path) -> None:
    """Extract a zip or tar archive into ``root``; a member that would land outside it stops the unpacking
    before anything is written."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(root)
        return
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                tarfile.data_filter(member, str(root))
            tar.extractall(root, members=members, filter="data")
    except tarfile.FilterError as err:
        raise DataError(
            f"{archive} holds a member that would be written outside {root} or is no plain file ({err}); "
            "nothing was unpacked. Get the archive from its original source."
        ) from err
    except tarfile.ReadError as err:
        raise DataError(
            f"{archive} is neither a zip nor a tar archive ({err}): delete it and run again to download it."
        ) from err


def download_and_extract(url: str, root: str | Path, sha256: str | None, filename: str | None = None) -> Path:
    """Fetch ``url`` into ``root`` (reusing a verified copy), check its SHA-256, unpack it there once.

    Returns the archive's path. A wrong checksum deletes the file and raises, naming both digests. After
    unpacking, ``<archive>.unpacked`` holds the archive's SHA-256; while it matches, later calls skip the
    unpacking (800 MB for cats-dogs).
    """
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    archive = root / (filename or Path(url).name)
    actual = sha256sum(archive) if archive.is_file() else None
    if actual is None or (sha256 is not None and actual != sha256):
        actual = fetch(url, archive, sha256)
    marker = archive.with_name(f"{archive.name}.unpacked")
    if not (marker.is_file() and marker.read_text() == actual):
        unpack(archive, root)
        marker.write_text(actual)
    return archive
