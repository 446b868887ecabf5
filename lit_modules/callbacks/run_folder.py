"""The run folder, read on one process: ``trainer.log_dir`` is a collective under DDP."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger


def run_folder(trainer: pl.Trainer) -> Path | None:
    """``trainer.log_dir`` without its broadcast, for code that runs on rank 0 only.

    ``Trainer.log_dir`` broadcasts rank 0's folder to every process, so calling it from rank 0 alone (in a
    ``rank_zero_only`` function) waits forever for the other ranks. On rank 0 this gives the same folder.
    """
    if not trainer.loggers:
        return Path(trainer.default_root_dir)
    logger = trainer.loggers[0]
    folder = logger.log_dir if isinstance(logger, TensorBoardLogger | CSVLogger) else logger.save_dir
    return Path(folder) if folder else None
