"""Write a run's final numbers to ``<log_dir>/metrics.json``, machine-readable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

from lit_modules.callbacks.run_folder import run_folder


class MetricsJson(Callback):
    """After each validation and test, merge the latest epoch metrics into ``metrics.json``.

    Keys are the logged names (``val/acc``, ``test/macro_f1``, ...) plus ``epoch``, ``global_step`` and the
    checkpoint callback's files: ``best_checkpoint`` with its ``best_score`` when it monitors a metric, and
    ``last_checkpoint`` (the newest state) when it saves one. A later ``test`` run on the same run folder
    adds its numbers to the same file.
    """

    def __init__(self, prefixes: tuple[str, ...] = ("val/", "test/"), filename: str = "metrics.json") -> None:
        self.prefixes = tuple(prefixes)
        self.filename = filename

    def path(self, trainer: pl.Trainer) -> Path | None:
        folder = run_folder(trainer)
        return folder / self.filename if folder else None

    @rank_zero_only
    def _write(self, trainer: pl.Trainer, extra: dict[str, Any]) -> None:
        path = self.path(trainer)
        if path is None or trainer.fast_dev_run:
            return
        numbers = json.loads(path.read_text()) if path.is_file() else {}
        numbers.update(
            {
                k: v.item()
                for k, v in trainer.callback_metrics.items()
                if k.startswith(self.prefixes) and v.numel() == 1
            }
        )
        numbers.update(extra)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(numbers, indent=2, sort_keys=True) + "\n")

    @staticmethod
    def _checkpoints(trainer: pl.Trainer) -> dict[str, Any]:
        checkpoint = trainer.checkpoint_callback
        if not isinstance(checkpoint, ModelCheckpoint):
            return {}
        paths: dict[str, Any] = {}
        if checkpoint.best_model_path:
            paths["best_checkpoint"] = checkpoint.best_model_path
            if checkpoint.best_model_score is not None:
                paths["best_score"] = checkpoint.best_model_score.item()
        if checkpoint.last_model_path:
            paths["last_checkpoint"] = checkpoint.last_model_path
        return paths

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        fitting = trainer.state.fn == "fit"
        progress = {"epoch": trainer.current_epoch, "global_step": trainer.global_step} if fitting else {}
        self._write(trainer, {**progress, **(self._checkpoints(trainer) if fitting else {})})

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Checkpoint callbacks run after this one at each validation, so best and last are final only now.
        self._write(trainer, self._checkpoints(trainer))

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, {})
