"""Portrait UNet: a course-style PyTorch loop against `hello-lightning fit`, same data, same process.

Two comparisons, each side scored by one function (Dice per photo at threshold 0.5, averaged over every
photo of the data's valid/ folder, with the weights of the last epoch):
- equal settings: the course's loss and optimizer (MSE on the sigmoid, SGD 0.01/0.9, batch 8,
  StepLR(150)) at one size, width and number of epochs, on both sides;
- the project's recipe (configs/portrait_unet.yaml) at its own settings, and beside it the course-style
  loop at the recipe's image size and width, for whole epochs until the recipe's training time has passed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.functional.segmentation import dice_score

from datamodules import SegmentationDataModule
from datamodules.mask_layouts import MaskedSample, scan_mask_folder
from datamodules.transforms import IMAGENET_MEAN, IMAGENET_STD
from lit_modules.cli import HelloCLI
from lit_modules.nets import UNet

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "portrait_unet.yaml"
COURSE_OVERLAY = REPO / "configs" / "variants" / "portrait_unet_course.yaml"


class CoursePortraits(Dataset):
    """Photo/matte pairs read the course's way: PIL opens, decodes and resizes both on every read."""

    def __init__(self, samples: list[MaskedSample], size: int) -> None:
        self.samples, self.size = samples, size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.samples[index]
        image = Image.open(sample.image).convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        matte = Image.open(sample.mask).convert("L").resize((self.size, self.size), Image.NEAREST)
        image_chw = np.array(image).transpose((2, 0, 1))
        mask = (np.array(matte) > 0).astype(np.float32)
        return torch.from_numpy(image_chw).float(), torch.from_numpy(mask)[None]  # raw 0-255 pixels


