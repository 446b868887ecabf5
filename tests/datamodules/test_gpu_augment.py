"""Batched augmentations against torchvision's per-image transforms, on CPU tensors."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from datamodules import RMBDataModule
from datamodules.gpu_augment import (
    BatchRandomHorizontalFlip,
    BatchRandomResizedCrop,
    apply_batch_augment,
    random_resized_crop_boxes,
    resized_crops,
)


@pytest.mark.parametrize(
    ("height", "width", "scale", "ratio"),
    [(48, 64, (0.08, 1.0), (3 / 4, 4 / 3)), (20, 90, (0.5, 1.0), (0.9, 1.1))],
)
def test_crop_boxes_follow_torchvision_get_params(height, width, scale, ratio) -> None:
    """Same distribution of (top, left, h, w) as RandomResizedCrop.get_params, fallback included."""
    count = 4000
    ours = random_resized_crop_boxes(
        count, height, width, scale, ratio, torch.Generator().manual_seed(0)
    ).double()
    torch.manual_seed(1)
    image = torch.empty(1, height, width)
    theirs = torch.tensor(
        [v2.RandomResizedCrop.get_params(image, list(scale), list(ratio)) for _ in range(count)],
        dtype=torch.double,
    )
    for column, name in enumerate(("top", "left", "h", "w")):
        spread = max(theirs[:, column].std().item(), 1.0)
        assert abs(ours[:, column].mean() - theirs[:, column].mean()) < 0.1 * spread, name
        assert abs(ours[:, column].std() - theirs[:, column].std()) < 0.1 * spread, name
        for q in (0.1, 0.5, 0.9):
            assert abs(ours[:, column].quantile(q) - theirs[:, column].quantile(q)) <= 0.15 * spread + 1, (
                name,
                q,
            )
    assert (ours[:, 0] + ours[:, 2] <= height).all() and (ours[:, 1] + ours[:, 3] <= width).all()
    assert (ours >= 0).all()


def _torchvision_crop(
    image: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, int]
) -> torch.Tensor:
    return F.resized_crop(
        image, *box, size=list(size), interpolation=InterpolationMode.BILINEAR, antialias=False
    )


def test_fixed_box_equals_torchvision_resized_crop() -> None:
    images = torch.rand(3, 3, 40, 50, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[5, 7, 30, 40], [0, 0, 40, 50], [10, 3, 24, 33]])  # all shrink to 16x20
    out = resized_crops(images, boxes, (16, 20))
    for image, box, crop in zip(images, boxes.tolist(), out, strict=True):
        torch.testing.assert_close(crop, _torchvision_crop(image, box, (16, 20)), atol=1e-5, rtol=0)


def test_enlarged_box_equals_torchvision_inside_the_border() -> None:
    """Enlarging, only the outermost output pixels differ (they blend in the pixel outside the box)."""
    image = torch.rand(1, 3, 40, 50, generator=torch.Generator().manual_seed(1))
    box, size = (10, 12, 10, 8), (32, 32)
    ours = resized_crops(image, torch.tensor([box]), size)[0]
    theirs = _torchvision_crop(image[0], box, size)
    margin = math.ceil(size[0] / box[2] / 2)
    torch.testing.assert_close(
        ours[:, margin:-margin, margin:-margin], theirs[:, margin:-margin, margin:-margin], atol=1e-5, rtol=0
    )
    # A box that is the whole image clamps at the image's edge, as torchvision clamps at the crop's: equal.
    corner = image[..., :10, :8].contiguous()
    whole = resized_crops(corner, torch.tensor([[0, 0, 10, 8]]), size)[0]
    torch.testing.assert_close(whole, _torchvision_crop(corner[0], (0, 0, 10, 8), size), atol=1e-5, rtol=0)


def test_each_sample_gets_its_own_crop() -> None:
    torch.manual_seed(0)
    images = torch.rand(1, 3, 32, 32).expand(8, -1, -1, -1)
    out = BatchRandomResizedCrop(24, scale=(0.2, 0.5))(images)
    assert out.shape == (8, 3, 24, 24)
    assert len({tuple(o.flatten()[:50].tolist()) for o in out}) == 8


def test_flip_each_sample_or_not() -> None:
    torch.manual_seed(0)
    images = torch.rand(64, 3, 4, 6)
    assert torch.equal(BatchRandomHorizontalFlip(1.0)(images), images.flip(-1))
    assert torch.equal(BatchRandomHorizontalFlip(0.0)(images), images)
    out = BatchRandomHorizontalFlip(0.5)(images)
    flipped = (out == images.flip(-1)).flatten(1).all(1)
    assert ((out == images).flatten(1).all(1) ^ flipped).all()
    assert 16 < flipped.sum() < 48


def test_apply_batch_augment_scales_uint8() -> None:
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    out = apply_batch_augment(images, [BatchRandomHorizontalFlip()])
    assert out.dtype == torch.float32 and torch.equal(out, torch.ones_like(out))


def test_data_module_augments_training_batches_only(image_folder) -> None:
    data = RMBDataModule(
        image_folder(per_class=10), image_size=16, batch_size=4, cache="device",
        batch_augment=[BatchRandomResizedCrop(12), BatchRandomHorizontalFlip()],
    )  # fmt: skip
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch[0].dtype == torch.uint8 and batch[0].shape == (4, 3, 16, 16)  # one indexing, uint8
    data.trainer = SimpleNamespace(training=True)
    assert data.on_after_batch_transfer(batch, 0)[0].shape == (4, 3, 12, 12)
    data.trainer = SimpleNamespace(training=False)
    assert data.on_after_batch_transfer(batch, 0)[0].shape == (4, 3, 16, 16)


def test_batched_loader_equals_per_sample_indexing(image_folder) -> None:
    data = RMBDataModule(image_folder(per_class=10), image_size=16, batch_size=3)
    data.setup("fit")
    dataset = data.dataset("val")
    images, targets = next(iter(data.val_dataloader()))
    assert torch.equal(images, torch.stack([dataset[i][0] for i in range(len(images))]))
    assert torch.equal(targets, torch.stack([dataset[i][1] for i in range(len(images))]))


def test_gpu_path_config_trains(tmp_path, image_folder, run_cli) -> None:
    """The switches as a user writes them: accelerator cache and batch augmentation from the command line."""
    cli = run_cli(
        "fit", "--config", "configs/rmb_lenet.yaml", "--data.data_dir", str(image_folder()),
        "--trainer.fast_dev_run", "true", "--data.augment", "null", "--data.cache", "device",
        "--data.batch_augment", "[{class_path: datamodules.gpu_augment.BatchRandomResizedCrop, "
        "init_args: {size: 32, scale: [0.5, 1.0]}}, "
        "{class_path: datamodules.gpu_augment.BatchRandomHorizontalFlip}]",
    )  # fmt: skip
    assert cli.trainer.global_step == 1
    assert len(cli.datamodule.batch_augment) == 2
