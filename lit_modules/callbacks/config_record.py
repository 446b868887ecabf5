"""``config.yaml``: the record of how a run was made, never replaced by a later command in its folder."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.cli import SaveConfigCallback


def free_config_name(folder: Path, subcommand: str) -> str:
    """``config.yaml`` for the first command in a run folder; later ones get ``<subcommand>_config.yaml``,
    then ``<subcommand>_config_2.yaml``..., so ``fit``'s record stays when ``test`` runs in its folder."""
    if not (folder / "config.yaml").exists():
        return "config.yaml"
    name, n = f"{subcommand}_config.yaml", 1
    while (folder / name).exists():
        n += 1
        name = f"{subcommand}_config_{n}.yaml"
    return name


class ConfigRecord(SaveConfigCallback):
    """LightningCLI's config saving, into a file name no earlier command of the run used."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not self.already_saved and self.save_to_log_dir and trainer.log_dir:
            chosen = free_config_name(
                Path(trainer.log_dir), trainer.state.fn.value if trainer.state.fn else stage
            )
            self.config_filename = trainer.strategy.broadcast(chosen)
        super().setup(trainer, pl_module, stage)
