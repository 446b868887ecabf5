"""Real short trainings: pretrain a ResNet-18 on the RMB banknotes, then finetune it on ants vs bees."""

from __future__ import annotations

import functools
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torchvision.transforms import v2

from datamodules import AntsBeesDataModule, RMBDataModule
from lit_modules import FinetuneClassifier
from lit_modules.nets import TorchvisionClassifier
from tests.conftest import shared_data

CROP = 64  # the recipe's 224 crop of a 256 cache, shrunk for CPU time
RECIPE = {
    "optimizer": functools.partial(torch.optim.SGD, lr=0.001, momentum=0.9),
    "scheduler": functools.partial(torch.optim.lr_scheduler.StepLR, step_size=7, gamma=0.1),
}


def resnet18(class_names, weights: str | None = None, **kwargs) -> FinetuneClassifier:
    net = TorchvisionClassifier(len(class_names), name="resnet18", weights=weights)
    return FinetuneClassifier(net, class_names=list(class_names), **kwargs)


def small_images(data_class, data_dir: Path, **kwargs):
    return data_class(
        data_dir=data_dir, image_size=CROP * 8 // 7, keep_aspect=True, batch_size=16,
        augment=[v2.RandomResizedCrop(CROP, antialias=True), v2.RandomHorizontalFlip()],
        eval_transform=[v2.CenterCrop(CROP)], **kwargs,
    )  # fmt: skip


class LoadedAtStart(Callback):
    """The first conv's weights as the first training step sees them (after the starting weights loaded)."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: FinetuneClassifier) -> None:
        self.conv1 = pl_module.net.model.conv1.weight.detach().clone()


def train(
    model: pl.LightningModule, data: pl.LightningDataModule, epochs: int, out: Path, callbacks=()
) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=epochs, logger=False, enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ModelCheckpoint(out, monitor="val/acc", mode="max"), *callbacks],
    )  # fmt: skip
    trainer.fit(model, data)
    return trainer


@pytest.mark.slow
def test_finetune_from_self_pretrained_weights_beats_chance(tmp_path) -> None:
    rmb, hymenoptera = shared_data("rmb"), shared_data("hymenoptera")
    pl.seed_everything(0)
    pretrain = resnet18(RMBDataModule.CLASS_NAMES, strategy="none", **RECIPE)
    trainer = train(pretrain, small_images(RMBDataModule, rmb), epochs=6, out=tmp_path / "rmb")
    assert trainer.callback_metrics["val/acc"] > 0.8

    data = small_images(AntsBeesDataModule, hymenoptera)
    weights = trainer.checkpoint_callback.best_model_path
    model = resnet18(data.CLASS_NAMES, weights=weights, strategy="none", **RECIPE)
    pretrained_conv1 = torch.load(weights, weights_only=False)["state_dict"]["net.model.conv1.weight"]
    start = LoadedAtStart()
    trainer = train(model, data, epochs=8, out=tmp_path / "ants_bees", callbacks=[start])
    assert torch.equal(start.conv1, pretrained_conv1), "the finetuning did not start from the RMB weights"
    # The real archive's GIF and "ant photos.jpg" are decoded, not skipped: all 245 training images.
    assert len(data.dataset("train")) == 245
    # val/ (153 images) is cut into the val and test splits; train/ gives neither any image.
    data.setup("test")
    assert len(data.dataset("val")) + len(data.dataset("test")) == 153
    accuracy = trainer.checkpoint_callback.best_model_score.item()
    assert accuracy > 0.65, f"best val/acc {accuracy:.3f} is too close to chance (0.5)"
