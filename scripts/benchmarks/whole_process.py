"""RMB LeNet recipe, whole processes: the course-style script against `hello-lightning fit` (with its test).

    python scripts/benchmark.py whole_process --repeats 3

Wall-clock seconds of each whole process, start-up included, run one after the other on the same data:
the course-style script (``benchmarks._course_script``: split, 10 epochs with validation, test accuracy),
``hello-lightning fit`` of ``configs/rmb_lenet.yaml``, which tests its best checkpoint in the same process
(``test_after_fit``), and the same as two commands, ``fit`` then ``test --ckpt_path best``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "rmb_lenet.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "rmb")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)


def timed(*args: str) -> float:
    """Seconds of one whole process; it must succeed."""
    paths = [str(REPO), str(REPO / "scripts"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def hello(runs: str, data_dir: Path, epochs: int, *args: str) -> tuple[str, ...]:
    return (
        "-m", "lit_modules.cli", *args[:1], "--config", str(CONFIG), "--data.data_dir", str(data_dir),
        "--trainer.default_root_dir", runs, "--trainer.max_epochs", str(epochs),
        "--trainer.enable_progress_bar", "false", *args[1:],
    )  # fmt: skip


def run(args: argparse.Namespace) -> None:
    rows = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            course = timed("-m", "benchmarks._course_script", str(args.data_dir), str(args.epochs))
            fit_test = timed(*hello(one, args.data_dir, args.epochs, "fit"))
            fit = timed(*hello(two, args.data_dir, args.epochs, "fit", "--test_after_fit", "false"))
            test = timed(*hello(two, args.data_dir, args.epochs, "test", "--ckpt_path", "best"))
            metrics = json.loads(next(Path(one).rglob("metrics.json")).read_text())
            rows.append((course, fit_test, fit + test, metrics["test/acc"]))
    print(
        f"\nRMB LeNet recipe, whole processes, {args.epochs} epochs, data {args.data_dir}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    print("run | course-style script s | fit with its test s  test acc | fit, then test s | one / course")
    for i, (course, fit_test, two, acc) in enumerate(rows):
        ratio = fit_test / course
        print(f"{i:>3} | {course:20.1f} | {fit_test:19.1f} {acc:9.3f} | {two:16.1f} | {ratio:.2f}")
    means = [sum(row[k] for row in rows) / len(rows) for k in range(3)]
    print(f"mean | {means[0]:19.1f} | {means[1]:19.1f} {'':9} | {means[2]:16.1f} | {means[1] / means[0]:.2f}")
