"""The decoded-image caches, side by side: in this process's memory (decoded every run), the disk cache
(memory-mapped) and the stream (LitData chunks, read one image at a time).

    python scripts/benchmark.py cache --images 10000 --jpeg-size 256 --image-size 128

Makes a folder of ``--images`` JPEGs (two classes, ``--jpeg-size`` square, kept in ``--folder`` for the next
run), then runs each row as a fresh process, one after the other, as a user's commands run:
1. ``--data.cache host``: decodes into memory (every run does);
2. ``--data.cache disk``, first run: decodes into an empty cache folder;
3. ``--data.cache disk``, second run: memory-maps what run 2 wrote;
4. ``--data.cache stream``, first run: decodes into LitData chunks;
5. ``--data.cache stream``, second run: streams what run 4 wrote.
Each prints the seconds to the first training step (data module setup, first batch, one step of a small
network) and the process's peak resident memory after reading every training image once. Images/s of the
training loader alone and with the network's steps come from one more process holding all three caches,
their passes of ``--batches`` shuffled
batches taking turns so both see the same machine load: once while the memory map's pages are new to the
process (the first epoch's case), then ``--rounds`` times after every image was touched (median). Then two
processes at once (``torchrun``, gloo) of each cache: the memory each holds for the images
(growth of its proportional set size, Pss, over setup and touching every training image), summed, against one
process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CACHES = ("host", "disk", "stream")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=10000, help="JPEGs in the generated folder")
    parser.add_argument("--jpeg-size", type=int, default=256, help="side of the generated JPEGs")
    parser.add_argument("--image-size", type=int, default=128, help="side images are decoded to")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=300, help="batches of each images/s pass")
    parser.add_argument("--rounds", type=int, default=6, help="passes of each cache, taking turns")
    parser.add_argument("--folder", type=Path, default=None, help="default: a folder in the temp dir")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a fresh temporary folder")
    parser.add_argument("--skip-ddp", action="store_true", help="leave out the two-process rows")


def make_jpegs(folder: Path, count: int, side: int) -> Path:
    """``count`` JPEGs of smooth random colours in ``folder/a`` and ``folder/b`` (kept once complete)."""
    import numpy as np
    from PIL import Image

    done = folder / "complete"
    if done.is_file():
        return folder
    rng = np.random.default_rng(0)
    for i in range(count):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC)
        target = folder / "ab"[i % 2] / f"{i:06d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, quality=90)
    done.write_text(f"{count} {side}\n")
    return folder


def _pss_kib() -> int:
    """This process's proportional set size: a page shared by n processes counts 1/n in each."""
    rollup = Path("/proc/self/smaps_rollup").read_text()
    return int(rollup.split("\nPss:")[1].split()[0])


def _data(folder: str, cache: str, cache_dir: str, image_size: int, batch_size: int) -> Any:
    from datamodules import ImageFolderDataModule

    data = ImageFolderDataModule(
        folder, image_size=image_size, batch_size=batch_size, cache=cache, cache_dir=cache_dir,
        split=(0.9, 0.1, 0.0),
    )  # fmt: skip
    data.trainer = None
    return data


