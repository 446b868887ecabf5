"""``last.ckpt`` is the newest state of a run, ``best.ckpt`` the best one, and ``metrics.json`` says which.

The runs here reach val/acc 1.0 in their first epoch, so the monitored metric never improves again: the
case where Lightning 2.6's ``save_last`` leaves ``last.ckpt`` behind at the best epoch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from PIL import Image
from torchvision.utils import make_grid

from lit_modules import DCGAN
from lit_modules.callbacks import BestAndLastCheckpoint, NonFiniteLossError
from tests.conftest import REPO, write_class_folders

# 16 training images in batches of 4: 4 steps an epoch; dropout, augmentation and a learning rate halved
# every epoch, so a resume that restores any of them wrongly ends elsewhere.
RMB = [
    "--config", str(REPO / "configs" / "rmb_lenet.yaml"),
    "--trainer.deterministic", "true",
    "--test_after_fit", "false",  # the model then keeps its final weights, which last.ckpt must hold
    "--data.batch_size", "4",
    "--model.init_args.net.init_args.dropout", "0.3",
    "--model.init_args.scheduler.init_args.step_size", "1",
    "--model.init_args.scheduler.init_args.gamma", "0.5",
]  # fmt: skip
STEPS_PER_EPOCH = 4


def load(path: str | Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def run_files(run: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``metrics.json``, ``best.ckpt`` and ``last.ckpt`` of a run folder."""
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics, load(run / "checkpoints" / "best.ckpt"), load(run / "checkpoints" / "last.ckpt")


@pytest.fixture
def rmb_data(tmp_path: Path) -> str:
    return str(write_class_folders(tmp_path / "rmb", ("1", "100"), per_class=10))


def test_last_is_the_final_epoch_and_continues_like_one_longer_run(run_cli, rmb_data, tmp_path) -> None:
    epochs = 2
    first = run_cli("fit", *RMB, "--data.data_dir", rmb_data, "--trainer.max_epochs", str(epochs))
    run = Path(first.trainer.log_dir)
    metrics, best, last = run_files(run)
    assert best["global_step"] == STEPS_PER_EPOCH and metrics["best_score"] == 1.0  # plateau after epoch 0
    assert (last["epoch"], last["global_step"]) == (epochs - 1, epochs * STEPS_PER_EPOCH)
    assert metrics["best_checkpoint"] == str(run / "checkpoints" / "best.ckpt")
    assert metrics["last_checkpoint"] == str(run / "checkpoints" / "last.ckpt")
    best_state = best["callbacks"][first.trainer.checkpoint_callback.state_key]
    assert best_state["best_model_score"].item() == metrics["best_score"]

    # The best weights score what metrics.json says; the last ones are the trainer's final weights.
    validated = run_cli("validate", *RMB, "--data.data_dir", rmb_data, "--ckpt_path", "best")
    assert validated.trainer.callback_metrics["val/acc"].item() == metrics["best_score"]
    final = first.model.state_dict()
    assert all(torch.equal(last["state_dict"][name], value) for name, value in final.items())

    continued = run_cli("fit", *RMB, "--data.data_dir", rmb_data, "--trainer.max_epochs", str(2 * epochs),
                        "--ckpt_path", "last")  # fmt: skip
    assert continued.trainer.log_dir == str(run)
    straight = run_cli("fit", *RMB, "--data.data_dir", rmb_data, "--trainer.max_epochs", str(2 * epochs),
                       "--trainer.default_root_dir", str(tmp_path / "straight"))  # fmt: skip
    _, _, continued_last = run_files(run)
    _, _, straight_last = run_files(Path(straight.trainer.log_dir))
    assert continued_last["global_step"] == straight_last["global_step"] == 2 * epochs * STEPS_PER_EPOCH
    assert continued.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01 * 0.5 ** (2 * epochs))
    for name, value in straight_last["state_dict"].items():
        assert continued_last["state_dict"][name].numpy() == pytest.approx(value.numpy(), rel=1e-6, abs=1e-7)


