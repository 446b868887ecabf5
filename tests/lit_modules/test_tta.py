"""Test-time augmentation: FiveCrop/TenCrop views, their logits averaged, on for test and predict only."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.transforms.v2 import functional as F

from lit_modules import ImageClassifier
from lit_modules.tta import averaged_logits, crops


def test_views_are_the_corners_centre_and_mirrors_resized_back() -> None:
    images = torch.rand(2, 3, 16, 16)
    five, ten = crops(images, "five_crop", 0.75), crops(images, "ten_crop", 0.75)
    assert five.shape == (5, 2, 3, 16, 16) and ten.shape == (10, 2, 3, 16, 16)
    centre = F.resize(images[..., 2:14, 2:14], [16, 16], antialias=True)
    torch.testing.assert_close(five[4], centre)
    torch.testing.assert_close(ten[9], centre.flip(-1))


def test_logits_are_averaged_over_the_views_in_one_pass() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    images = torch.rand(3, 3, 8, 8)
    views = crops(images, "ten_crop", 0.5)
    expected = torch.stack([net(view) for view in views]).mean(0)
    torch.testing.assert_close(averaged_logits(net, images, "ten_crop", 0.5), expected)
    assert torch.equal(averaged_logits(net, images, "none", 0.5), net(images))


def test_predict_uses_the_views_and_training_does_not() -> None:
    sizes: list[int] = []
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    net.register_forward_pre_hook(lambda m, inputs: sizes.append(len(inputs[0])))
    model = ImageClassifier(net=net, class_names=["a", "b"], tta="five_crop")
    images = torch.rand(4, 3, 8, 8)
    probs = model.predict_step((images, torch.arange(4)), 0)["probs"]
    assert probs.shape == (4, 2) and sizes == [20]
    model.logits_and_loss(images, torch.zeros(4, dtype=torch.long))
    assert sizes == [20, 4]


def test_tta_refuses_inputs_that_are_not_images() -> None:
    with pytest.raises(ValueError, match="--model.tta five_crop needs batches of"):
        crops(torch.rand(2, 5), "five_crop", 0.875)


def test_a_crop_fraction_outside_0_1_is_refused_when_the_module_is_built() -> None:
    from lit_modules import ImageClassifier
    from lit_modules.nets import LeNet
    from lit_modules.nets.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--model.tta_crop must be in \(0, 1\], got 1.5"):
        ImageClassifier(net=LeNet(num_classes=2), class_names=["a", "b"], tta="five_crop", tta_crop=1.5)
