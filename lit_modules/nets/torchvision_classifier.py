"""Any torchvision classification model, its head sized for the data's classes, and its starting weights.

Starting weights are a torchvision weights name (``ResNet18_Weights.IMAGENET1K_V1``, downloaded once into
the torch hub cache) or a local file that ``lit_modules.nets.loading`` reads (a plain state dict, a
``nn.DataParallel`` or course checkpoint, a Lightning checkpoint). The name is checked when the network is
built; the weights themselves load only when ``load_starting_weights`` is called, so a network restored from
a checkpoint never needs them (nor the internet).
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models import list_models

from lit_modules.nets.errors import ConfigError
from lit_modules.nets.torchvision_weights import is_weights_file, load_starting_weights, weights_enum

# Models with auxiliary classifiers (GoogLeNet, Inception v3) are built without them: their outputs would
# need a loss of their own, and unused parameters stall DDP. Their pretrained aux weights are dropped on load.
AUX_HEADS = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}


def classification_models() -> list[str]:
    return list_models(module=torchvision.models)


def head_name(model: nn.Module, num_classes: int) -> str:
    """The top-level child holding the last layer with ``num_classes`` outputs (``fc``, ``classifier``...)."""
    found = None
    for name, layer in model.named_modules():
        out = getattr(layer, "out_features", getattr(layer, "out_channels", None))
        if isinstance(layer, (nn.Linear, nn.Conv2d)) and out == num_classes:
            found = name.split(".", 1)[0]
    if found is None:
        raise ConfigError(
            f"{type(model).__name__} has no layer with {num_classes} outputs to use as its head."
        )
    return found


class TorchvisionClassifier(nn.Module):
    """``torchvision.models.get_model(name)``, its head rebuilt for ``num_classes``.

    Args:
        num_classes: outputs of the new head, linked from the data module.
        name: a name ``torchvision.models.list_models()`` gives (``resnet18``, ``mobilenet_v3_small``...).
        weights: what ``load_starting_weights`` loads: ``None`` (random init), a torchvision weights name
            (needs internet once), or a weights file.
    """

    def __init__(self, num_classes: int, name: str = "resnet18", weights: str | None = None) -> None:
        super().__init__()
        if name not in classification_models():
            raise ConfigError(
                f"--model.net.init_args.name: '{name}' is not a torchvision classification model; "
                f"choose one of {', '.join(classification_models())}."
            )
        if weights and not is_weights_file(weights):
            weights_enum(name, weights)  # a misspelled name fails now, not when the weights load
        self.name, self.weights = name, weights
        options = {}
        if name in AUX_HEADS:
            # ImageNet weights of these two expect inputs re-normalized inside the model, as torchvision does.
            transform = bool(weights) and not is_weights_file(weights)
            options = {"aux_logits": False, "init_weights": True, "transform_input": transform}
        self.model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **options)
        self.head_name = head_name(self.model, num_classes)

    @property
    def head(self) -> nn.Module:
        return getattr(self.model, self.head_name)

    def backbone_blocks(self) -> list[nn.Module]:
        """The model's top-level blocks except the head, in forward order."""
        return [m for name, m in self.model.named_children() if name != self.head_name]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def load_starting_weights(self) -> str:
        """Load ``weights`` (head weights that do not fit the new head are dropped); returns what it did."""
        replaceable = [self.head_name, *AUX_HEADS.get(self.name, ())]
        return load_starting_weights(self.model, self.name, self.weights, replaceable)
