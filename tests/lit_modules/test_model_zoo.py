"""Every torchvision classification model can be a finetune backbone: built with random weights, one batch."""

from __future__ import annotations

import pytest
import torch
import torchvision

from lit_modules.nets import TorchvisionClassifier
from lit_modules.nets.torchvision_classifier import AUX_HEADS, classification_models

# Over 7 s each to build and run one batch on one CPU thread (vit_l_16: 52 s): 19 of the 82 models.
TOO_LARGE = {
    "convnext_base", "convnext_large", "efficientnet_v2_l", "regnet_x_32gf", "regnet_y_32gf",
    "regnet_y_128gf",
    "resnext101_32x8d", "resnext101_64x4d", "swin_b", "swin_v2_b", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "vit_b_16", "vit_h_14", "vit_l_16", "vit_l_32", "wide_resnet101_2",
}  # fmt: skip
NEEDS_224 = ("vit_", "maxvit_")  # fixed position embeddings / window partitions
NEEDS_75 = ("inception_v3",)


def input_size(name: str) -> int:
    return 224 if name.startswith(NEEDS_224) else 80 if name in NEEDS_75 else 64


@pytest.mark.parametrize("name", classification_models())
def test_every_model_builds_and_trains_on_one_batch(name: str) -> None:
    if name in TOO_LARGE:
        pytest.skip(f"{name} is too large to build in a fast test")
    torch.manual_seed(0)
    net = TorchvisionClassifier(num_classes=3, name=name).train()
    size = input_size(name)
    logits = net(torch.randn(2, 3, size, size))
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 3)  # aux heads give no tuple
    logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters())  # no unused parameters (DDP would stall)
    assert net.backbone_blocks() and net.head is not None


@pytest.mark.parametrize("name", list(AUX_HEADS))
def test_pretrained_aux_head_weights_are_dropped_on_load(name: str, tmp_path) -> None:
    pretrained = torchvision.models.get_model(name, weights=None, aux_logits=True, init_weights=False)
    torch.save(pretrained.state_dict(), tmp_path / "pretrained.pth")
    net = TorchvisionClassifier(num_classes=2, name=name, weights=str(tmp_path / "pretrained.pth"))
    report = net.load_starting_weights()
    assert "dropped head weights" in report and f"{AUX_HEADS[name][0]}." in report
    assert not any(key.startswith(AUX_HEADS[name]) for key in net.model.state_dict())