def test_last_is_the_final_epoch_without_validation_at_its_end(run_cli, tmp_path) -> None:
    """The DCGAN validates every 2 epochs; after 3 epochs ``last.ckpt`` samples what epoch 2 showed."""
    faces = write_class_folders(tmp_path / "faces", ("a", "b"), per_class=16)
    cli = run_cli(
        "fit", "--config", str(REPO / "configs" / "faces_dcgan.yaml"),
        "--data.data_dir", str(faces), "--data.image_size", "32", "--data.batch_size", "8",
        "--data.val_images", "16", "--model.generator.init_args.ngf", "8",
        "--model.discriminator.init_args.ndf", "8", "--model.kid_subset_size", "8",
        "--trainer.max_epochs", "3", "--trainer.limit_train_batches", "2",
    )  # fmt: skip
    run = Path(cli.trainer.log_dir)
    metrics, best, last = run_files(run)
    assert best["epoch"] == 1  # the only validation
    assert (last["epoch"], last["global_step"]) == (2, cli.trainer.global_step)
    assert metrics["last_checkpoint"] == str(run / "checkpoints" / "last.ckpt")

    model = DCGAN.load_from_checkpoint(run / "checkpoints" / "last.ckpt", map_location="cpu")
    grid = make_grid(model.generate(model.fixed_noise), nrow=8, padding=2)
    as_png = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    with Image.open(run / "samples" / "epoch_002.png") as saved:
        np.testing.assert_array_equal(np.asarray(saved), as_png)


def test_run_interrupted_before_its_first_save_goes_on_in_last_ckpt(run_cli, rmb_data, tmp_path) -> None:
    """The resumed run overwrites the interruption's ``last.ckpt`` rather than starting a ``last-v1.ckpt``
    that ``--ckpt_path last`` would not find."""
    stop = json.dumps({"class_path": "tests.fault_hooks.SignalAtStep", "init_args": {"step": 2}})
    two_epochs = [*RMB, "--data.data_dir", rmb_data, "--trainer.max_epochs", "2"]
    with pytest.raises(SIGTERMException):
        run_cli("fit", *two_epochs, f"--trainer.callbacks+={stop}")
    run_cli("fit", *two_epochs, "--ckpt_path", "last")
    checkpoints = tmp_path / "runs" / "rmb_lenet" / "version_0" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert load(checkpoints / "last.ckpt")["global_step"] == 2 * STEPS_PER_EPOCH


def test_save_options_that_would_not_keep_last_current(run_cli, rmb_data, tmp_path) -> None:
    with pytest.raises(ValueError, match="save_last link"):
        BestAndLastCheckpoint(save_last="link")
    # Lightning's state key: runs saved with a plain ModelCheckpoint resume their best and last paths.
    settings = {"monitor": "val/acc", "mode": "max"}
    assert BestAndLastCheckpoint(**settings).state_key == ModelCheckpoint(**settings).state_key
    # An error's state goes to last.ckpt only, never under the best checkpoint's name.
    on_error = ["--trainer.max_epochs", "2", "--checkpoint.save_on_exception", "true"]
    stop = json.dumps({"class_path": "tests.fault_hooks.SignalAtStep", "init_args": {"step": 6}})
    with pytest.raises(SIGTERMException):
        run_cli("fit", *RMB, "--data.data_dir", rmb_data, *on_error, f"--trainer.callbacks+={stop}")
    checkpoints = tmp_path / "runs" / "rmb_lenet" / "version_0" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert load(checkpoints / "best.ckpt")["global_step"] == STEPS_PER_EPOCH
    assert load(checkpoints / "last.ckpt")["global_step"] == 6
    # ... except after a non-finite loss: last.ckpt keeps the end of epoch 0, the last good state.
    nan_at_step_6 = [
        "--model.init_args.loss",
        "tests.fault_hooks.NanLossAfter",
        "--model.init_args.loss.calls",
        "6",
    ]
    with pytest.raises(NonFiniteLossError):
        run_cli("fit", *RMB, "--data.data_dir", rmb_data, *on_error, *nan_at_step_6,
                "--trainer.default_root_dir", str(tmp_path / "nan"))  # fmt: skip
    checkpoints = tmp_path / "nan" / "rmb_lenet" / "version_0" / "checkpoints"
    assert load(checkpoints / "best.ckpt")["global_step"] == STEPS_PER_EPOCH
    assert load(checkpoints / "last.ckpt")["global_step"] == STEPS_PER_EPOCH


