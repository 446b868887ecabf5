"""Every task config on a GPU, in fp32 and bf16-mixed (skipped without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.test_configs import TASK_CONFIGS, smoke_args

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
@pytest.mark.parametrize("config", TASK_CONFIGS, ids=lambda p: p.stem)
def test_fit_on_gpu(config: Path, precision: str, tmp_path: Path, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", str(config), "--trainer.accelerator", "gpu", "--trainer.devices", "1",
        "--trainer.precision", precision, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
        "--trainer.limit_val_batches", "1", *smoke_args(config, tmp_path),
    )  # fmt: skip
    assert cli.trainer.global_step >= 1
    assert cli.trainer.strategy.root_device.type == "cuda"  # the model is moved back to the CPU after fit


def test_device_cache_and_batch_augment_on_gpu(tmp_path: Path, image_folder, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", "configs/rmb_lenet.yaml", "--config", "configs/trainer/gpu.yaml",
        "--config", "configs/trainer/bf16.yaml", "--data.data_dir", str(image_folder()),
        "--data.augment", "null",
        "--data.cache", "device", "--data.batch_augment",
        "[{class_path: datamodules.gpu_augment.BatchRandomResizedCrop, init_args: {size: 32}}, "
        "{class_path: datamodules.gpu_augment.BatchRandomHorizontalFlip}]",
        "--model.channels_last", "true", "--trainer.max_epochs", "1",
    )  # fmt: skip
    assert cli.datamodule.dataset("train").images.device.type == "cuda"
    assert cli.trainer.global_step >= 1
