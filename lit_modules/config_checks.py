"""Checks on a parsed config and a checkpoint, before anything is built or run: each returns what is wrong."""

from __future__ import annotations

import pickle
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lit_modules.nets.loading import weight_mismatches
from lit_modules.nets.safe_pickle import safe_torch_load

# Settings that must be positive wherever they appear in a config (e.g. an optimizer's init_args.lr).
REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")  # how torch's weights_only unpickler names what it refused
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


def class_paths(config: Any) -> Iterator[str]:
    """Every ``class_path`` (and ``_class_path``) string in a nested config."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key in ("class_path", "_class_path") and isinstance(value, str):
                yield value
            else:
                yield from class_paths(value)
    elif isinstance(config, list | tuple):
        for value in config:
            yield from class_paths(value)


def imported(class_path: str) -> bool:
    """Whether ``module.Class`` lies in a module this process has imported already."""
    return class_path.rpartition(".")[0] in sys.modules


def unloadable_checkpoint(ckpt_path: str | Path, flag: str = "--ckpt_path") -> str | None:
    """Why ``ckpt_path`` is no checkpoint that loads without running code or importing a module, or None."""
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError as err:
        called = REFUSED_GLOBAL.search(str(err))
        reason = (
            f"loading it would call {called.group(1) if called else 'more than tensors'}, which can run code"
        )
    except Exception:  # truncated, empty, another format: torch raises several types
        reason = "it does not load: it is truncated, empty or no checkpoint"
    else:
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            reason = "it is a torch file but no Lightning checkpoint (no state_dict)"
        elif foreign := [
            path for path in class_paths(checkpoint.get("hyper_parameters")) if not imported(path)
        ]:
            reason = (
                f"it names {foreign[0]}, a class of a module not imported here, and a checkpoint never makes "
                "hello-lightning import one; pass --config with the config the run was trained with"
            )
        else:
            return None
    return f"{flag} {ckpt_path}: {reason}. Pass a .ckpt file a hello-lightning fit wrote."


def checkpoint_misfit(ckpt_path: str | Path, model: nn.Module, hparams: Mapping[str, Any]) -> str | None:
    """Why a checkpoint from another network or class count cannot restore ``model``, or None."""
    checkpoint = safe_torch_load(ckpt_path, mmap=True)
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
