"""Find the image/mask pairs of a segmentation data set, and fail early when no layout fits.

Supported layouts under ``root`` (each also inside ``train/``, ``valid/`` (or ``val/``) and ``test/``):

- side by side, as the course's portraits: ``<stem>.jpg`` (or ``.png``...) next to ``<stem>_matte.png``
  (or ``<stem>_mask.png``)
- two folders: ``images/<stem>.jpg`` and ``masks/<stem>.png``, paired by stem

A photo without a mask, or a mask without its photo, is skipped; all of them are named in one warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from datamodules.errors import DataLayoutError, data_folder
from datamodules.layouts import _find_split_folders, _visible

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
MASK_SUFFIXES = ("_matte", "_mask")


@dataclass(frozen=True, order=True)
class MaskedSample:
    image: Path
    mask: Path


@dataclass
class ScannedPairs:
    """What a scan found: pairs either per split or still to be split, and the files left unpaired."""

    layout: str
    unsplit: list[MaskedSample] = field(default_factory=list)
    splits: dict[str, list[MaskedSample]] = field(default_factory=dict)
    unpaired: list[Path] = field(default_factory=list)


def expected_pairs_layout(root: Path) -> str:
    return (
        f"Expected one of these layouts under {root} (optionally inside train/, valid/ and test/):\n"
        f"  {root}/00001.jpg + {root}/00001_matte.png, ...   (mask next to its photo, _matte or _mask)\n"
        f"  {root}/images/00001.jpg + {root}/masks/00001.png, ...   (two folders, same stems)"
    )


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and _visible(p) and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _mask_stem(path: Path) -> str | None:
    """The photo's stem a side-by-side mask belongs to, or None for a photo."""
    for suffix in MASK_SUFFIXES:
        if path.stem.endswith(suffix):
            return path.stem[: -len(suffix)]
    return None


def _pair(images: dict[str, Path], masks: dict[str, Path]) -> tuple[list[MaskedSample], list[Path]]:
    pairs = [MaskedSample(images[stem], masks[stem]) for stem in sorted(images.keys() & masks.keys())]
    unpaired = [images[s] for s in images.keys() - masks.keys()] + [masks[s] for s in masks.keys() - images]
    return pairs, sorted(unpaired)


def _scan_group(folder: Path) -> tuple[list[MaskedSample], list[Path], str]:
    """Pairs of one folder: ``images/`` + ``masks/`` inside it, or photos and masks side by side."""
    by_lower = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
    if "images" in by_lower and "masks" in by_lower:
        images = {p.stem: p for p in _image_files(by_lower["images"])}
        masks = {p.stem: p for p in _image_files(by_lower["masks"])}
        return *_pair(images, masks), "images/ and masks/ folders"
    images, masks = {}, {}
    for path in _image_files(folder):
        stem = _mask_stem(path)
        if stem is None:
            images[path.stem] = path
        else:
            masks[stem] = path
    return *_pair(images, masks), "masks next to their photos"


def scan_mask_folder(root: str | Path) -> ScannedPairs:
    """Scan ``root`` once for image/mask pairs; warn once about unpaired files, fail if no pair is found."""
    root = data_folder(root, expected_pairs_layout)
    split_folders = _find_split_folders(root)
    groups = split_folders or {"unsplit": root}
    scanned = ScannedPairs(layout="")
    for split, folder in groups.items():
        pairs, unpaired, scanned.layout = _scan_group(folder)
        scanned.unpaired += unpaired
        if split_folders:
            scanned.splits[split] = pairs
        else:
            scanned.unsplit = pairs
    if scanned.unpaired:
        listing = "\n".join(f"  {p}" for p in scanned.unpaired)
        warnings.warn(
            f"Skipped {len(scanned.unpaired)} file(s) without their photo or mask:\n{listing}", stacklevel=2
        )
    if not (scanned.splits.get("train") if split_folders else scanned.unsplit):
        where = split_folders.get("train", root)
        raise DataLayoutError(f"No image/mask pair in {where}.\n{expected_pairs_layout(root)}")
    if split_folders:
        scanned.layout = f"pre-split folders, {scanned.layout}"
    return scanned
