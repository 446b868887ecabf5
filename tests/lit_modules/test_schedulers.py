"""Optimizers and schedulers chosen in the config, LambdaLR and ReduceLROnPlateau included."""

from __future__ import annotations

import pytest
import torch

from lit_modules.lr_lambdas import LinearWarmup
from tests.conftest import REPO

RMB = str(REPO / "configs" / "rmb_lenet.yaml")


def test_linear_warmup_factors() -> None:
    assert [LinearWarmup(4)(e) for e in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="warmup_epochs"):
        LinearWarmup(0)


@pytest.mark.parametrize(
    ("scheduler", "init_args", "kind"),
    [
        ("torch.optim.lr_scheduler.LambdaLR", ["--model.scheduler.init_args.lr_lambda",
         "{class_path: lit_modules.lr_lambdas.LinearWarmup, init_args: {warmup_epochs: 3}}"], "LambdaLR"),
        ("lightning.pytorch.cli.ReduceLROnPlateau", ["--model.scheduler.init_args.monitor", "val/acc",
         "--model.scheduler.init_args.mode", "max"], "ReduceLROnPlateau"),
        ("torch.optim.lr_scheduler.MultiStepLR", ["--model.scheduler.init_args.milestones", "[1, 2]"],
         "MultiStepLR"),
        ("torch.optim.lr_scheduler.ExponentialLR", ["--model.scheduler.init_args.gamma", "0.9"],
         "ExponentialLR"),
    ],
)  # fmt: skip
def test_schedulers_from_flags(
    scheduler: str, init_args: list[str], kind: str, image_folder, run_cli
) -> None:
    cli = run_cli(
        "fit", "--config", RMB, "--data.data_dir", str(image_folder()), "--trainer.fast_dev_run", "true",
        "--model.optimizer", "torch.optim.AdamW", "--model.optimizer.init_args.lr", "0.02",
        "--model.scheduler", scheduler, *init_args,
    )  # fmt: skip
    (config,) = cli.trainer.lr_scheduler_configs
    assert type(config.scheduler).__name__ == kind
    assert isinstance(cli.trainer.optimizers[0], torch.optim.AdamW)
    if kind == "ReduceLROnPlateau":
        assert config.monitor == "val/acc"
    if kind == "LambdaLR":
        assert config.scheduler.lr_lambdas[0].warmup_epochs == 3
