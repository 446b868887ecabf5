"""scripts/split_dataset.py copies the same split the data modules make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from datamodules import ImageFolderDataModule
from tests.conftest import REPO


def _membership(samples) -> set[tuple[str, int]]:
    return {(s.path.name, s.label) for s in samples}


def test_split_folders_match_the_in_memory_split(image_folder, tmp_path: Path) -> None:
    src = image_folder(["cat", "dog"], per_class=10)
    dst = tmp_path / "split"
    script = REPO / "scripts" / "split_dataset.py"
    command = [sys.executable, str(script), str(src), str(dst)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "train: 16 files, valid: 2 files, test: 2 files" in done.stdout
    expected = ImageFolderDataModule(src).split_samples()
    copied = ImageFolderDataModule(dst).split_samples()
    for part in ("train", "val", "test"):
        assert _membership(copied[part]) == _membership(expected[part])
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode != 0 and "is not empty" in again.stderr
