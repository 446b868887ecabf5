"""Per-step cost of the Lightning loop against a plain PyTorch loop on identical batches (CPU or CUDA).

    python scripts/benchmark.py overhead --steps 200 --threads 1

Three loops train the same LeNet from the same weights on the same pre-made batches (32x32, batch 16): a
plain loop (zero_grad, forward, loss, backward, step), a minimal LightningModule doing the same in
``Trainer.fit``, and the project's ``ImageClassifier`` (metric objects and logging included).
"""

from __future__ import annotations

import argparse
import copy
import time

import lightning.pytorch as pl
import torch
from torch import nn

from lit_modules import ImageClassifier
from lit_modules.nets import LeNet


class Minimal(pl.LightningModule):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.criterion = net, nn.CrossEntropyLoss()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        return self.criterion(self.net(images), targets)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def plain_loop(net: nn.Module, batches: list, device: str) -> float:
    net = net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    _sync(device)
    start = time.perf_counter()
    for images, targets in batches:
        images, targets = images.to(device), targets.to(device)
        optimizer.zero_grad()
        criterion(net(images), targets).backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def lightning_loop(module: pl.LightningModule, batches: list, device: str) -> float:
    trainer = pl.Trainer(
        accelerator=device, devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(module, torch.utils.data.DataLoader(batches, batch_size=None))
    _sync(device)
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = [
        (torch.randn(args.batch_size, 3, 32, 32), torch.randint(0, 2, (args.batch_size,)))
        for _ in range(args.steps)
    ]
    net = LeNet(2)
    plain_loop(copy.deepcopy(net), batches[:5], args.device)  # warm-up: allocator, kernels
    plain = plain_loop(copy.deepcopy(net), batches, args.device)
    minimal = lightning_loop(Minimal(copy.deepcopy(net)), batches, args.device)
    project = ImageClassifier(net=copy.deepcopy(net), class_names=["a", "b"])
    project.optimizer_factory = lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9)
    full = lightning_loop(project, batches, args.device)
    per_step = {
        name: 1000 * s / args.steps for name, s in (("plain", plain), ("minimal", minimal), ("project", full))
    }
    print(
        f"\nLeNet 32x32, batch {args.batch_size}, {args.steps} steps on {args.device} "
        f"({torch.get_num_threads()} threads)"
    )
    print(f"{'loop':38}{'ms/step':>9}{'overhead ms/step':>18}{'ratio':>7}")
    for name, label in (
        ("plain", "plain PyTorch loop"),
        ("minimal", "Trainer.fit, minimal LightningModule"),
        ("project", "Trainer.fit, project ImageClassifier"),
    ):
        extra = per_step[name] - per_step["plain"]
        print(f"{label:38}{per_step[name]:9.2f}{extra:18.2f}{per_step[name] / per_step['plain']:7.2f}")
    print("(Trainer.fit times include its start-up and teardown, spread over the steps.)")
