"""Names recipe: test accuracy and macro F1 on the leakage-free split, next to its baselines."""

from __future__ import annotations

import argparse
import shlex
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from datamodules import NamesDataModule
from datamodules.names import EMBEDDED_NAMES
from lit_modules.cli import HelloCLI

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "names_rnn.yaml"
NO_LOGIT_ADJUSTMENT = ["--model.logit_adjustment", "0"]
NET = "--model.net.init_args."
NO_NGRAM_CONVOLUTIONS = [f"{NET}conv_channels", "0"]
NO_NGRAM_BAG = [f"{NET}ngram_bag_dim", "0"]
UNFUSED_ADAM = ["--model.optimizer.init_args.fused", "false"]
CASED_LETTERS = ["--data.lowercase", "false"]
CLIPPED_GRADIENTS = ["--trainer.gradient_clip_val", "1.0"]  # total norm, over every parameter
# The course's network: one-hot letters (with case), one GRU direction, the last hidden state, 15 epochs,
# no schedule.
COURSE_STYLE = ["--config", str(REPO / "configs" / "variants" / "names_course.yaml")]
# Its plain tanh cell trained by SGD, the gradient norm clipped at 1 (the overlay), or not.
PLAIN_RNN = [*COURSE_STYLE, "--config", str(REPO / "configs" / "variants" / "names_plain_rnn.yaml")]
UNCLIPPED = ["--trainer.gradient_clip_val", "null"]
VARIANTS = {  # --variants key: (row label, flags added to the recipe's)
    "recipe": ("recipe (configs/names_rnn.yaml)", []),
    "no-adjustment": ("recipe, no logit adjustment", NO_LOGIT_ADJUSTMENT),
    "no-bag": ("recipe, no n-gram bag member", NO_NGRAM_BAG),
    "no-conv": ("recipe, no n-gram convolutions", NO_NGRAM_CONVOLUTIONS),
    "unfused": ("recipe, Adam not fused", UNFUSED_ADAM),
    "cased": ("recipe, letters with case", CASED_LETTERS),
    "clipped": ("recipe, grad norm clipped at 1", CLIPPED_GRADIENTS),
    "course": ("course-style one-hot GRU", COURSE_STYLE),
    "course-clipped": ("course-style GRU, clipped at 1", COURSE_STYLE + CLIPPED_GRADIENTS),
    "plain-rnn": ("plain RNN, SGD, clipped at 1", PLAIN_RNN),
    "plain-rnn-unclipped": ("plain RNN, SGD, not clipped", PLAIN_RNN + UNCLIPPED),
}


def cli_args(data_dir: Path, seed: int, runs: str, extra: list[str]) -> list[str]:
    return [
        "--config", str(CONFIG), "--data.data_dir", str(data_dir), "--seed_everything", str(seed),
        "--trainer.default_root_dir", runs, "--trainer.accelerator", "cpu",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra,
    ]  # fmt: skip


def fit_and_test(data_dir: Path, seed: int, extra: list[str]) -> tuple[float, float, float]:
    """(fit seconds, test accuracy, test macro F1) of the best-val/acc checkpoint."""
    with tempfile.TemporaryDirectory() as runs:
        common = cli_args(data_dir, seed, runs, extra)
        start = time.perf_counter()
        HelloCLI(args=["fit", *common])
        seconds = time.perf_counter() - start
        metrics = HelloCLI(args=["test", *common, "--ckpt_path", "best"]).trainer.callback_metrics
        return seconds, metrics["test/acc"].item(), metrics["test/macro_f1"].item()


def adjustment_sweep(
    data_dir: Path, seed: int, strengths: list[float], extra: list[str]
) -> list[tuple[float, float]]:
    """Fit without logit adjustment, then score the best checkpoint at each strength: (val F1, test F1)."""
    with tempfile.TemporaryDirectory() as runs:
        common = cli_args(data_dir, seed, runs, [*NO_LOGIT_ADJUSTMENT, *extra])
        HelloCLI(args=["fit", *common])
        scores = []
        for strength in strengths:
            scored = [*common, "--model.logit_adjustment", str(strength), "--ckpt_path", "best"]
            val = HelloCLI(args=["validate", *scored]).trainer.callback_metrics["val/macro_f1"].item()
            test = HelloCLI(args=["test", *scored]).trainer.callback_metrics["test/macro_f1"].item()
            scores.append((val, test))
        return scores


def majority_accuracy(data_dir: Path) -> tuple[str, float]:
    data = NamesDataModule(data_dir)
    label, count = Counter(label for _, label in data.samples("test")).most_common(1)[0]
    return data.class_names[label], count / len(data.samples("test"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=EMBEDDED_NAMES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--epochs", type=int, default=None, help="override every variant's epochs (quick runs)"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="rows to run (default: all of them; 'recipe' alone for the recipe's numbers)",
    )
    parser.add_argument(
        "--adjustments",
        type=float,
        nargs="+",
        default=None,
        help="also fit once per seed without logit adjustment and print val and test macro F1 of its best "
        "checkpoint at each of these strengths (how the recipe's strength is chosen: on val)",
    )
    parser.add_argument(
        "--flags", default="", help="CLI flags added to every row, e.g. '--model.optimizer.init_args.lr 0.03'"
    )


def run(args: argparse.Namespace) -> None:
    variants = dict(VARIANTS[key] for key in args.variants)
    every_row = ["--trainer.max_epochs", str(args.epochs)] if args.epochs else []
    every_row += shlex.split(args.flags)  # after each row's own flags, so these win
    rows = {
        name: [fit_and_test(args.data_dir, seed, extra + every_row) for seed in args.seeds]
        for name, extra in variants.items()
    }
    language, accuracy = majority_accuracy(args.data_dir)
    print(f"\nNames, leakage-free test split, seeds {args.seeds}, torch threads {torch.get_num_threads()}")
    if args.flags:
        print(f"every row with: {args.flags}")
    print(f"always '{language}': test acc {accuracy:.3f}")
    print(f"{'variant':<32} | {'fit s':>6} | {'test acc':>8} | {'macro F1':>8}   (per seed, then mean)")
    for name, results in rows.items():
        for seed, (seconds, acc, f1) in zip(args.seeds, results, strict=True):
            print(f"{name:<32} | {seconds:6.1f} | {acc:8.3f} | {f1:8.3f}   seed {seed}")
        means = [sum(column) / len(column) for column in zip(*results, strict=True)]
        print(f"{name:<32} | {means[0]:6.1f} | {means[1]:8.3f} | {means[2]:8.3f}   mean")
    if args.adjustments:
        print_adjustment_sweep(args, every_row)


def print_adjustment_sweep(args: argparse.Namespace, extra: list[str]) -> None:
    per_seed = [adjustment_sweep(args.data_dir, seed, args.adjustments, extra) for seed in args.seeds]
    print(f"\nlogit adjustment of one fit per seed (seeds {args.seeds}), macro F1 means: val | test")
    means = []
    for i, strength in enumerate(args.adjustments):
        val, test = (sum(scores[i][j] for scores in per_seed) / len(per_seed) for j in (0, 1))
        means.append((val, strength))
        print(f"{strength:6.2f} | {val:.3f} | {test:.3f}")
    print(f"best on val: {max(means)[1]:.2f}")
