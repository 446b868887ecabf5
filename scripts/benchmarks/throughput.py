"""Training images/s of the image data paths, side by side: where does a GPU wait for data?

    python scripts/benchmark.py throughput --device cuda               # ants-bees ResNet-18 recipe, on a GPU
    python scripts/benchmark.py throughput --device cpu --arch lenet --image-size 32 --cache-size 40 \
        --batch-size 16 --repeat 1 --threads 1                          # a small smoke run on any machine

Four rows, same images, same device, same batch size (the course loop keeps the course's batch):
1. course loop: a Dataset opening each JPEG with PIL, RandomResizedCrop + flip per image, main process, fp32;
2. project, CPU-worker path: decoded-once uint8 cache in host memory, per-image v2 augmentation in workers;
3. project, device-cache path: the cache on the accelerator, crops and flips for the whole batch there;
4. the network alone on random tensors already on the device: the ceiling.
Each pass over the training set counts as one of ``--repeat`` epochs; the first batch of each row is warm-up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
import torchvision
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.transforms import v2

from benchmarks._course import CourseImages
from datamodules import ImageFolderDataModule
from datamodules.gpu_augment import BatchRandomHorizontalFlip, BatchRandomResizedCrop
from datamodules.transforms import IMAGENET_MEAN, IMAGENET_STD
from lit_modules import ImageClassifier
from lit_modules.nets import LeNet

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "hymenoptera")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--arch", choices=("resnet18", "lenet"), default="resnet18")
    parser.add_argument("--image-size", type=int, default=224, help="crop size the network sees")
    parser.add_argument("--cache-size", type=int, default=256, help="size images are decoded to, once")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--course-batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=8, help="passes over the training set")
    parser.add_argument("--workers", type=int, default=4, help="loader workers of the CPU-worker path")
    parser.add_argument("--precision", default=None, help="default: bf16-mixed on cuda, 32-true on cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


def network(arch: str) -> nn.Module:
    return torchvision.models.resnet18(num_classes=2) if arch == "resnet18" else LeNet(2)


class Throughput(Callback):
    """Images/s over the training batches after the first (warm-up)."""

    def __init__(self) -> None:
        self.images, self.start = 0, 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == 1:
            _sync(pl_module.device)
            self.start = time.perf_counter()
        elif trainer.global_step > 1:
            self.images += len(batch[1])

    def on_train_end(self, trainer, pl_module) -> None:
        _sync(pl_module.device)
        self.seconds = time.perf_counter() - self.start


def _sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def course_loop(args: argparse.Namespace, samples: list) -> float:
    tf = transforms.Compose([
        transforms.RandomResizedCrop(args.image_size), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])  # fmt: skip
    loader = DataLoader(CourseImages(samples, tf), batch_size=args.course_batch_size, shuffle=True)
    net = network(args.arch).to(args.device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    images, start = 0, None
    for _ in range(args.repeat):
        for inputs, labels in loader:
            inputs, labels = inputs.to(args.device), labels.to(args.device)
            optimizer.zero_grad()
            criterion(net(inputs), labels).backward()
            optimizer.step()
            if start is None:  # the first batch is warm-up
                _sync(args.device)
                start = time.perf_counter()
            else:
                images += len(labels)
    _sync(args.device)
    if not images:
        raise SystemExit(
            "Too few images for two course batches: lower --course-batch-size or raise --repeat."
        )
    return images / (time.perf_counter() - start)


def project(args: argparse.Namespace, device_cache: bool) -> float:
    crop_flip = dict(size=args.image_size, scale=(0.08, 1.0))
    data = ImageFolderDataModule(
        args.data_dir, image_size=args.cache_size, keep_aspect=True, batch_size=args.batch_size,
        num_workers=0 if device_cache else args.workers, cache="device" if device_cache else "host",
        augment=None if device_cache else [v2.RandomResizedCrop(**crop_flip), v2.RandomHorizontalFlip()],
        batch_augment=[BatchRandomResizedCrop(**crop_flip), BatchRandomHorizontalFlip()]
        if device_cache else None,
        eval_transform=[v2.CenterCrop(args.image_size)],
    )  # fmt: skip
    model = ImageClassifier(
        net=network(args.arch), class_names=data.class_names, channels_last=args.device == "cuda"
    )
    timer = Throughput()
    trainer = pl.Trainer(
        accelerator=args.device, devices=1, precision=args.precision, max_epochs=args.repeat, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(model, data)
    return timer.images / timer.seconds


def ceiling(args: argparse.Namespace, steps: int) -> float:
    net = network(args.arch).to(args.device)
    if args.device == "cuda":
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    inputs = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=args.device)
    labels = torch.randint(0, 2, (args.batch_size,), device=args.device)
    dtype = torch.bfloat16 if args.precision.startswith("bf16") else None
    for step in range(steps + 1):
        if step == 1:
            _sync(args.device)
            start = time.perf_counter()
        with torch.autocast(args.device, dtype=dtype, enabled=dtype is not None):
            loss = criterion(net(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(args.device)
    return steps * args.batch_size / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    args.precision = args.precision or ("bf16-mixed" if args.device == "cuda" else "32-true")
    pl.seed_everything(0, verbose=False)
    samples = ImageFolderDataModule(args.data_dir).split_samples()["train"]
    steps = max(2, args.repeat * len(samples) // args.batch_size)
    rows = [
        (
            f"course loop (PIL, main process, fp32, batch {args.course_batch_size})",
            course_loop(args, samples),
        ),
        (f"project, CPU-worker path ({args.workers} workers)", project(args, device_cache=False)),
        ("project, device-cache path (batched crops/flips)", project(args, device_cache=True)),
        ("network alone on random tensors (ceiling)", ceiling(args, steps)),
    ]
    name = (
        torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    )
    print(
        f"\n{args.arch} {args.image_size}x{args.image_size}, {len(samples)} training images x {args.repeat}, "
        f"batch {args.batch_size}, {args.precision}, {name}, torch {torch.__version__}"
    )
    course, top = rows[0][1], rows[-1][1]
    print(f"{'':54}{'images/s':>10}{'x course':>10}{'x ceiling':>11}")
    for label, speed in rows:
        print(f"{label:54}{speed:10.1f}{speed / course:10.2f}{speed / top:11.2f}")
