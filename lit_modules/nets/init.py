"""Weight initialisation schemes the course compares, applied to every conv and linear layer."""

from __future__ import annotations

from typing import Literal

from torch import nn

from lit_modules.nets.errors import ConfigError

InitScheme = Literal[
    "default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
    "normal", "uniform", "constant", "orthogonal",
]  # fmt: skip

_WEIGHT_INITS = {
    "xavier_uniform": lambda w: nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain("relu")),
    "xavier_normal": lambda w: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("relu")),
    "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
    "normal": lambda w: nn.init.normal_(w, 0.0, 0.01),
    "uniform": lambda w: nn.init.uniform_(w, -0.05, 0.05),
    "constant": lambda w: nn.init.constant_(w, 0.01),
    "orthogonal": lambda w: nn.init.orthogonal_(w),
}


def initialize(module: nn.Module, scheme: InitScheme = "default") -> nn.Module:
    """Re-initialise conv/linear weights with ``scheme`` (biases to zero); ``default`` keeps PyTorch's."""
    if scheme == "default":
        return module
    if scheme not in _WEIGHT_INITS:
        raise ConfigError(
            f"Unknown init scheme '{scheme}'; choose one of {sorted(_WEIGHT_INITS)} or default."
        )
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)):
            _WEIGHT_INITS[scheme](layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
