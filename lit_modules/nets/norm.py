"""Normalization layers chosen by name, so networks can switch them from a config."""

from __future__ import annotations

from typing import Literal

from torch import nn

from lit_modules.nets.errors import ConfigError

NormKind = Literal["batch", "layer", "instance", "group", "none"]


def norm2d(kind: NormKind, channels: int, groups: int = 8) -> nn.Module:
    """A normalization for (N, C, H, W) feature maps."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # over C, H and W of each sample
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(next(g for g in (groups, 4, 2, 1) if channels % g == 0), channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"Unknown normalization '{kind}'; choose batch, layer, instance, group or none.")


def norm1d(kind: NormKind, features: int) -> nn.Module:
    """A normalization for (N, F) features; instance and group fall back to layer norm."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind in ("layer", "instance", "group"):
        return nn.LayerNorm(features)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"Unknown normalization '{kind}'; choose batch, layer, instance, group or none.")
