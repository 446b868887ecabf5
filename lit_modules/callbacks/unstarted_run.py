"""A command that fails before its first training step leaves no run folder behind.

Lightning creates the logger's folder (and an empty TensorBoard events file) before ``setup``, so a data
error found there would leave a ``version_<n>`` that shows up in TensorBoard and holds nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from lit_modules.callbacks.run_folder import run_folder

RECORD_FILES = ("events.out.tfevents.", "hparams.yaml", "config.yaml")  # what a start writes by itself


class DiscardUnstartedRun(Callback):
    """On an error before any training step, remove the run folder if it holds only what the start wrote
    (events files, ``hparams.yaml``, ``config.yaml``): never a checkpoint, metrics or an earlier run's files.
    """

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        folder = run_folder(trainer) if trainer.is_global_zero else None
        if (
            folder is None
            or trainer.global_step > 0
            or not folder.is_dir()
            or folder == Path(trainer.default_root_dir)
        ):
            return
        if all(entry.is_file() and entry.name.startswith(RECORD_FILES) for entry in folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
