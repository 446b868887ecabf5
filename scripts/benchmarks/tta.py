"""Test-time augmentation on RMB: the plain centre view against FiveCrop and TenCrop, same checkpoints.

Each seed trains ``configs/rmb_lenet.yaml`` once, then tests its best checkpoint three times: plain, with
``--model.tta five_crop`` and with ``--model.tta ten_crop``. Prints test/acc and test/loss side by side.

    python scripts/benchmark.py tta --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lit_modules.cli import HelloCLI

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "rmb_lenet.yaml"
VIEWS = ("none", "five_crop", "ten_crop")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "rmb")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--tta-crop", type=float, default=0.875)


def run(args: argparse.Namespace) -> None:
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as runs:
            common = [
                "--config", str(CONFIG), "--data.data_dir", str(args.data_dir),
                "--seed_everything", str(seed),
                "--trainer.default_root_dir", runs, "--trainer.accelerator", "cpu",
                "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            ]  # fmt: skip
            HelloCLI(args=["fit", *common, "--trainer.max_epochs", str(args.epochs)])
            row = []
            for views in VIEWS:
                tta = ["--model.tta", views, "--model.tta_crop", str(args.tta_crop)]
                metrics = HelloCLI(
                    args=["test", *common, *tta, "--ckpt_path", "best"]
                ).trainer.callback_metrics
                row.append((metrics["test/acc"].item(), metrics["test/loss"].item()))
            rows.append(row)
    print(f"\nRMB test set, best.ckpt of configs/rmb_lenet.yaml, views of {args.tta_crop} of the side")
    print("seed | " + " | ".join(f"{views:>9} acc  loss" for views in VIEWS))
    for seed, row in zip(args.seeds, rows, strict=True):
        print(f"{seed:>4} | " + " | ".join(f"{acc:13.3f} {loss:5.3f}" for acc, loss in row))
    means = [[sum(row[i][j] for row in rows) / len(rows) for j in (0, 1)] for i in range(len(VIEWS))]
    print("mean | " + " | ".join(f"{acc:13.3f} {loss:5.3f}" for acc, loss in means))
