"""Channels-last (NHWC) memory format: the same arithmetic, faster convolutions on CPUs and GPUs.

PyTorch stores an image batch as (N, C, H, W) with W fastest; channels-last keeps the same shape but stores
the channels of each pixel side by side, the layout oneDNN (CPUs) and cuDNN (GPUs) convolve fastest.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _channels_last_inputs(module: nn.Module, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook: every 4-D tensor input in channels-last layout (no copy if it already is)."""
    return tuple(
        value.contiguous(memory_format=torch.channels_last)
        if isinstance(value, torch.Tensor) and value.dim() == 4
        else value
        for value in inputs
    )


def use_channels_last(net: nn.Module) -> nn.Module:
    """Store ``net``'s 4-D weights channels-last and give each of its convolutions its input the same way (a
    forward pre-hook per convolution, so it holds wherever the image batch is formed: a detector batches its
    list of images inside). Returns ``net``; outputs keep their shapes, and checkpoints load into either
    layout."""
    net.to(memory_format=torch.channels_last)
    for layer in net.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            layer.register_forward_pre_hook(_channels_last_inputs)
    return net
