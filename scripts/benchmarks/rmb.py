"""RMB LeNet recipe: a course-style PyTorch loop against `hello-lightning fit`, same split, same process."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from benchmarks._course import CourseImages
from datamodules import RMBDataModule
from datamodules.transforms import IMAGENET_MEAN, IMAGENET_STD
from lit_modules.cli import HelloCLI
from lit_modules.nets import LeNet, initialize

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "rmb_lenet.yaml"


def accuracy(net: nn.Module, loader: DataLoader) -> float:
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (net(images).argmax(1) == labels).sum().item()
            total += labels.size(0)
    net.train()
    return correct / total


def course_loop(data_dir: Path, seed: int, epochs: int) -> tuple[float, float]:
    """Train as the course does (PIL each epoch, num_workers=0, validate each epoch); (seconds, test acc)."""
    torch.manual_seed(seed)
    splits = RMBDataModule(data_dir).split_samples()
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train_tf = transforms.Compose(
        [transforms.Resize((32, 32)), transforms.RandomCrop(32, padding=4), transforms.ToTensor(), normalize]
    )
    eval_tf = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(), normalize])
    train = DataLoader(CourseImages(splits["train"], train_tf), batch_size=16, shuffle=True)
    valid = DataLoader(CourseImages(splits["val"], eval_tf), batch_size=16)
    test = DataLoader(CourseImages(splits["test"], eval_tf), batch_size=16)
    net = initialize(LeNet(2), "course")
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    start = time.perf_counter()
    for _ in range(epochs):
        correct = total = 0
        for images, labels in train:
            optimizer.zero_grad()
            outputs = net(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            correct += (outputs.argmax(1) == labels).sum().item()
            total += labels.size(0)
        scheduler.step()
        accuracy(net, valid)
    seconds = time.perf_counter() - start
    return seconds, accuracy(net, test)


def project_fit(data_dir: Path, seed: int, epochs: int) -> tuple[float, float, float, float]:
    """The project on the same recipe: (CLI set-up s, `Trainer.fit` s, test acc of last.ckpt and best.ckpt).

    ``Trainer.fit`` time includes decoding the images; the CLI's parsing and building are timed apart, as
    the course loop's set-up is not timed either.
    """
    with tempfile.TemporaryDirectory() as runs:
        common = [
            "--config", str(CONFIG), "--data.data_dir", str(data_dir), "--seed_everything", str(seed),
            "--trainer.default_root_dir", runs, "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        ]  # fmt: skip
        start = time.perf_counter()
        cli = HelloCLI(args=[*common, "--trainer.max_epochs", str(epochs)], run=False)
        built = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        fitted = time.perf_counter()
        accuracies = [
            HelloCLI(args=["test", *common, "--ckpt_path", word]).trainer.callback_metrics["test/acc"].item()
            for word in ("last", "best")
        ]
        return built - start, fitted - built, *accuracies


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "rmb")
    # With 20 test photos one mistake moves a seed's accuracy by 0.05: compare over many seeds.
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(40)))
    parser.add_argument("--epochs", type=int, default=10)


def run(args: argparse.Namespace) -> None:
    rows = []
    for seed in args.seeds:
        course_s, course_acc = course_loop(args.data_dir, seed, args.epochs)
        rows.append((seed, course_s, course_acc, *project_fit(args.data_dir, seed, args.epochs)))
    print(
        f"\nRMB LeNet recipe, {args.epochs} epochs, data {args.data_dir}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print("seed | course loop s  test acc | CLI set-up s  fit s  test acc last  best | fit / course loop")
    for seed, course_s, course_acc, setup_s, fit_s, last_acc, best_acc in rows:
        print(
            f"{seed:>4} | {course_s:13.1f} {course_acc:9.3f} | {setup_s:12.1f} {fit_s:6.1f} {last_acc:13.3f} "
            f"{best_acc:5.3f} | {fit_s / course_s:.3f}"
        )

    def mean(column: int) -> float:
        return sum(row[column] for row in rows) / len(rows)

    print(
        f"mean | {mean(1):13.1f} {mean(2):9.3f} | {mean(3):12.1f} {mean(4):6.1f} {mean(5):13.3f} "
        f"{mean(6):5.3f} | {mean(4) / mean(1):.3f}"
    )
    test_size = len(RMBDataModule(args.data_dir).split_samples()["test"])
    for name, column in (("course loop", 2), ("project, last.ckpt", 5), ("project, best.ckpt", 6)):
        wrong = round(sum(1 - row[column] for row in rows) * test_size)
        perfect = sum(row[column] == 1.0 for row in rows)
        print(
            f"{name}: {wrong} wrong of {test_size * len(rows)} test predictions, "
            f"all {test_size} right in {perfect} of {len(rows)} seeds"
        )
