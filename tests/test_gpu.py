"""Every task config on a GPU, in fp32 and bf16-mixed (skipped without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.test_configs import TASK_CONFIGS, synthetic_data_args

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
@pytest.mark.parametrize("config", TASK_CONFIGS, ids=lambda p: p.stem)
def test_fit_on_gpu(config: Path, precision: str, tmp_path: Path, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", str(config), "--trainer.accelerator", "gpu", "--trainer.devices", "1",
        "--trainer.precision", precision, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
        "--trainer.limit_val_batches", "1", *synthetic_data_args(config, tmp_path),
    )  # fmt: skip
    assert cli.trainer.global_step >= 1
    assert cli.trainer.strategy.root_device.type == "cuda"  # the model is moved back to the CPU after fit
