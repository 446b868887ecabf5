"""Write ``predict`` results as a CSV: input, predicted label, its probability, and the top k."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info

from lit_modules.callbacks.run_folder import run_folder


def gathered(
    predictions: list[dict[str, torch.Tensor]], world_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and probabilities of this process's predictions, or, under DDP, of every process's.

    Each process predicts its own share of the inputs; the shares are collected (on the CPU) and sorted by
    input index, so the file lists every input once, in order.
    """
    index = (
        torch.cat([p["index"] for p in predictions]).cpu()
        if predictions
        else torch.empty(0, dtype=torch.long)
    )
    probs = torch.cat([p["probs"] for p in predictions]).float().cpu() if predictions else torch.empty(0, 0)
    if world_size > 1 and torch.distributed.is_initialized():
        shares: list[Any] = [None] * world_size
        torch.distributed.all_gather_object(shares, (index, probs))
        index = torch.cat([share[0] for share in shares])
        probs = torch.cat([share[1] for share in shares if len(share[0])])
    order = index.argsort()
    return index[order], probs[order]


class PredictionCsv(BasePredictionWriter):
    """Collect ``{"index", "probs"}`` predictions and write ``<log_dir>/predictions.csv`` (or ``output``).

    Inputs are named by the data module's ``predict_inputs`` and labels by the model's ``class_names``.
    The first ``show`` rows are also printed. Predictions without class probabilities (masks) are left to
    their own writer.
    """

    def __init__(self, output: str | None = None, top_k: int = 3, show: int = 10) -> None:
        super().__init__(write_interval="epoch")
        self.output, self.top_k, self.show = output, top_k, show

    def write_on_epoch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, predictions: Any, batch_indices: Any
    ) -> None:
        if any("probs" not in p for p in predictions):
            return
        index, probs = gathered(predictions, trainer.world_size)
        if not trainer.is_global_zero or not len(index):
            return
        inputs = trainer.datamodule.predict_inputs
        names = pl_module.class_names
        top_p, top_i = probs.topk(min(self.top_k, probs.shape[1]), dim=1)
        rows = [
            {
                "input": inputs[i],
                "predicted": names[ti[0]],
                "probability": f"{tp[0]:.4f}",
                "top_k": "; ".join(
                    f"{names[j]}:{p:.4f}" for j, p in zip(ti.tolist(), tp.tolist(), strict=True)
                ),
            }
            for i, tp, ti in zip(index.tolist(), top_p, top_i, strict=True)
        ]
        path = Path(self.output) if self.output else (run_folder(trainer) or Path(".")) / "predictions.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["input", "predicted", "probability", "top_k"])
            writer.writeheader()
            writer.writerows(rows)
        shown = "\n".join(f"  {r['input']:<30} {r['top_k']}" for r in rows[: self.show])
        rank_zero_info(f"Wrote {len(rows)} predictions to {path}\n{shown}")
