"""The model's graph in TensorBoard's Graphs tab, once, where the model traces."""

from __future__ import annotations

import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.utilities.apply_func import apply_to_collection
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lit_modules.callbacks.views import evaluating


class ModelGraph(Callback):
    """Trace the LightningModule on one sample of the first training batch and log it with ``add_graph``.

    Uses the module's ``example_input_array`` when it has one. A model that does not trace (e.g. one packing
    variable-length sequences) gets a warning and no graph; training goes on.
    """

    def __init__(self) -> None:
        self._done = False

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._done or trainer.fast_dev_run or not trainer.is_global_zero:
            return
        self._done = True
        writer = next((lg.experiment for lg in trainer.loggers if hasattr(lg.experiment, "add_graph")), None)
        if writer is None:
            rank_zero_info("ModelGraph: no logger takes graphs (add_graph); no graph logged.")
            return
        example = pl_module.example_input_array
        if example is None:
            example = (apply_to_collection(batch[0], torch.Tensor, lambda t: t[:1]),)
        try:
            with evaluating(pl_module), torch.no_grad(), warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", r".*torch\.jit\.trace", FutureWarning
                )  # add_graph's only way
                writer.add_graph(pl_module, example)
        except Exception as error:  # tracing fails in many model-specific ways; the graph is optional
            rank_zero_warn(
                f"ModelGraph: {type(pl_module).__name__} does not trace ({error}); no graph logged."
            )
