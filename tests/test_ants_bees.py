"""AntsBeesDataModule: the hymenoptera layout, its odd files, the test split, the checksummed download."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamodules import AntsBeesDataModule
from datamodules.download import ChecksumError
from tests.conftest import image_bytes


def write_hymenoptera(root: Path, per_class: int = 6) -> Path:
    """``hymenoptera_data/{train,val}/{ants,bees}`` with the real archive's oddities: a GIF, a space."""
    for split in ("train", "val"):
        for label, name in enumerate(("ants", "bees")):
            folder = root / "hymenoptera_data" / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                (folder / f"{i}_{name}.jpg").write_bytes(image_bytes(label, i))
    (root / "hymenoptera_data/train/ants/imageNotFound.gif").write_bytes(image_bytes(0, 99, fmt="GIF"))
    (root / "hymenoptera_data/train/ants/ant photos.jpg").write_bytes(image_bytes(0, 98))
    return root


def test_layout_labels_odd_files_and_test_split_from_val(tmp_path) -> None:
    data = AntsBeesDataModule(data_dir=write_hymenoptera(tmp_path / "ants_bees"), image_size=24)
    samples = data.split_samples()
    train = {s.path.name for s in samples["train"]}
    assert {"imageNotFound.gif", "ant photos.jpg"} <= train
    assert all("/val/" in str(s.path) for s in samples["val"] + samples["test"])
    assert not {s.path for s in samples["val"]} & {s.path for s in samples["test"]}
    assert sorted(s.label for s in samples["test"]) == [0, 0, 0, 1, 1, 1]
    data.setup("fit")
    assert len(data.dataset("train")) == 14  # the GIF and the spaced name decoded, none skipped
    assert data.class_names == ["ants", "bees"]


def test_an_explicit_test_folder_is_used_as_is(tmp_path) -> None:
    root = write_hymenoptera(tmp_path / "ants_bees")
    shutil.copytree(root / "hymenoptera_data/val", root / "hymenoptera_data/test")
    samples = AntsBeesDataModule(data_dir=root).split_samples()
    assert len(samples["val"]) == len(samples["test"]) == 12
    assert all("/test/" in str(s.path) for s in samples["test"])


@pytest.fixture
def served_archive(tmp_path) -> Iterator[tuple[str, str]]:
    """hymenoptera_data.zip served on 127.0.0.1: (url, sha256)."""
    site = tmp_path / "site"
    archive = shutil.make_archive(str(site / "hymenoptera_data"), "zip", write_hymenoptera(tmp_path / "src"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        digest = hashlib.sha256(Path(archive).read_bytes()).hexdigest()
        yield f"http://127.0.0.1:{server.server_port}/hymenoptera_data.zip", digest
    finally:
        server.shutdown()


def test_prepare_data_downloads_checks_and_unpacks(served_archive, tmp_path) -> None:
    url, digest = served_archive
    data = AntsBeesDataModule(
        data_dir=tmp_path / "data", download=True, url=url, sha256=digest, image_size=24
    )
    data.prepare_data()
    data.setup("fit")
    assert len(data.dataset("train")) == 14 and len(data.dataset("val")) == 6


def test_prepare_data_rejects_a_wrong_checksum(served_archive, tmp_path) -> None:
    url, _ = served_archive
    data = AntsBeesDataModule(data_dir=tmp_path / "data", download=True, url=url, sha256="0" * 64)
    with pytest.raises(ChecksumError, match="expected SHA-256 0000"):
        data.prepare_data()
    assert not (tmp_path / "data/hymenoptera_data.zip").exists()
