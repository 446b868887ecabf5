"""Write images from a trained DCGAN checkpoint: N single images, their grid, and latent-walk strips.

    python scripts/generate_faces.py runs/faces_dcgan/version_0/checkpoints/last.ckpt
    python scripts/generate_faces.py CKPT --n 256 --walks 4 --steps 12 --seed 1 --out samples/

Output (default ``<run>/generated/``): ``000.png`` ... (one image each), ``grid.png`` (all N),
``latent_walk.png`` (one row per walk: ``steps`` images from one noise vector to another).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torchvision.utils import save_image

from lit_modules.config_checks import unloadable_checkpoint
from lit_modules.dcgan import DCGAN


def generate(ckpt: Path, out: Path, n: int = 64, walks: int = 4, steps: int = 10, seed: int = 0) -> None:
    model = DCGAN.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    generator = torch.Generator().manual_seed(seed)
    images = model.generate(model.noise(n, generator))
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        save_image(image, out / f"{i:03d}.png")
    save_image(images, out / "grid.png", nrow=math.ceil(math.sqrt(n)), padding=2)
    ends = model.noise(2 * walks, generator)
    strips = [model.latent_walk(ends[2 * w], ends[2 * w + 1], steps) for w in range(walks)]
    save_image(torch.cat(strips), out / "latent_walk.png", nrow=steps, padding=2)
    print(f"Wrote {n} images, grid.png and latent_walk.png ({walks} walks of {steps}) to {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ckpt", type=Path, help="a DCGAN checkpoint (.ckpt)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <run>/generated)")
    parser.add_argument("--n", type=int, default=64, help="how many images")
    parser.add_argument("--walks", type=int, default=4, help="latent walks (rows of the strip)")
    parser.add_argument("--steps", type=int, default=10, help="images per latent walk")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    args = parser.parse_args(argv)
    if not args.ckpt.is_file():
        parser.error(f"checkpoint {args.ckpt} does not exist; train first (hello-lightning fit --config ...)")
    if problem := unloadable_checkpoint(args.ckpt, flag="checkpoint"):
        parser.error(problem)
    if min(args.n, args.walks, args.steps) < 1 or args.steps < 2:
        parser.error("--n and --walks must be >= 1 and --steps >= 2")
    out = args.out or args.ckpt.resolve().parent.parent / "generated"
    generate(args.ckpt, out, args.n, args.walks, args.steps, args.seed)


if __name__ == "__main__":
    main()
