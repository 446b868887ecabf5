"""What the course-style baselines share: a data set that decodes each JPEG with PIL every time it is read."""

from __future__ import annotations

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms


class CourseImages(Dataset):
    """Labelled samples (``.path``, ``.label``) read the course's way: open, decode and transform per item."""

    def __init__(self, samples: list, transform: transforms.Compose) -> None:
        self.samples, self.transform = samples, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        return self.transform(Image.open(sample.path).convert("RGB")), sample.label
