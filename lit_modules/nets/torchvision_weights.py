"""Starting weights of torchvision models: a weights file or a weights name, checked early, fetched late.

A name (``ResNet18_Weights.IMAGENET1K_V1``) is checked when a network is built, so a misspelling fails at
start-up; its file downloads once into the torch hub cache when the weights load. Without internet that
download ends in one line saying which file to fetch and how to pass it.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import Weights, get_model_weights, get_weight

from lit_modules.nets.errors import ConfigError
from lit_modules.nets.loading import WEIGHT_FILE_SUFFIXES, load_weights

HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")  # torch hub's convention: <name>-<sha256 prefix>.<ext>


def is_weights_file(weights: str) -> bool:
    return weights.endswith(WEIGHT_FILE_SUFFIXES) or Path(weights).expanduser().exists()


def weights_enum(name: str, weights: str, flag: str = "--model.net.init_args.weights") -> Weights:
    """The torchvision weights called ``weights``, checked to belong to model ``name`` (no download)."""
    try:
        found = get_weight(weights)
    except (ValueError, KeyError, AttributeError) as err:
        choices = ", ".join(str(w) for w in get_model_weights(name))
        raise ConfigError(
            f"{flag}: '{weights}' is neither a weights file ({'/'.join(WEIGHT_FILE_SUFFIXES)}) nor a "
            f"torchvision weights name; for {name} use one of {choices}, or a local file."
        ) from err
    if type(found) is not get_model_weights(name):
        raise ConfigError(f"{flag}: {weights} are weights of another model, not {name}.")
    return found


def hub_copy_is_intact(path: Path) -> bool:
    """Whether a torch hub file still has the SHA-256 its name starts (``resnet18-f37072fd.pth``); a name
    without a digest cannot be checked and counts as intact."""
    match = HASH_IN_NAME.search(path.name)
    if match is None:
        return True
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest().startswith(match.group(1))


def download_state_dict(
    enum: Weights, flag: str = "--model.net.init_args.weights"
) -> dict[str, torch.Tensor]:
    """The weights' tensors, from the torch hub cache or downloaded into it, loaded without running pickle
    code; offline, one line saying what to do.

    torch checks the digest only while downloading, so a cached copy is checked again here, and one that
    changed since is fetched anew.
    """
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if cached.is_file() and not hub_copy_is_intact(cached):
        warnings.warn(f"{cached} no longer has its SHA-256: fetching it again.", stacklevel=2)
        cached.unlink(missing_ok=True)  # another process may have removed it first
    try:
        return enum.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as err:
        file = Path(enum.url).name
        raise ConfigError(
            f"Could not download {enum} from {enum.url} ({err}). Without internet, fetch {file} on another "
            f"machine and pass its path: {flag} path/to/{file}"
        ) from err


def load_starting_weights(
    model: nn.Module, name: str, weights: str | None, replaceable: Sequence[str]
) -> str:
    """Load ``weights`` (a file or a torchvision weights name) into ``model``, torchvision's ``name``; the
    weights of the ``replaceable`` heads that do not fit are dropped. Returns what it did, in one line."""
    if not weights:
        return f"{name}: random initialisation (no starting weights)."
    source = weights if is_weights_file(weights) else download_state_dict(weights_enum(name, weights))
    try:
        report = load_weights(model, source, replaceable=replaceable)
    except ValueError as err:
        raise ConfigError(
            f"--model.net.init_args.weights: {err} Or pick the model name the file was trained with."
        ) from err
    text = f"Loaded starting weights {weights} into {name}"
    if report.get("dropped"):
        text += f"; dropped head weights that do not fit the new head: {', '.join(report['dropped'])}"
    return text + "."
