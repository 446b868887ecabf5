"""DCGAN on faces: the project (decode once, manual optimization) against a course-style PyTorch loop.

    python scripts/benchmark.py dcgan --epochs 2
    python scripts/benchmark.py dcgan --epochs 5 --image-size 32 --width 32 --data-dir ../shared/data/faces

Both sides train the same networks from the same seed for the same epochs on the same images and device.
The baseline is written the way the course writes it: a Dataset that opens each JPEG with PIL and applies
Resize -> CenterCrop -> ToTensor -> Normalize every epoch (2 loader workers), Sigmoid + BCELoss, and a
hand-written loop. The project decodes once; on a GPU its images then live in the GPU's memory. Both
generators are then measured the same way: KID on the project's fixed random features against the same real
images, next to its real-vs-real floor.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from datamodules.faces import FacesDataModule, find_images
from lit_modules.dcgan import DCGAN
from lit_modules.nets import Discriminator, Generator

REPO = Path(__file__).resolve().parents[2]
NZ = 100
# The course recipe for both networks: Adam 2e-4 with betas (0.5, 0.999), StepLR(8, 0.1) per epoch.
COURSE_ADAM = functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))
COURSE_STEP_LR = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=8, gamma=0.1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "faces")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64, choices=(32, 64, 128))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=64, help="ngf and ndf")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--course-workers", type=int, default=2, help="the course loop's DataLoader workers")
    parser.add_argument("--compile", action="store_true", help="compile the project's two networks")
    parser.add_argument(
        "--cache", choices=("host", "device"), default=None, help="project's cache; default: device on a GPU"
    )


class EpochTimer(Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self._start)


class CourseFaces(Dataset):
    """The course's way: decode and transform each image file on every access."""

    def __init__(self, files: list[Path], size: int) -> None:
        self.files = files
        self.transform = transforms.Compose(
            [
                transforms.Resize(size),
                transforms.CenterCrop(size),
                transforms.ToTensor(),
                transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            ]
        )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(Image.open(self.files[index]).convert("RGB"))


class CourseNetworks:
    """The course's two networks, BCELoss on a Sigmoid, Adam for each, and its training step."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        torch.manual_seed(args.seed)
        image_shape = (3, args.image_size, args.image_size)
        self.device = device
        self.generator = Generator(image_shape, nz=NZ, ngf=args.width).to(device)
        self.discriminator = nn.Sequential(Discriminator(image_shape, ndf=args.width), nn.Sigmoid()).to(
            device
        )
        self.criterion = nn.BCELoss()
        self.opt_d = COURSE_ADAM(self.discriminator.parameters())
        self.opt_g = COURSE_ADAM(self.generator.parameters())

    def step(self, real: torch.Tensor) -> None:
        """D on real then on detached fakes, then G."""
        net_d, criterion = self.discriminator, self.criterion
        ones = torch.ones(real.size(0), device=self.device)
        zeros = torch.zeros(real.size(0), device=self.device)
        net_d.zero_grad()
        criterion(net_d(real), ones).backward()
        fake = self.generator(torch.randn(real.size(0), NZ, device=self.device))
        criterion(net_d(fake.detach()), zeros).backward()
        self.opt_d.step()
        self.generator.zero_grad()
        criterion(net_d(fake), ones).backward()
        self.opt_g.step()


def course_loop(args: argparse.Namespace, device: torch.device) -> tuple[Generator, list[float]]:
    """PIL decoding every epoch, the course's step, StepLR(8, 0.1) per epoch."""
    nets = CourseNetworks(args, device)
    files = find_images(args.data_dir)[: args.max_images]
    loader = DataLoader(
        CourseFaces(files, args.image_size),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.course_workers,
    )
    schedulers = COURSE_STEP_LR(nets.opt_d), COURSE_STEP_LR(nets.opt_g)
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        for real in loader:
            nets.step(real.to(device))
        for scheduler in schedulers:
            scheduler.step()
        _sync(device)
        seconds.append(time.perf_counter() - start)
    return nets.generator, seconds


def networks_alone(args: argparse.Namespace, device: torch.device, steps: int) -> float:
    """Images/s of the course's step on one batch already on the device: no loading, no loop around it."""
    nets = CourseNetworks(args, device)
    real = torch.rand(args.batch_size, 3, args.image_size, args.image_size, device=device) * 2 - 1
    nets.step(real)  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        nets.step(real)
    _sync(device)
    return steps * args.batch_size / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:  # the model's sample grids go here, not into the cwd
        measure(args, scratch)


