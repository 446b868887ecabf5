"""Pedestrian detection: a course-style Faster R-CNN loop and `hello-lightning fit`, side by side.

Every side trains fasterrcnn_mobilenet_v3_large_320_fpn from random weights on the same training photos of
Penn-Fudan for the same number of epochs, and is scored by one function: AP at IoU 0.5 (torchmetrics'
``map_50``) over the same held-out photos, with the last epoch's weights. Seconds per epoch count the
training batches only (no scoring); the project's decoding, once before the first epoch, is shown apart.

- course loop: the course's way: every epoch PIL opens and decodes each photo at its own size and its
  annotation file is parsed again, a coin flip mirrors photo and boxes by hand, a hand-written loop;
  SGD 0.01 momentum 0.9 weight decay 5e-4, batch 4, StepLR(10, 0.1);
- project, equal settings: ``hello-lightning fit`` with the same network, optimizer, schedule, batch and flip,
  photos decoded once at 320 x 416;
- project recipe: configs/variants/pennfudan_scratch.yaml as it is (box head trained on 128 sampled regions
  per photo instead of 512, colour jitter, cosine decay).

IoU does not change when both boxes are stretched alike, so AP over photos at their own size (course loop)
and at 320 x 416 (project) scores the same detections the same.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torchvision
import yaml
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.detection import MeanAveragePrecision
from torchvision.transforms.v2 import functional as F

from datamodules import DetectionDataModule
from datamodules.box_layouts import BoxedSample, pascal_file_boxes, scan_box_folder
from lit_modules.cli import HelloCLI

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "pennfudan_fasterrcnn.yaml"
SCRATCH = REPO / "configs" / "variants" / "pennfudan_scratch.yaml"
NETWORK = "fasterrcnn_mobilenet_v3_large_320_fpn"
Targets = list[dict[str, torch.Tensor]]


class CoursePedestrians(Dataset):
    """Penn-Fudan read the course's way: each read opens and decodes the photo with PIL and parses its
    annotation file; with ``flip``, a coin flip mirrors the photo and its boxes."""

    def __init__(self, samples: list[BoxedSample], flip: bool) -> None:
        self.samples, self.flip = samples, flip

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        path = self.samples[index].image
        image = F.to_dtype(F.pil_to_tensor(Image.open(path).convert("RGB")), torch.float32, scale=True)
        annotation = path.parent.parent / "Annotation" / f"{path.stem}.txt"
        boxes = torch.tensor(pascal_file_boxes(annotation), dtype=torch.float32)
        if self.flip and random.random() < 0.5:
            image = image.flip(-1)
            boxes[:, [0, 2]] = image.shape[-1] - boxes[:, [2, 0]]
        return image, {"boxes": boxes, "labels": torch.ones(len(boxes), dtype=torch.int64)}


def as_lists(batch: list[tuple[Any, Any]]) -> tuple[list, list]:
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


def to_device(images: list[torch.Tensor], targets: Targets, device: str) -> tuple[list, Targets]:
    moved = [{key: value.to(device) for key, value in target.items()} for target in targets]
    return [image.to(device) for image in images], moved


def held_out_ap50(net: nn.Module, images: list[torch.Tensor], targets: Targets, device: str) -> float:
    """AP at IoU 0.5 of ``net``'s detections on float [0, 1] ``images`` against their ``targets``."""
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    net.to(device).eval()
    with torch.no_grad():
        for start in range(0, len(images), 4):
            batch = [image.to(device) for image in images[start : start + 4]]
            detections = [{key: value.cpu() for key, value in found.items()} for found in net(batch)]
            metric.update(detections, targets[start : start + 4])
    net.train()
    return metric.compute()["map_50"].item()


def split(data_dir: Path, held_out: int) -> dict[str, list[BoxedSample]]:
    """The project's seeded split into training photos and ``held_out`` photos, the same for every side."""
    total = len(scan_box_folder(data_dir).unsplit)
    return DetectionDataModule(data_dir, split=fractions(total, held_out)).split_samples()


def fractions(total: int, held_out: int) -> tuple[float, float, float]:
    return (1 - held_out / total, held_out / total, 0.0)


def size_options(min_size: int) -> dict[str, int]:
    """The detector's resizing: shorter side ``min_size``, longer side at most twice that (for 320, the
    defaults of fasterrcnn_mobilenet_v3_large_320_fpn)."""
    return {"min_size": min_size, "max_size": 2 * min_size}


