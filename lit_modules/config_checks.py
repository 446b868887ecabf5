"""Checks on a parsed config and a checkpoint, before anything is built or run: each returns what is wrong."""

from __future__ import annotations

import contextlib
import importlib.util
import json
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
DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
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


def dotted_names(config: Any) -> Iterator[str]:
    """Every string in a nested config that reads as ``module.name`` (a class path, given under
    ``class_path`` or as a plain value), also inside JSON strings, which jsonargparse resolves the same."""
    if isinstance(config, dict):
        for value in config.values():
            yield from dotted_names(value)
    elif isinstance(config, list | tuple):
        for value in config:
            yield from dotted_names(value)
    elif isinstance(config, str):
        if config.lstrip().startswith(("{", "[")):
            with contextlib.suppress(ValueError):  # not JSON after all: a plain string
                yield from dotted_names(json.loads(config))
        elif DOTTED.fullmatch(config):
            yield config


def imports_new_module(dotted: str) -> bool:
    """Whether resolving ``module.name`` would import a module this process has not imported yet (a name
    whose top package is not installed cannot import anything)."""
    module = dotted.rpartition(".")[0]
    if module in sys.modules:
        return False
    try:
        return importlib.util.find_spec(module.split(".", 1)[0]) is not None
    except (ImportError, ValueError):
        return False


def unloadable_checkpoint(ckpt_path: str | Path, flag: str = "--ckpt_path") -> str | None:
    """Why ``ckpt_path`` is no checkpoint that loads without running code or importing a module, or None."""
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError:
        named = torch.serialization.get_unsafe_globals_in_checkpoint(ckpt_path)
        reason = f"loading it would call {', '.join(named[:3]) or 'more than tensors'}, which can run code"
    except Exception:  # truncated, empty, another format: torch raises several types
        reason = "it does not load: it is truncated, empty or no checkpoint"
    else:
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            reason = "it is a torch file but no Lightning checkpoint (no state_dict)"
        elif foreign := [
            n for n in dotted_names(checkpoint.get("hyper_parameters")) if imports_new_module(n)
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
