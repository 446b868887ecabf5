"""Every YAML in configs/ runs ``fast_dev_run`` on small generated data."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from datamodules import (
    DetectionDataModule,
    FacesDataModule,
    ImageFolderDataModule,
    NamesDataModule,
    SegmentationDataModule,
)
from tests.conftest import REPO, write_class_folders, write_names, write_pedestrians, write_portraits

TASK_CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def synthetic_data_args(config: Path, tmp_path: Path) -> list[str]:
    """Overrides that point a task config's data module at generated data of the right shape."""
    data = yaml.safe_load(config.read_text())["data"]
    module_name, class_name = data["class_path"].rsplit(".", 1)
    data_class = getattr(importlib.import_module(module_name), class_name)
    if issubclass(data_class, SegmentationDataModule):  # photo/mask pairs, small enough for a quick UNet
        return [
            "--data.data_dir",
            str(write_portraits(tmp_path / "portraits", 10)),
            "--data.image_size",
            "32",
        ]
    if issubclass(data_class, DetectionDataModule):  # photos with boxes, and a detector working at their size
        return [
            "--data.data_dir",
            str(write_pedestrians(tmp_path / "pedestrians", 10)),
            "--data.image_size",
            "48",
            "--model.init_args.net.init_args.options.min_size",  # one key at a time: the rest stay
            "48",
            "--model.init_args.net.init_args.options.max_size",
            "48",
        ]
    if issubclass(data_class, ImageFolderDataModule):
        class_names = getattr(data_class, "CLASS_NAMES", ("a", "b"))
        return ["--data.data_dir", str(write_class_folders(tmp_path / "images", class_names, per_class=6))]
    if issubclass(data_class, FacesDataModule):  # unlabelled images; smaller batches keep the GAN step quick
        faces = write_class_folders(tmp_path / "faces", ("a", "b"), per_class=8)
        return ["--data.data_dir", str(faces), "--data.image_size", "32", "--data.batch_size", "8"]
    if issubclass(data_class, NamesDataModule):
        return ["--data.data_dir", str(write_names(tmp_path / "names"))]
    raise NotImplementedError(f"no synthetic data for {data_class.__name__}: add it to tests/test_configs.py")


# Each task config whose network starts from downloaded weights, and its overlay that starts from random ones.
SCRATCH_VARIANTS = {"ants_bees_finetune": "ants_bees_scratch", "pennfudan_fasterrcnn": "pennfudan_scratch"}


def offline_args(config: Path) -> list[str]:
    """Tests have no internet: a config that downloads pretrained weights starts from random ones instead."""
    net = yaml.safe_load(config.read_text())["model"].get("init_args", {}).get("net", {})
    if not net.get("init_args", {}).get("weights"):
        return []
    if config.stem not in SCRATCH_VARIANTS:
        raise NotImplementedError(
            f"{config.stem} downloads weights: name its scratch overlay in SCRATCH_VARIANTS"
        )
    scratch = REPO / "configs" / "variants" / f"{SCRATCH_VARIANTS[config.stem]}.yaml"
    return ["--config", str(scratch), "--name", config.stem]  # random weights, the task's run folder


def smoke_args(config: Path, tmp_path: Path) -> list[str]:
    """Everything a task config needs to run anywhere in seconds: generated data, no downloads."""
    return [*offline_args(config), *synthetic_data_args(config, tmp_path)]


@pytest.mark.parametrize("config", TASK_CONFIGS, ids=lambda p: p.stem)
def test_fast_dev_run(config: Path, tmp_path: Path, run_cli) -> None:
    """Model summary on, as in a user's run: it feeds the example input through the data's batch hook."""
    cli = run_cli(
        "fit", "--config", str(config), "--trainer.fast_dev_run", "true",
        "--trainer.enable_model_summary", "true", *smoke_args(config, tmp_path),
    )  # fmt: skip
    assert cli.trainer.state.finished
    assert cli.trainer.global_step >= 1


