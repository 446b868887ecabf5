"""Per-step cost of the Lightning loop against a plain PyTorch loop on identical batches (CPU or CUDA).

    python scripts/benchmark.py overhead --steps 200 --threads 1

Three loops train the same LeNet from the same weights on the same pre-made batches (32x32, batch 16): a
plain loop (zero_grad, forward, loss, backward, step), a minimal LightningModule doing the same in
``Trainer.fit``, and the project's ``ImageClassifier`` (metric objects and logging included). Prints wall
time and this process's CPU time per step: on a machine other jobs share, CPU time is the steadier number.
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
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each loop")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """Wall and CPU seconds since ``start``."""
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


def plain_loop(net: nn.Module, batches: list, device: str) -> tuple[float, float]:
    net = net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    _sync(device)
    start = clocks()
    for images, targets in batches:
        images, targets = images.to(device), targets.to(device)
        optimizer.zero_grad()
        criterion(net(images), targets).backward()
        optimizer.step()
    _sync(device)
    return since(start)


def lightning_loop(module: pl.LightningModule, batches: list, device: str) -> tuple[float, float]:
    trainer = pl.Trainer(
        accelerator=device, devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    start = clocks()
    trainer.fit(module, torch.utils.data.DataLoader(batches, batch_size=None))
    _sync(device)
    return since(start)


def run(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = [
        (torch.randn(args.batch_size, 3, 32, 32), torch.randint(0, 2, (args.batch_size,)))
        for _ in range(args.steps)
    ]
    net = LeNet(2)

    def project() -> ImageClassifier:
        module = ImageClassifier(net=copy.deepcopy(net), class_names=["a", "b"])
        module.optimizer_factory = lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9)
        return module

    loops = {
        "plain PyTorch loop": lambda: plain_loop(copy.deepcopy(net), batches, args.device),
        "Trainer.fit, minimal LightningModule": lambda: lightning_loop(
            Minimal(copy.deepcopy(net)), batches, args.device
        ),
        "Trainer.fit, project ImageClassifier": lambda: lightning_loop(project(), batches, args.device),
    }
    plain_loop(copy.deepcopy(net), batches[:5], args.device)  # warm-up: allocator, kernels
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in loops}
    for _ in range(args.repeats):  # interleaved, so a busy spell of the machine hits every loop alike
        for name, loop in loops.items():
            runs[name].append(loop())
    # The fastest of the repeats, per clock: the run least disturbed by other work.
    per_step = {
        name: [1000 * min(r[i] for r in rs) / args.steps for i in (0, 1)] for name, rs in runs.items()
    }
    print(
        f"\nLeNet 32x32, batch {args.batch_size}, {args.steps} steps on {args.device} "
        f"({torch.get_num_threads()} threads), fastest of {args.repeats} interleaved repeats"
    )
    print(f"{'loop':38}{'wall ms/step':>13}{'CPU ms/step':>12}{'CPU / plain':>12}{'CPU / minimal':>14}")
    plain, minimal = per_step["plain PyTorch loop"][1], per_step["Trainer.fit, minimal LightningModule"][1]
    for name, (wall, cpu) in per_step.items():
        print(f"{name:38}{wall:13.2f}{cpu:12.2f}{cpu / plain:12.2f}{cpu / minimal:14.2f}")
    print("(Trainer.fit times include its start-up and teardown, spread over the steps.)")
