"""The portrait UNet task end to end through the CLI: fit with views, predict PNGs, index masks, losses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lit_modules.segmentation import segmentation_loss
from tests.conftest import REPO, write_portraits

CONFIG = str(REPO / "configs" / "portrait_unet.yaml")
VIEWS = str(REPO / "configs" / "views" / "portrait_unet.yaml")
COURSE = str(REPO / "configs" / "variants" / "portrait_unet_course.yaml")
SMALL = ["--data.image_size", "32", "--model.init_args.net.init_args.features", "4"]


def portraits(tmp_path: Path) -> Path:
    write_portraits(tmp_path / "portraits" / "train", 8)
    write_portraits(tmp_path / "portraits" / "valid", 4)
    return tmp_path / "portraits"


def test_fit_draws_views_then_predict_writes_a_mask_and_an_overlay_per_photo(run_cli, tmp_path: Path) -> None:
    data = ["--data.data_dir", str(portraits(tmp_path)), *SMALL]
    cli = run_cli("fit", "--config", CONFIG, "--config", VIEWS, *data, "--trainer.max_epochs", "1")
    run = Path(cli.trainer.log_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["val/dice"] <= 1 and 0 <= metrics["val/iou"] <= 1 and metrics["best_score"] >= 0
    grid = Image.open(run / "segmentation" / "epoch_000.png")
    assert grid.width > 3 * 32 and grid.height > 2 * 32  # photo / true / predicted, one row per photo
    tags = EventAccumulator(str(run), size_guidance={"images": 0}).Reload().Tags()["images"]
    assert "segmentation/val" in tags

    photos = tmp_path / "to_segment"
    write_portraits(photos, 2, layout="folders", size=(50, 36))
    run_cli(
        "predict",
        "--config",
        CONFIG,
        *data,
        "--ckpt_path",
        "last",
        "--data.predict_dir",
        str(photos / "images"),
    )
    written = sorted(p.name for p in (run / "predictions").iterdir())
    assert written == ["00000_mask.png", "00000_overlay.png", "00001_mask.png", "00001_overlay.png"]
    mask = Image.open(run / "predictions" / "00000_mask.png")
    assert mask.size == (50, 36) and mask.mode == "L" and set(np.unique(np.array(mask))) <= {0, 255}
    assert Image.open(run / "predictions" / "00000_overlay.png").size == (50, 36)
    assert not (run / "predictions.csv").exists()


def test_index_masks_link_their_class_count_into_the_network_and_log_per_class(
    run_cli, tmp_path: Path
) -> None:
    write_portraits(tmp_path / "shapes", 10, layout="folders", classes=3)
    cli = run_cli(
        "fit", "--config", CONFIG, "--data.data_dir", str(tmp_path / "shapes"), *SMALL,
        "--data.class_names", "[background, left, right]", "--data.split", "[0.6, 0.2, 0.2]",
        "--trainer.max_epochs", "1", "--model.init_args.loss", "bce",
    )  # fmt: skip
    assert cli.model.net.conv.out_channels == 3
    logged = cli.trainer.callback_metrics
    assert {"val/dice", "val/iou", "val/dice/left", "val/dice/right", "val/iou/background"} <= set(logged)
    cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path="last")
    assert {"test/dice", "test/iou", "test/dice/right"} <= set(cli.trainer.callback_metrics)


def test_the_course_recipe_overlay_runs(run_cli, tmp_path: Path) -> None:
    cli = run_cli(
        "fit", "--config", CONFIG, "--config", COURSE, "--data.data_dir", str(portraits(tmp_path)), *SMALL,
        "--trainer.fast_dev_run", "true",
    )  # fmt: skip
    assert cli.model.loss == "mse" and isinstance(cli.model.optimizers().optimizer, torch.optim.SGD)
    assert cli.trainer.lr_scheduler_configs[0].scheduler.step_size == 150


@pytest.mark.parametrize("loss", ["bce", "dice", "bce_dice", "mse"])
@pytest.mark.parametrize("classes", [1, 3])
def test_every_loss_is_lower_for_the_right_masks(loss: str, classes: int) -> None:
    masks = torch.randint(0, max(classes, 2), (2, 8, 8))
    one_hot = torch.nn.functional.one_hot(masks, max(classes, 2)).permute(0, 3, 1, 2).float()
    right = (one_hot[:, 1:] if classes == 1 else one_hot) * 12 - 6
    wrong = -right
    assert segmentation_loss(loss, right, masks) < segmentation_loss(loss, wrong, masks)
    with pytest.raises(ValueError, match="Unknown segmentation loss"):
        segmentation_loss("hinge", right, masks)  # type: ignore[arg-type]


@pytest.mark.parametrize("class_names", [None, ["background", "hair", "face"]])
def test_the_headline_dice_averages_the_foreground_classes_only(class_names) -> None:
    """The background (class 0) is scored perfectly here and the foreground badly: a mean that included the
    background would read far higher."""
    from lit_modules.nets import UNet
    from lit_modules.segmentation import SegmentationTask

    classes = len(class_names) if class_names else 2
    model = SegmentationTask(UNet(num_classes=1 if class_names is None else classes, features=4), class_names)
    masks = torch.zeros(1, 8, 8, dtype=torch.long)
    masks[0, :2] = 1
    masks[0, 2:4] = classes - 1  # the last class (1 for binary masks)
    predicted = masks.clone()
    predicted[0, :4, :6] = 0  # most foreground pixels missed, every background pixel right
    logged: dict[str, float] = {}
    model.log = lambda name, value, **kwargs: logged.__setitem__(name, float(value))
    model.val_metrics.update(predicted, masks)
    model.on_validation_epoch_end()
    per_class = [
        2
        * ((predicted == c) & (masks == c)).sum().item()
        / ((predicted == c).sum() + (masks == c).sum()).item()
        for c in range(classes)
    ]
    assert logged["val/dice"] == pytest.approx(sum(per_class[1:]) / (classes - 1), abs=1e-6)
    assert logged["val/dice"] < 0.5 < per_class[0]
