"""The UNet: shapes, its arguments, and a course-layout checkpoint dict loading through the one loader."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from lit_modules.nets import UNet
from lit_modules.nets.loading import load_weights


class CourseUNet(nn.Module):
    """The course's UNet as its lesson writes it (attribute and layer names included), sigmoid output."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, init_features: int = 32) -> None:
        super().__init__()
        f = init_features
        self.encoder1 = self._block(in_channels, f, "enc1")
        self.pool1 = nn.MaxPool2d(2, 2)
        self.encoder2 = self._block(f, f * 2, "enc2")
        self.pool2 = nn.MaxPool2d(2, 2)
        self.encoder3 = self._block(f * 2, f * 4, "enc3")
        self.pool3 = nn.MaxPool2d(2, 2)
        self.encoder4 = self._block(f * 4, f * 8, "enc4")
        self.pool4 = nn.MaxPool2d(2, 2)
        self.bottleneck = self._block(f * 8, f * 16, "bottleneck")
        self.upconv4 = nn.ConvTranspose2d(f * 16, f * 8, 2, 2)
        self.decoder4 = self._block(f * 16, f * 8, "dec4")
        self.upconv3 = nn.ConvTranspose2d(f * 8, f * 4, 2, 2)
        self.decoder3 = self._block(f * 8, f * 4, "dec3")
        self.upconv2 = nn.ConvTranspose2d(f * 4, f * 2, 2, 2)
        self.decoder2 = self._block(f * 4, f * 2, "dec2")
        self.upconv1 = nn.ConvTranspose2d(f * 2, f, 2, 2)
        self.decoder1 = self._block(f * 2, f, "dec1")
        self.conv = nn.Conv2d(f, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc1 = self.encoder1(x)
        enc2 = self.encoder2(self.pool1(enc1))
        enc3 = self.encoder3(self.pool2(enc2))
        enc4 = self.encoder4(self.pool3(enc3))
        bottleneck = self.bottleneck(self.pool4(enc4))
        dec4 = self.decoder4(torch.cat((self.upconv4(bottleneck), enc4), dim=1))
        dec3 = self.decoder3(torch.cat((self.upconv3(dec4), enc3), dim=1))
        dec2 = self.decoder2(torch.cat((self.upconv2(dec3), enc2), dim=1))
        dec1 = self.decoder1(torch.cat((self.upconv1(dec2), enc1), dim=1))
        return torch.sigmoid(self.conv(dec1))

    @staticmethod
    def _block(in_channels: int, features: int, name: str) -> nn.Sequential:
        return nn.Sequential(
            OrderedDict(
                [
                    (name + "conv1", nn.Conv2d(in_channels, features, 3, padding=1, bias=False)),
                    (name + "norm1", nn.BatchNorm2d(features)),
                    (name + "relu1", nn.ReLU(inplace=True)),
                    (name + "conv2", nn.Conv2d(features, features, 3, padding=1, bias=False)),
                    (name + "norm2", nn.BatchNorm2d(features)),
                    (name + "relu2", nn.ReLU(inplace=True)),
                ]
            )
        )


def test_course_checkpoint_dict_loads_and_predicts_the_same(tmp_path: Path) -> None:
    torch.manual_seed(0)
    course = CourseUNet(init_features=8)
    optimizer = torch.optim.SGD(course.parameters(), lr=0.01, momentum=0.9)
    course(torch.rand(2, 3, 32, 32) * 255).mean().backward()  # trained a step: running stats, momentum
    optimizer.step()
    path = tmp_path / "checkpoint_best.pkl"
    checkpoint = {
        "model_state_dict": course.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "epoch": 12,
    }
    torch.save(checkpoint, path)
    net = UNet(num_classes=1, features=8)
    extras = load_weights(net, path)  # strict: every name and shape fits
    assert extras["epoch"] == 12 and "skipped" not in extras
    x = torch.rand(2, 3, 32, 32) * 255
    course.eval(), net.eval()
    assert torch.allclose(torch.sigmoid(net(x)), course(x), atol=1e-6)


def test_a_checkpoint_of_another_width_is_named_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "wide.pkl"
    torch.save({"model_state_dict": CourseUNet(init_features=8).state_dict(), "epoch": 1}, path)
    with pytest.raises(ValueError, match="encoder1.enc1conv1.weight: file has shape"):
        load_weights(UNet(features=4), path)


@pytest.mark.parametrize(("num_classes", "depth", "norm"), [(1, 4, "batch"), (3, 2, "group"), (2, 3, "none")])
def test_one_logit_map_per_class_at_the_input_size(num_classes: int, depth: int, norm: str) -> None:
    net = UNet(num_classes=num_classes, features=4, depth=depth, norm=norm)
    assert net(torch.rand(2, 3, 32, 48)).shape == (2, num_classes, 32, 48)
    assert sum(name.startswith("encoder") for name, _ in net.named_children()) == depth
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert all((m.bias is None) == (norm != "none") for m in convs)


def test_sizes_the_pooling_cannot_halve_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="divisible by 16, got \\(30, 32\\)"):
        UNet(features=2)(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="depth >= 1"):
        UNet(depth=0)
