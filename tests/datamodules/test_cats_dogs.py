"""Cats vs dogs accepts the layouts its copies come in, all with the labels {"cat": 0, "dog": 1}.

Built from the real data (laid out as ``cats/`` and ``dogs/``) with links, so no image is copied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from datamodules import CatsDogsDataModule
from tests.conftest import shared_data

SPLIT_AT = 250  # files (sorted) per class in train/; the rest go to valid/


def _link_files(files: list[Path], folder: Path, rename=lambda f: f.name) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        (folder / rename(file)).symlink_to(file)


def _layout(kind: str, source: Path, root: Path) -> Path:
    """``root`` holding the real cats and dogs as ``kind`` lays them out."""
    cats, dogs = sorted((source / "cats").iterdir()), sorted((source / "dogs").iterdir())
    if kind == "cats_dogs":
        return source
    if kind == "Cat_Dog":
        (root / "Cat").symlink_to(source / "cats")
        (root / "Dog").symlink_to(source / "dogs")
    elif kind in ("train_valid_cats_dogs", "train_valid_Cat_Dog"):
        names = ("cats", "dogs") if kind.endswith("cats_dogs") else ("Cat", "Dog")
        for name, files in zip(names, (cats, dogs), strict=True):
            _link_files(files[:SPLIT_AT], root / "train" / name)
            _link_files(files[SPLIT_AT:], root / "valid" / name)
    elif kind == "kaggle_flat":
        _link_files(cats, root / "train", rename=lambda f: f"cat.{f.name.split('.')[1]}.jpg")
        _link_files(dogs, root / "train", rename=lambda f: f"dog.{f.name.split('.')[1]}.jpg")
    return root


@pytest.mark.parametrize(
    "kind", ["cats_dogs", "Cat_Dog", "train_valid_cats_dogs", "train_valid_Cat_Dog", "kaggle_flat"]
)
def test_every_common_layout_of_the_real_data(kind: str, tmp_path: Path) -> None:
    source = shared_data("cats_dogs")
    data = CatsDogsDataModule(data_dir=_layout(kind, source, tmp_path))
    splits = data.split_samples()
    assert data.class_names == ["cat", "dog"]
    samples = [s for part in splits.values() for s in part]
    assert len(samples) == len(list((source / "cats").iterdir())) + len(list((source / "dogs").iterdir()))
    for sample in samples:
        assert sample.label == (0 if sample.path.resolve().parent.name == "cats" else 1)
    if kind.startswith("train_valid"):
        assert sum(s.label == 0 for s in splits["train"]) == SPLIT_AT
