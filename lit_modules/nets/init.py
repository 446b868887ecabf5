"""Weight initialisation schemes the course compares, applied to every conv and linear layer.

Hidden layers are scaled for the ReLU that follows them. The output layer (the last conv or linear layer,
which gives the logits) has no ReLU after it, so it gets gain 1 and its fan-in (He et al.'s rule for a
linear layer): its logits start with about the spread of its inputs, and the first loss sits near ln(C)
for C classes. Convolutions under ``kaiming_*`` use ``fan_out``, as torchvision's ResNets do; hidden linear
layers use ``fan_in``.

``course`` is the course's own scheme: Xavier-normal convolutions, Normal(0, 0.1) linear layers,
BatchNorm weight 1 and bias 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import Tensor, nn

from lit_modules.nets.errors import ConfigError

InitScheme = Literal[
    "default", "course", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
    "normal", "uniform", "constant", "orthogonal",
]  # fmt: skip

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
RELU_GAIN = nn.init.calculate_gain("relu")

# (layer, whether it is the output layer) -> its initialised weight
WeightInit = Callable[[nn.Module, bool], Tensor]


def _kaiming(layer: nn.Module, output: bool, uniform: bool) -> Tensor:
    init = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    if output:
        return init(layer.weight, mode="fan_in", nonlinearity="linear")
    mode = "fan_in" if isinstance(layer, nn.Linear) else "fan_out"
    return init(layer.weight, mode=mode, nonlinearity="relu")


def _course(layer: nn.Module, output: bool) -> Tensor:
    if isinstance(layer, nn.Linear):
        return nn.init.normal_(layer.weight, 0.0, 0.1)
    return nn.init.xavier_normal_(layer.weight)


_WEIGHT_INITS: dict[str, WeightInit] = {
    "course": _course,
    "xavier_uniform": lambda m, out: nn.init.xavier_uniform_(m.weight, gain=1.0 if out else RELU_GAIN),
    "xavier_normal": lambda m, out: nn.init.xavier_normal_(m.weight, gain=1.0 if out else RELU_GAIN),
    "kaiming_uniform": lambda m, out: _kaiming(m, out, uniform=True),
    "kaiming_normal": lambda m, out: _kaiming(m, out, uniform=False),
    "normal": lambda m, out: nn.init.normal_(m.weight, 0.0, 0.01),
    "uniform": lambda m, out: nn.init.uniform_(m.weight, -0.05, 0.05),
    "constant": lambda m, out: nn.init.constant_(m.weight, 0.01),
    "orthogonal": lambda m, out: nn.init.orthogonal_(m.weight),
}


def initialize(module: nn.Module, scheme: InitScheme = "default") -> nn.Module:
    """Re-initialise conv/linear weights with ``scheme``, biases to zero, norm layers to weight 1 and bias 0.

    ``default`` keeps PyTorch's initialisation. The last conv or linear layer is taken as the output layer.
    """
    if scheme == "default":
        return module
    if scheme not in _WEIGHT_INITS:
        raise ConfigError(
            f"Unknown init scheme '{scheme}' (--model.init); "
            f"choose one of {sorted(_WEIGHT_INITS)} or default."
        )
    weighted = [m for m in module.modules() if isinstance(m, WEIGHTED)]
    for layer in weighted:
        _WEIGHT_INITS[scheme](layer, layer is weighted[-1])
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    for layer in module.modules():
        if isinstance(layer, NORMS) and getattr(layer, "weight", None) is not None:
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module
