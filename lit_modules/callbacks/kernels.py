"""The first convolution's kernels as images: what the network looks for in raw pixels."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid, save_image

from lit_modules.callbacks.views import View, find_layer
from lit_modules.nets.errors import ConfigError


class Kernels(View):
    """The kernels of one conv layer (default: the first ``nn.Conv2d``) as a grid, each min-max scaled.

    Kernels over 3 input channels are drawn in colour, others one grey tile per input channel. TensorBoard
    image ``kernels/<layer>``; PNGs ``<run folder>/kernels/epoch_<e>.png``.

    Args:
        layer: module path inside the LightningModule; default: the first ``nn.Conv2d``.
        every_n_epochs: draw after the validation of every n-th epoch.
        min_size: kernels are enlarged to at least this many pixels.
    """

    folder = "kernels"

    def __init__(self, layer: str | None = None, every_n_epochs: int = 1, min_size: int = 20) -> None:
        super().__init__(every_n_epochs)
        self.layer_name, self.min_size = layer, min_size
        self.layer: nn.Conv2d | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.layer_name is None:
            convs = [name for name, m in pl_module.named_modules() if isinstance(m, nn.Conv2d)]
            if not convs:
                raise ConfigError("Kernels: the model has no nn.Conv2d layer.")
            self.layer_name = convs[0]
        layer = find_layer(pl_module, self.layer_name, "Kernels")
        if not isinstance(layer, nn.Conv2d):
            raise ConfigError(f"Kernels: '{self.layer_name}' is a {type(layer).__name__}, not an nn.Conv2d.")
        self.layer = layer

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.due(trainer) or self.layer is None:
            return
        weight = self.layer.weight.detach().float().cpu()
        tiles = weight if weight.shape[1] == 3 else weight.flatten(0, 1)[:, None]
        scale = math.ceil(self.min_size / min(tiles.shape[-2:]))  # nearest: each weight stays one square
        grid = make_grid(
            F.interpolate(tiles, scale_factor=scale, mode="nearest"),
            nrow=math.ceil(math.sqrt(len(tiles))),
            normalize=True,
            scale_each=True,
            pad_value=1.0,
        )
        writer = self.writer(trainer)
        if writer is not None:
            writer.add_image(f"kernels/{self.layer_name}", grid, global_step=trainer.global_step)
        save_image(grid, self.epoch_png(trainer))
