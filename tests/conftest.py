"""Shared fixtures: generated data sets, the real data in ../shared/data, and in-process CLI runs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch
from PIL import Image

from lit_modules.cli import HelloCLI

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HELLO_SHARED_DATA", REPO.parent / "shared" / "data"))
COLORS = [(200, 40, 40), (40, 40, 200), (40, 200, 40), (200, 200, 40)]


def shared_data(name: str) -> Path:
    """A folder of the real data, or a clean skip where it is absent (e.g. on a user's machine)."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data {path} is not here")
    return path


def image_bytes(label: int, index: int, fmt: str = "JPEG", size: tuple[int, int] = (48, 40)) -> bytes:
    """A small image whose colour tells its class, with a little per-image variation."""
    base = COLORS[label % len(COLORS)]
    color = tuple(min(255, c + (index * 7) % 40) for c in base)
    img = Image.new("RGB", size, color)
    img.paste((255 - color[0], 255 - color[1], 255 - color[2]), (4 + index % 10, 4, 16 + index % 10, 16))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def write_class_folders(root: Path, class_names: Sequence[str], per_class: int = 10) -> Path:
    for label, name in enumerate(class_names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (folder / f"img_{i:03d}.jpg").write_bytes(image_bytes(label, i))
    return root


def write_portraits(
    root: Path,
    count: int = 8,
    layout: str = "side_by_side",
    classes: int = 1,
    size: tuple[int, int] = (40, 48),
) -> Path:
    """``count`` generated photo/mask pairs: a bright shape on a dark ground, its mask the shape's pixels.

    ``side_by_side``: ``<stem>.jpg`` + ``<stem>_matte.png`` (a soft 8-bit matte, as the course's), in
    ``root``; ``folders``: ``images/<stem>.jpg`` + ``masks/<stem>.png``. With ``classes`` > 1 the masks are
    index masks holding a shape of class 1 on the left and, from 3 classes on, one of class 2 on the right.
    """
    images, masks = (root / "images", root / "masks") if layout == "folders" else (root, root)
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    width, height = size
    for i in range(count):
        photo = Image.new("RGB", size, (30 + i % 5, 30, 40))
        mask = Image.new("L", size, 0)
        left = (2 + i % 4, 6, width // 2 - 2, height - 6)  # the left half: a flip moves it
        photo.paste(COLORS[0], left)
        mask.paste(255 if classes == 1 else 1, left)
        if classes == 1:
            mask.paste(128, (left[0], left[1], left[2], left[1] + 2))  # a soft edge: non-zero is foreground
        if classes > 2:
            right = (width // 2 + 4, 4, width - 3, height // 2)
            photo.paste(COLORS[1], right)
            mask.paste(2, right)
        photo.save(images / f"{i:05d}.jpg", quality=95)
        mask.save(masks / (f"{i:05d}.png" if layout == "folders" else f"{i:05d}_matte.png"))
    return root


def pedestrian_box(index: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The one "pedestrian" of generated photo ``index``: a tall block in the left half (a flip moves it),
    as 0-based (x1, y1, x2, y2) with x2, y2 exclusive."""
    width, height = size
    left = 2 + index % 4
    return left, height // 5, left + width // 4, height - height // 6


def write_pedestrians(
    root: Path, count: int = 8, layout: str = "penn_fudan", size: tuple[int, int] = (48, 40)
) -> Path:
    """``count`` generated photos, each with one bright block on a dark ground, and its box.

    ``penn_fudan``: ``PNGImages/`` + ``Annotation/<stem>.txt`` (PASCAL v1, 1-based inclusive corners);
    ``masks``: ``PNGImages/`` + ``PedMasks/<stem>_mask.png`` (instance masks); ``coco``: ``images/`` +
    ``annotations/instances.json`` (class ``person``).
    """
    folder = root / ("images" if layout == "coco" else "PNGImages")
    folder.mkdir(parents=True, exist_ok=True)
    coco: dict = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    for i in range(count):
        stem = f"Ped{i:05d}"
        x1, y1, x2, y2 = pedestrian_box(i, size)
        photo = Image.new("RGB", size, (30 + i % 5, 30, 40))
        photo.paste(COLORS[0], (x1, y1, x2, y2))
        photo.save(folder / f"{stem}.png")
        if layout == "penn_fudan":
            (root / "Annotation").mkdir(exist_ok=True)
            (root / "Annotation" / f"{stem}.txt").write_text(
                f"Image size (X x Y x C) : {size[0]} x {size[1]} x 3\n"
                f'Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : '
                f"({x1 + 1}, {y1 + 1}) - ({x2}, {y2})\n"
            )
        elif layout == "masks":
            (root / "PedMasks").mkdir(exist_ok=True)
            mask = Image.new("L", size, 0)
            mask.paste(1, (x1, y1, x2, y2))
            mask.save(root / "PedMasks" / f"{stem}_mask.png")
        else:
            coco["images"].append({"id": i, "file_name": f"{stem}.png", "width": size[0], "height": size[1]})
            coco["annotations"].append(
                {"id": i, "image_id": i, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "iscrowd": 0}
            )
    if layout == "coco":
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / "instances.json").write_text(json.dumps(coco))
    return root


PICKLE_PAYLOAD = """
import os, sys, torch

class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))

torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Payload()}, sys.argv[1])
"""


def pickle_payload(path: Path, marker: Path) -> Path:
    """A weights file at ``path`` whose pickle creates ``marker`` if it is ever loaded with full pickle."""
    subprocess.run([sys.executable, "-c", PICKLE_PAYLOAD, str(path), str(marker)], check=True, timeout=60)
    return path


def write_names(root: Path, names_by_language: dict[str, Sequence[str]] | None = None) -> Path:
    names_by_language = names_by_language or {
        "Alpha": [f"Ab{c}{d}" for c in "abcdefgh" for d in "xyz"],
        "Beta": [f"Zo{c}{d}ski" for c in "abcdefgh" for d in "xyz"],
        "Gamma": [f"Ng{c}{d}en" for c in "abcdefgh" for d in "xyz"],
    }
    root.mkdir(parents=True, exist_ok=True)
    for language, names in names_by_language.items():
        (root / f"{language}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Callable[..., Path]:
    """``image_folder(class_names, per_class=10)``: generated class folders under tmp_path."""

    def make(class_names: Sequence[str] = ("1", "100"), per_class: int = 10, name: str = "images") -> Path:
        return write_class_folders(tmp_path / name, class_names, per_class)

    return make


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files decoded from now on, in every image data module and cache path, one entry per decode."""
    from datamodules import image_cache

    decoded: list[Path] = []
    original = image_cache.decode_image
    monkeypatch.setattr(
        image_cache, "decode_image", lambda path, *a, **k: decoded.append(path) or original(path, *a, **k)
    )
    return decoded


@pytest.fixture
def names_folder(tmp_path: Path) -> Path:
    return write_names(tmp_path / "names")


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., HelloCLI]:
    """Run ``hello-lightning`` in-process, writing under tmp_path/runs; CPU unless a given config says else.

    The defaults come first, so a ``--config`` or flag given by the test overrides them.
    """

    def run(subcommand: str, *args: str) -> HelloCLI:
        defaults = [
            "--trainer.default_root_dir", str(tmp_path / "runs"),
            "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false",
        ]  # fmt: skip
        return HelloCLI(args=[subcommand, *defaults, *args])

    return run


@pytest.fixture(autouse=True, scope="session")
def _tests_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-wide fixtures decode into a disk cache of the test run's, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HELLO_LIGHTNING_CACHE", str(tmp_path_factory.mktemp("image_cache")))
        yield


@pytest.fixture(autouse=True)
def _own_image_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test decodes into a disk cache of its own (subprocesses inherit it)."""
    monkeypatch.setenv("HELLO_LIGHTNING_CACHE", str(tmp_path / "image_cache"))


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)  # small models: one thread is as fast, and far faster on a busy machine
