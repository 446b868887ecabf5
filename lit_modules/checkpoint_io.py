"""Checkpoints that are whole or absent: written under a temporary name in their own folder, synced, renamed.

Lightning's ``TorchCheckpointIO`` writes through fsspec, whose local move is not atomic across file systems,
so a full disk could leave a truncated ``best.ckpt`` that ``--ckpt_path best`` then picks. Here a failed
write removes its temporary file, keeps the checkpoint it was to replace, and ends in one message.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lit_modules.nets.errors import ConfigError


class CheckpointWriteError(ConfigError):
    """A checkpoint could not be written (a full disk, most likely); the previous one is kept."""


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; where a system cannot sync a folder (Windows, some network file
    systems) the rename stands all the same."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def free_mib(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB"
    except OSError:
        return "unknown space"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local writes are atomic; remote paths (``s3://``...) go to Lightning's."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if "://" in str(path) or storage_options is not None:
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for stale in path.parent.glob(f".{path.name}.*.partial"):  # what a killed writer left
                stale.unlink(missing_ok=True)
            with open(temporary, "wb") as out:
                torch.save(checkpoint, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
            sync_folder(path.parent)
        except (OSError, RuntimeError) as err:
            temporary.unlink(missing_ok=True)
            # torch's zip writer reports a failed write as a RuntimeError raised while handling the OSError.
            cause = err if isinstance(err, OSError) else err.__context__
            if not isinstance(cause, OSError):
                raise
            raise CheckpointWriteError(
                f"Could not write the checkpoint {path} ({cause.strerror or cause}; "
                f"{free_mib(path.parent)} free in {path.parent}). The checkpoints written "
                "before are whole: free space there (or point --trainer.default_root_dir at another disk) "
                "and resume with --ckpt_path last."
            ) from cause
