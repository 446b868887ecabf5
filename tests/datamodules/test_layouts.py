"""Every layout the image data modules accept, and a clear early error for every one they do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamodules.layouts import DataLayoutError, scan_image_folder
from tests.conftest import image_bytes, write_class_folders


def _labels(samples) -> dict[str, int]:
    return {s.path.name: s.label for s in samples}


def test_class_folders_follow_the_given_label_order(tmp_path: Path) -> None:
    write_class_folders(tmp_path, ["100", "1"], per_class=3)
    scanned = scan_image_folder(tmp_path, ["1", "100"])
    assert scanned.layout == "class folders"
    assert scanned.class_names == ["1", "100"]
    assert {s.label for s in scanned.unsplit if s.path.parent.name == "1"} == {0}
    assert {s.label for s in scanned.unsplit if s.path.parent.name == "100"} == {1}


def test_discovered_classes_are_sorted_folder_names(tmp_path: Path) -> None:
    write_class_folders(tmp_path, ["zebra", "ant", "moose"], per_class=2)
    assert scan_image_folder(tmp_path).class_names == ["ant", "moose", "zebra"]


def test_pre_split_folders(tmp_path: Path) -> None:
    for split in ("train", "valid", "test"):
        write_class_folders(tmp_path / split, ["cat", "dog"], per_class=2)
    scanned = scan_image_folder(tmp_path, ["cat", "dog"])
    assert scanned.layout == "pre-split folders"
    assert set(scanned.splits) == {"train", "val", "test"}
    assert all(len(samples) == 4 for samples in scanned.splits.values())


def test_kaggle_flat_files_inside_a_train_folder(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "test1").mkdir()  # Kaggle's unlabelled test set is ignored
    for i in range(3):
        (tmp_path / "train" / f"cat.{i}.jpg").write_bytes(image_bytes(0, i))
        (tmp_path / "train" / f"dog.{i}.jpg").write_bytes(image_bytes(1, i))
    scanned = scan_image_folder(tmp_path, ["cat", "dog"], allow_flat=True)
    assert _labels(scanned.splits["train"]) == {
        f"{c}.{i}.jpg": c == "dog" for c in ("cat", "dog") for i in range(3)
    }


def test_petimages_wrapper_with_capitalised_classes(tmp_path: Path) -> None:
    write_class_folders(tmp_path / "PetImages", ["Cat", "Dog"], per_class=2)
    (tmp_path / "readme.txt").write_text("licence")
    scanned = scan_image_folder(tmp_path, ["cat", "dog"], allow_flat=True)
    assert scanned.class_names == ["cat", "dog"]
    assert {s.path.parent.name: s.label for s in scanned.unsplit} == {"Cat": 0, "Dog": 1}


def test_missing_folder_names_the_path_and_layouts(tmp_path: Path) -> None:
    with pytest.raises(DataLayoutError, match=r"does not exist.*--data.data_dir(?s:.*)one folder per class"):
        scan_image_folder(tmp_path / "nope", ["1", "100"])


def test_folder_without_classes(tmp_path: Path) -> None:
    (tmp_path / "loose.jpg").write_bytes(image_bytes(0, 0))
    with pytest.raises(DataLayoutError, match="No class folders"):
        scan_image_folder(tmp_path, ["1", "100"])
    with pytest.raises(DataLayoutError, match="needs at least 2"):
        scan_image_folder(tmp_path)


def test_empty_class_folder(tmp_path: Path) -> None:
    write_class_folders(tmp_path, ["1"], per_class=2)
    (tmp_path / "100").mkdir()
    with pytest.raises(DataLayoutError, match=r"100 is empty"):
        scan_image_folder(tmp_path, ["1", "100"])


def test_unknown_class_folder(tmp_path: Path) -> None:
    write_class_folders(tmp_path, ["1", "100", "50"], per_class=1)
    with pytest.raises(DataLayoutError, match=r"Unknown class folder\(s\) \['50'\]"):
        scan_image_folder(tmp_path, ["1", "100"])


def test_missing_class_folder(tmp_path: Path) -> None:
    write_class_folders(tmp_path / "train", ["1"], per_class=1)
    with pytest.raises(DataLayoutError, match="Class '100' has no folder"):
        scan_image_folder(tmp_path, ["1", "100"])


def test_flat_files_need_every_class(tmp_path: Path) -> None:
    (tmp_path / "cat.1.jpg").write_bytes(image_bytes(0, 0))
    with pytest.raises(DataLayoutError, match=r"No files named 'dog"):
        scan_image_folder(tmp_path, ["cat", "dog"], allow_flat=True)
