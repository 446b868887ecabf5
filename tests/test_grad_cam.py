"""``grad_cam`` against an independent reference (no hooks: the network split by hand) and against CAM."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import AlexNet, resnet18

from lit_modules.callbacks import cam_with_logits, grad_cam
from lit_modules.nets import LeNet, SmallCNN


def normalised(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """ReLU, bilinear upsampling and min-max scaling of (N, h, w) maps, one image at a time."""
    maps = F.interpolate(maps.relu()[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    out = []
    for m in maps:
        span = m.max() - m.min()
        out.append((m - m.min()) / span if span > 0 else torch.zeros_like(m))
    return torch.stack(out)


def reference(head: nn.Module, tail: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM by its definition: activations as a leaf tensor, class-score gradients by backward."""
    activations = head(images).detach().requires_grad_(True)
    tail(activations.clone()).gather(1, targets[:, None]).sum().backward()  # clone: tails may start in place
    weights = activations.grad.mean(dim=(2, 3))
    return normalised(torch.einsum("nc,nchw->nhw", weights, activations.detach()), images.shape[-2:])


def lenet() -> tuple[nn.Module, nn.Module, nn.Module, nn.Module, int]:
    net = LeNet(3)
    return net, net.features[4], net.features[:5], nn.Sequential(net.features[5:], net.classifier), 32


def alex() -> tuple[nn.Module, nn.Module, nn.Module, nn.Module, int]:
    # features.11 is ReLU(inplace=True): the target's output is overwritten downstream
    net = AlexNet(num_classes=4)
    tail = nn.Sequential(net.features[11:], net.avgpool, nn.Flatten(), net.classifier)
    return net, net.features[10], net.features[:11], tail, 64


def resnet() -> tuple[nn.Module, nn.Module, nn.Module, nn.Module, int]:
    net = resnet18(num_classes=5)
    head = nn.Sequential(*list(net.children())[:-2])
    return net, net.layer4, head, nn.Sequential(net.avgpool, nn.Flatten(), net.fc), 64


def small_cnn_relu() -> tuple[nn.Module, nn.Module, nn.Module, nn.Module, int]:
    net = SmallCNN(2, widths=(8, 16))  # features.12 is the last ReLU(inplace=True)
    return net, net.features[12], net.features[:13], nn.Sequential(net.features[13:], net.classifier), 40


def small_cnn_conv() -> tuple[nn.Module, nn.Module, nn.Module, nn.Module, int]:
    net = SmallCNN(2, widths=(8, 16))
    return net, net.features[10], net.features[:11], nn.Sequential(net.features[11:], net.classifier), 40


@pytest.mark.parametrize("build", [lenet, alex, resnet, small_cnn_relu, small_cnn_conv])
def test_grad_cam_matches_reference(build) -> None:
    torch.manual_seed(0)
    net, layer, head, tail, size = build()
    for module in net.modules():  # non-trivial normalization statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    net.eval()
    images = torch.randn(3, 3, size, size)
    with torch.no_grad():
        logits = net(images)
    chosen = torch.randint(0, logits.shape[1], (3,))
    for targets, expected_targets in ((None, logits.argmax(1)), (chosen, chosen)):
        maps = grad_cam(net, layer, images, targets)
        assert maps.shape == (3, size, size)
        assert maps.min() >= 0 and maps.max() <= 1
        torch.testing.assert_close(maps, reference(head, tail, images, expected_targets), atol=1e-5, rtol=0)


def test_grad_cam_equals_cam_on_global_average_pool_head() -> None:
    torch.manual_seed(1)
    net = SmallCNN(3, widths=(8, 16)).eval()
    images = torch.randn(4, 3, 36, 36)
    targets = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        features = net.features(images)
    weights = net.classifier[-1].weight[targets]  # (N, C): the linear head's weights of each target class
    cam = normalised(torch.einsum("nc,nchw->nhw", weights, features), (36, 36))
    torch.testing.assert_close(grad_cam(net, net.features, images, targets), cam, atol=1e-5, rtol=0)


def test_grad_cam_leaves_the_model_as_it_found_it() -> None:
    net = SmallCNN(2, widths=(8, 16)).train()
    net.features[1].eval()  # a frozen norm layer stays in eval mode
    for p in net.features[:3].parameters():
        p.requires_grad_(False)
    net.features[0].register_forward_hook(lambda *args: None)
    flags = [p.requires_grad for p in net.parameters()]
    modes = [m.training for m in net.modules()]
    hooks = [(len(m._forward_hooks), len(m._backward_hooks)) for m in net.modules()]
    with torch.inference_mode():  # as in a validation loop
        images = torch.randn(2, 3, 32, 32)
    maps = grad_cam(net, net.features[3], images)
    assert maps.shape == (2, 32, 32) and maps.amax(dim=(1, 2)).gt(0).all()
    assert [p.requires_grad for p in net.parameters()] == flags
    assert [m.training for m in net.modules()] == modes
    assert [(len(m._forward_hooks), len(m._backward_hooks)) for m in net.modules()] == hooks
    assert all(p.grad is None for p in net.parameters())


def test_grad_cam_rejects_a_layer_without_feature_maps() -> None:
    net = LeNet(2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        grad_cam(net, net.classifier[1], torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("build", [lenet, resnet, small_cnn_conv])
@pytest.mark.parametrize("via", ["tensor_hook", "backward_hook"])
def test_grad_cam_from_hooks_equals_grad_cam_from_autograd(build, via: str) -> None:
    """The hook lesson's two ways of catching a layer's gradient give the maps torch.autograd.grad gives."""
    torch.manual_seed(0)
    net, layer, _, _, size = build()
    images = torch.randn(3, 3, size, size)
    expected = grad_cam(net, layer, images)
    torch.testing.assert_close(grad_cam(net, layer, images, via=via), expected, atol=1e-6, rtol=0)
    assert all(not m._backward_hooks and not m._forward_hooks for m in net.modules())


@pytest.mark.parametrize("build", [resnet, small_cnn_conv])
def test_cam_equals_grad_cam_on_global_average_pool_head(build) -> None:
    torch.manual_seed(2)
    net, _, _, _, size = build()
    images, targets = torch.randn(3, 3, size, size), torch.tensor([1, 0, 1])
    feature_layer = net.layer4 if hasattr(net, "layer4") else net.features
    maps, logits = cam_with_logits(net, images, targets)
    torch.testing.assert_close(maps, grad_cam(net, feature_layer, images, targets), atol=1e-5, rtol=0)
    assert logits.shape == (3, net(images[:1]).shape[1])


def test_cam_refuses_a_network_without_a_global_pool_head() -> None:
    with pytest.raises(ValueError, match="global-average pool.*Use GradCAM"):
        cam_with_logits(LeNet(2), torch.randn(1, 3, 32, 32))
