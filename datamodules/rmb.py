"""Photos of 1- and 100-yuan banknotes (4th series): two class folders ``1/`` and ``100/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datamodules.image_folder import ImageFolderDataModule


class RMBDataModule(ImageFolderDataModule):
    """RMB banknotes with the course's labels ``{"1": 0, "100": 1}``; no public download exists."""

    CLASS_NAMES = ("1", "100")

    def __init__(self, data_dir: str | Path = "data/rmb", **kwargs: Any) -> None:
        super().__init__(data_dir=data_dir, class_names=list(self.CLASS_NAMES), **kwargs)
