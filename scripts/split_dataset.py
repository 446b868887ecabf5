"""Copy a class-folder image data set into ``train/ valid/ test/`` folders, deterministically.

    python scripts/split_dataset.py SRC DST [--split 0.8 0.1 0.1] [--seed 42]

The split is the one the image data modules make from ``SRC`` with the same fractions and seed (sorted
files, seeded permutation, per class), so training on ``DST`` sees exactly the same images in each part.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

SPLIT_FOLDERS = {"train": "train", "val": "valid", "test": "test"}


def split_dataset(src: Path, dst: Path, split: tuple[float, float, float], seed: int) -> dict[str, int]:
    """Copy every readable-or-not file of ``src`` into ``dst/<part>/<class>/``; returns files per part."""
    from datamodules import ImageFolderDataModule

    if dst.exists() and any(dst.iterdir()):
        raise FileExistsError(f"{dst} is not empty; choose a new folder so no old files mix in.")
    data = ImageFolderDataModule(src, split=split, seed=seed)
    counts = {}
    for part, samples in data.split_samples().items():
        for sample in samples:
            target = dst / SPLIT_FOLDERS[part] / data.class_names[sample.label] / sample.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(sample.path, target)
        counts[SPLIT_FOLDERS[part]] = len(samples)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("src", type=Path, help="folder with one sub-folder per class")
    parser.add_argument("dst", type=Path, help="new folder to create train/ valid/ test/ in")
    parser.add_argument(
        "--split", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST")
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    counts = split_dataset(args.src, args.dst, tuple(args.split), args.seed)
    print(", ".join(f"{part}: {n} files" for part, n in counts.items()), f"-> {args.dst}")


if __name__ == "__main__":
    main()
