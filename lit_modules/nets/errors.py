"""Errors a user can fix in a setting, a weights file or a checkpoint: ``hello-lightning`` prints their
message alone. Plain Python, so the networks here and the modules above them share it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting, weights file or checkpoint that cannot work; the message names the flag and the fix."""
