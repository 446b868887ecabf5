"""Feature maps: what chosen conv layers make of one fixed validation image."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
from torch import nn
from torchvision.utils import make_grid, save_image

from lit_modules.callbacks.views import FixedValImages, denormalized, enlarged, evaluating, find_layer
from lit_modules.nets.errors import ConfigError


class FeatureMaps(FixedValImages):
    """Each chosen layer's channels as a grid, every channel min-max scaled, for the first validation image.

    TensorBoard images ``feature_maps/input`` and ``feature_maps/<layer>``; PNGs
    ``<run folder>/feature_maps/<layer>_epoch_<e>.png``.

    Args:
        layers: module paths inside the LightningModule (e.g. ``net.features.0``); default: every
            ``nn.Conv2d``.
        every_n_epochs: draw after the validation of every n-th epoch.
        max_channels: at most this many channels per layer.
        min_size: small maps are enlarged to at least this many pixels for display.
    """

    folder = "feature_maps"

    def __init__(
        self,
        layers: list[str] | None = None,
        every_n_epochs: int = 1,
        max_channels: int = 64,
        min_size: int = 48,
    ) -> None:
        super().__init__(num_images=1, every_n_epochs=every_n_epochs)
        self.layer_names = list(layers) if layers else None
        self.max_channels, self.min_size = max_channels, min_size
        self.layers: dict[str, nn.Module] = {}

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        names = self.layer_names or [n for n, m in pl_module.named_modules() if isinstance(m, nn.Conv2d)]
        if not names:
            raise ConfigError("FeatureMaps: the model has no nn.Conv2d layer; name the layers to show.")
        self.layers = {name: find_layer(pl_module, name, "FeatureMaps") for name in names}

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_epoch_end(trainer, pl_module)
        if not self.due(trainer) or self.images is None:
            return
        maps: dict[str, torch.Tensor] = {}
        handles = [
            layer.register_forward_hook(lambda m, i, out, name=name: maps.__setitem__(name, out.detach()))
            for name, layer in self.layers.items()
        ]
        try:
            with evaluating(pl_module), torch.no_grad():
                pl_module(self.images[:1].to(pl_module.device))
        finally:
            for handle in handles:
                handle.remove()
        writer = self.writer(trainer)
        image = denormalized(trainer, self.images[:1])[0]
        if writer is not None:
            writer.add_image("feature_maps/input", image, global_step=trainer.global_step)
        for name, output in maps.items():
            channels = output[0, : self.max_channels, None].float().cpu()
            grid = make_grid(
                enlarged(channels, self.min_size),
                nrow=math.ceil(math.sqrt(len(channels))),
                normalize=True,
                scale_each=True,
                pad_value=1.0,
            )
            if writer is not None:
                writer.add_image(f"feature_maps/{name}", grid, global_step=trainer.global_step)
            save_image(grid, self.epoch_png(trainer, prefix=f"{name}_"))
