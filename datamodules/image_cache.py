"""Decode every image once into one uint8 tensor, so no epoch ever touches a JPEG again.

Hand-written because torchvision's ``ImageFolder`` decodes every image every epoch and keeps no cache.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError


@dataclass
class DecodedImages:
    images: torch.Tensor  # (N, 3, H, W) uint8
    kept: list[int]  # positions in the input list that decoded
    skipped: dict[Path, str]  # file -> reason


def _resize(img: Image.Image, size: tuple[int, int], keep_aspect: bool) -> Image.Image:
    height, width = size
    if not keep_aspect:
        return img.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    # Resize the shorter side, then crop the centre: the eval view of the ImageNet recipes.
    scale = max(width / img.width, height / img.height)
    resized = img.resize(
        (max(width, round(img.width * scale)), max(height, round(img.height * scale))),
        Image.Resampling.BILINEAR,
        reducing_gap=3.0,
    )
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def decode_image(path: Path, size: tuple[int, int], keep_aspect: bool = False) -> torch.Tensor:
    """Read any image PIL understands (JPEG, PNG with alpha or palette, GIF, ...) as RGB uint8 (3, H, W)."""
    with Image.open(path) as img:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: far faster for big photos.
        img.draft("RGB", (size[1] * 2, size[0] * 2))
        rgb = _resize(img.convert("RGB"), size, keep_aspect)
    return (
        torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
        .view(size[0], size[1], 3)
        .permute(2, 0, 1)
    )


def _try_decode(path: Path, size: tuple[int, int], keep_aspect: bool) -> torch.Tensor | str:
    try:
        return decode_image(path, size, keep_aspect)
    except UnidentifiedImageError:
        return "empty file" if path.stat().st_size == 0 else "not an image"
    except (OSError, ValueError, SyntaxError) as err:
        return f"unreadable ({err})"


def decode_images(
    paths: Sequence[Path], size: tuple[int, int], keep_aspect: bool = False, threads: int | None = None
) -> DecodedImages:
    """Decode ``paths`` in a thread pool; files that cannot be read are skipped with one warning."""
    threads = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda p: _try_decode(p, size, keep_aspect), paths))
    kept = [i for i, r in enumerate(results) if isinstance(r, torch.Tensor)]
    skipped = {Path(paths[i]): r for i, r in enumerate(results) if isinstance(r, str)}
    if skipped:
        listing = "\n".join(f"  {p}: {why}" for p, why in skipped.items())
        warnings.warn(
            f"Skipped {len(skipped)} file(s) that are not readable images:\n{listing}", stacklevel=2
        )
    images = torch.stack([results[i] for i in kept]) if kept else torch.empty(0, 3, *size, dtype=torch.uint8)
    return DecodedImages(images=images, kept=kept, skipped=skipped)