def _stepper(data: Any) -> Callable[[Any], None]:
    """One training step of a small network on a batch of ``data`` (normalized as in a run)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 2)
    )  # fmt: skip
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)

    def step(batch: Any) -> None:
        images, labels = data.on_after_batch_transfer(batch, 0)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()

    return step


def measure(folder: str, cache: str, cache_dir: str, image_size: int, batch_size: int) -> None:
    """One row, in its own process: prints a JSON line of its numbers (rank 0 only under torchrun)."""
    start = time.perf_counter()
    import torch
    import torch.distributed as dist

    import datamodules  # imported before the clock starts, as the libraries are

    if cache == "stream":
        import datamodules.stream_cache  # noqa: F401  (LitData, imported only by runs that stream)

    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    imported = time.perf_counter()
    data = _data(folder, cache, cache_dir, image_size, batch_size)
    step = _stepper(data)
    pss_before = _pss_kib()
    data.setup("fit")
    setup = time.perf_counter()
    step(next(iter(data.train_dataloader())))
    first_step = time.perf_counter()
    train = data.dataset("train")
    if cache == "stream":
        for _ in data.train_dataloader():  # every training image, read as an epoch reads them
            pass
        count, nbytes = len(train), train.entry.nbytes
    else:
        for chunk in range(0, len(train.images), 1024):  # every training image, as epochs touch them
            train.images[chunk : chunk + 1024].max()
        count, nbytes = len(train.images), train.images.nbytes
    if world > 1:
        dist.barrier()  # every process holds its images now
    held = torch.tensor([(_pss_kib() - pss_before) * 1024], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(held)
        dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        row = {
            "imports_s": imported - start, "setup_s": setup - imported, "first_step_s": first_step - imported,
            "held_bytes": int(held), "train_images": count, "nbytes": nbytes,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }  # fmt: skip
        print(json.dumps(row))


def steady(folder: str, cache_dir: str, image_size: int, batch_size: int, batches: int, rounds: int) -> None:
    """Images/s of the caches' training loaders, alone and with a network's steps, passes taking turns: once
    while the memory map's pages are new to the process (each costs a page fault on first touch, as in the
    first epoch), then ``rounds`` times after every image was touched (median). The stream reads its chunk
    files each pass: what the page cache keeps of them is the machine's, not the process's."""
    import torch

    torch.set_num_threads(1)
    runs = {}
    for cache in CACHES:
        data = _data(folder, cache, cache_dir, image_size, batch_size)
        data.setup("fit")
        runs[cache] = (data, data.train_dataloader(), _stepper(data))

    def rate(cache: str, kind: str) -> float:
        data, loader, step = runs[cache]
        seen, begin = 0, time.perf_counter()
        while seen < batches * batch_size:
            for batch in loader:
                step(batch) if kind == "train" else data.on_after_batch_transfer(batch, 0)
                seen += len(batch[1])
                if seen >= batches * batch_size:
                    break
        return seen / (time.perf_counter() - begin)

    result = {f"{cache}_first_touch": rate(cache, "loader") for cache in ("disk", "host", "stream")}
    for cache in ("host", "disk"):
        images = runs[cache][0].dataset("train").images
        for chunk in range(0, len(images), 1024):
            images[chunk : chunk + 1024].max()
    rates: dict[str, list[float]] = {f"{cache}_{kind}": [] for cache in runs for kind in ("loader", "train")}
    for turn in range(rounds):
        for cache in list(runs)[:: 1 if turn % 2 else -1]:  # ABCCBA: a drift in the machine's load cancels
            for kind in ("loader", "train"):
                rates[f"{cache}_{kind}"].append(rate(cache, kind))
    result.update({key: statistics.median(values) for key, values in rates.items()})
    print(json.dumps(result))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(args: argparse.Namespace, call: str, processes: int = 1) -> dict:
    """The JSON line ``benchmarks.cache.<call>`` prints in a fresh process (``processes`` under torchrun)."""
    script = args.scratch / "worker.py"
    script.write_text(f"from benchmarks.cache import *\n{call}\n")
    launcher = (
        [
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(processes),
            "--master-port",
            str(_free_port()),
        ]
        if processes > 1
        else []
    )
    paths = [str(REPO), str(REPO / "scripts"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths)), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, *launcher, str(script)], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"{call} x{processes} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(args: argparse.Namespace, cache: str, processes: int = 1) -> dict:
    settings = [str(args.folder), cache, str(args.cache_dir), args.image_size, args.batch_size]
    return _worker(args, f"measure(*{settings!r})", processes)


def run(args: argparse.Namespace) -> None:
    args.folder = args.folder or Path(os.environ.get("TMPDIR", "/tmp")) / (
        f"hello_lightning_cache_bench_{args.images}x{args.jpeg_size}"
    )
    started = time.perf_counter()
    make_jpegs(args.folder, args.images, args.jpeg_size)
    print(f"{args.images} JPEGs {args.jpeg_size}x{args.jpeg_size} in {args.folder} "
          f"({time.perf_counter() - started:.0f} s to make or find)")  # fmt: skip
    args.scratch = Path(tempfile.mkdtemp(prefix="hello_lightning_cache_bench_"))
    args.cache_dir = args.cache_dir or args.scratch / "cache"
    shutil.rmtree(args.cache_dir, ignore_errors=True)
    try:
        rows = [
            ("host memory (decodes every run)", _row(args, "host")),
            ("disk cache, first run (decodes, writes)", _row(args, "disk")),
            ("disk cache, second run (memory-maps)", _row(args, "disk")),
            ("stream, first run (decodes, writes chunks)", _row(args, "stream")),
            ("stream, second run (reads chunks)", _row(args, "stream")),
        ]
        host, cold, warm, stream_cold, stream_warm = (r for _, r in rows)
        print(
            f"\n{host['train_images']} training images decoded to {args.image_size}x{args.image_size} "
            f"({host['nbytes'] / 2**20:.0f} MiB), batch {args.batch_size}, 1 thread; imports "
            f"({host['imports_s']:.1f} s) come before each row's clock"
        )
        print(f"{'':42}" + "".join(f"{h:>13}" for h in ("setup s", "1st step s", "x host", "peak RSS MiB")))
        for label, r in rows:
            cells = [f"{r['setup_s']:.2f}", f"{r['first_step_s']:.2f}",
                     f"{r['first_step_s'] / host['first_step_s']:.3f}",
                     f"{r['peak_rss_bytes'] / 2**20:.0f}"]  # fmt: skip
            print(f"{label:42}" + "".join(f"{c:>13}" for c in cells))
        for name, first, second in (("disk cache", cold, warm), ("stream", stream_cold, stream_warm)):
            ratio = second["first_step_s"] / first["first_step_s"]
            print(f"{name}: second run's time to the first step / first run's: {ratio:.3f}")
        settings = [
            str(args.folder),
            str(args.cache_dir),
            args.image_size,
            args.batch_size,
            args.batches,
            args.rounds,
        ]
        speed = _worker(args, f"steady(*{settings!r})")
        print(
            f"\nImages/s, one process, passes of {args.batches} batches taking turns; after every image was "
            f"touched once, median of {args.rounds}"
        )
        columns = ("host memory", "disk cache", "stream", "disk / host", "stream / host")
        print(f"{'':42}" + "".join(f"{c:>14}" for c in columns))
        for kind, label in (
            ("first_touch", "loader alone, pages new to the process"),
            ("loader", "training loader alone"),
            ("train", "loader + a small network's steps"),
        ):
            host_rate, disk_rate, stream_rate = (speed[f"{cache}_{kind}"] for cache in CACHES)
            cells = [f"{host_rate:.0f}", f"{disk_rate:.0f}", f"{stream_rate:.0f}",
                     f"{disk_rate / host_rate:.2f}", f"{stream_rate / host_rate:.2f}"]  # fmt: skip
            print(f"{label:42}" + "".join(f"{c:>14}" for c in cells))
        if args.skip_ddp:
            return
        print(
            f"\nMemory held for the {host['nbytes'] / 2**20:.0f} MiB of training images "
            "(Pss growth over setup, all processes)"
        )
        print(f"{'':42}{'1 process MiB':>14}{'2 processes MiB':>16}{'ratio':>7}")
        for cache in CACHES:
            one, two = _row(args, cache), _row(args, cache, processes=2)
            print(
                f"{cache + ' cache':42}{one['held_bytes'] / 2**20:14.0f}{two['held_bytes'] / 2**20:16.0f}"
                f"{two['held_bytes'] / one['held_bytes']:7.2f}"
            )
    finally:
        shutil.rmtree(args.scratch, ignore_errors=True)
