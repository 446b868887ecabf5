"""Where a task's runs live, ``<default_root_dir>/<task>/version_<n>/``, and its newest best or last ckpt."""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

CHECKPOINT_WORDS = ("best", "last")


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def run_version(folder: Path) -> int | None:
    """``n`` of a ``version_<n>`` folder, else None."""
    match = re.fullmatch(r"version_(\d+)", folder.name)
    return int(match.group(1)) if match else None


def newest_checkpoint(task_dir: Path, word: str) -> Path | None:
    """``best``/``last`` -> ``checkpoints/<word>.ckpt`` of the highest ``version_<n>`` that has a whole one.

    A file that is no complete torch archive (truncated by a full disk before checkpoints were written
    atomically, or cut short by hand) is passed over with a warning naming it.
    """
    runs = sorted((v, d) for d in task_dir.glob("version_*") if (v := run_version(d)) is not None)
    for _, run in reversed(runs):
        found = run / "checkpoints" / f"{word}.ckpt"
        if found.is_file():
            if zipfile.is_zipfile(found):
                return found
            warnings.warn(f"{found} is incomplete (not a whole torch file): passed over.", stacklevel=2)
    return None


def version_of_checkpoint(ckpt_path: str | Path, task_dir: Path) -> int | None:
    """The run a checkpoint belongs to, when it lies in ``<task_dir>/version_<n>/checkpoints/``."""
    run_dir = Path(ckpt_path).resolve().parent.parent
    return run_version(run_dir) if run_dir.parent == task_dir.resolve() else None