@pytest.mark.parametrize(
    ("task", "variant", "beneath"),
    [
        ("ants_bees_finetune", "ants_bees_scratch", []),
        ("names_rnn", "names_course", []),
        ("names_rnn", "names_plain_rnn", ["names_course"]),
        ("pennfudan_fasterrcnn", "pennfudan_scratch", []),
        ("rmb_lenet", "rmb_grayscale", []),
    ],
)
def test_variant_overlays_change_what_they_say(
    task: str, variant: str, beneath: list[str], tmp_path: Path, run_cli
) -> None:
    config = REPO / "configs" / f"{task}.yaml"
    overlays = [
        arg
        for name in [*beneath, variant]
        for arg in ("--config", str(REPO / "configs" / "variants" / f"{name}.yaml"))
    ]
    cli = run_cli(
        "fit", "--config", str(config), *overlays, "--trainer.fast_dev_run", "true",
        *synthetic_data_args(config, tmp_path),
    )  # fmt: skip
    assert cli.trainer.state.finished
    if variant == "ants_bees_scratch":
        assert cli.model.net.weights is None and cli.model.strategy == "none"
    elif variant == "rmb_grayscale":
        grey = [t for t in cli.datamodule.augment.transforms if type(t).__name__ == "RandomGrayscale"]
        assert grey and grey[0].p == 0.5
    elif variant == "pennfudan_scratch":
        detector = cli.model.net.model
        assert cli.model.net.weights is None and detector.roi_heads.fg_bg_sampler.batch_size_per_image == 128
        assert detector.roi_heads.score_thresh == 0.001  # low-scored boxes reach the mAP
    elif variant == "names_plain_rnn":
        assert type(cli.model.net.rnn.rnn) is nn.RNN and cli.trainer.gradient_clip_val == 1.0
        (optimizer,) = cli.trainer.optimizers
        assert type(optimizer) is torch.optim.SGD and optimizer.defaults["lr"] == 0.05
    else:
        rnn = cli.model.net.rnn
        assert rnn.embedding is None and not rnn.rnn.bidirectional and cli.model.net.bag is None
        assert cli.model.scheduler_factory is None and not cli.datamodule.lowercase


# Every transform family of the course's lessons, as config entries: crops, flips, padding, rotation, affine,
# perspective, colour, grayscale, erasing, noise, and the three combinators (RandomChoice, -Apply, -Order).
# FiveCrop and TenCrop are test-time views: --model.tta (tests/lit_modules/test_tta.py).
V2 = "torchvision.transforms.v2."
EVERY_FAMILY = [
    {"class_path": V2 + "RandomResizedCrop", "init_args": {"size": 32, "scale": [0.5, 1.0]}},
    {"class_path": V2 + "RandomOrder", "init_args": {"transforms": [
        {"class_path": V2 + "RandomHorizontalFlip"},
        {"class_path": V2 + "RandomVerticalFlip", "init_args": {"p": 0.1}},
    ]}},
    {"class_path": V2 + "RandomChoice", "init_args": {"transforms": [
        {"class_path": V2 + "RandomRotation", "init_args": {"degrees": 15}},
        {"class_path": V2 + "RandomAffine", "init_args": {"degrees": 0, "translate": [0.1, 0.1], "shear": 5}},
        {"class_path": V2 + "RandomPerspective", "init_args": {"distortion_scale": 0.3, "p": 1.0}},
    ]}},
    {"class_path": V2 + "RandomApply", "init_args": {"p": 0.5, "transforms": [
        {"class_path": V2 + "Pad", "init_args": {"padding": 4, "padding_mode": "reflect"}},
        {"class_path": V2 + "CenterCrop", "init_args": {"size": 32}},
    ]}},
    {"class_path": V2 + "ColorJitter", "init_args": {"brightness": 0.3, "contrast": 0.3, "hue": 0.05}},
    {"class_path": V2 + "RandomGrayscale", "init_args": {"p": 0.2}},
    {"class_path": "datamodules.transforms.SaltPepperNoise", "init_args": {"snr": 0.95, "p": 0.3}},
    {"class_path": V2 + "RandomErasing", "init_args": {"p": 0.3}},
]  # fmt: skip


def test_every_transform_family_runs_from_a_config(tmp_path: Path, run_cli) -> None:
    config = REPO / "configs" / "rmb_lenet.yaml"
    cli = run_cli(
        "fit", "--config", str(config), "--trainer.fast_dev_run", "true", *smoke_args(config, tmp_path),
        "--data.augment", json.dumps(EVERY_FAMILY),
    )  # fmt: skip
    names = {type(t).__name__ for t in cli.datamodule.augment.transforms}
    assert {"RandomChoice", "RandomApply", "RandomOrder", "RandomErasing"} <= names
    assert cli.trainer.global_step == 1
