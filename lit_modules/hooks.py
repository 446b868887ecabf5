"""The hook lesson: the four places PyTorch lets code watch, or change, what flows through a network.

Each function registers one kind of hook and returns its handle; call ``handle.remove()`` when done. The
project's views are built on them: Grad-CAM reads a layer's output (forward hook) and its gradient (a tensor
hook or a full backward hook), CAM reads the input of the global-average pool (forward pre-hook).

- ``Tensor.register_hook``: called with the gradient of a tensor during backward; what it returns replaces
  that gradient for everything upstream.
- ``Module.register_forward_pre_hook``: called with a layer's inputs before its ``forward`` runs.
- ``Module.register_forward_hook``: called with its inputs and output after ``forward``.
- ``Module.register_full_backward_hook``: called with the gradients of its inputs and outputs. PyTorch
  refuses it when a later in-place operation (``ReLU(inplace=True)``) overwrites the layer's output.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


def watch_gradient(tensor: torch.Tensor, seen: list[torch.Tensor], scale: float = 1.0) -> RemovableHandle:
    """Append each gradient reaching ``tensor`` to ``seen``; pass it on multiplied by ``scale``."""

    def hook(gradient: torch.Tensor) -> torch.Tensor | None:
        seen.append(gradient.detach())
        return None if scale == 1.0 else gradient * scale

    return tensor.register_hook(hook)


def capture_input(layer: nn.Module, captured: list[torch.Tensor]) -> RemovableHandle:
    """Append the first input of every call of ``layer`` to ``captured``, before the layer runs."""

    def hook(module: nn.Module, inputs: tuple[Any, ...]) -> None:
        captured.append(inputs[0])

    return layer.register_forward_pre_hook(hook)


def capture_output_gradient(layer: nn.Module, captured: list[torch.Tensor]) -> RemovableHandle:
    """Append the gradient of ``layer``'s output to ``captured`` each time backward passes through it."""

    def hook(module: nn.Module, grad_inputs: Any, grad_outputs: tuple[torch.Tensor, ...]) -> None:
        captured.append(grad_outputs[0].detach())

    return layer.register_full_backward_hook(hook)
