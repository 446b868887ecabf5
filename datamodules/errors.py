"""Errors a user can fix in the data or its settings: ``hello-lightning`` prints their message alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class DataError(ValueError):
    """Data, or a data setting, that cannot work; the message names the path or flag and the fix."""


class DataLayoutError(DataError):
    """The data folder does not match any layout the data module understands."""


def data_folder(root: str | Path, expected: Callable[[Path], str]) -> Path:
    """``root`` as a path, checked to be a folder; else a ``DataLayoutError`` ending in ``expected(root)``,
    the layouts the scanner understands."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataLayoutError(
            f"Data folder {folder} does not exist. Point --data.data_dir at your copy.\n{expected(folder)}"
        )
    return folder
