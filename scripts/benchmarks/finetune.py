"""Ants vs bees: scratch against finetuning (frozen, none) from weights pretrained here on another task.

No ImageNet weights are needed: the benchmark first trains the same ResNet-18 on the RMB banknotes, saves
it (a Lightning checkpoint of this project), then runs the ants-bees recipe three times on
``../shared/data/hymenoptera``, all through ``hello-lightning fit`` with ``configs/ants_bees_finetune.yaml``
(scratch: with ``configs/variants/ants_bees_scratch.yaml`` on top), and prints val accuracy and time.

    python scripts/benchmark.py finetune                                   # the full recipe (slow on CPU)
    python scripts/benchmark.py finetune --image-size 64 --epochs 8 --pretrain-epochs 6   # quick look
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lit_modules.cli import HelloCLI

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CONFIG = REPO / "configs" / "ants_bees_finetune.yaml"
# The same network and recipe from a random start (weights null, strategy none), as an overlay config.
SCRATCH = REPO / "configs" / "variants" / "ants_bees_scratch.yaml"
WEIGHTS = "--model.net.init_args.weights"
RUNS = (  # (name, from scratch, flags)
    ("scratch", True, []),
    ("frozen", False, ["--model.strategy", "frozen"]),
    ("none", False, ["--model.strategy", "none"]),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=SHARED / "hymenoptera")
    parser.add_argument("--pretrain-dir", type=Path, default=SHARED / "rmb", help="RMB banknotes")
    parser.add_argument("--weights", type=Path, default=None, help="skip pretraining, use this file")
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=25, help="the recipe's 25")
    parser.add_argument("--image-size", type=int, default=224, help="crop size; images are cached 8/7 larger")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "benchmark_finetune")


def size_args(crop: int) -> list[str]:
    """Overrides that shrink the recipe's 256 cache / 224 crop to ``crop`` (same ratio)."""
    v2 = "torchvision.transforms.v2."
    augment = [
        {"class_path": v2 + "RandomResizedCrop", "init_args": {"size": crop, "antialias": True}},
        {"class_path": v2 + "RandomHorizontalFlip"},
    ]
    center = [{"class_path": v2 + "CenterCrop", "init_args": {"size": crop}}]
    cache = round(crop * 256 / 224)
    return [
        "--data.image_size",
        str(cache),
        "--data.augment",
        json.dumps(augment),
        "--data.eval_transform",
        json.dumps(center),
    ]


def fit(
    args: argparse.Namespace, name: str, epochs: int, extra: list[str], scratch: bool = False
) -> tuple[float, float, str, float]:
    start = time.perf_counter()
    configs = ["--config", str(CONFIG), *(["--config", str(SCRATCH)] if scratch else [])]
    options = {
        "--name": name,  # after the configs, which name their runs
        "--trainer.default_root_dir": str(args.out),
        "--trainer.accelerator": args.accelerator,
        "--trainer.max_epochs": str(epochs),
        "--trainer.enable_progress_bar": "false",
        "--data.data_dir": str(args.data_dir),
    }
    flags = [item for pair in options.items() for item in pair]
    cli = HelloCLI(args=["fit", *configs, *flags, *size_args(args.image_size), *extra])
    seconds = time.perf_counter() - start
    checkpoint = cli.trainer.checkpoint_callback
    final = cli.trainer.callback_metrics["val/acc"].item()
    return final, checkpoint.best_model_score.item(), checkpoint.last_model_path, seconds


def run(args: argparse.Namespace) -> None:
    weights = args.weights
    if weights is None:
        # The same network and recipe, trained on another real task: honest "pretrained" weights.
        pretrain = ["--data", "datamodules.RMBDataModule", "--data.data_dir", str(args.pretrain_dir)]
        final, _, weights, seconds = fit(args, "pretrain_rmb", args.pretrain_epochs, pretrain, scratch=True)
        print(f"pretrained on RMB: val/acc {final:.3f} in {seconds:.0f} s -> {weights}")
    results = []
    for name, scratch, extra in RUNS:
        if not scratch:
            extra = [*extra, WEIGHTS, str(weights)]
        results.append((name, *fit(args, f"ants_bees_{name}", args.epochs, extra, scratch)))
    print(f"\nants vs bees, {args.epochs} epochs at {args.image_size} px, val split of {args.data_dir}")
    print(f"{'run':<10}{'final val/acc':>15}{'best val/acc':>14}{'time (s)':>10}")
    for name, final, best, _, seconds in results:
        print(f"{name:<10}{final:>15.3f}{best:>14.3f}{seconds:>10.0f}")
    base = results[0][1]
    for name, final, *_ in results[1:]:
        print(f"{name} - scratch: {final - base:+.3f} final val/acc")
