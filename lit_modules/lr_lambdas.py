"""Factors for ``torch.optim.lr_scheduler.LambdaLR``, as classes so a YAML can name them."""

from __future__ import annotations


class LinearWarmup:
    """Multiply the learning rate by ``(epoch + 1) / warmup_epochs`` until it reaches 1, then keep 1."""

    def __init__(self, warmup_epochs: int = 5) -> None:
        if warmup_epochs < 1:
            raise ValueError(f"warmup_epochs must be at least 1, got {warmup_epochs}.")
        self.warmup_epochs = warmup_epochs

    def __call__(self, epoch: int) -> float:
        return min(1.0, (epoch + 1) / self.warmup_epochs)
