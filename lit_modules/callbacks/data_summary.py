"""After ``setup``, one short summary of the data on the console, and the skipped files listed in the run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info

SKIPPED_FILE = "skipped_files.txt"
SHOWN = 6  # class names and skipped files named on the console; the rest are counted


def _some(names: Sequence[Any]) -> str:
    shown = ", ".join(str(n) for n in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def printable(name: str) -> str:
    """A file name as the console can show it: bytes that are no UTF-8 as ``\\xe9`` escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def summary_text(summary: Mapping[str, Any], skipped_file: Path | None = None) -> str:
    """``Data: 2 classes (cat, dog); train 480, val 60; cached in host memory, 13.2 MiB`` and, if any, a
    line naming the files skipped."""
    parts = []
    if summary.get("classes"):
        parts.append(f"{len(summary['classes'])} classes ({_some(summary['classes'])})")
    if summary.get("samples"):
        parts.append(", ".join(f"{split} {count}" for split, count in summary["samples"].items()))
    if summary.get("cache"):
        parts.append(f"cached in {summary['cache']}")
    text = "Data: " + "; ".join(parts)
    skipped = summary.get("skipped") or {}
    if skipped:
        listed = f", all listed in {skipped_file}" if skipped_file else ""
        names = [f"{printable(Path(path).name)} ({why})" for path, why in skipped.items()]
        text += f"\nSkipped {len(skipped)} file(s) that are no readable image{listed}: {_some(names)}"
    return text


class DataSummary(Callback):
    """Prints what the data module's ``data_summary(stage)`` reports, once ``setup`` has run, and writes
    the files it skipped (path and reason, one a line) into ``skipped_files.txt`` in the run folder."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        describe = getattr(trainer.datamodule, "data_summary", None)
        summary = describe(stage) if callable(describe) else None
        if not summary:
            return
        skipped_file = None
        if summary.get("skipped") and trainer.log_dir:
            skipped_file = Path(trainer.log_dir) / SKIPPED_FILE
            if trainer.is_global_zero:
                skipped_file.parent.mkdir(parents=True, exist_ok=True)
                lines = (f"{path}\t{why}\n" for path, why in summary["skipped"].items())
                skipped_file.write_text("".join(lines), encoding="utf-8", errors="surrogateescape")
        rank_zero_info(summary_text(summary, skipped_file))