def measure(args: argparse.Namespace, root_dir: str) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cache = args.cache or ("device" if device.type == "cuda" else "host")
    pl.seed_everything(args.seed, verbose=False)
    data = FacesDataModule(
        args.data_dir,
        args.image_size,
        args.batch_size,
        max_images=args.max_images,
        val_images=args.val_images,
        cache=cache,
    )
    timer = EpochTimer()
    trainer_args = {"accelerator": "auto", "devices": 1, "logger": False, "enable_progress_bar": False}
    trainer_args |= {"default_root_dir": root_dir}
    trainer_args |= {"enable_checkpointing": False, "enable_model_summary": False, "num_sanity_val_steps": 0}
    trainer = pl.Trainer(
        max_epochs=args.epochs, check_val_every_n_epoch=args.epochs, callbacks=[timer], **trainer_args
    )
    data.trainer = trainer  # so that the one-time decode, timed here, caches where the trainer runs
    start = time.perf_counter()
    data.setup("fit")
    decode_seconds = time.perf_counter() - start
    model = DCGAN(
        Generator(data.image_shape, nz=NZ, ngf=args.width),
        Discriminator(data.image_shape, ndf=args.width),
        generator_optimizer=COURSE_ADAM,
        discriminator_optimizer=COURSE_ADAM,
        generator_scheduler=COURSE_STEP_LR,
        discriminator_scheduler=COURSE_STEP_LR,
        compile=args.compile,
    )
    trainer.fit(model, data)
    project = {k: trainer.callback_metrics[k].item() for k in ("val/kid", "val/kid_real_floor")}

    course_g, course_seconds = course_loop(args, device)
    model.generator.load_state_dict(course_g.state_dict())
    course = pl.Trainer(**trainer_args).validate(model, data, verbose=False)[0]

    size = f"{args.image_size}x{args.image_size}"
    print(
        f"\nDCGAN {size}, {len(data.images)} images of {args.data_dir}, "
        f"batch {args.batch_size}, width {args.width}"
    )
    card = torch.cuda.get_device_name() if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(
        f"{args.epochs} epoch(s) on {device.type} ({card}), torch {torch.__version__}; project cache: "
        f"{data.images.device.type}{', networks compiled' if args.compile else ''}, "
        f"course loop: PIL with {args.course_workers} worker(s)"
    )
    project_epoch = sum(timer.seconds) / len(timer.seconds)
    course_epoch = sum(course_seconds) / len(course_seconds)
    images_per_epoch = len(data.images) // args.batch_size * args.batch_size
    rows = [
        (
            "images per second",
            f"{images_per_epoch / project_epoch:.0f}",
            f"{images_per_epoch / course_epoch:.0f}",
            f"{course_epoch / project_epoch:.2f}x",
        ),
        (
            "seconds per epoch",
            f"{project_epoch:.2f}",
            f"{course_epoch:.2f}",
            "",
        ),
        ("first-epoch seconds", f"{timer.seconds[0]:.2f}", f"{course_seconds[0]:.2f}", ""),
        *steady_row(images_per_epoch, timer.seconds, course_seconds),
        ("one-time decode seconds", f"{decode_seconds:.2f}", "-", ""),
        ("final KID (random features)", f"{project['val/kid']:.4f}", f"{course['val/kid']:.4f}", ""),
        (
            "real-vs-real KID floor",
            f"{project['val/kid_real_floor']:.4f}",
            f"{course['val/kid_real_floor']:.4f}",
            "",
        ),
    ]
    print(f"{'':28}{'project':>12}{'course loop':>14}{'speed-up':>10}")
    for name, *values in rows:
        print(f"{name:28}{values[0]:>12}{values[1]:>14}{values[2]:>10}")
    alone = networks_alone(args, device, steps=images_per_epoch // args.batch_size)
    share = images_per_epoch / steady(timer.seconds) / alone
    print(
        f"networks alone (the course's step on one batch already on the {device.type}): {alone:.0f} "
        f"images/s; the project's epochs after the first run at {share:.2f} of it"
    )


def steady(seconds: list[float]) -> float:
    """Mean seconds of the epochs after the first (which carries the warm-up), or of the one epoch."""
    return sum(seconds[1:]) / len(seconds[1:]) if len(seconds) > 1 else seconds[0]


def steady_row(images: int, project: list[float], course: list[float]) -> list[tuple[str, ...]]:
    if len(project) < 2:
        return []
    speed_up = f"{steady(course) / steady(project):.2f}x"
    return [
        (
            "images/s after epoch 1",
            f"{images / steady(project):.0f}",
            f"{images / steady(course):.0f}",
            speed_up,
        )
    ]
