"""Find the photos of a detection data set and their boxes, and fail early when no layout fits.

Supported layouts under ``root``:

- Penn-Fudan: ``PNGImages/<stem>.png`` (or ``.jpg``) with ``Annotation/<stem>.txt`` (PASCAL v1 text, one
  ``Bounding box ... (Xmin, Ymin) - (Xmax, Ymax)`` line per pedestrian), or, where ``Annotation/`` is
  absent, the instance masks ``PedMasks/<stem>_mask.png`` (pixel value i is pedestrian i); also inside one
  ``PennFudanPed/`` folder, as the archive unpacks. One class, ``pedestrian``.
- COCO: ``images/`` and one instances file (``*.json`` in ``root`` or ``root/annotations/``), the format
  most labelling tools export. Classes are its categories, in id order; crowd boxes are left out.

Boxes are ``(x1, y1, x2, y2)`` in pixels of the photo as it is on disk, ``x2`` and ``y2`` exclusive. A photo
whose annotation is missing or broken is skipped; all of them are named in one warning.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from datamodules.errors import DataLayoutError, data_folder
from datamodules.mask_layouts import _image_files

BACKGROUND = "background"
PASCAL_BOX = re.compile(r"Bounding box[^:]*:\s*\((\d+),\s*(\d+)\)\s*-\s*\((\d+),\s*(\d+)\)")
Box = tuple[float, float, float, float]


@dataclass(frozen=True, order=True)
class BoxedSample:
    image: Path
    boxes: tuple[Box, ...]
    labels: tuple[int, ...]  # 1, 2, ...: 0 is the background


@dataclass
class ScannedBoxes:
    """What a scan found: the photos with their boxes, the class names (background first), the skipped."""

    layout: str
    class_names: list[str]
    unsplit: list[BoxedSample] = field(default_factory=list)
    splits: dict[str, list[BoxedSample]] = field(default_factory=dict)
    skipped: dict[Path, str] = field(default_factory=dict)


def expected_box_layout(root: Path) -> str:
    return (
        f"Expected one of these layouts under {root}:\n"
        f"  {root}/PNGImages/<stem>.png + {root}/Annotation/<stem>.txt   (Penn-Fudan)\n"
        f"  {root}/PNGImages/<stem>.png + {root}/PedMasks/<stem>_mask.png   (Penn-Fudan, instance masks)\n"
        f"  {root}/images/*.jpg + {root}/annotations/instances.json   (COCO; or the .json in {root})"
    )


def pascal_boxes(text: str) -> list[Box]:
    """The boxes of a PASCAL v1 annotation text, its 1-based inclusive corners made 0-based exclusive."""
    return [(x1 - 1.0, y1 - 1.0, float(x2), float(y2)) for x1, y1, x2, y2 in (
        tuple(int(v) for v in match) for match in PASCAL_BOX.findall(text)
    )]  # fmt: skip


def mask_boxes(path: Path) -> list[Box]:
    """One box around each instance of an instance mask (value i > 0 is object i)."""
    with Image.open(path) as img:
        values = np.asarray(img)
    boxes = []
    for instance in np.unique(values[values > 0]):
        rows, cols = np.nonzero(values == instance)
        boxes.append((float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)))
    return boxes


def pascal_file_boxes(path: Path) -> list[Box]:
    return pascal_boxes(path.read_text(encoding="utf-8", errors="replace"))


def _penn_fudan(root: Path, skipped: dict[Path, str]) -> list[BoxedSample]:
    """Boxes from ``Annotation/``, or from the instance masks in ``PedMasks/`` where it is absent."""
    annotations, masks = root / "Annotation", root / "PedMasks"
    samples = []
    for image in _image_files(root / "PNGImages"):
        source, read = (
            (annotations / f"{image.stem}.txt", pascal_file_boxes)
            if annotations.is_dir()
            else (masks / f"{image.stem}_mask.png", mask_boxes)
        )
        if not source.is_file():
            skipped[image] = f"no {source.parent.name}/{source.name}"
            continue
        try:
            boxes = read(source)
        except (OSError, ValueError) as err:
            skipped[image] = f"unreadable {source.name} ({err})"
            continue
        if not boxes:
            skipped[image] = f"no box in {source.name}"
            continue
        samples.append(BoxedSample(image, tuple(boxes), (1,) * len(boxes)))
    return samples


def _coco_box(annotation: dict, labels: dict[int, int]) -> tuple[Box, int]:
    x, y, w, h = (float(v) for v in annotation["bbox"])
    return (x, y, x + w, y + h), labels[annotation["category_id"]]


def _coco(root: Path, instances: Path, skipped: dict[Path, str]) -> tuple[list[BoxedSample], list[str]]:
    try:
        coco = json.loads(instances.read_text(encoding="utf-8"))
        categories = sorted(coco["categories"], key=lambda c: c["id"])
        images = {entry["id"]: root / "images" / entry["file_name"] for entry in coco["images"]}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataLayoutError(
            f"{instances} is no COCO instances file ({err}): it needs images, annotations and categories."
        ) from err
    labels = {c["id"]: i + 1 for i, c in enumerate(categories)}
    boxes: dict[int, list[tuple[Box, int]]] = defaultdict(list)
    for annotation in coco.get("annotations", []):
        image_id = annotation.get("image_id")
        if annotation.get("iscrowd") or image_id not in images:
            continue
        try:
            boxes[image_id].append(_coco_box(annotation, labels))
        except (KeyError, TypeError, ValueError) as err:
            skipped[images[image_id]] = (
                f"broken annotation {annotation.get('id')} ({type(err).__name__}: {err})"
            )
    samples = []
    for image_id, path in images.items():
        if path in skipped:
            continue
        if not path.is_file():
            skipped[path] = f"listed in {instances.name}, no such file"
            continue
        found = boxes.get(image_id, [])  # an image without boxes is a negative example
        samples.append(BoxedSample(path, tuple(b for b, _ in found), tuple(label for _, label in found)))
    listed = set(images.values())
    for path in _image_files(root / "images"):
        if path not in listed:
            skipped[path] = f"not in {instances.name}"
    return samples, [BACKGROUND, *(str(c["name"]) for c in categories)]


def _instances_file(root: Path) -> Path | None:
    found = sorted(root.glob("*.json")) + sorted((root / "annotations").glob("*.json"))
    if len(found) > 1:
        raise DataLayoutError(
            f"Several annotation files for {root}/images: {', '.join(str(p) for p in found)}. "
            "Keep one COCO instances file there (move the others away)."
        )
    return found[0] if found else None


def scan_box_folder(root: str | Path) -> ScannedBoxes:
    """Scan ``root`` once for photos and boxes; warn once about skipped photos, fail if none is usable."""
    root = data_folder(root, expected_box_layout)
    skipped: dict[Path, str] = {}
    penn_fudan = next((r for r in (root, root / "PennFudanPed") if (r / "PNGImages").is_dir()), None)
    instances = _instances_file(root) if (root / "images").is_dir() else None
    if penn_fudan is not None:
        scanned = ScannedBoxes("Penn-Fudan", [BACKGROUND, "pedestrian"], _penn_fudan(penn_fudan, skipped))
    elif instances is not None:
        samples, class_names = _coco(root, instances, skipped)
        scanned = ScannedBoxes(f"COCO ({instances.name})", class_names, samples)
    else:
        raise DataLayoutError(f"No detection layout found in {root}.\n{expected_box_layout(root)}")
    scanned.skipped = skipped
    if skipped:
        listing = "\n".join(f"  {path} ({why})" for path, why in sorted(skipped.items()))
        warnings.warn(
            f"Skipped {len(skipped)} photo(s) without a usable annotation:\n{listing}", stacklevel=2
        )
    if not scanned.unsplit:
        raise DataLayoutError(f"No annotated photo in {root}.\n{expected_box_layout(root)}")
    return scanned
