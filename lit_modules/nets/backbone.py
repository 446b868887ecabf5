"""Any torchvision classification model as a finetunable network: build it, find its head, load weights.

Weights come from a torchvision weights enum name (``ResNet18_Weights.IMAGENET1K_V1``, downloaded into the
torch hub cache) or a local ``.pth``/``.pt``/``.ckpt`` file: a plain state dict, one saved from
``nn.DataParallel`` (keys prefixed ``module.``), or a Lightning checkpoint whose network is stored under
``net.`` (as this project's classifiers store it). Head weights whose shape does not fit are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models import get_model_weights, get_weight, list_models

WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".ckpt")


def classification_models() -> list[str]:
    return list_models(module=torchvision.models)


def build_classifier(name: str, num_classes: int) -> nn.Module:
    """``torchvision.models.get_model(name)`` without weights, its head sized for ``num_classes``."""
    if name not in classification_models():
        raise ValueError(
            f"--model.init_args.backbone: '{name}' is not a torchvision classification model; "
            f"choose one of {', '.join(classification_models())}."
        )
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)


def head_name(model: nn.Module, num_classes: int) -> str:
    """The top-level child holding the last layer with ``num_classes`` outputs (``fc``, ``classifier``...)."""
    found = None
    for name, layer in model.named_modules():
        out = getattr(layer, "out_features", getattr(layer, "out_channels", None))
        if isinstance(layer, (nn.Linear, nn.Conv2d)) and out == num_classes:
            found = name.split(".", 1)[0]
    if found is None:
        raise ValueError(
            f"{type(model).__name__} has no layer with {num_classes} outputs to use as its head."
        )
    return found


@dataclass
class LoadedWeights:
    """What loading a weights source did: its origin and the head entries it dropped."""

    source: str
    dropped: list[str] = field(default_factory=list)

    def message(self) -> str:
        text = f"Loaded weights from {self.source}"
        if self.dropped:
            text += f"; dropped head weights that do not fit the new head: {', '.join(self.dropped)}"
        return text + "."


def _state_dict_from_enum(backbone: str, name: str) -> dict[str, torch.Tensor]:
    try:
        weights = get_weight(name)
    except (ValueError, KeyError, AttributeError) as err:
        choices = ", ".join(str(w) for w in get_model_weights(backbone))
        raise ValueError(
            f"--model.init_args.weights: '{name}' is neither a weights file (.pth/.pt/.ckpt) nor a "
            f"torchvision weights name; for {backbone} use one of {choices}, or a local file."
        ) from err
    if type(weights) is not get_model_weights(backbone):
        raise ValueError(f"--model.init_args.weights: {name} are weights of another model, not {backbone}.")
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as err:
        file = Path(weights.url).name
        raise RuntimeError(
            f"Could not download {name} from {weights.url} ({err}). Without internet, fetch {file} on "
            f"another machine and pass its path: --model.init_args.weights path/to/{file}"
        ) from err


def _state_dict_from_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"--model.init_args.weights: no such file {path}.")
    # A Lightning checkpoint pickles its hyperparameters too, so it cannot load with weights_only=True.
    # Load only files you trust.
    loaded: Any = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(loaded, nn.Module):
        loaded = loaded.state_dict()
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} holds a {type(loaded).__name__}, not a state dict or checkpoint.")
    if isinstance(loaded.get("state_dict"), dict):  # a Lightning checkpoint: its network lives under net.
        loaded = {k[len("net.") :]: v for k, v in loaded["state_dict"].items() if k.startswith("net.")}
        if not loaded:
            raise ValueError(
                f"{path} is a Lightning checkpoint without net.* weights (not an image classifier)."
            )
    return {k.removeprefix("module."): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}


def load_weights(model: nn.Module, source: str, backbone: str, head: str) -> LoadedWeights:
    """Load ``source`` into ``model``; entries of ``head`` whose shape differs are dropped, anything else
    missing or misfit is an error naming the source."""
    is_file = source.endswith(WEIGHT_FILE_SUFFIXES) or Path(source).expanduser().exists()
    state = (
        _state_dict_from_file(Path(source).expanduser())
        if is_file
        else _state_dict_from_enum(backbone, source)
    )
    own = model.state_dict()
    report = LoadedWeights(source)
    misfit = []
    for key, value in list(state.items()):
        if key in own and own[key].shape != value.shape:
            (report.dropped if key.split(".", 1)[0] == head else misfit).append(
                f"{key} {tuple(value.shape)}->{tuple(own[key].shape)}"
            )
            del state[key]
    missing = [
        k
        for k in own
        if k not in state and not k.endswith("num_batches_tracked") and k.split(".", 1)[0] != head
    ]
    if misfit or missing:
        problems = misfit + [f"{k} (missing)" for k in missing]
        more = " ..." if len(problems) > 6 else ""
        raise ValueError(
            f"--model.init_args.weights: {source} does not fit {backbone}: {', '.join(problems[:6])}{more}. "
            "Pick the backbone the file was trained with."
        )
    model.load_state_dict(state, strict=False)
    return report
