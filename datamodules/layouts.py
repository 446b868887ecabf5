"""Find the labelled files of an image data set, whatever layout it comes in, and fail early if none fits.

Supported layouts under ``root`` (``<class>`` matches a class name in any letter case, singular or plural:
``Cat/``, ``cats/`` and ``cat.1.jpg`` are all the class ``cat``):

- class folders: ``root/<class>/*``
- pre-split folders: ``root/train/<class>/*`` plus optional ``valid/`` (or ``val/``) and ``test/``
- flat prefixed files (Kaggle cats-dogs): ``root/<class>.<anything>.jpg``, also inside split folders
- any of the above inside one wrapper folder (``PetImages/``, ``hymenoptera_data/``)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from datamodules.errors import DataLayoutError, data_folder

SPLIT_FOLDERS = {"train": ("train",), "val": ("valid", "val", "validation"), "test": ("test",)}
IGNORED_FILES = {"thumbs.db", "desktop.ini"}


@dataclass(frozen=True, order=True)
class Sample:
    path: Path
    label: int


@dataclass
class ScannedImages:
    """What a scan found: class names, and samples either per split or still to be split."""

    class_names: list[str]
    layout: str
    unsplit: list[Sample] = field(default_factory=list)
    splits: dict[str, list[Sample]] = field(default_factory=dict)


def expected_layout(root: Path, class_names: Sequence[str] | None) -> str:
    names = list(class_names) if class_names else ["<class_a>", "<class_b>"]
    a, b = names[0], names[1 % len(names)]
    return (
        f"Expected one of these layouts under {root}:\n"
        f"  {root}/{a}/*.jpg, {root}/{b}/*.jpg, ...           (one folder per class)\n"
        f"  {root}/train/{a}/*.jpg, {root}/valid/{a}/*.jpg, {root}/test/{a}/*.jpg  (pre-split)\n"
        f"  {root}/{a}.1.jpg, {root}/{b}.2.jpg, ...           (flat files named <class>.<n>.jpg)\n"
        f"with classes {', '.join(names) if class_names else 'named by the folders'}."
    )


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name.lower() not in IGNORED_FILES


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _visible(p))


def _find_split_folders(root: Path) -> dict[str, Path]:
    by_lower = {p.name.lower(): p for p in _subdirs(root)}
    found = {}
    for split, aliases in SPLIT_FOLDERS.items():
        for alias in aliases:
            if alias in by_lower:
                found[split] = by_lower[alias]
                break
    return found if "train" in found else {}


def _match_class(name: str, class_names: Sequence[str]) -> int | None:
    """The label ``name`` stands for: a class name in any letter case, or its plural (``Cats`` for ``cat``)
    or singular; an exact spelling wins."""
    lowered = [c.lower() for c in class_names]
    name = name.lower()
    for candidate in (name, name.removesuffix("s"), f"{name}s"):
        if candidate in lowered:
            return lowered.index(candidate)
    return None


def _scan_group(folder: Path, class_names: Sequence[str], allow_flat: bool, root: Path) -> list[Sample]:
    """Samples of one folder holding either class folders or flat ``<class>.<n>.ext`` files."""
    subdirs = _subdirs(folder)
    if subdirs:
        unknown = [d.name for d in subdirs if _match_class(d.name, class_names) is None]
        if unknown:
            raise DataLayoutError(
                f"Unknown class folder(s) {unknown} in {folder}; the classes are {list(class_names)}.\n"
                f"Rename or remove them, or pass --data.class_names.\n{expected_layout(root, class_names)}"
            )
        samples = []
        for label, name in enumerate(class_names):
            matches = [d for d in subdirs if _match_class(d.name, class_names) == label]
            if len(matches) > 1:
                raise DataLayoutError(
                    f"Folders {[d.name for d in matches]} in {folder} all stand for class '{name}': "
                    "merge them into one."
                )
            if not matches:
                raise DataLayoutError(
                    f"Class '{name}' has no folder in {folder}.\n{expected_layout(root, class_names)}"
                )
            files = _files(matches[0])
            if not files:
                raise DataLayoutError(
                    f"Class folder {matches[0]} is empty: add images of '{name}' or remove the class."
                )
            samples += [Sample(f, label) for f in files]
        return samples
    if allow_flat:
        samples = []
        for f in _files(folder):
            label = _match_class(f.name.split(".", 1)[0], class_names)
            if label is not None:
                samples.append(Sample(f, label))
        missing = [c for i, c in enumerate(class_names) if not any(s.label == i for s in samples)]
        if samples and not missing:
            return samples
        if samples:
            raise DataLayoutError(f"No files named '{missing[0]}.<n>.<ext>' in {folder}.")
    raise DataLayoutError(f"No class folders in {folder}.\n{expected_layout(root, class_names)}")


def _descend_wrappers(root: Path, class_names: Sequence[str] | None) -> Path:
    """Step into single wrapper folders (``PetImages/``) until the data itself is reached."""
    folder = root
    while True:
        subdirs = _subdirs(folder)
        loose_files = [p for p in folder.iterdir() if p.is_file() and _visible(p)]
        if len(subdirs) != 1 or _find_split_folders(folder):
            return folder
        only = subdirs[0]
        is_class = class_names is not None and _match_class(only.name, class_names) is not None
        if is_class or (loose_files and class_names is None):
            return folder
        folder = only


def scan_image_folder(
    root: str | Path, class_names: Sequence[str] | None = None, allow_flat: bool = False
) -> ScannedImages:
    """Scan ``root`` once. ``class_names`` fixes the label order; ``None`` takes sorted folder names."""
    root = data_folder(root, lambda folder: expected_layout(folder, class_names))
    folder = _descend_wrappers(root, class_names)
    split_folders = _find_split_folders(folder)
    discover_in = split_folders.get("train", folder)
    if class_names is None:
        class_names = [d.name for d in _subdirs(discover_in)]
        if len(class_names) < 2:
            raise DataLayoutError(
                f"Found {len(class_names)} class folder(s) in {discover_in}; a classifier needs at least 2.\n"
                f"{expected_layout(root, None)}"
            )
    names = list(class_names)
    if split_folders:
        splits = {s: _scan_group(p, names, allow_flat, root) for s, p in split_folders.items()}
        return ScannedImages(names, "pre-split folders", splits=splits)
    samples = _scan_group(folder, names, allow_flat, root)
    layout = "class folders" if _subdirs(folder) else "flat prefixed files"
    return ScannedImages(names, layout, unsplit=samples)
