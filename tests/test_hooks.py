"""The hook lesson: a tensor hook reads and changes a gradient, a forward pre-hook sees a layer's input."""

from __future__ import annotations

import torch
from torch import nn

from lit_modules.hooks import capture_input, capture_output_gradient, watch_gradient


def test_tensor_hook_reads_a_gradient_and_changes_what_flows_on() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = 3 * x
    seen: list[torch.Tensor] = []
    handle = watch_gradient(y, seen, scale=0.5)
    (y**2).sum().backward()  # d/dy = 2y = [6, 12]; d/dx = 3 * 0.5 * 2y
    torch.testing.assert_close(seen[0], torch.tensor([6.0, 12.0]))
    torch.testing.assert_close(x.grad, torch.tensor([9.0, 18.0]))
    handle.remove()


def test_forward_pre_hook_sees_the_input_before_the_layer_runs() -> None:
    captured: list[torch.Tensor] = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.hooked_first = len(captured) == 1
            return x + 1

    layer, x = Probe(), torch.zeros(2)
    handle = capture_input(layer, captured)
    layer(x)
    handle.remove()
    assert layer.hooked_first and captured[0] is x


def test_full_backward_hook_catches_the_gradient_of_a_layers_output() -> None:
    layer = nn.Linear(2, 2)
    captured: list[torch.Tensor] = []
    handle = capture_output_gradient(layer, captured)
    layer(torch.ones(1, 2, requires_grad=True)).sum().backward()
    handle.remove()
    torch.testing.assert_close(captured[0], torch.ones(1, 2))
    assert not layer._backward_hooks
