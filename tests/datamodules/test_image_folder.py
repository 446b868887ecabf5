"""The shared image-folder data module: splits, decode-once cache, bad files, augmentation, batches."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from datamodules import CatsDogsDataModule, ImageFolderDataModule, RMBDataModule
from datamodules.layouts import DataLayoutError
from datamodules.transforms import IMAGENET_MEAN, IMAGENET_STD
from tests.conftest import image_bytes, write_class_folders


def _paths(dm: ImageFolderDataModule) -> dict[str, set[Path]]:
    return {split: {s.path for s in samples} for split, samples in dm.split_samples().items()}


def test_split_is_deterministic_disjoint_stratified_and_complete(image_folder) -> None:
    root = image_folder(["1", "100"], per_class=20)
    first, second = _paths(RMBDataModule(root)), _paths(RMBDataModule(root))
    assert first == second
    assert not (
        first["train"] & first["val"] or first["train"] & first["test"] or first["val"] & first["test"]
    )
    assert sum(len(p) for p in first.values()) == 40
    assert [len(first[s]) for s in ("train", "val", "test")] == [32, 4, 4]
    for split in ("val", "test"):
        assert {p.parent.name for p in first[split]} == {"1", "100"}


def test_split_ignores_file_system_order_and_depends_on_seed(image_folder, monkeypatch) -> None:
    root = image_folder(["1", "100"], per_class=20)
    reference = _paths(RMBDataModule(root))
    original_rglob = Path.rglob
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: reversed(list(original_rglob(self, pattern))))
    assert _paths(RMBDataModule(root)) == reference
    assert _paths(RMBDataModule(root, seed=7)) != reference


def test_the_split_itself_sorts_what_it_is_given() -> None:
    """The split does not rely on its caller's order: any order of the same files gives the same parts."""
    from datamodules.splits import split_items

    files = [f"img_{i:03d}.jpg" for i in range(50)]
    reference = split_items(files, (0.8, 0.1, 0.1), seed=0)
    for order in (files[::-1], files[1::2] + files[::2]):
        assert split_items(order, (0.8, 0.1, 0.1), seed=0) == reference


def test_course_labels() -> None:
    assert RMBDataModule("/nowhere").class_names == ["1", "100"]
    assert CatsDogsDataModule("/nowhere").class_names == ["cat", "dog"]


def test_pre_split_without_test_carves_it_from_val_not_train(tmp_path: Path) -> None:
    write_class_folders(tmp_path / "train", ["ants", "bees"], per_class=8)
    write_class_folders(tmp_path / "val", ["ants", "bees"], per_class=4)
    splits = ImageFolderDataModule(tmp_path).split_samples()
    assert all("train" in s.path.parts for s in splits["train"])
    assert all("val" in s.path.parts for s in splits["val"] + splits["test"])
    assert len(splits["val"]) == len(splits["test"]) == 4


def test_decodes_each_image_once_and_serves_uint8_then_normalized(image_folder, decodes) -> None:
    dm = RMBDataModule(image_folder(["1", "100"], per_class=10), image_size=16, batch_size=4)
    dm.setup("fit")
    assert len(decodes) == 18  # train and val only
    dm.setup("validate")
    dm.setup("test")
    assert len(decodes) == 20  # every file decoded exactly once, across stages
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 16, 16)
    normalized, same_labels = dm.on_after_batch_transfer((images, labels), 0)
    assert normalized.dtype == torch.float32 and torch.equal(labels, same_labels)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(normalized, (images.float() / 255 - mean) / std)
    assert torch.allclose(dm.denormalize(normalized), images.float() / 255, atol=1e-6)  # what the views show


def test_augmentation_runs_on_train_only(image_folder) -> None:
    dm = RMBDataModule(image_folder(["1", "100"]), image_size=16, augment=[v2.RandomErasing(p=1.0, value=0)])
    dm.setup("fit")
    train, val = dm.dataset("train"), dm.dataset("val")
    assert not torch.equal(train[0][0], train.images[0])
    assert torch.equal(val[0][0], val.images[0])


def test_odd_files_are_converted_or_skipped_and_reported(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path, ["cat", "dog"], per_class=6)
    buf = io.BytesIO()
    Image.new("RGBA", (20, 20), (10, 200, 10, 128)).save(buf, format="PNG")
    (root / "cat" / "rgba_png_named.jpg").write_bytes(buf.getvalue())
    buf = io.BytesIO()
    Image.new("P", (20, 20)).save(buf, format="GIF")
    (root / "cat" / "palette.gif").write_bytes(buf.getvalue())
    (root / "dog" / "truncated.jpg").write_bytes(image_bytes(1, 0, size=(200, 200))[:300])
    (root / "dog" / "empty.jpg").write_bytes(b"")
    (root / "dog" / "notes.txt").write_text("not an image")
    dm = CatsDogsDataModule(root, image_size=8, split=(1.0, 0.0, 0.0))
    dm._splits["train"] = dm._decode(dm.split_samples()["train"], "train")
    assert sorted(path.name for path in dm.skipped) == ["empty.jpg", "notes.txt", "truncated.jpg"]
    assert len(dm.dataset("train")) == 14


def test_empty_split_is_an_error_naming_the_folder(image_folder) -> None:
    dm = RMBDataModule(image_folder(["1", "100"], per_class=2), split=(0.5, 0.5, 0.0))
    dm.setup("fit")  # training needs no test split
    with pytest.raises(DataLayoutError, match="test split of .* is empty"):
        dm.setup("test")


def test_bad_arguments_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="--data.batch_size"):
        RMBDataModule("/nowhere", batch_size=0)
    with pytest.raises(ValueError, match="--data.split"):
        RMBDataModule("/nowhere", split=(0.5, 0.2, 0.2))


def test_predict_reads_a_folder_of_images(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(image_bytes(0, 0))
    (tmp_path / "b.png").write_bytes(image_bytes(1, 0, fmt="PNG"))
    dm = RMBDataModule("/nowhere", predict_dir=tmp_path, image_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dm.setup("predict")
    assert [Path(p).name for p in dm.predict_inputs] == ["a.jpg", "b.png"]
    images, index = next(iter(dm.predict_dataloader()))
    assert images.shape == (2, 3, 8, 8) and index.tolist() == [0, 1]
    with pytest.raises(DataLayoutError, match="--data.predict_dir"):
        RMBDataModule("/nowhere").setup("predict")


def test_the_folder_is_listed_once_for_class_names_split_and_every_stage(image_folder, monkeypatch) -> None:
    from datamodules import image_folder as module

    listings = []
    original = module.scan_image_folder
    monkeypatch.setattr(module, "scan_image_folder", lambda *a, **k: listings.append(a) or original(*a, **k))
    data = ImageFolderDataModule(image_folder(), image_size=16)
    assert data.num_classes == 2
    data.setup("fit")
    data.setup("test")
    assert len(listings) == 1
