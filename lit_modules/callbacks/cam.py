"""CAM, class activation maps (Zhou et al., 2016): for networks that end in a global-average pool and a
linear layer, the last feature maps weighted by the linear layer's weights of the class."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn

from lit_modules.callbacks.grad_cam import GradCAM, class_maps
from lit_modules.callbacks.views import evaluating
from lit_modules.hooks import capture_input
from lit_modules.nets.errors import ConfigError


def global_pool_head(model: nn.Module, owner: str = "CAM") -> tuple[nn.Module, nn.Linear]:
    """The last ``AdaptiveAvgPool2d`` to 1x1 and the last ``nn.Linear`` (the head reading its channels)."""
    pools = [
        m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))
    ]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not pools or not linears:
        raise ConfigError(
            f"{owner} needs a network that ends in a global-average pool (nn.AdaptiveAvgPool2d(1)) and one "
            f"linear layer, as SmallCNN and the ResNets do; {type(model).__name__} has "
            f"{'no such pool' if not pools else 'no linear layer'}. Use GradCAM for other networks."
        )
    return pools[-1], linears[-1]


def cam_with_logits(
    model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One CAM per image in [0, 1] at the input's size, (N, H, W), and the logits; ``targets`` default to
    the predicted classes. The pool's input is read by a forward pre-hook; no gradient is needed."""
    pool, head = global_pool_head(model)
    captured: list[torch.Tensor] = []
    handle = capture_input(pool, captured)
    try:
        with evaluating(model), torch.no_grad():
            logits = model(images)
    finally:
        handle.remove()
    features = captured[-1]
    if features.shape[1] != head.in_features:
        raise ConfigError(
            f"CAM: the pool gives {features.shape[1]} channels but the last linear layer reads "
            f"{head.in_features}; the head is more than pool then linear. Use GradCAM."
        )
    if targets is None:
        targets = logits.argmax(dim=1)
    weights = head.weight[targets.to(head.weight.device)]
    return class_maps(features, weights, images.shape[-2:]), logits


class CAM(GradCAM):
    """CAM overlays of a fixed set of validation images, drawn like ``GradCAM``'s.

    TensorBoard images ``cam/<i>_true_<label>_pred_<label>`` and ``<run folder>/cam/epoch_<e>.png``.
    Args as ``GradCAM``'s but ``target_layer``: the layer is the input of the global-average pool.
    """

    folder = "cam"

    def __init__(
        self, num_images: int = 8, every_n_epochs: int = 1, colormap: str = "jet", alpha: float = 0.4,
        min_size: int = 128,
    ) -> None:  # fmt: skip
        super().__init__(None, num_images, every_n_epochs, colormap, alpha, min_size)

    @property
    def title(self) -> str:
        return "CAM (global-average-pool head)"

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.layer = global_pool_head(pl_module)[0]

    def heat_maps(
        self, pl_module: pl.LightningModule, images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return cam_with_logits(pl_module, images)