def foreground_dice(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Dice of each photo's ``sigmoid(logits) > 0.5`` against its binary (1, H, W) mask: (N,)."""
    predicted = (logits > 0).long()[:, 0]
    return dice_score(predicted, masks.long()[:, 0], 2, average="none", input_format="index")[:, 1]


def photo_dice(net: nn.Module, images: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean Dice per photo of ``sigmoid(net(images)) > 0.5`` against binary (N, 1, H, W) masks."""
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(batch) for batch in images.split(8)])
    net.train()
    return foreground_dice(logits, masks).nanmean().item()


def valid_photos(data_dir: Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pair of valid/ at ``size``: raw 0-255 images and binary masks, as the course reads them."""
    samples = scan_mask_folder(data_dir).splits["val"]
    pairs = [CoursePortraits(samples, size)[i] for i in range(len(samples))]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def course_loop(
    data_dir: Path, size: int, features: int, seed: int, epochs: int | None, seconds: float | None = None
) -> tuple[int, float, float]:
    """Train as the course does, for ``epochs`` or until ``seconds`` pass: (epochs, seconds, valid Dice).

    Each epoch reads the training photos with PIL, trains on raw pixels with MSE on the sigmoid, and
    validates on the project's val split (the same photos the project validates on each epoch).
    """
    torch.manual_seed(seed)
    splits = SegmentationDataModule(data_dir).split_samples()
    train = DataLoader(CoursePortraits(splits["train"], size), batch_size=8, shuffle=True)
    valid = DataLoader(CoursePortraits(splits["val"], size), batch_size=8)
    net = UNet(1, features=features)
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=150, gamma=0.1)
    start, done = time.perf_counter(), 0
    while (epochs is None or done < epochs) and (seconds is None or time.perf_counter() - start < seconds):
        for images, masks in train:
            optimizer.zero_grad()
            loss = criterion(torch.sigmoid(net(images)), masks)
            loss.backward()
            optimizer.step()
        scheduler.step()
        net.eval()
        with torch.no_grad():
            dices = torch.cat([foreground_dice(net(images), masks) for images, masks in valid])
        net.train()
        print(f"  course loop epoch {done}: val Dice {dices.nanmean():.3f}", flush=True)
        done += 1
    elapsed = time.perf_counter() - start
    return done, elapsed, photo_dice(net, *valid_photos(data_dir, size))


def project_fit(data_dir: Path, seed: int, overrides: list[str]) -> tuple[int, float, float]:
    """``hello-lightning fit`` with ``overrides``: (epochs, `Trainer.fit` seconds, valid Dice of last epoch).

    ``Trainer.fit`` time includes decoding the photos once and the sanity check; the CLI's parsing and
    building are not timed, as the course loop's set-up is not timed either.
    """
    with tempfile.TemporaryDirectory() as runs:
        args = [
            "--config", str(CONFIG), "--data.data_dir", str(data_dir), "--seed_everything", str(seed),
            "--trainer.default_root_dir", runs, "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *overrides,
        ]  # fmt: skip
        cli = HelloCLI(args=args, run=False)
        start = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        seconds = time.perf_counter() - start
        images, masks = valid_photos(data_dir, cli.datamodule.image_size[0])
        images = (images / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(
            3, 1, 1
        )
        return cli.trainer.current_epoch, seconds, photo_dice(cli.model.net, images, masks)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "portrait")
    parser.add_argument("--size", type=int, default=128, help="image size of the equal-settings comparison")
    parser.add_argument(
        "--features", type=int, default=16, help="UNet width of the equal-settings comparison"
    )
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the equal-settings comparison")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0], help="seeds of the equal-settings runs")
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["32-true", "bf16-mixed"],
        help="project rows of the equal settings",
    )
    parser.add_argument("--recipe-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument(
        "--beside-seeds", type=int, nargs="*", default=[0], help="recipe seeds with the course loop beside"
    )
    parser.add_argument("--recipe-epochs", type=int, help="override the recipe's max_epochs (short checks)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both sides")


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    equal = [
        "--config", str(COURSE_OVERLAY), "--data.image_size", str(args.size),
        "--model.init_args.net.init_args.features", str(args.features),
        "--trainer.max_epochs", str(args.epochs),
    ]  # fmt: skip
    rows = []
    for seed in args.seeds:
        course = course_loop(args.data_dir, args.size, args.features, seed, args.epochs)
        for precision in args.precisions:
            project = project_fit(args.data_dir, seed, [*equal, "--trainer.precision", precision])
            rows.append((seed, precision, course, project))
            print(
                f"  equal settings, seed {seed}: course {course}, project {precision} {project}", flush=True
            )
    recipe = yaml.safe_load(CONFIG.read_text())
    recipe_size = recipe["data"]["init_args"]["image_size"]
    recipe_features = recipe["model"]["init_args"]["net"]["init_args"]["features"]
    recipe_args = ["--trainer.max_epochs", str(args.recipe_epochs)] if args.recipe_epochs else []
    recipe_rows = []
    for seed in args.recipe_seeds:
        project = project_fit(args.data_dir, seed, recipe_args)
        course = (
            course_loop(args.data_dir, recipe_size, recipe_features, seed, None, seconds=project[1])
            if seed in args.beside_seeds
            else None
        )
        recipe_rows.append((seed, course, project))
        print(f"  recipe, seed {seed}: project {project}, course loop beside {course}", flush=True)

    print(
        f"\nPortrait UNet, data {args.data_dir}, torch threads {torch.get_num_threads()}; "
        "Dice: mean per photo over valid/, last epoch's weights"
    )
    if rows:
        print(
            f"Equal settings: {args.size}x{args.size}, {args.features} features, {args.epochs} epochs, "
            "MSE on sigmoid, SGD 0.01/0.9, batch 8, StepLR(150)"
        )
        print(
            "seed | course loop s/epoch  Dice | project precision  s/epoch  Dice | project / course s/epoch"
        )
        for seed, precision, (c_epochs, c_s, c_dice), (p_epochs, p_s, p_dice) in rows:
            print(
                f"{seed:>4} | {c_s / c_epochs:19.2f} {c_dice:5.3f} | {precision:>17} {p_s / p_epochs:8.2f} "
                f"{p_dice:5.3f} | {(p_s / p_epochs) / (c_s / c_epochs):.3f}"
            )
    if recipe_rows:
        print(
            f"Recipe {CONFIG.name} ({recipe_size}x{recipe_size}, {recipe_features} features) against the "
            "course-style loop at the same size and width for the same time"
        )
        print("seed | recipe epochs  fit s  Dice | course loop epochs  s  Dice")
        for seed, course, (p_epochs, p_s, p_dice) in recipe_rows:
            beside = f"{course[0]:18d} {course[1]:3.0f} {course[2]:5.3f}" if course else f"{'-':>18}"
            print(f"{seed:>4} | {p_epochs:13d} {p_s:6.1f} {p_dice:5.3f} | {beside}")
        dices = [row[2][2] for row in recipe_rows]
        print(f"recipe Dice over {len(dices)} seed(s): mean {np.mean(dices):.3f}, min {min(dices):.3f}")