def course_loop(
    data_dir: Path, held_out: int, epochs: int, seed: int, device: str, min_size: int
) -> dict[str, float]:
    """Train as the course does: seconds per epoch and held-out AP@0.5."""
    random.seed(seed)
    torch.manual_seed(seed)
    samples = split(data_dir, held_out)
    train = DataLoader(
        CoursePedestrians(samples["train"], flip=True), batch_size=4, shuffle=True, collate_fn=as_lists
    )
    net = torchvision.models.get_model(
        NETWORK, weights=None, weights_backbone=None, num_classes=2, **size_options(min_size)
    ).to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=0.0005)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    net.train()
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        for images, targets in train:
            loss = sum(net(*to_device(images, targets, device)).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        _sync(device)
        seconds.append(time.perf_counter() - start)
        print(f"  course loop epoch {epoch}: {seconds[-1]:.1f} s, last loss {loss.item():.3f}", flush=True)
    images, targets = as_lists([CoursePedestrians(samples["val"], flip=False)[i] for i in range(held_out)])
    return {
        "decode": 0.0,
        "s/epoch": sum(seconds) / epochs,
        "ap50": held_out_ap50(net, images, targets, device),
    }


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class EpochTimer(pl.Callback):
    """Seconds of each training epoch's batches."""

    def __init__(self) -> None:
        self.epochs: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _sync(pl_module.device.type)
        self.epochs.append(time.perf_counter() - self._start)
        print(f"  project epoch {len(self.epochs) - 1}: {self.epochs[-1]:.1f} s", flush=True)


def project_fit(
    data_dir: Path, held_out: int, epochs: int, seed: int, device: str, overrides: list[str]
) -> dict[str, float]:
    """``hello-lightning fit`` with ``overrides``, no validation: seconds per epoch and held-out AP@0.5."""
    total = len(scan_box_folder(data_dir).unsplit)
    with tempfile.TemporaryDirectory() as runs:
        args = [
            "--config", str(CONFIG), "--data.data_dir", str(data_dir), "--seed_everything", str(seed),
            "--data.split", str(list(fractions(total, held_out))),
            "--trainer.limit_val_batches", "0", "--checkpoint.monitor", "null", "--test_after_fit", "false",
            "--trainer.default_root_dir", runs, "--trainer.accelerator", device, "--trainer.devices", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *overrides,
            "--trainer.max_epochs", str(epochs),
        ]  # fmt: skip
        cli = HelloCLI(args=args, run=False)
        start = time.perf_counter()
        cli.datamodule.setup("fit")  # decodes once; fit's own setup then finds the splits ready
        decode = time.perf_counter() - start
        timer = EpochTimer()
        cli.trainer.callbacks.append(timer)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        held = cli.datamodule.dataset("val")
        images = [F.to_dtype(image, torch.float32, scale=True) for image in held.images]
        ap50 = held_out_ap50(cli.model.net, images, held.targets, device)
    return {"decode": decode, "s/epoch": sum(timer.epochs) / epochs, "ap50": ap50}


def device_name(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"CPU, torch threads {torch.get_num_threads()}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "pennfudan")
    parser.add_argument("--held-out", type=int, default=30, help="held-out photos (the rest train)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--min-size",
        type=int,
        default=320,
        help="shorter side the detector sees; the project decodes to min-size x 1.3 min-size",
    )
    parser.add_argument(
        "--sides", nargs="+", default=["course", "equal", "recipe"], choices=["course", "equal", "recipe"]
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every side")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where every side trains")
    parser.add_argument(
        "--flags",
        default="",
        help="CLI flags added to the project's sides, e.g. '--trainer.gradient_clip_val 5'",
    )


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    sized = size_options(args.min_size)
    image_size = ["--data.image_size", json.dumps([args.min_size, round(1.3 * args.min_size)])]
    equal = [
        "--model.net.init_args.weights", "null", "--model.net.init_args.name", NETWORK, *image_size,
        "--model.net.init_args.options", json.dumps(sized), "--model.optimizer.init_args.lr", "0.01",
        "--data.batch_size", "4",
    ]  # fmt: skip
    recipe_options = yaml.safe_load(SCRATCH.read_text())["model"]["init_args"]["net"]["init_args"]["options"]
    recipe = [
        "--config", str(SCRATCH), "--model.scheduler.init_args.T_max", str(args.epochs), *image_size,
        "--model.net.init_args.options", json.dumps({**recipe_options, **sized}),
    ]  # fmt: skip
    project = shlex.split(args.flags)  # after each side's own flags, so these win
    common = (args.data_dir, args.held_out, args.epochs, args.seed, args.device)
    sides = {
        "course": ("course loop", lambda: course_loop(*common, args.min_size)),
        "equal": ("project, equal settings", lambda: project_fit(*common, [*equal, *project])),
        "recipe": ("project, pennfudan_scratch", lambda: project_fit(*common, [*recipe, *project])),
    }
    rows = {side: (sides[side][0], sides[side][1]()) for side in args.sides}
    print(
        f"\nPenn-Fudan detection, data {args.data_dir}, {NETWORK} from random weights, {args.epochs} epochs, "
        f"seed {args.seed}, {args.held_out} held-out photos, {device_name(args.device)}"
    )
    if args.flags:
        print(f"the project's sides with: {args.flags}")
    print(f"{'side':<28} | decode s | s/epoch | held-out AP@0.5 | s/epoch vs course loop")
    course = rows.get("course", (None, None))[1]
    for name, numbers in rows.values():
        ratio = f"{numbers['s/epoch'] / course['s/epoch']:.2f}" if course else "-"
        print(
            f"{name:<28} | {numbers['decode']:8.1f} | {numbers['s/epoch']:7.1f} | "
            f"{numbers['ap50']:15.3f} | {ratio}"
        )
