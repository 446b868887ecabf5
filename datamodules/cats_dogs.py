"""Cats vs dogs: ``cat/`` or ``cats/`` folders (any letter case), flat ``cat.123.jpg``, ``PetImages/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datamodules.image_folder import ImageFolderDataModule

MICROSOFT_URL = "https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip"
MICROSOFT_SHA256 = "b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9"


class CatsDogsDataModule(ImageFolderDataModule):
    """Cats and dogs with the course's labels ``{"cat": 0, "dog": 1}``.

    ``download=True`` fetches Microsoft's archive (about 800 MB; it holds some corrupt and empty files,
    which are skipped with a warning) into ``data_dir`` and unpacks it there.
    """

    CLASS_NAMES = ("cat", "dog")

    def __init__(
        self,
        data_dir: str | Path = "data/cats_dogs",
        url: str = MICROSOFT_URL,
        sha256: str | None = MICROSOFT_SHA256,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            data_dir=data_dir,
            class_names=list(self.CLASS_NAMES),
            allow_flat=True,
            url=url,
            sha256=sha256,
            **kwargs,
        )