# -- the Lightning behaviour the callback is there for -------------------------------------------------------
class _Plateau(pl.LightningModule):
    """A model whose val/acc is 1.0 at every validation: it never improves after the first."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).sum()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/acc", 1.0)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(torch.randn(4, 2), batch_size=2)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(torch.randn(2, 2), batch_size=2)


def _plateau_fit(tmp_path: Path, checkpoint: ModelCheckpoint, **trainer: Any) -> pl.Trainer:
    settings = {"max_epochs": 3, "accelerator": "cpu", "logger": False, "enable_progress_bar": False,
                "enable_model_summary": False, "callbacks": [checkpoint], **trainer}  # fmt: skip
    fit = pl.Trainer(default_root_dir=tmp_path, **settings)
    fit.fit(_Plateau())
    return fit


@pytest.mark.parametrize(("every_n_train_steps", "last_step", "best_step"), [(None, 2, 2), (2, 6, 4)])
def test_lightning_save_last_follows_the_best_at_epoch_ends(
    every_n_train_steps, last_step, best_step, tmp_path
) -> None:
    """Checked with Lightning 2.6.6: at the end of an epoch ``save_last=True`` writes ``last.ckpt`` only
    where a top-k checkpoint is written, so a plateaued metric leaves it at the best's step (before 2.6 it
    was written at every epoch end). ``every_n_train_steps`` saves do write it each time, from the first
    step where the monitored metric exists (there is none before the first validation); they replace
    the epoch-end saves and judge the best by the latest validation's score, measured on earlier weights.
    ``BestAndLastCheckpoint`` exists for the epoch-end case: if a Lightning upgrade makes this test fail,
    check whether it is still needed."""
    settings = {"monitor": "val/acc", "mode": "max", "filename": "best", "save_last": True}
    plain = ModelCheckpoint(dirpath=tmp_path / "plain", every_n_train_steps=every_n_train_steps, **settings)
    assert _plateau_fit(tmp_path, plain).global_step == 6
    assert load(tmp_path / "plain" / "last.ckpt")["global_step"] == last_step
    assert load(tmp_path / "plain" / "best.ckpt")["global_step"] == best_step
    fixed = BestAndLastCheckpoint(
        dirpath=tmp_path / "fixed", every_n_train_steps=every_n_train_steps, **settings
    )
    _plateau_fit(tmp_path, fixed)
    assert load(tmp_path / "fixed" / "last.ckpt")["global_step"] == 6
    assert load(tmp_path / "fixed" / "best.ckpt")["global_step"] == best_step


def test_lightning_save_on_exception_uses_the_best_name(tmp_path) -> None:
    """Checked with Lightning 2.6.6: ``save_on_exception`` saves the state at the error under the
    checkpoint's ``filename`` (here ``best``), as well as ``last``."""

    class Fail(pl.Callback):
        def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
            if trainer.global_step == 4:
                raise RuntimeError("stop")

    plain = ModelCheckpoint(dirpath=tmp_path, monitor="val/acc", mode="max", filename="best",
                            save_last=True, save_on_exception=True)  # fmt: skip
    with pytest.raises(RuntimeError, match="stop"):
        _plateau_fit(tmp_path, plain, callbacks=[plain, Fail()])
    assert load(tmp_path / "best.ckpt")["global_step"] == 4
