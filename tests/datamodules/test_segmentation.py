"""Segmentation data: pair layouts, masks decoded once and exactly, and masks that move with their images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from datamodules import DataLayoutError, SegmentationDataModule
from datamodules.gpu_augment import BatchRandomHorizontalFlip, BatchRandomResizedCrop
from datamodules.mask_layouts import scan_mask_folder
from datamodules.segmentation import moved_together
from tests.conftest import write_portraits


def course_layout(root: Path, train: int = 8, valid: int = 4) -> Path:
    write_portraits(root / "train", train)
    write_portraits(root / "valid", valid)
    return root


def test_course_layout_keeps_its_split_and_pairs_each_photo_with_its_matte(tmp_path: Path) -> None:
    scanned = scan_mask_folder(course_layout(tmp_path))
    assert scanned.layout == "pre-split folders, masks next to their photos"
    assert {split: len(pairs) for split, pairs in scanned.splits.items()} == {"train": 8, "val": 4}
    assert all(p.mask.name == p.image.stem + "_matte.png" for p in scanned.splits["train"])


def test_images_and_masks_folders_are_paired_by_stem_and_split_deterministically(tmp_path: Path) -> None:
    write_portraits(tmp_path, 10, layout="folders")
    scanned = scan_mask_folder(tmp_path)
    assert scanned.layout == "images/ and masks/ folders" and len(scanned.unsplit) == 10
    assert all(p.image.stem == p.mask.stem for p in scanned.unsplit)
    splits = SegmentationDataModule(tmp_path, split=(0.6, 0.2, 0.2)).split_samples()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert splits == SegmentationDataModule(tmp_path, split=(0.6, 0.2, 0.2)).split_samples()


def test_a_photo_without_mask_and_a_mask_without_photo_are_named_in_one_warning(tmp_path: Path) -> None:
    course_layout(tmp_path)
    (tmp_path / "train" / "00003_matte.png").unlink()
    (tmp_path / "train" / "00005.jpg").unlink()
    with pytest.warns(UserWarning, match="Skipped 2 file") as record:
        scanned = scan_mask_folder(tmp_path)
    assert len(record) == 1
    assert "00003.jpg" in str(record[0].message) and "00005_matte.png" in str(record[0].message)
    assert len(scanned.splits["train"]) == 6


def test_no_pair_is_an_error_naming_the_folder_and_the_layouts(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(DataLayoutError, match=r"(?s)No image/mask pair in .*_matte.png.*masks/"):
        scan_mask_folder(tmp_path / "photos")
    with pytest.raises(DataLayoutError, match="does not exist"):
        scan_mask_folder(tmp_path / "nowhere")


def test_binary_masks_are_every_non_zero_matte_pixel(tmp_path: Path) -> None:
    dm = SegmentationDataModule(course_layout(tmp_path), image_size=(48, 40), batch_size=4)
    dm.setup("fit")
    train = dm.dataset("train")
    assert dm.num_classes == 1 and dm.class_names is None
    assert train.images.shape == (8, 3, 48, 40) and train.targets.shape == (8, 48, 40)
    matte = torch.from_numpy(np.array(Image.open(tmp_path / "train" / "00000_matte.png")))
    assert torch.equal(train.targets[0], (matte > 0).to(torch.uint8))  # the soft edge (128) is foreground
    images, masks = dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    assert (
        images.dtype == torch.float32 and masks.dtype == torch.long and set(masks.unique().tolist()) == {0, 1}
    )


def test_index_masks_keep_their_values_through_a_nearest_neighbour_resize(tmp_path: Path) -> None:
    write_portraits(tmp_path, 6, layout="folders", classes=3)
    dm = SegmentationDataModule(tmp_path, class_names=["background", "left", "right"], image_size=24)
    dm.setup("fit")
    assert dm.num_classes == 3
    assert set(dm.dataset("train").targets.unique().tolist()) == {0, 1, 2}  # no blended value like 1.5 -> 1
    too_few = SegmentationDataModule(tmp_path, class_names=["background", "left"], image_size=24)
    with pytest.raises(DataLayoutError, match="has value 2, but --data.class_names names only 2 classes"):
        too_few.setup("fit")
    with pytest.raises(ValueError, match="leave it out for binary masks"):
        SegmentationDataModule(tmp_path, class_names=["person"])


def test_a_flip_moves_the_mask_with_the_image(tmp_path: Path) -> None:
    dm = SegmentationDataModule(
        course_layout(tmp_path), image_size=32, augment=[v2.RandomHorizontalFlip(p=1)]
    )
    dm.setup("fit")
    train = dm.dataset("train")
    image, mask = train[0]
    assert torch.equal(image, train.images[0].flip(-1)) and torch.equal(mask, train.targets[0].flip(-1))
    assert mask.dtype == torch.uint8


def test_random_geometry_keeps_mask_on_the_shape_and_colour_changes_the_image_only(tmp_path: Path) -> None:
    augment = [
        v2.RandomResizedCrop(32, scale=(0.3, 1.0)),
        v2.RandomRotation(20),
        v2.ColorJitter(brightness=(0.5, 0.5)),
    ]
    dm = SegmentationDataModule(course_layout(tmp_path), image_size=32, augment=augment)
    dm.setup("fit")
    train = dm.dataset("train")
    for key in range(8):
        image, mask = train[(key, 1000 + key)]
        red = image[0].int() - image[2].int() > 40  # the shape's pixels, wherever the geometry took them
        inside = mask.bool()
        assert (red & inside).sum() >= 0.9 * red.sum() and (red | ~inside).float().mean() > 0.9
        assert set(mask.unique().tolist()) <= {0, 1}


def test_colour_jitter_changes_the_image_and_leaves_the_mask(tmp_path: Path) -> None:
    augment = [v2.ColorJitter(brightness=(0.5, 0.5))]
    dm = SegmentationDataModule(course_layout(tmp_path), image_size=32, augment=augment)
    dm.setup("fit")
    train = dm.dataset("train")
    image, mask = train[0]
    assert not torch.equal(image, train.images[0]) and torch.equal(mask, train.targets[0])


def test_batch_augmentation_on_device_moves_masks_too(tmp_path: Path) -> None:
    images = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    images[:, 0, :, :5] = 255  # red on the left
    masks = torch.zeros(4, 16, 16, dtype=torch.long)
    masks[:, :, :5] = 1
    flipped, flipped_masks = moved_together(images, masks, [BatchRandomHorizontalFlip(p=1)], 1)
    assert torch.equal(flipped_masks, masks.flip(-1)) and torch.equal(flipped[:, 0] > 0.5, masks.flip(-1) > 0)
    three = masks.clone()
    three[:, :, 12:] = 2
    cropped, cropped_masks = moved_together(images, three, [BatchRandomResizedCrop(16, scale=(0.5, 1.0))], 3)
    assert cropped_masks.dtype == torch.long and set(cropped_masks.unique().tolist()) <= {0, 1, 2}
    assert torch.equal(cropped[:, 0] > 0.5, cropped_masks == 1)


def test_batch_augment_runs_in_training_only(tmp_path: Path) -> None:
    dm = SegmentationDataModule(
        course_layout(tmp_path), image_size=32, batch_augment=[BatchRandomHorizontalFlip(p=1)]
    )
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    _, masks = dm.on_after_batch_transfer(batch, 0)  # no trainer: not training
    assert torch.equal(masks, batch[1].long())


def test_predict_reads_a_folder_of_photos(tmp_path: Path) -> None:
    write_portraits(tmp_path / "photos", 3, layout="folders")
    dm = SegmentationDataModule("/nowhere", predict_dir=tmp_path / "photos" / "images", image_size=16)
    dm.setup("predict")
    assert [Path(p).name for p in dm.predict_inputs] == ["00000.jpg", "00001.jpg", "00002.jpg"]
    images, index = next(iter(dm.predict_dataloader()))
    assert images.shape == (3, 3, 16, 16) and index.tolist() == [0, 1, 2]
