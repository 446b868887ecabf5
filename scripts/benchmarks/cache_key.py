"""What the decode cache's key costs: the project's key (sizes, modification and inode change times) against
a SHA-256 of every file's content, on generated photos.

    python scripts/benchmark.py cache_key --photos 10000 --folder /tmp/key_photos --cold

Both keys are computed three times with the photos in the page cache (the best time is printed); with
``--cold`` the content digest once more after dropping the machine's page cache (root only). Every
command (fit, test, predict) and every DDP process computes the key once per split.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from datamodules.disk_cache import cache_key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--photos", type=int, default=10_000, help="how many photos (default 10000)")
    parser.add_argument("--folder", type=Path, required=True, help="where the photos are generated (kept)")
    parser.add_argument("--cold", action="store_true", help="also digest after dropping the page cache")
    parser.add_argument(
        "--size", type=int, nargs=2, default=(320, 240), help="width height (default 320 240)"
    )


def generated_photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:05d}.jpg" for i in range(count)]
    base = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        if not path.exists():
            Image.fromarray(np.roll(base, i, axis=1)).save(path, quality=90)
    return paths


def content_key(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def best_of(runs: int, compute: Callable[[], str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        compute()
        times.append(time.perf_counter() - start)
    return min(times)


def dropped_page_cache() -> bool:
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def run(args: argparse.Namespace) -> None:
    paths = generated_photos(args.folder, args.photos, tuple(args.size))
    total = sum(p.stat().st_size for p in paths) / 2**20
    print(f"{len(paths)} photos of {args.size[0]}x{args.size[1]}, {total:.0f} MiB, in {args.folder}")
    stat_seconds = best_of(3, lambda: cache_key(paths, (32, 32), False, False))
    content_seconds = best_of(3, lambda: content_key(paths))
    print(f"{'project key (size, mtime, ctime)':<36} {stat_seconds * 1000:8.0f} ms")
    print(f"{'SHA-256 of content, warm':<36} {content_seconds * 1000:8.0f} ms")
    if args.cold and dropped_page_cache():
        cold = best_of(1, lambda: content_key(paths))
        print(f"{'SHA-256 of content, cold':<36} {cold * 1000:8.0f} ms")
    print(f"content / project key, warm: x{content_seconds / stat_seconds:.1f}")
