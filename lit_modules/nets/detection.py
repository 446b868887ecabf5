"""Any torchvision box detector (Faster R-CNN, RetinaNet, FCOS, SSD), its class head sized for the data.

The models share one API: in training ``model(images, targets)`` returns a dict of losses, in eval mode
``model(images)`` returns one ``{"boxes", "labels", "scores"}`` dict per image; images are a list of float
(3, H, W) tensors in [0, 1] of any sizes (the model resizes and normalizes them inside).

Starting weights, as ``TorchvisionClassifier``'s: none, a torchvision weights name (COCO,
``FasterRCNN_ResNet50_FPN_Weights.COCO_V1``), or a local file, checked when the network is built and
loaded by ``load_starting_weights``; the class head's weights that do not fit the data's classes are
dropped. ``backbone_weights`` starts the backbone alone from ImageNet weights instead.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models import list_models
from torchvision.ops.misc import FrozenBatchNorm2d

from lit_modules.nets.errors import ConfigError
from lit_modules.nets.torchvision_weights import (
    download_state_dict,
    is_weights_file,
    load_starting_weights,
    weights_enum,
)

# The class heads a new class count replaces: Faster R-CNN's box predictor, the others' head.
HEADS = ("roi_heads", "head")
# Detectors torchvision builds with frozen batch norm in the backbone when it starts from trained weights.
FROZEN_BN_WHEN_TRAINED = ("fasterrcnn_", "retinanet_", "fcos_")
BACKBONE_FLAG = "--model.net.init_args.backbone_weights"
TRANSFORM_OPTIONS = {"size_divisible", "fixed_size"}  # what the models hand on to their image transform


def box_detectors() -> list[str]:
    """torchvision's detection models whose targets are boxes and labels only (no masks, no keypoints)."""
    return [
        name
        for name in list_models(module=torchvision.models.detection)
        if not name.startswith(("maskrcnn", "keypointrcnn"))
    ]


def builder_options(name: str, model: nn.Module) -> set[str]:
    """The keyword arguments of a detector's builder, of its model class and of its image transform."""
    builder = inspect.signature(torchvision.models.get_model_builder(name)).parameters
    model_class = inspect.signature(type(model).__init__).parameters
    named = {
        k
        for k, p in {**builder, **model_class}.items()
        if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
    }
    return (named | TRANSFORM_OPTIONS) - {"self", "weights", "weights_backbone", "num_classes", "backbone"}


def freeze_batch_norm(module: nn.Module) -> None:
    """Replace every ``BatchNorm2d`` inside ``module`` by a ``FrozenBatchNorm2d`` with its statistics, as
    torchvision builds a backbone that starts from trained weights (batches of a few photos would ruin the
    statistics)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batch_norm(child)


class TorchvisionDetector(nn.Module):
    """``torchvision.models.get_model(name)`` for detection, with ``num_classes`` outputs (background
    included).

    Args:
        num_classes: classes including the background, linked from the data module.
        name: one of ``box_detectors()``: ``fasterrcnn_resnet50_fpn``, ``fasterrcnn_mobilenet_v3_large_fpn``,
            ``fasterrcnn_mobilenet_v3_large_320_fpn``, ``retinanet_resnet50_fpn``, ``fcos_resnet50_fpn``...
        weights: whole-model starting weights: ``None``, a torchvision weights name (needs internet once) or
            a weights file.
        backbone_weights: a torchvision weights name of the backbone alone, for a detector trained from an
            ImageNet backbone (``ResNet50_Weights.IMAGENET1K_V1``,
            ``MobileNet_V3_Large_Weights.IMAGENET1K_V1``).
        options: keyword arguments of torchvision's builder: ``min_size`` and ``max_size`` (the sizes the
            model resizes images to), ``box_batch_size_per_image`` (regions sampled per photo for the box
            head's loss), ``box_detections_per_img``...
    """

    def __init__(
        self,
        num_classes: int,
        name: str = "fasterrcnn_mobilenet_v3_large_320_fpn",
        weights: str | None = None,
        backbone_weights: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if name not in box_detectors():
            raise ConfigError(
                f"--model.net.init_args.name: '{name}' is not a torchvision box detector; choose one of "
                f"{', '.join(box_detectors())}."
            )
        if weights and backbone_weights:
            raise ConfigError(
                "--model.net.init_args.weights and backbone_weights: give one; whole-model weights include "
                "the backbone."
            )
        if weights and not is_weights_file(weights):
            weights_enum(name, weights)  # a misspelled name fails now, not when the weights load
        self.name, self.weights, self.backbone_weights = name, weights, backbone_weights
        self.options = dict(options or {})
        try:
            self.model = torchvision.models.get_model(
                name, weights=None, weights_backbone=None, num_classes=num_classes, **self.options
            )
        except TypeError as err:
            raise ConfigError(f"--model.net.init_args.options: {name} does not take them ({err}).") from err
        unknown = sorted(set(self.options) - builder_options(name, self.model))
        if unknown:  # torchvision passes what it does not know on, where it is silently dropped
            raise ConfigError(
                f"--model.net.init_args.options: {name} takes no {', '.join(unknown)}; it takes "
                f"{', '.join(sorted(builder_options(name, self.model)))}."
            )
        self.num_classes = num_classes
        if backbone_weights:
            self._backbone_enum()  # checked now, downloaded when the weights load
        if (weights or backbone_weights) and name.startswith(FROZEN_BN_WHEN_TRAINED):
            freeze_batch_norm(self.model.backbone)

    def _backbone_enum(self) -> Any:
        """The backbone weights, checked against the backbone the detector's builder takes."""
        builder = torchvision.models.get_model_builder(self.name)
        wanted = builder.__annotations__.get("weights_backbone") or ""
        try:
            enum = torchvision.models.get_weight(self.backbone_weights)
        except (ValueError, KeyError, AttributeError) as err:
            raise ConfigError(
                f"{BACKBONE_FLAG}: '{self.backbone_weights}' is no torchvision weights name."
            ) from err
        if type(enum).__name__ not in str(wanted):
            raise ConfigError(
                f"{BACKBONE_FLAG}: {self.backbone_weights} do not fit the backbone of {self.name} ({wanted})."
            )
        return enum

    def forward(
        self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None
    ) -> Any:
        return self.model(images, targets)

    def load_starting_weights(self) -> str:
        """Load ``weights`` (class head weights that do not fit are dropped) or ``backbone_weights``;
        returns what it did."""
        if self.backbone_weights:
            enum = self._backbone_enum()
            download_state_dict(enum, BACKBONE_FLAG)  # into the hub cache, or one line on what to do offline
            trained = torchvision.models.get_model(
                self.name, weights=None, weights_backbone=enum, num_classes=self.num_classes, **self.options
            )
            self.model.backbone.load_state_dict(trained.backbone.state_dict())
            return f"Loaded backbone weights {self.backbone_weights} into {self.name}."
        return load_starting_weights(self.model, self.name, self.weights, HEADS)
