"""Errors a user can fix in the data or its settings: ``hello-lightning`` prints their message alone."""

from __future__ import annotations


class DataError(ValueError):
    """Data, or a data setting, that cannot work; the message names the path or flag and the fix."""


class DataLayoutError(DataError):
    """The data folder does not match any layout the data module understands."""
