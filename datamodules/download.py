"""Checksummed download and safe extraction.

A download is written under a temporary name beside its archive and renamed only once it is complete and,
where a SHA-256 is given, verified: a broken download is never reused. Archives unpack only inside their
folder: a tar may hold plain files and folders at relative paths without ``..`` only (no links, no device
files), every member checked before the first is written, then Python's ``data`` filter where it exists;
zip members are cleaned of ``..`` and absolute parts by ``zipfile`` itself.
"""

from __future__ import annotations

import hashlib
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_warn
from tqdm import tqdm

from datamodules.errors import DataError


class ChecksumError(DataError):
    """A downloaded file does not have the expected SHA-256."""


def sha256sum(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def stream_to(url: str, out_path: Path, chunk_size: int = 1 << 20) -> None:
    """Write ``url``'s body to ``out_path``, failing when the connection closes before the announced
    ``Content-Length``. Hand-written because torchvision's ``download_url`` keeps a body cut short as if
    it were complete."""
    with urllib.request.urlopen(url, timeout=60) as response, open(out_path, "wb") as out:
        expected = response.headers.get("Content-Length")
        total = int(expected) if expected and expected.isdigit() else None
        name = f"Downloading {Path(url).name}"
        with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=None) as bar:  # a terminal only
            while chunk := response.read(chunk_size):
                out.write(chunk)
                bar.update(len(chunk))
    size = out_path.stat().st_size
    if total is not None and size != total:
        raise OSError(f"the connection closed after {size:,} of {total:,} bytes")


def fetch(url: str, archive: Path, sha256: str | None) -> str:
    """Download ``url`` to ``archive`` through a temporary file; its SHA-256, checked against ``sha256``."""
    partial = archive.with_name(f"{archive.name}.partial")
    partial.unlink(missing_ok=True)  # what an interrupted download left: never resumed or reused
    try:
        stream_to(url, partial)
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


def unsafe_member(member: tarfile.TarInfo) -> str | None:
    """Why a tar member may not be unpacked, or None: only plain files and folders, at relative paths
    without ``..``. Links are refused outright: the ``data`` filter's checks of link targets had bypasses
    in Python releases before mid-2025."""
    if not (member.isfile() or member.isdir()):
        return "a link or special file"
    if Path(member.name).is_absolute() or ".." in Path(member.name).parts:
        return "an absolute path or one through .."
    return None


def unpack(archive: Path, root: Path) -> None:
    """Extract a zip or tar archive into ``root``; a member that could land outside it stops the unpacking
    before anything is written."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(root)
        return
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                if why := unsafe_member(member):
                    raise DataError(
                        f"{archive} holds {member.name!r}, {why}, which could write outside {root}; nothing "
                        "was unpacked. Get the archive from its original source."
                    )
            # The data filter also drops permission bits a data set has no use for (set-user-ID...).
            tar.extractall(
                root, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {})
            )
    except tarfile.TarError as err:
        raise DataError(
            f"{archive} is neither a zip nor a readable tar archive ({err}): delete it and run again to "
            "download it."
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
