"""Where a task's runs live, ``<default_root_dir>/<task>/version_<n>/``, and its newest best or last ckpt."""

from __future__ import annotations

import re
from pathlib import Path

CHECKPOINT_WORDS = ("best", "last")


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def run_version(folder: Path) -> int | None:
    """``n`` of a ``version_<n>`` folder, else None."""
    match = re.fullmatch(r"version_(\d+)", folder.name)
    return int(match.group(1)) if match else None


def newest_checkpoint(task_dir: Path, word: str) -> Path | None:
    """``best``/``last`` -> ``checkpoints/<word>.ckpt`` of the highest ``version_<n>`` that has one.

    The CLI then checks that the file loads: a broken newest file (cut short by hand, or by a full disk
    before checkpoints were written atomically) is an error naming it, never a silent step back to an
    older run.
    """
    runs = sorted((v, d) for d in task_dir.glob("version_*") if (v := run_version(d)) is not None)
    for _, run in reversed(runs):
        if (run / "checkpoints" / f"{word}.ckpt").is_file():
            return run / "checkpoints" / f"{word}.ckpt"
    return None


def version_of_checkpoint(ckpt_path: str | Path, task_dir: Path) -> int | None:
    """The run a checkpoint belongs to, when it lies in ``<task_dir>/version_<n>/checkpoints/``."""
    run_dir = Path(ckpt_path).resolve().parent.parent
    return run_version(run_dir) if run_dir.parent == task_dir.resolve() else None
