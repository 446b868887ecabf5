"""The views, run in real short trainings with a TensorBoardLogger, read back from the event files."""

from __future__ import annotations

import importlib
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from datamodules import RMBDataModule
from lit_modules import ImageClassifier
from lit_modules.callbacks import (
    ConfusionMatrixFigure,
    FeatureMaps,
    GradCAM,
    Kernels,
    LossChart,
    ParameterHistograms,
    TrainingImages,
    views,
)
from lit_modules.nets import LeNet
from tests.conftest import REPO, shared_data
from tests.test_configs import smoke_args


def fit(tmp_path: Path, data_dir: Path, callbacks: list[pl.Callback], **trainer_args) -> pl.Trainer:
    """Two epochs of LeNet on generated 32x32 images: 4 training batches of 8, 4 validation images."""
    logger = TensorBoardLogger(tmp_path, name="run", version=0, log_graph=True)
    trainer_args = {"logger": logger, **trainer_args}
    trainer = pl.Trainer(
        default_root_dir=tmp_path,
        max_epochs=2,
        accelerator="cpu",
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
        **trainer_args,
    )
    model = ImageClassifier(net=LeNet(num_classes=2), class_names=["1", "100"], input_shape=(3, 32, 32))
    trainer.fit(model, RMBDataModule(data_dir=data_dir, image_size=32, batch_size=8))
    return trainer


def events(log_dir: Path) -> EventAccumulator:
    return EventAccumulator(str(log_dir), size_guidance={"images": 0, "histograms": 0, "scalars": 0}).Reload()


def image_sizes(acc: EventAccumulator, tag: str) -> list[tuple[int, int]]:
    return [(image.width, image.height) for image in acc.Images(tag)]


def tiles(png: Path) -> tuple[int, int]:
    """Rows and columns of pictures in a grid whose padding is white: the runs between all-white lines."""
    white = torch.from_numpy(np.array(Image.open(png).convert("L"))) == 255

    def runs(padding: torch.Tensor) -> int:
        content = (~padding).int()
        return int(content[0] + (content[1:] - content[:-1] == 1).sum())

    return runs(white.all(dim=1)), runs(white.all(dim=0))


def test_every_view_reaches_tensorboard_and_png(tmp_path: Path, image_folder) -> None:
    callbacks = [
        GradCAM(num_images=4),
        FeatureMaps(),
        TrainingImages(),
        ConfusionMatrixFigure(),
        ParameterHistograms(),
        Kernels(),
        LossChart(),
    ]
    trainer = fit(tmp_path, image_folder(per_class=20), callbacks)
    run = Path(trainer.log_dir)
    acc = events(run)
    tags = acc.Tags()

    cams = sorted(tag for tag in tags["images"] if tag.startswith("grad_cam/"))
    assert sum(len(acc.Images(tag)) for tag in cams) == 2 * 4  # 4 images, 2 epochs
    truth = {tag.split("_true_")[0]: tag.split("_true_")[1].split("_pred_")[0] for tag in cams}
    assert sorted(truth) == [f"grad_cam/{i:02d}" for i in range(4)]
    assert sorted(truth.values()) == ["1", "1", "100", "100"]  # picked evenly over the classes
    assert all(size == (128, 128) for tag in cams for size in image_sizes(acc, tag))  # 32 px, enlarged x4
    assert sorted(p.name for p in (run / "grad_cam").iterdir()) == ["epoch_000.png", "epoch_001.png"]

    # conv1's 6 channels in rows of 3, conv2's 16 in rows of 4, each map enlarged from 28 / 10 px to >= 48 px
    assert tiles(run / "feature_maps" / "net.features.0_epoch_001.png") == (2, 3)
    assert tiles(run / "feature_maps" / "net.features.4_epoch_001.png") == (4, 4)
    assert all(w > 3 * 48 and h > 2 * 48 for w, h in image_sizes(acc, "feature_maps/net.features.0"))
    assert image_sizes(acc, "feature_maps/input") == [(32, 32)] * 2
    assert len(list((run / "feature_maps").glob("*.png"))) == 4

    assert len(acc.Images("train/images")) == 2
    assert tiles(next((run / "train_images").glob("*.png"))) == (1, 8)  # 8 augmented photos in a row
    assert len(acc.Images("val/confusion_matrix")) == 2
    assert len(list((run / "confusion_matrix").glob("epoch_*.png"))) == 2

    for name in ("net.features.0", "net.features.4", "net.classifier.1", "net.classifier.5"):
        assert len(acc.Histograms(f"weights/{name}.weight")) == 2
        assert len(acc.Histograms(f"grads/{name}.bias")) == 2
        assert len(acc.Scalars(f"grad_2.0_norm/{name}.weight")) == 2
    assert len(acc.Scalars("grad_2.0_norm_total")) == 2
    assert tags["graph"]  # the logger's log_graph, traced on the zero batch of input_shape

    assert image_sizes(acc, "kernels/net.features.0") == [(3 * 22 + 2, 2 * 22 + 2)] * 2  # 6 kernels, 5 px x4
    assert len(list((run / "kernels").glob("epoch_*.png"))) == 2
    layout = [t for t in tags["tensors"] if t == "custom_scalars__config__"]
    assert layout and {"train/loss_epoch", "val/loss"} <= set(tags["scalars"])  # the two lines of one chart


