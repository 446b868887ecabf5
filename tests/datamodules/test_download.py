"""Checksummed download and extraction, against a local HTTP server (never the internet)."""

from __future__ import annotations

import functools
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from datamodules import CatsDogsDataModule, DataError, download
from datamodules.download import ChecksumError, download_and_extract, sha256sum
from tests.conftest import image_bytes


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A zip shaped like Microsoft's PetImages archive, served on 127.0.0.1."""
    folder = tmp_path / "served"
    folder.mkdir()
    archive = folder / "pets.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for label, name in enumerate(("Cat", "Dog")):
            for i in range(5):
                zf.writestr(f"PetImages/{name}/{i}.jpg", image_bytes(label, i))
        zf.writestr("PetImages/Dog/666.jpg", b"")  # the real archive has empty files too
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pets.zip", archive
    server.shutdown()
    server.server_close()


def test_download_checks_and_extracts_once(served, tmp_path: Path, monkeypatch) -> None:
    url, archive = served
    target = tmp_path / "nested" / "data"
    download_and_extract(url, target, sha256sum(archive))
    assert (target / "PetImages" / "Cat" / "0.jpg").is_file()
    unpacked: list[str] = []
    monkeypatch.setattr(download, "unpack", lambda archive, root: unpacked.append(str(archive)))
    again = download_and_extract(
        "http://127.0.0.1:1/unreachable.zip", target, sha256sum(archive), filename="pets.zip"
    )  # the verified copy is reused: no download, and no second unpacking
    assert unpacked == []
    (target / "pets.zip.unpacked").write_text("an older archive")
    download_and_extract(url, target, sha256sum(archive))
    assert unpacked == [str(again)]


def test_a_copy_with_the_wrong_checksum_is_fetched_again(served, tmp_path: Path) -> None:
    url, archive = served
    target = tmp_path / "deep" / "data"  # folders made as needed
    target.mkdir(parents=True)
    (target / "pets.zip").write_bytes(b"an older or damaged copy")
    download_and_extract(url, target, sha256sum(archive))
    assert sha256sum(target / "pets.zip") == sha256sum(archive)
    assert (target / "PetImages" / "Cat" / "0.jpg").is_file()


def test_wrong_checksum_deletes_the_file(served, tmp_path: Path) -> None:
    url, _ = served
    with pytest.raises(ChecksumError, match="expected SHA-256 0+"):
        download_and_extract(url, tmp_path / "data", "0" * 64)
    assert not (tmp_path / "data" / "pets.zip").exists()


def test_unreachable_url_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Download it by hand"):
        download_and_extract("http://127.0.0.1:1/x.zip", tmp_path, None)


def test_cats_dogs_prepare_data_then_setup(served, tmp_path: Path) -> None:
    url, archive = served
    dm = CatsDogsDataModule(
        tmp_path / "cats_dogs", download=True, url=url, sha256=sha256sum(archive), image_size=8
    )
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert {path.name: why for path, why in dm.skipped.items()} == {"666.jpg": "empty file"}
    assert sum(len(dm.dataset(s)) for s in ("train", "val", "test")) == 10


def test_a_failed_download_leaves_nothing_to_reuse(served, tmp_path: Path) -> None:
    url, archive = served
    target = tmp_path / "data"
    with pytest.raises(DataError, match="Could not download"):
        download_and_extract(url.replace("pets.zip", "absent.zip"), target, None, filename="pets.zip")
    assert sorted(p.name for p in target.iterdir()) == []  # no 0-byte archive, no .partial
    (target / "pets.zip.partial").write_bytes(b"half of an older download")
    download_and_extract(url, target, sha256sum(archive))
    assert sha256sum(target / "pets.zip") == sha256sum(archive)
    assert not (target / "pets.zip.partial").exists()


class CutShort(SimpleHTTPRequestHandler):
    """Promises 1000 bytes, sends 10, hangs up: a download interrupted half-way."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"PK\x03\x04 cut")
        self.wfile.flush()
        self.connection.close()


def test_an_interrupted_download_is_never_reused(tmp_path: Path) -> None:
    """Without a checksum to catch it, a half-written archive under the final name would be taken as the
    download by every later run; written under a temporary name, it never gets that name."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), CutShort)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pets.zip"
        with pytest.raises(DataError, match="Could not download"):
            download_and_extract(url, tmp_path / "data", None)
    finally:
        server.shutdown()
        server.server_close()
    assert list((tmp_path / "data").iterdir()) == []


def test_a_download_without_checksum_says_so(served, tmp_path: Path) -> None:
    url, archive = served
    with pytest.warns(UserWarning, match=f"without a checksum.*{sha256sum(archive)}"):
        download_and_extract(url, tmp_path / "data", None)


def _member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    return info, io.BytesIO(data)


def test_a_plain_tar_unpacks_into_its_folder(tmp_path: Path) -> None:
    archive, root = tmp_path / "data.tar.gz", tmp_path / "deep" / "data"
    root.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        folder = tarfile.TarInfo("hymenoptera/train")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        tar.addfile(*_member("hymenoptera/train/ants.txt", b"ants"))
    download.unpack(archive, root)
    assert (root / "hymenoptera" / "train" / "ants.txt").read_bytes() == b"ants"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.tar.gz", "deep"]  # nothing beside root


@pytest.mark.parametrize(
    "members",
    [
        [("../../escaped.txt", b"x", tarfile.REGTYPE, "")],
        [("{outside}/escaped.txt", b"x", tarfile.REGTYPE, "")],
        [("link", b"", tarfile.SYMTYPE, "{outside}"), ("link/escaped.txt", b"x", tarfile.REGTYPE, "")],
        [("hard", b"", tarfile.LNKTYPE, "{outside}/escaped.txt")],
        [("device", b"", tarfile.CHRTYPE, "")],
    ],
    ids=["dot_dot", "absolute", "through_symlink", "hard_link", "device"],
)
def test_a_tar_never_writes_outside_its_folder(members, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "deep" / "data"
    root.mkdir(parents=True)
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        tar.addfile(*_member("fine/a.txt", b"inside"))
        for name, data, kind, link in members:
            tar.addfile(*_member(name.format(outside=outside), data, kind, link.format(outside=outside)))
    with pytest.raises(DataError, match="could write outside .*; nothing was unpacked"):
        download.unpack(archive, root)
    assert list(root.iterdir()) == []  # checked before the first member is written
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()


def test_a_zip_never_writes_outside_its_folder(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.txt", b"x")
        zf.writestr("/absolute.txt", b"x")
    root = tmp_path / "deep" / "data"
    root.mkdir(parents=True)
    download.unpack(archive, root)
    assert sorted(p.name for p in root.iterdir()) == ["absolute.txt", "escaped.txt"]
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()
