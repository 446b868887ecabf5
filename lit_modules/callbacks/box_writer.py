"""Write ``predict`` results of a detection model: one CSV row per box, and each photo with its boxes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from torchvision.transforms.v2.functional import pil_to_tensor

from lit_modules.callbacks.detection_views import PREDICTED_COLOUR, captions, draw_boxes
from lit_modules.callbacks.run_folder import run_folder

COLUMNS = ["file", "class", "score", "x1", "y1", "x2", "y2"]


def gathered_detections(predictions: list[dict[str, Any]], world_size: int) -> list[tuple[int, dict]]:
    """(input index, detections) of every input, from every process under DDP, in input order."""
    pairs = [
        (index, detections)
        for p in predictions
        for index, detections in zip(p["index"].tolist(), p["detections"], strict=True)
    ]
    if world_size > 1 and torch.distributed.is_initialized():
        shares: list[Any] = [None] * world_size
        torch.distributed.all_gather_object(shares, pairs)
        pairs = [pair for share in shares for pair in share]
    return sorted(pairs, key=lambda pair: pair[0])


class BoxWriter(BasePredictionWriter):
    """Collect ``{"index", "detections"}`` predictions; write ``<run folder>/predictions.csv`` (columns
    file, class, score, x1, y1, x2, y2, in pixels of the photo as it is on disk) and
    ``<run folder>/predictions/<stem>_boxes.png`` (the photo with its boxes), for the boxes scored at least
    ``score_threshold``.

    Inputs are named by the data module's ``predict_inputs``; the boxes are scaled from the size the
    photos were decoded at (its ``image_size``) back to each photo's own (``predict_sizes``).

    Args:
        output: the folder to write into instead of the run folder.
        score_threshold: the lowest score of a box that is written.
    """

    def __init__(self, output: str | None = None, score_threshold: float = 0.5) -> None:
        super().__init__(write_interval="epoch")
        self.output, self.score_threshold = output, score_threshold

    def write_on_epoch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, predictions: Any, batch_indices: Any
    ) -> None:
        if any("detections" not in p for p in predictions):
            return
        pairs = gathered_detections(predictions, trainer.world_size)
        if not trainer.is_global_zero:
            return
        data = trainer.datamodule
        folder = Path(self.output) if self.output else (run_folder(trainer) or Path("."))
        (folder / "predictions").mkdir(parents=True, exist_ok=True)
        names = getattr(pl_module, "class_names", None)
        height, width = data.image_size
        rows = []
        for index, detections in pairs:
            source = Path(data.predict_inputs[index])
            photo_width, photo_height = data.predict_sizes[index]
            keep = detections["scores"] >= self.score_threshold
            scale = torch.tensor([photo_width / width, photo_height / height] * 2)
            boxes, labels, scores = (
                detections["boxes"][keep] * scale,
                detections["labels"][keep],
                detections["scores"][keep],
            )
            texts = captions(labels, None, names)
            rows += [
                [str(source), text, f"{score:.4f}", *(f"{v:.1f}" for v in box)]
                for text, score, box in zip(texts, scores.tolist(), boxes.tolist(), strict=True)
            ]
            with Image.open(source) as opened:
                photo = pil_to_tensor(opened.convert("RGB"))
            drawn = draw_boxes(photo, boxes, captions(labels, scores, names), PREDICTED_COLOUR)
            Image.fromarray(drawn.permute(1, 2, 0).numpy()).save(
                folder / "predictions" / f"{source.stem}_boxes.png"
            )
        path = folder / "predictions.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
        rank_zero_info(
            f"Wrote {len(rows)} boxes of {len(pairs)} photos to {path}, the photos with their boxes to "
            f"{folder / 'predictions'}/"
        )
