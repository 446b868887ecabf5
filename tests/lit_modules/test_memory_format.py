"""Channels-last: the tasks' switch puts every convolution on NHWC tensors and computes the same outputs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lit_modules import DetectionTask, ImageClassifier, SegmentationTask
from lit_modules.memory_format import use_channels_last
from lit_modules.nets import LeNet, TorchvisionDetector, UNet

SMALL = {"min_size": 32, "max_size": 32}  # the detector resizes its images to 32 px


def conv_inputs(net: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """The input of every convolution of ``net`` during one call on ``images``."""
    seen: list[torch.Tensor] = []
    handles = [
        layer.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
        for layer in net.modules()
        if isinstance(layer, nn.Conv2d)
    ]
    net(images)
    for handle in handles:
        handle.remove()
    return seen


def test_use_channels_last_runs_every_convolution_on_nhwc_and_computes_the_same() -> None:
    torch.manual_seed(0)
    plain = UNet(num_classes=1, features=4, depth=2).eval()
    nhwc = use_channels_last(copy.deepcopy(plain))
    images = torch.randn(2, 3, 32, 32)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in nhwc.parameters() if p.dim() == 4)
    inputs = conv_inputs(nhwc, images)
    assert len(inputs) == sum(isinstance(layer, nn.Conv2d) for layer in nhwc.modules())
    assert all(x.is_contiguous(memory_format=torch.channels_last) for x in inputs)
    assert not all(x.is_contiguous(memory_format=torch.channels_last) for x in conv_inputs(plain, images))
    torch.testing.assert_close(nhwc(images), plain(images), rtol=1e-4, atol=1e-5)
    nhwc.load_state_dict(plain.state_dict())  # checkpoints load into either layout
    plain.load_state_dict(nhwc.state_dict())


IMAGES = torch.randn(2, 3, 32, 32)


@pytest.mark.parametrize(
    ("task", "images"),
    [
        (
            lambda flag: ImageClassifier(LeNet(num_classes=2), class_names=["a", "b"], channels_last=flag),
            IMAGES,
        ),
        (lambda flag: SegmentationTask(UNet(num_classes=1, features=4, depth=2), channels_last=flag), IMAGES),
        (  # a list of images, batched inside the detector
            lambda flag: DetectionTask(TorchvisionDetector(num_classes=2, options=SMALL), channels_last=flag),
            list(IMAGES),
        ),
    ],
    ids=["ImageClassifier", "SegmentationTask", "DetectionTask"],
)
def test_the_tasks_switch_puts_every_convolution_on_nhwc(task, images) -> None:
    for flag in (False, True):
        inputs = conv_inputs(task(flag).net.eval(), images)
        assert inputs[0].is_contiguous(memory_format=torch.channels_last) is flag
        if flag:
            assert all(x.is_contiguous(memory_format=torch.channels_last) for x in inputs)
