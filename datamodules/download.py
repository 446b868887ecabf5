"""Checksummed download and extraction, on torchvision's download helpers."""

from __future__ import annotations

import hashlib
from pathlib import Path

from torchvision.datasets.utils import download_url, extract_archive

from datamodules.errors import DataError


class ChecksumError(DataError):
    """A downloaded file does not have the expected SHA-256."""


def sha256sum(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


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
        try:
            download_url(url, str(root), archive.name)
        except Exception as err:
            raise DataError(
                f"Could not download {url} into {root}: {err}. Download it by hand into {archive} "
                "and run again, or point --data.data_dir at an unpacked copy."
            ) from err
        actual = sha256sum(archive)
        if sha256 is not None and actual != sha256:
            archive.unlink()
            raise ChecksumError(f"{url}: expected SHA-256 {sha256}, got {actual}; the file was deleted.")
    marker = archive.with_name(f"{archive.name}.unpacked")
    if not (marker.is_file() and marker.read_text() == actual):
        extract_archive(str(archive), str(root))
        marker.write_text(actual)
    return archive