def test_skipped_epochs_cost_nothing(tmp_path: Path, image_folder, monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("Grad-CAM ran on an epoch it should skip")

    grad_cam_module = importlib.import_module(
        "lit_modules.callbacks.grad_cam"
    )  # the package exports the function
    monkeypatch.setattr(grad_cam_module, "grad_cam_with_logits", fail)
    trainer = fit(tmp_path, image_folder(), [GradCAM(every_n_epochs=3), TrainingImages(every_n_epochs=3)])
    acc = events(Path(trainer.log_dir))
    assert acc.Tags()["images"] == []
    assert not (Path(trainer.log_dir) / "grad_cam").exists()


def test_without_logger_only_pngs_said_once_under_mixed_precision(
    tmp_path: Path, image_folder, monkeypatch
) -> None:
    said: list[str] = []
    monkeypatch.setattr(views, "rank_zero_info", said.append)
    fit(tmp_path, image_folder(), [GradCAM(num_images=2)], logger=False, precision="bf16-mixed")
    assert sorted(p.name for p in (tmp_path / "grad_cam").iterdir()) == ["epoch_000.png", "epoch_001.png"]
    assert len(said) == 1 and "PNGs only" in said[0]


def test_layer_paths_are_checked_at_setup(tmp_path: Path, image_folder) -> None:
    with pytest.raises(ValueError, match=r"no layer 'net.features.99'.*net.features.4"):
        fit(tmp_path, image_folder(), [GradCAM(target_layer="net.features.99")])


def test_histogram_filters_pick_layers() -> None:
    model = ImageClassifier(net=LeNet(num_classes=2), class_names=["a", "b"])
    callback = ParameterHistograms(layer_types=["Linear"], name_pattern=r"classifier\.[15]$")
    callback.setup(None, model, "fit")
    assert list(callback.layers) == ["net.classifier.1", "net.classifier.5"]
    with pytest.raises(ValueError, match="no layer matches"):
        ParameterHistograms(layer_types=["Conv3d"]).setup(None, model, "fit")


@pytest.mark.parametrize(
    ("task", "overlay"),
    [("rmb_lenet", "rmb_lenet"), ("cats_dogs", "cats_dogs"), ("ants_bees_finetune", "ants_bees"),
     ("names_rnn", "names_rnn")],
)  # fmt: skip
def test_views_overlay_fits_its_task(task: str, overlay: str, run_cli, tmp_path: Path) -> None:
    config = REPO / "configs" / f"{task}.yaml"
    cli = run_cli(
        "fit", "--config", str(config), "--config", str(REPO / "configs" / "views" / f"{overlay}.yaml"),
        "--trainer.fast_dev_run", "true", *smoke_args(config, tmp_path),
    )  # fmt: skip
    views = {
        type(c).__module__ for c in cli.trainer.callbacks if type(c).__module__.startswith("lit_modules.")
    }
    assert {"lit_modules.callbacks.confusion_matrix"} <= views


@pytest.mark.slow
def test_rmb_config_draws_its_views(run_cli, tmp_path: Path) -> None:
    """The task config and its views, 2 epochs on the real banknote photos."""
    cli = run_cli(
        "fit",
        "--config", str(REPO / "configs" / "rmb_lenet.yaml"),
        "--config", str(REPO / "configs" / "views" / "rmb_lenet.yaml"),
        "--data.data_dir", str(shared_data("rmb")),
        "--trainer.max_epochs", "2",
    )  # fmt: skip
    run = Path(cli.trainer.log_dir)
    acc = events(run)
    cams = [tag for tag in acc.Tags()["images"] if tag.startswith("grad_cam/")]
    assert sum(len(acc.Images(tag)) for tag in cams) == 8  # every 2 epochs: once
    assert (run / "grad_cam" / "epoch_001.png").is_file()
    assert len(acc.Images("val/confusion_matrix")) == 2
    assert len(acc.Scalars("grad_2.0_norm/net.features.0.weight")) == 1
    assert acc.Tags()["graph"]
