"""Grad-CAM: where in an image the network looks for the class it predicts (Selvaraju et al., 2017).

Hand-written: neither torch, torchvision nor Lightning ships Grad-CAM (Captum, a heavier extra, does).
"""

from __future__ import annotations

from typing import Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from lit_modules.callbacks.views import (
    FixedValImages,
    denormalized,
    enlarged,
    evaluating,
    find_layer,
    heat_overlay,
    labelled_grid,
    last_conv_name,
    tag_part,
)
from lit_modules.hooks import capture_output_gradient, watch_gradient
from lit_modules.nets.errors import ConfigError

GradientSource = Literal["autograd", "tensor_hook", "backward_hook"]


def class_maps(activations: torch.Tensor, weights: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Channels of (N, C, h, w) ``activations`` summed with (N, C) ``weights``, ReLU, upsampled bilinearly
    to ``size`` and min-max scaled per image into [0, 1]: (N, H, W)."""
    cam = torch.einsum("nc,nchw->nhw", weights.float(), activations.float()).relu()[:, None]
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0]
    cam = cam - cam.amin(dim=(1, 2), keepdim=True)
    return cam / cam.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def grad_cam_with_logits(
    model: nn.Module,
    target_layer: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor | None = None,
    via: GradientSource = "autograd",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``grad_cam`` and the logits of the same forward pass."""
    captured: list[torch.Tensor] = []
    gradients: list[torch.Tensor] = []

    def keep(module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise ConfigError(
                f"grad_cam: the target layer must output (N, C, H, W) feature maps, got {output!r:.80}"
            )
        captured.append(output)
        if via == "tensor_hook":
            watch_gradient(output, gradients)
        return output.clone()  # a later in-place op (ReLU(inplace=True)) changes the clone, not what we keep

    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    handles = [target_layer.register_forward_hook(keep)]
    if via == "backward_hook":
        handles.append(capture_output_gradient(target_layer, gradients))
    try:
        with (
            evaluating(model),
            torch.inference_mode(False),
            torch.enable_grad(),
            torch.autocast(images.device.type, enabled=False),
        ):
            # A fresh leaf that needs grad: the maps exist even when every parameter is frozen.
            inputs = images.detach().clone().to(dtype).requires_grad_(True)
            logits = model(inputs)
            if len(captured) != 1:
                raise ConfigError(
                    f"grad_cam: the target layer ran {len(captured)} times in one forward pass."
                )
            if targets is None:
                targets = logits.argmax(dim=1)
            score = logits.float().gather(1, targets.view(-1, 1).to(logits.device)).sum()
            if via == "autograd":
                gradients.extend(torch.autograd.grad(score, captured[0]))
            else:  # the hooks catch the gradient on its way back to the input
                torch.autograd.grad(score, inputs)
    finally:
        for handle in handles:
            handle.remove()
    weights = gradients[0].float().mean(dim=(2, 3))
    return class_maps(captured[0].detach(), weights, images.shape[-2:]), logits.detach()


def grad_cam(
    model: nn.Module,
    target_layer: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor | None = None,
    via: GradientSource = "autograd",
) -> torch.Tensor:
    """One Grad-CAM map per image, in [0, 1] at the input's height and width: (N, H, W).

    The target layer's activations are weighted per channel by the mean gradient of the target class's score,
    summed, passed through ReLU, upsampled bilinearly and min-max normalised per image. ``targets`` (class
    indices) default to the predicted classes. The gradient comes from ``torch.autograd.grad`` or, as the
    hook lesson does it, a tensor hook or a full backward hook (``via``; ``lit_modules.hooks``): the same
    maps. The model's ``requires_grad`` flags, ``.grad`` fields, train/eval modes and hooks are left as they
    were; the model runs in eval mode and in its parameters' dtype, outside autocast.
    """
    return grad_cam_with_logits(model, target_layer, images, targets, via)[0]


class GradCAM(FixedValImages):
    """Grad-CAM overlays of a fixed set of validation images, every ``every_n_epochs`` epochs.

    TensorBoard images ``grad_cam/<i>_true_<label>_pred_<label>`` and a grid
    ``<run folder>/grad_cam/epoch_<e>.png`` with the labels in the titles.

    Args:
        target_layer: module path inside the LightningModule, e.g. ``net.features.3`` or ``net.layer4``;
            default: the last ``nn.Conv2d``.
        num_images: how many validation images (the first ones, picked once).
        every_n_epochs: draw after the validation of every n-th epoch; other epochs cost nothing.
        colormap: a matplotlib colour map name.
        alpha: weight of the heat map in the blend.
        min_size: small images are enlarged to at least this many pixels for display.
    """

    folder = "grad_cam"

    def __init__(
        self,
        target_layer: str | None = None,
        num_images: int = 8,
        every_n_epochs: int = 1,
        colormap: str = "jet",
        alpha: float = 0.4,
        min_size: int = 128,
    ) -> None:
        super().__init__(num_images, every_n_epochs)
        self.target_layer = target_layer
        self.colormap, self.alpha, self.min_size = colormap, alpha, min_size
        self.layer: nn.Module | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        name = self.target_layer or last_conv_name(pl_module, "GradCAM")
        self.target_layer = name
        self.layer = find_layer(pl_module, name, "GradCAM")

    @property
    def title(self) -> str:
        return f"Grad-CAM of {self.target_layer}"

    def heat_maps(
        self, pl_module: pl.LightningModule, images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, H, W) maps in [0, 1] and the logits."""
        return grad_cam_with_logits(pl_module, self.layer, images)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_epoch_end(trainer, pl_module)
        if not self.due(trainer) or self.images is None or self.layer is None:
            return
        images = self.images.to(pl_module.device)
        maps, logits = self.heat_maps(pl_module, images)
        shown = enlarged(denormalized(trainer, images), self.min_size)
        maps = enlarged(maps[:, None], self.min_size)[:, 0]
        overlays = heat_overlay(shown, maps, self.colormap, self.alpha)
        names = getattr(pl_module, "class_names", None)
        label = (lambda i: str(names[i])) if names else str
        truths = [label(t) for t in self.targets.tolist()]
        predictions = [label(p) for p in logits.argmax(dim=1).tolist()]
        writer = self.writer(trainer)
        if writer is not None:
            for i, (overlay, t, p) in enumerate(zip(overlays, truths, predictions, strict=True)):
                tag = f"{self.folder}/{i:02d}_true_{tag_part(t)}_pred_{tag_part(p)}"
                writer.add_image(tag, overlay, global_step=trainer.global_step)
        titles = [f"true {t} / pred {p}" for t, p in zip(truths, predictions, strict=True)]
        figure = labelled_grid(overlays, titles)
        figure.suptitle(f"{self.title}, epoch {trainer.current_epoch}", fontsize=10)
        figure.savefig(self.epoch_png(trainer), dpi=60)
