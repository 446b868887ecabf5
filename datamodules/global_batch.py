"""``--data.batch_size`` is the global batch: under DDP each process loads its share of it."""

from __future__ import annotations

from datamodules.errors import DataError


def per_device_batch_size(batch_size: int, world_size: int) -> int:
    """``batch_size / world_size``, or a clear error when the global batch does not split evenly."""
    if batch_size % world_size:
        lower, upper = batch_size // world_size * world_size, (batch_size // world_size + 1) * world_size
        raise DataError(
            f"--data.batch_size {batch_size} is the global batch and must divide evenly across the "
            f"{world_size} processes of this run (devices x nodes). Use a multiple of {world_size}, e.g. "
            f"{upper}" + (f" or {lower}" if lower else "") + "."
        )
    return batch_size // world_size


class GlobalBatchSize:
    """Mixin for a LightningDataModule with a ``batch_size``: the batch of one optimizer step, all devices
    together. Loaders use ``device_batch_size``; ``setup`` calls ``check_batch_size`` to fail fast.

    Keeping the global batch fixed keeps a recipe's optimization the same on 1, 2 or 8 devices.
    """

    batch_size: int

    @property
    def device_batch_size(self) -> int:
        trainer = getattr(self, "trainer", None)
        return per_device_batch_size(self.batch_size, trainer.world_size if trainer is not None else 1)

    def check_batch_size(self) -> int:
        """The per-device batch; raises now, before any data is read, if the global batch does not split."""
        return self.device_batch_size
