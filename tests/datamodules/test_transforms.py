"""The course's salt-and-pepper noise as a v2 transform, and normalization round trips."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2

from datamodules.transforms import IMAGENET_MEAN, IMAGENET_STD, SaltPepperNoise, denormalize, normalize_batch


def test_salt_and_pepper_changes_the_expected_fraction_in_all_channels() -> None:
    torch.manual_seed(0)
    image = torch.full((3, 200, 200), 128, dtype=torch.uint8)
    noisy = SaltPepperNoise(snr=0.8, p=1.0)(image)
    changed = (noisy != 128).any(dim=0)
    assert 0.18 < changed.float().mean() < 0.22
    assert ((noisy == 0).all(dim=0) | (noisy == 255).all(dim=0))[changed].all()  # same pixel in every channel
    assert abs((noisy[0] == 0).float().mean() - (noisy[0] == 255).float().mean()) < 0.02


def test_salt_and_pepper_respects_p_and_float_images() -> None:
    image = torch.full((3, 8, 8), 0.5)
    assert torch.equal(SaltPepperNoise(snr=0.5, p=0.0)(image), image)
    noisy = SaltPepperNoise(snr=0.0, p=1.0)(image)
    assert set(noisy.unique().tolist()) <= {0.0, 1.0}
    assert isinstance(v2.Compose([SaltPepperNoise(0.9, 1.0), v2.RandomHorizontalFlip()])(image), torch.Tensor)
    with pytest.raises(ValueError, match="snr"):
        SaltPepperNoise(snr=1.5)


def test_normalize_then_denormalize_round_trips() -> None:
    images = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    back = denormalize(normalize_batch(images, IMAGENET_MEAN, IMAGENET_STD), IMAGENET_MEAN, IMAGENET_STD)
    assert torch.allclose(back, images.float() / 255, atol=1e-6)
