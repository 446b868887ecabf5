"""Ants vs bees: the PyTorch transfer-learning tutorial's ``hymenoptera_data`` (``train/`` and ``val/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datamodules.image_folder import ImageFolderDataModule

HYMENOPTERA_URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
HYMENOPTERA_SHA256 = "fbc41b31d544714d18dd1230b1e2b455e1557766e13e67f9f5a7a23af7c02209"


class AntsBeesDataModule(ImageFolderDataModule):
    """Ants and bees with the course's labels ``{"ants": 0, "bees": 1}``.

    The data comes pre-split into ``train/`` and ``val/``; the test split is carved from ``val/`` (half of
    it, stratified and seeded) unless a ``test/`` folder exists, never from ``train/``. ``download=True``
    fetches the tutorial's archive (47 MB, checksummed) into ``data_dir`` and unpacks it there.
    """

    CLASS_NAMES = ("ants", "bees")

    def __init__(
        self,
        data_dir: str | Path = "data/hymenoptera",
        url: str = HYMENOPTERA_URL,
        sha256: str | None = HYMENOPTERA_SHA256,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            data_dir=data_dir, class_names=list(self.CLASS_NAMES), url=url, sha256=sha256, **kwargs
        )
