"""Where a decoded-once image cache lives: on the accelerator when it fits, else on the host (memory-mapped
from the disk cache, or in this process's memory)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import Dataset

CacheLocation = Literal["disk", "host", "device"]
FolderCacheLocation = Literal["disk", "host", "device", "stream"]  # class folders can also stream
DEVICE_SHARE = 0.5  # the cache may take at most this share of the accelerator's free memory


def cache_device(location: CacheLocation, device: torch.device, nbytes: int) -> torch.device:
    """The device to hold ``nbytes`` of cached images on.

    ``"device"`` gives the training device when the cache takes at most half its free memory (CUDA), and
    the host otherwise, with a warning: batches then leave the loader's workers in pinned memory.
    """
    if location != "device" or device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if nbytes <= DEVICE_SHARE * free:
            return device
        reason = f"{nbytes / 2**30:.1f} GiB of images is over half of the {free / 2**30:.1f} GiB free"
    else:
        reason = f"free memory cannot be read on {device.type}"
    rank_zero_warn(f"--data.cache device: keeping the images in host memory ({reason}).")
    return torch.device("cpu")


def passthrough(batch: Any) -> Any:
    """Collate function for data sets whose ``__getitems__`` already returns a whole batch."""
    return batch


class TensorRows(Dataset):
    """The rows of one tensor; a batch of indices is one indexing, wherever the tensor lives."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor

    def __len__(self) -> int:
        return len(self.tensor)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.tensor[index]

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        return self.tensor[torch.tensor(indices, device=self.tensor.device)]
