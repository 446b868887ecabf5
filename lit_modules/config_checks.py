"""Checks on a parsed config and a checkpoint, before anything is built or run: each returns what is wrong."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lit_modules.nets.loading import weight_mismatches

# Settings that must be positive wherever they appear in a config (e.g. an optimizer's init_args.lr).
POSITIVE_KEYS = re.compile(r"lr|learning_rate|max_lr|batch_size")  # min_lr and eta_min may be 0


def leaves(config: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted.key, value)`` for every value in a nested config."""
    if isinstance(config, dict):
        for key, value in config.items():
            yield from leaves(value, f"{prefix}{key}.")
    elif isinstance(config, list):
        for i, value in enumerate(config):
            yield from leaves(value, f"{prefix}{i}.")
    else:
        yield prefix[:-1], config


def non_positive_settings(config: dict) -> list[str]:
    """Learning rates and batch sizes that are zero or negative, as flag messages."""
    return [
        f"--{key} must be positive, got {value}."
        for key, value in leaves(config)
        if POSITIVE_KEYS.fullmatch(key.rsplit(".", 1)[-1]) and isinstance(value, int | float) and value <= 0
    ]


def unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot hold runs, or None: fail now, not after hours of training."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        return (
            f"--trainer.default_root_dir {folder} cannot be written ({err.strerror or err}). "
            "Pick a folder you can write to."
        )
    return None


def checkpoint_misfit(ckpt_path: str | Path, model: nn.Module, hparams: Mapping[str, Any]) -> str | None:
    """Why a checkpoint from another network or class count cannot restore ``model``, or None."""
    checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=False)
    problems = weight_mismatches(model.state_dict(), checkpoint.get("state_dict", {}))
    if not problems:
        return None
    saved = checkpoint.get("hyper_parameters", {})
    changed = [
        f"{key}: checkpoint {str(saved[key])[:80]}, config {str(value)[:80]}"
        for key, value in hparams.items()
        if key in saved and str(saved[key]) != str(value)
    ]
    config = Path(ckpt_path).parent.parent / "config.yaml"
    return (
        f"--ckpt_path {ckpt_path} does not fit the configured model:\n  "
        + "\n  ".join(changed + problems)
        + "\nUse the config it was trained with"
        + (f" ({config})" if config.is_file() else "")
        + ", or start a new run without --ckpt_path."
    )
