"""The one way weights get into a plain network, whatever saved them.

Small pieces, usable alone: ``read_checkpoint`` (any file -> tensors by name), ``match_prefix`` (drop
``module.``, ``net.``, ``model.``... so the names fit the network), ``weight_mismatches`` (what does not fit,
in words) and ``load_weights`` (all three, then ``load_state_dict``). Course scripts, ``nn.DataParallel``,
Lightning checkpoints, torchvision's pretrained weights and the CLI's checkpoint check all go through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from lit_modules.nets.errors import ConfigError
from lit_modules.nets.safe_pickle import safe_torch_load

# Where checkpoint dicts keep their weights: the course's, Lightning's, and other common layouts.
WEIGHT_KEYS = ("model_state_dict", "state_dict", "model", "net")
WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".ckpt", ".pkl")


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Tensors by name, and the rest (``epoch``, ``optimizer_state_dict``...), from any weights file.

    Understands plain state dicts, checkpoint dicts (``model_state_dict``/``state_dict``/``model`` inside),
    and whole pickled models (``torch.save(model)``) even when their class is not importable here. Tensors
    saved on a GPU land on ``map_location``. No file runs code: ``safe_torch_load`` refuses one that would.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"No weights file at {path}.")
    loaded = safe_torch_load(path, map_location)
    extras: dict = {}
    if isinstance(loaded, Mapping):
        for key in WEIGHT_KEYS:
            if isinstance(loaded.get(key), nn.Module | Mapping):
                extras = {k: v for k, v in loaded.items() if k != key}
                loaded = loaded[key]
                break
    if isinstance(loaded, nn.Module):
        loaded = loaded.state_dict()
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ConfigError(
            f"{path} holds no weights this loader understands (got {type(loaded).__name__}): expected a "
            f"state_dict, a whole model, or a dict with one of {', '.join(WEIGHT_KEYS)}."
        )
    return dict(loaded), extras


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries whose names start with ``prefix``, named without it."""
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def match_prefix(state_dict: Mapping[str, torch.Tensor], names: set[str]) -> dict[str, torch.Tensor]:
    """The entries under the prefix (``module.``, ``net.``, ``model.module.``...) that best fit ``names``."""
    prefixes = {""} | {k[: i + 1] for k in state_dict for i, c in enumerate(k) if c == "."}
    best = max(prefixes, key=lambda p: (len(names & strip_prefix(state_dict, p).keys()), -len(p)))
    return strip_prefix(state_dict, best)


def weight_mismatches(
    expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], limit: int = 8
) -> list[str]:
    """What keeps ``found`` from loading into a network with ``expected`` weights, one line per problem."""
    lines = [
        f"{k}: file has shape {tuple(found[k].shape)}, network expects {tuple(v.shape)}"
        for k, v in expected.items()
        if k in found and found[k].shape != v.shape
    ]
    for what, names in (
        ("missing from the file", [k for k in expected if k not in found and not _is_counter(k)]),
        ("not in the network", [k for k in found if k not in expected and not _is_counter(k)]),
    ):
        if names:
            shown = ", ".join(names[:limit]) + (
                f" and {len(names) - limit} more" if len(names) > limit else ""
            )
            lines.append(f"{len(names)} weight(s) {what}: {shown}")
    return lines


def _is_counter(name: str) -> bool:
    """BatchNorm's step counter: older files lack it, frozen batch norm has none, and nothing depends on its
    value."""
    return name.endswith("num_batches_tracked")


def load_weights(
    net: nn.Module,
    source: str | Path | Mapping[str, torch.Tensor],
    strict: bool = True,
    replaceable: Sequence[str] = (),
    map_location: str | torch.device = "cpu",
) -> dict:
    """Load a weights file (anything ``read_checkpoint`` reads) or a state dict into ``net``.

    Names are matched after dropping a common prefix such as ``module.`` or ``net.``. Weights under the
    top-level children named in ``replaceable`` (a new head) are dropped where they do not fit. Any other
    missing, extra or differently shaped weight is an error listing them with ``strict``; without it only
    the fitting weights load (e.g. a backbone under a new head) and the rest is reported.

    Returns:
        the file's other entries (``epoch``, ``optimizer_state_dict``, ``hyper_parameters``...), with
        ``dropped`` (replaceable weights left out) and ``skipped`` (other problems, without ``strict``).
    """
    state_dict, extras = (
        read_checkpoint(source, map_location) if isinstance(source, str | Path) else (dict(source), {})
    )
    expected = net.state_dict()
    weights = match_prefix(state_dict, set(expected))
    fitting = {k: v for k, v in weights.items() if k in expected and v.shape == expected[k].shape}

    def in_head(name: str) -> bool:
        return name.split(".", 1)[0] in replaceable

    dropped = sorted(k for k in weights if in_head(k) and k not in fitting)
    problems = weight_mismatches(
        {k: v for k, v in expected.items() if not in_head(k)},
        {k: v for k, v in weights.items() if not in_head(k)},
    )
    name = source if isinstance(source, str | Path) else "the given weights"
    if problems and strict:
        raise ConfigError(
            f"{name} does not fit {type(net).__name__}:\n  "
            + "\n  ".join(problems)
            + "\nPick the network (and class count) the weights were trained with."
        )
    net.load_state_dict(fitting, strict=False)
    report = dict(extras)
    if dropped:
        report["dropped"] = dropped
    if problems:
        report["skipped"] = problems
    return report
