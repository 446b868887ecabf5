"""Decode every image (or mask) once into one uint8 tensor, so no epoch ever touches a JPEG again.

Hand-written because torchvision's ``ImageFolder`` decodes every image every epoch and keeps no cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

PROGRESS_FROM = 300  # images: fewer decode in a moment, without a progress bar


@dataclass
class DecodedImages:
    images: torch.Tensor  # (N, 3, H, W) uint8; (N, 1, H, W) for masks
    kept: list[int]  # positions in the input list that decoded
    skipped: dict[Path, str]  # file -> reason


def _resize(
    img: Image.Image, size: tuple[int, int], keep_aspect: bool, resample: Image.Resampling
) -> Image.Image:
    height, width = size
    if not keep_aspect:
        return img.resize((width, height), resample, reducing_gap=3.0)
    # Resize the shorter side, then crop the centre: the eval view of the ImageNet recipes.
    scale = max(width / img.width, height / img.height)
    resized = img.resize(
        (max(width, round(img.width * scale)), max(height, round(img.height * scale))),
        resample,
        reducing_gap=3.0,
    )
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def as_rgb(img: Image.Image) -> Image.Image:
    """Any mode Pillow opens, as 8-bit RGB. 8-bit modes convert as Pillow converts them (alpha dropped,
    palettes looked up, CMYK mapped); 16-bit samples (``I;16``, and ``I`` holding 16-bit values, as 16-bit
    PNG and TIFF open) are scaled from 0-65535 and float samples (``F``) from 0-1 to 0-255, where Pillow's
    own conversion would clip them. ``I`` beyond 16 bits and ``F`` outside 0-1 have no known range: a
    ``ValueError`` says so, and the file is skipped with that reason."""
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        samples = np.asarray(img).astype(np.float64)
        low, high = (samples.min(), samples.max()) if samples.size else (0, 0)
        full_range = 1.0 if img.mode == "F" else 65535.0
        if low < 0 or high > full_range:
            kind = "float samples outside 0-1" if img.mode == "F" else "32-bit samples beyond 16 bits"
            raise ValueError(f"mode {img.mode}: {kind}, no known range to scale to 8 bits")
        grey = np.rint(samples * (255 / full_range)).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # Pillow asks palette transparency to go through RGBA
    return img.convert("RGB")


def decode_image(
    path: Path, size: tuple[int, int], keep_aspect: bool = False, mask: bool = False
) -> torch.Tensor:
    """Read any image PIL understands (JPEG, PNG with alpha or palette, GIF, ...) as RGB uint8 (3, H, W).

    With ``mask``, the file's own values instead, as (1, H, W): grey levels, or the indices of a palette
    PNG, resized nearest-neighbour so no value is blended into a new one.
    """
    with Image.open(path) as img:
        if mask:
            values = img if img.mode in ("L", "P") else img.convert("L")
            decoded = _resize(values, size, keep_aspect, Image.Resampling.NEAREST)
        else:
            # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: far faster for big photos.
            img.draft("RGB", (size[1] * 2, size[0] * 2))
            decoded = _resize(as_rgb(img), size, keep_aspect, Image.Resampling.BILINEAR)
    channels = 1 if mask else 3
    return (
        torch.frombuffer(bytearray(decoded.tobytes()), dtype=torch.uint8)
        .view(size[0], size[1], channels)
        .permute(2, 0, 1)
    )


def _try_decode(path: Path, size: tuple[int, int], keep_aspect: bool, mask: bool) -> torch.Tensor | str:
    try:
        return decode_image(path, size, keep_aspect, mask)
    except UnidentifiedImageError:
        return "empty file" if path.stat().st_size == 0 else "not an image"
    except Image.DecompressionBombError:
        return f"more pixels than Pillow opens safely ({Image.MAX_IMAGE_PIXELS * 2:,}): a decompression bomb?"
    except (OSError, ValueError, SyntaxError) as err:
        return f"unreadable ({err})"


def cache_summary(images: Sequence[torch.Tensor], mapped_from: Path | None = None) -> str:
    """Where decoded images live and how much memory they take, in words (``host memory, 2.5 MiB``);
    ``mapped_from``: the cache folder host images are memory-mapped from."""
    device = images[0].device if images else torch.device("cpu")
    where = "host" if device.type == "cpu" else str(device)
    size = f"{sum(t.nbytes for t in images) / 2**20:.1f} MiB"
    if where == "host" and mapped_from is not None:
        return f"{mapped_from} (memory-mapped), {size}"
    return f"{where} memory, {size}"


IN_FLIGHT_BYTES = 2**27  # decoded images handed to the thread pool at a time: bounded memory for any data


def iter_decoded(
    paths: Sequence[Path],
    size: tuple[int, int],
    keep_aspect: bool = False,
    threads: int | None = None,
    mask: bool = False,
) -> Iterator[torch.Tensor | str]:
    """Decode ``paths`` in order (see ``decode_image``) in a thread pool, with a progress bar from
    ``PROGRESS_FROM`` images on a terminal: each yields its (C, H, W) tensor, or why it is unreadable."""
    threads = threads or min(8, os.cpu_count() or 1)
    chunk_size = max(threads, IN_FLIGHT_BYTES // ((1 if mask else 3) * size[0] * size[1]))

    def in_order() -> Iterator[torch.Tensor | str]:
        with ThreadPoolExecutor(threads) as pool:
            for start in range(0, len(paths), chunk_size):
                chunk = paths[start : start + chunk_size]
                yield from pool.map(lambda p: _try_decode(p, size, keep_aspect, mask), chunk)

    quiet = True if len(paths) < PROGRESS_FROM else None  # None: a bar on a terminal only
    yield from tqdm(in_order(), "Decoding images", len(paths), leave=False, unit="img", disable=quiet)


def decode_images(
    paths: Sequence[Path],
    size: tuple[int, int],
    keep_aspect: bool = False,
    threads: int | None = None,
    mask: bool = False,
) -> DecodedImages:
    """Decode ``paths`` into one tensor in memory (see ``iter_decoded``), each row written as it is decoded,
    so the images are held once. Unreadable files are left out and returned in ``skipped`` with the reason."""
    images = torch.empty(len(paths), 1 if mask else 3, *size, dtype=torch.uint8)
    kept: list[int] = []
    skipped: dict[Path, str] = {}
    for i, result in enumerate(iter_decoded(paths, size, keep_aspect, threads, mask)):
        if isinstance(result, str):
            skipped[Path(paths[i])] = result
        else:
            images[len(kept)] = result
            kept.append(i)
    if len(kept) < len(paths):
        images = images[: len(kept)].clone()  # no rows left unused
    return DecodedImages(images=images, kept=kept, skipped=skipped)
