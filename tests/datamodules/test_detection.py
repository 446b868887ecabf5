"""Detection data: Penn-Fudan and COCO layouts, boxes resized and moved with their photos, list batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.transforms import v2

from datamodules import DataLayoutError, DetectionDataModule
from datamodules.box_layouts import pascal_boxes, scan_box_folder
from datamodules.detection import CachedBoxes
from tests.conftest import pedestrian_box, write_pedestrians

SIZE = (48, 40)  # generated photos, (width, height)


def expected_boxes(index: int, image_size: tuple[int, int]) -> torch.Tensor:
    """The generated pedestrian's box after resizing its photo to ``image_size`` (height, width)."""
    scale = torch.tensor([image_size[1] / SIZE[0], image_size[0] / SIZE[1]] * 2)
    return torch.tensor([pedestrian_box(index, SIZE)], dtype=torch.float32) * scale


@pytest.mark.parametrize("layout", ["penn_fudan", "masks", "coco"])
def test_every_layout_gives_the_same_boxes_resized_with_the_photos(layout: str, tmp_path: Path) -> None:
    data = DetectionDataModule(
        write_pedestrians(tmp_path, 10, layout), image_size=(32, 64), split=(0.8, 0.2, 0.0)
    )
    data.setup("fit")
    assert data.class_names == ["background", "person" if layout == "coco" else "pedestrian"]
    assert data.num_classes == 2
    val = data.dataset("val")
    stems = [s.image.stem for s in data.split_samples()["val"]]
    assert val.images.shape == (2, 3, 32, 64)
    for stem, target in zip(stems, val.targets, strict=True):
        torch.testing.assert_close(target["boxes"], expected_boxes(int(stem[3:]), (32, 64)))
        assert target["labels"].tolist() == [1]


def test_the_split_is_seeded_and_the_same_for_every_layout(tmp_path: Path) -> None:
    def val_stems(root: Path, seed: int) -> list[str]:
        return [s.image.stem for s in DetectionDataModule(root, seed=seed).split_samples()["val"]]

    penn, coco = write_pedestrians(tmp_path / "p", 20), write_pedestrians(tmp_path / "c", 20, "coco")
    assert val_stems(penn, 1) == val_stems(penn, 1) == val_stems(coco, 1) != val_stems(penn, 2)


def test_pascal_corners_become_zero_based_and_exclusive() -> None:
    text = (
        'Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (160, 182) - (302, 431)'
    )
    assert pascal_boxes(text) == [(159.0, 181.0, 302.0, 431.0)]


def test_a_missing_or_broken_annotation_is_named_in_one_warning_and_skipped(tmp_path: Path) -> None:
    root = write_pedestrians(tmp_path, 8)
    (root / "Annotation" / "Ped00002.txt").unlink()
    (root / "Annotation" / "Ped00005.txt").write_text("nothing here")
    with pytest.warns(UserWarning, match="Skipped 2 photo") as record:
        scanned = scan_box_folder(root)
    assert len(record) == 1
    message = str(record[0].message)
    assert "Ped00002.png (no Annotation/Ped00002.txt)" in message and "Ped00005.png (no box" in message
    assert len(scanned.unsplit) == 6


def test_a_broken_coco_annotation_and_an_unlisted_photo_are_skipped(tmp_path: Path) -> None:
    root = write_pedestrians(tmp_path, 6, "coco")
    instances = root / "annotations" / "instances.json"
    coco = json.loads(instances.read_text())
    coco["annotations"][1]["bbox"] = [1, 2]
    coco["images"].pop()
    instances.write_text(json.dumps(coco))
    with pytest.warns(UserWarning, match="Skipped 2 photo") as record:
        scanned = scan_box_folder(root)
    assert "Ped00001.png (broken annotation" in str(record[0].message)
    assert "Ped00005.png (not in instances.json)" in str(record[0].message)
    assert len(scanned.unsplit) == 4


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda root: root / "nope", "does not exist"),
        (lambda root: root, "No detection layout found in"),
        (lambda root: write_pedestrians(root, 2, "coco") and (root / "other.json").write_text("{}") and root,
         "Several annotation files"),
    ],
)  # fmt: skip
def test_a_wrong_folder_is_a_data_error_showing_the_layouts(make, match: str, tmp_path: Path) -> None:
    with pytest.raises(DataLayoutError, match=match):
        DetectionDataModule(make(tmp_path)).setup("fit")


