"""Ctrl-C or SIGTERM during ``fit``: finish the step, save ``last.ckpt``, say how to resume exactly."""

from __future__ import annotations

import random
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException


def random_states() -> dict[str, Any]:
    """The global random states a training step draws from (torch CPU and CUDA, numpy, Python).

    Plain tensors, lists and numbers only, so that checkpoints stay loadable with ``weights_only=True``.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, keys.tolist(), pos, has_gauss, cached],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    name, keys, pos, has_gauss, cached = states["numpy"]
    torch.set_rng_state(states["torch"])
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


class Interruption(Callback):
    """Stop ``fit`` cleanly on SIGTERM or Ctrl-C and leave a checkpoint that resumes exactly.

    Lightning turns SIGTERM into a stop at the next batch boundary; a first Ctrl-C is routed the same way
    (a second one stops at once, without saving). The run's ``checkpoints/last.ckpt`` is then written and
    the way to resume printed: the same command with ``--ckpt_path last``.

    Every checkpoint also carries the global random states (dropout and the like draw from them); they
    come back at the first resumed step. With the data modules' resumable training loaders, a resumed run
    then reaches the same numbers as one never interrupted.
    """

    def __init__(self) -> None:
        self._previous_sigint: Any = None
        self._states_to_restore: dict[str, Any] | None = None

    # -- signals ----------------------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        lightning_handles_sigterm = signal.getsignal(signal.SIGTERM) not in (
            signal.SIG_DFL,
            signal.SIG_IGN,
            None,
        )
        if threading.current_thread() is threading.main_thread() and lightning_handles_sigterm:
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once
        rank_zero_info(
            "\nCtrl-C: stopping after this step to save a checkpoint (Ctrl-C again: stop now, unsaved)."
        )
        signal.raise_signal(signal.SIGTERM)

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore_sigint()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore_sigint()
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            return
        checkpoint = trainer.checkpoint_callback
        folder = (
            Path(checkpoint.dirpath)
            if isinstance(checkpoint, ModelCheckpoint) and checkpoint.dirpath
            else None
        )
        path = (folder or Path(trainer.default_root_dir)) / f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}.ckpt"
        if isinstance(checkpoint, ModelCheckpoint):
            # Saved with the checkpoint's state: the resumed run then writes this file on, not a last-v1.ckpt.
            checkpoint.last_model_path = str(path)
        trainer.save_checkpoint(path)
        rank_zero_info(
            f"Interrupted at epoch {trainer.current_epoch}, global step {trainer.global_step}: saved {path}\n"
            f"Resume where it stopped: the same command with --ckpt_path last (or --ckpt_path {path})"
        )

    # -- random states ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"random_states": random_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._states_to_restore = state_dict.get("random_states")

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._states_to_restore is not None:
            set_random_states(self._states_to_restore)
            self._states_to_restore = None
