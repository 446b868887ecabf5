"""Optimizers and schedulers chosen in the config, a linear warm-up and ReduceLROnPlateau included."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import REPO

RMB = str(REPO / "configs" / "rmb_lenet.yaml")


@pytest.mark.parametrize(
    ("scheduler", "init_args", "kind"),
    [
        ("torch.optim.lr_scheduler.LinearLR", ["--model.scheduler.init_args.start_factor", "0.25",
         "--model.scheduler.init_args.total_iters", "3"], "LinearLR"),
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
    if kind == "LinearLR":  # a warm-up: 1/4 of the rate, then +1/4 per epoch, the full rate after 3 epochs
        assert (config.scheduler.start_factor, config.scheduler.total_iters) == (0.25, 3)
        assert cli.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.02 * 0.5)  # after 1 epoch