def test_boxes_move_with_a_flip_and_a_crop() -> None:
    image = torch.zeros(1, 3, 20, 40, dtype=torch.uint8)
    image[..., 5:15, 2:10] = 255  # the object: columns 2-9
    target = {"boxes": torch.tensor([[2.0, 5.0, 10.0, 15.0]]), "labels": torch.tensor([1])}
    flipped = CachedBoxes(image, [target], v2.RandomHorizontalFlip(p=1.0))
    moved_image, moved = flipped[0]
    columns = moved_image[0, 10].nonzero().flatten()
    assert (columns.min().item(), columns.max().item() + 1) == (30, 38)
    torch.testing.assert_close(moved["boxes"], torch.tensor([[30.0, 5.0, 38.0, 15.0]]))
    cropped = CachedBoxes(image, [target], v2.CenterCrop((10, 20)))  # rows 5-14, columns 10-29
    _, moved = cropped[0]
    assert moved["boxes"].shape == (0, 4) and moved["labels"].shape == (0,)  # the object was cut away
    cropped = CachedBoxes(image, [target], v2.Pad([0, 0, 10, 10]))
    _, moved = cropped[0]
    torch.testing.assert_close(moved["boxes"], target["boxes"])


def test_a_box_made_degenerate_by_a_crop_is_removed_with_its_label() -> None:
    image = torch.zeros(1, 3, 20, 40, dtype=torch.uint8)
    target = {
        "boxes": torch.tensor([[2.0, 2.0, 12.0, 18.0], [25.0, 2.0, 35.0, 18.0]]),
        "labels": torch.tensor([1, 2]),
    }
    data = CachedBoxes(image, [target], v2.RandomCrop((20, 12)))  # 12 columns hold at most one box
    torch.manual_seed(0)
    for _ in range(8):
        _, moved = data[0]
        widths = moved["boxes"][:, 2] - moved["boxes"][:, 0]
        assert (widths >= 1).all() and len(moved["labels"]) == len(moved["boxes"])
        assert set(moved["labels"].tolist()) <= {1, 2} and len(moved["labels"]) < 2


def test_batches_are_lists_of_float_images_and_target_dicts(tmp_path: Path) -> None:
    data = DetectionDataModule(
        write_pedestrians(tmp_path, 10), image_size=32, batch_size=3, augment=[v2.RandomHorizontalFlip()]
    )
    data.setup("fit")
    images, targets = next(iter(data.train_dataloader()))
    assert isinstance(images, list) and isinstance(targets, list) and len(images) == len(targets) == 3
    assert set(targets[0]) == {"boxes", "labels"} and targets[0]["boxes"].shape == (1, 4)
    images, targets = data.on_after_batch_transfer((images, targets), 0)
    assert images[0].dtype == torch.float32 and images[0].min() >= 0 and images[0].max() <= 1
    summary = data.data_summary("fit")["samples"]
    assert summary == {"train": "8 (8 boxes)", "val": "1 (1 boxes)"}


def test_a_second_data_module_maps_the_photos_from_the_disk_cache(tmp_path: Path, decodes) -> None:
    root = write_pedestrians(tmp_path / "peds", 10)
    first = DetectionDataModule(root, image_size=32, split=(0.8, 0.2, 0.0))
    first.setup("fit")
    assert len(decodes) == 10
    second = DetectionDataModule(root, image_size=32, split=(0.8, 0.2, 0.0))
    second.setup("fit")
    assert len(decodes) == 10  # nothing decoded again
    torch.testing.assert_close(second.dataset("train").images, first.dataset("train").images)
    torch.testing.assert_close(second.dataset("train").targets, first.dataset("train").targets)
