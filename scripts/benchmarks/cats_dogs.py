"""Cats vs dogs: the project's recipe (configs/cats_dogs.yaml) against the course homework's LeNet at 32 px.

Both run through ``hello-lightning fit`` on the same photos and the same split (the data's seed is fixed;
``--seeds`` vary initialisation and augmentation), then ``test`` with the best checkpoint. The homework's
recipe is ``configs/rmb_lenet.yaml`` pointed at the cats and dogs. Prints, per seed and on average, the best
val/acc, test/acc of best.ckpt and the first training loss against ln 2.

    python scripts/benchmark.py cats_dogs                                     # 3 seeds, each recipe's epochs
    python scripts/benchmark.py cats_dogs --seeds 0 --epochs 2               # quick look
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from lit_modules.cli import HelloCLI

REPO = Path(__file__).resolve().parents[2]
RECIPES = {  # name -> (config, flags)
    "small CNN (cats_dogs.yaml)": (REPO / "configs" / "cats_dogs.yaml", []),
    "LeNet-32 (course homework)": (REPO / "configs" / "rmb_lenet.yaml", []),
}


class FirstLoss(Callback):
    """Keeps the loss of the first training batch."""

    loss = math.nan

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, *_: Any
    ) -> None:
        if trainer.global_step == 1:
            self.loss = outputs["loss"].item()


def fit_and_test(config: Path, flags: list[str], runs: str) -> tuple[float, float, float, float]:
    """(first training loss, best val/acc, test/acc of best.ckpt, fit seconds) of one recipe and seed."""
    common = ["--config", str(config), *flags, "--trainer.default_root_dir", runs]
    start = time.perf_counter()
    cli = HelloCLI(args=common, run=False)
    first = FirstLoss()
    cli.trainer.callbacks.append(first)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    seconds = time.perf_counter() - start
    first_loss = first.loss
    best_val = cli.trainer.checkpoint_callback.best_model_score.item()
    tested = HelloCLI(args=["test", *common, "--ckpt_path", "best"])
    return first_loss, best_val, tested.trainer.callback_metrics["test/acc"].item(), seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "cats_dogs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: each recipe's own")


def run(args: argparse.Namespace) -> None:
    data = ["--data.class_path", "datamodules.ImageFolderDataModule", "--data.data_dir", str(args.data_dir)]
    quiet = ["--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
             "--trainer.enable_model_summary", "false"]  # fmt: skip
    epochs = ["--trainer.max_epochs", str(args.epochs)] if args.epochs else []
    rows: dict[str, list[tuple[float, ...]]] = {name: [] for name in RECIPES}
    for seed in args.seeds:
        for name, (config, flags) in RECIPES.items():
            seeded = [*data, *quiet, *epochs, *flags, "--seed_everything", str(seed)]
            with tempfile.TemporaryDirectory() as runs:
                rows[name].append(fit_and_test(config, seeded, runs))
    print(f"\ncats vs dogs, data {args.data_dir}, seeds {args.seeds}, ln 2 = {math.log(2):.3f}")
    print(f"{'recipe':<28}| seed | first loss | best val/acc | test/acc | fit s")
    for name, results in rows.items():
        for seed, (first, val, test, seconds) in zip(args.seeds, results, strict=True):
            print(f"{name:<28}| {seed:>4} | {first:10.3f} | {val:12.3f} | {test:8.3f} | {seconds:5.0f}")
    for name, results in rows.items():
        mean = [sum(column) / len(column) for column in zip(*results, strict=True)]
        print(f"{name:<28}| mean | {mean[0]:10.3f} | {mean[1]:12.3f} | {mean[2]:8.3f} | {mean[3]:5.0f}")
