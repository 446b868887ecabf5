"""Write ``predict`` results of a segmentation model: a mask PNG and an overlay PNG per input photo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from lit_modules.callbacks.run_folder import run_folder
from lit_modules.callbacks.segmentation_views import colorize

OVERLAY_ALPHA = 0.5


class MaskWriter(BasePredictionWriter):
    """Save each ``{"index", "masks"}`` prediction at its photo's own size, in ``<run folder>/predictions/``.

    ``<name>_mask.png`` holds the mask (binary: 0 or 255; index masks: the class index) and
    ``<name>_overlay.png`` the photo with the mask's classes tinted over it. Inputs are named by the data
    module's ``predict_inputs``; each process writes the files of its own share.

    Args:
        output: the folder to write to instead of ``<run folder>/predictions``.
    """

    def __init__(self, output: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output = output

    def folder(self, trainer: pl.Trainer) -> Path:
        folder = Path(self.output) if self.output else (run_folder(trainer) or Path(".")) / "predictions"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        folder = self.folder(trainer)
        num_classes = getattr(pl_module, "num_classes", 1)
        for index, mask in zip(prediction["index"].tolist(), prediction["masks"].cpu(), strict=True):
            source = Path(trainer.datamodule.predict_inputs[index])
            with Image.open(source) as opened:
                photo = opened.convert("RGB")
            values = mask.numpy() * (255 if num_classes == 1 else 1)
            full = Image.fromarray(values.astype(np.uint8)).resize(photo.size, Image.Resampling.NEAREST)
            full.save(folder / f"{source.stem}_mask.png")
            full_mask = torch.from_numpy(np.asarray(full).copy()).long()
            if num_classes == 1:
                full_mask = (full_mask > 0).long()
            tint = colorize(full_mask[None], num_classes)[0].permute(1, 2, 0).numpy()
            shown = np.asarray(photo).astype(np.float32) / 255
            alpha = OVERLAY_ALPHA * (full_mask.numpy()[..., None] > 0)
            overlay = (1 - alpha) * shown + alpha * tint
            Image.fromarray((overlay * 255).round().astype(np.uint8)).save(
                folder / f"{source.stem}_overlay.png"
            )
