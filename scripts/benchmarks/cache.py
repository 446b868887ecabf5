"""The decoded-image cache, side by side: in this process's memory (decoded every run) against the disk cache.

    python scripts/benchmark.py cache --images 10000 --jpeg-size 256 --image-size 128

Makes a folder of ``--images`` JPEGs (two classes, ``--jpeg-size`` square, kept in ``--folder`` for the next
run), then runs each row as a fresh process, one after the other, as a user's commands run:
1. ``--data.cache host``: decodes into memory (every run does);
2. ``--data.cache disk``, first run: decodes into an empty cache folder;
3. ``--data.cache disk``, second run: memory-maps what run 2 wrote.
Each prints the seconds to the first training step (data module setup, first batch, one step of a small
network), steady images/s of the training loader alone and with the network's steps (``--batches`` shuffled
batches each), and the process's peak resident memory. Then two processes at once (``torchrun``, gloo) of
the host and the disk cache: the memory each holds for the images (growth of its proportional set size,
Pss, over touching every training image once), summed, against one process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=10000, help="JPEGs in the generated folder")
    parser.add_argument("--jpeg-size", type=int, default=256, help="side of the generated JPEGs")
    parser.add_argument("--image-size", type=int, default=128, help="side images are decoded to")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=100, help="batches of each steady-speed pass")
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


def measure(folder: str, cache: str, cache_dir: str, image_size: int, batch_size: int, batches: int) -> None:
    """One row, in its own process: prints a JSON line of its numbers (rank 0 only under torchrun)."""
    start = time.perf_counter()
    import torch
    import torch.distributed as dist
    from torch import nn

    from datamodules import ImageFolderDataModule

    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    imported = time.perf_counter()
    data = ImageFolderDataModule(
        folder, image_size=image_size, batch_size=batch_size, cache=cache, cache_dir=cache_dir,
        split=(0.9, 0.1, 0.0),
    )  # fmt: skip
    data.trainer = None
    net = nn.Sequential(
        nn.Conv2d(3, 16, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 2)
    )  # fmt: skip
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        images, labels = data.on_after_batch_transfer(batch, 0)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()

    pss_before = _pss_kib()
    data.setup("fit")
    setup = time.perf_counter()
    loader = data.train_dataloader()
    step(next(iter(loader)))
    first_step = time.perf_counter()
    train_images = data.dataset("train").images
    for chunk in range(0, len(train_images), 1024):  # every training image, as epochs touch them
        train_images[chunk : chunk + 1024].max()
    if world > 1:
        dist.barrier()  # every process holds its images now
    held = (_pss_kib() - pss_before) * 1024
    speeds = []
    for train in (False, True):
        seen, begin = 0, time.perf_counter()
        while seen < batches * batch_size:
            for batch in loader:
                step(batch) if train else data.on_after_batch_transfer(batch, 0)
                seen += len(batch[1])
                if seen >= batches * batch_size:
                    break
        speeds.append(seen / (time.perf_counter() - begin))
    if world > 1:
        total = torch.tensor([held], dtype=torch.float64)
        dist.all_reduce(total)
        held = int(total)
        dist.barrier()
        dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        row = {
            "imports_s": imported - start, "setup_s": setup - imported, "first_step_s": first_step - imported,
            "loader_ips": speeds[0], "train_ips": speeds[1], "held_bytes": held,
            "train_images": len(train_images), "nbytes": train_images.nbytes,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }  # fmt: skip
        print(json.dumps(row))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _row(args: argparse.Namespace, cache: str, cache_dir: Path, processes: int = 1) -> dict:
    settings = [str(args.folder), cache, str(cache_dir), args.image_size, args.batch_size, args.batches]
    call = f"from benchmarks.cache import measure; measure(*{settings!r})"
    script = args.scratch / "measure_row.py"
    script.write_text(call + "\n")
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
        raise RuntimeError(f"{cache} x{processes} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> None:
    args.folder = args.folder or Path(os.environ.get("TMPDIR", "/tmp")) / (
        f"hello_lightning_cache_bench_{args.images}x{args.jpeg_size}"
    )
    started = time.perf_counter()
    make_jpegs(args.folder, args.images, args.jpeg_size)
    print(f"{args.images} JPEGs {args.jpeg_size}x{args.jpeg_size} in {args.folder} "
          f"({time.perf_counter() - started:.0f} s to make or find)")  # fmt: skip
    args.scratch = Path(tempfile.mkdtemp(prefix="hello_lightning_cache_bench_"))
    cache_dir = args.cache_dir or args.scratch / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    try:
        rows = [
            ("host memory (decodes every run)", _row(args, "host", cache_dir)),
            ("disk cache, first run (decodes, writes)", _row(args, "disk", cache_dir)),
            ("disk cache, second run (memory-maps)", _row(args, "disk", cache_dir)),
        ]
        host, cold, warm = (r for _, r in rows)
        print(
            f"\n{host['train_images']} training images decoded to {args.image_size}x{args.image_size} "
            f"({host['nbytes'] / 2**20:.0f} MiB), batch {args.batch_size}, {args.batches} batches a pass, "
            f"1 thread; imports ({host['imports_s']:.1f} s) come before each row's clock"
        )
        header = [
            "setup s",
            "1st step s",
            "x host",
            "loader img/s",
            "x host",
            "train img/s",
            "x host",
            "peak RSS MiB",
        ]
        print(f"{'':42}" + "".join(f"{h:>13}" for h in header))
        for label, r in rows:
            cells = [
                f"{r['setup_s']:.2f}", f"{r['first_step_s']:.2f}",
                f"{r['first_step_s'] / host['first_step_s']:.3f}", f"{r['loader_ips']:.0f}",
                f"{r['loader_ips'] / host['loader_ips']:.2f}", f"{r['train_ips']:.0f}",
                f"{r['train_ips'] / host['train_ips']:.2f}", f"{r['peak_rss_bytes'] / 2**20:.0f}",
            ]  # fmt: skip
            print(f"{label:42}" + "".join(f"{c:>13}" for c in cells))
        ratio = warm["first_step_s"] / cold["first_step_s"]
        print(f"disk cache: second run's time to the first step / first run's: {ratio:.3f}")
        if args.skip_ddp:
            return
        print(
            f"\nMemory held for the {host['nbytes'] / 2**20:.0f} MiB of training images "
            "(Pss growth over setup, all processes)"
        )
        print(f"{'':42}{'1 process MiB':>14}{'2 processes MiB':>16}{'ratio':>7}")
        for cache in ("host", "disk"):
            one, two = _row(args, cache, cache_dir), _row(args, cache, cache_dir, processes=2)
            print(
                f"{cache + ' cache':42}{one['held_bytes'] / 2**20:14.0f}{two['held_bytes'] / 2**20:16.0f}"
                f"{two['held_bytes'] / one['held_bytes']:7.2f}"
            )
    finally:
        shutil.rmtree(args.scratch, ignore_errors=True)
