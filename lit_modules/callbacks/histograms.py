"""Weight and gradient histograms per layer, and gradient norms as scalars (Lightning's ``grad_norm``)."""

from __future__ import annotations

import re

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import grad_norm, rank_zero_info
from torch import nn

from lit_modules.nets.errors import ConfigError


class ParameterHistograms(Callback):
    """Histograms ``weights/<layer>.<param>`` and ``grads/<layer>.<param>`` of the watched layers, and
    scalars ``grad_2.0_norm/<param>`` and ``grad_2.0_norm_total`` of the model (Lightning's ``grad_norm``).

    Taken just before an optimizer step (gradients are complete and unscaled there): at the first step of
    every ``every_n_epochs``-th epoch, or every ``every_n_steps`` steps when that is set. Other steps cost one
    comparison. The scalars go to every logger; histograms need one that has ``add_histogram`` (TensorBoard).

    Args:
        every_n_epochs: log at the first optimizer step of every n-th epoch.
        every_n_steps: log every n optimizer steps instead.
        layer_types: class names of the layers to watch, e.g. ``[Conv2d, Linear]``; empty: every layer that
            has parameters of its own.
        name_pattern: a regular expression the layer's module path must contain a match of, e.g. ``^net\\.``.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        every_n_steps: int | None = None,
        layer_types: list[str] | None = None,
        name_pattern: str | None = None,
    ) -> None:
        if every_n_epochs < 1 or (every_n_steps is not None and every_n_steps < 1):
            raise ConfigError(
                f"ParameterHistograms: every_n_epochs and every_n_steps must be >= 1, "
                f"got {every_n_epochs} and {every_n_steps}."
            )
        self.every_n_epochs, self.every_n_steps = every_n_epochs, every_n_steps
        self.layer_types = set(layer_types if layer_types is not None else ["Conv2d", "Linear"])
        self.name_pattern = re.compile(name_pattern) if name_pattern else None
        self.layers: dict[str, nn.Module] = {}
        self._logged_epoch = -1
        self._said_no_histograms = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.layers = {
            name: module
            for name, module in pl_module.named_modules()
            if any(True for _ in module.parameters(recurse=False))
            and (not self.layer_types or type(module).__name__ in self.layer_types)
            and (self.name_pattern is None or self.name_pattern.search(name))
        }
        if not self.layers:
            raise ConfigError(
                f"ParameterHistograms: no layer matches layer_types={sorted(self.layer_types)} and "
                f"name_pattern={self.name_pattern and self.name_pattern.pattern!r}; widen the filters."
            )

    def _due(self, trainer: pl.Trainer) -> bool:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return False
        if self.every_n_steps is not None:
            return trainer.global_step % self.every_n_steps == 0
        epoch = trainer.current_epoch
        return (epoch + 1) % self.every_n_epochs == 0 and self._logged_epoch != epoch

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self._due(trainer):
            return
        self._logged_epoch = trainer.current_epoch
        step = trainer.global_step
        norms = {name: norm.item() for name, norm in grad_norm(pl_module, norm_type=2).items()}
        for logger in trainer.loggers:
            logger.log_metrics(norms, step=step)
        if not trainer.is_global_zero:
            return
        writer = next(
            (lg.experiment for lg in trainer.loggers if hasattr(lg.experiment, "add_histogram")), None
        )
        if writer is None:
            if not self._said_no_histograms:
                self._said_no_histograms = True
                rank_zero_info("ParameterHistograms: no logger takes histograms; logging gradient norms.")
            return
        for name, layer in self.layers.items():
            for param_name, param in layer.named_parameters(recurse=False):
                writer.add_histogram(f"weights/{name}.{param_name}", param.detach().float().cpu(), step)
                if param.grad is not None:
                    writer.add_histogram(f"grads/{name}.{param_name}", param.grad.float().cpu(), step)
