"""Surname -> language with a character-level RNN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from lit_modules.classification import ClassificationTask
from lit_modules.nets.char_rnn import CharRNN


def class_weights(
    counts: Sequence[int], scheme: Literal["none", "inverse", "sqrt_inverse"]
) -> torch.Tensor | None:
    """Loss weights against class skew, normalised to mean 1; ``sqrt_inverse`` is the gentler one."""
    if scheme == "none":
        return None
    counts_t = torch.tensor(counts, dtype=torch.float).clamp(min=1)
    weights = 1.0 / counts_t if scheme == "inverse" else counts_t.rsqrt()
    return weights * len(weights) / weights.sum()


class NameClassifier(ClassificationTask):
    """Classify padded character sequences (with their lengths) by language.

    Args:
        vocab_size: alphabet size plus padding, linked from the data module.
        class_counts: training samples per class, linked from the data module (for class weighting).
        cell, hidden_size, num_layers, bidirectional, embedding_dim, dropout, pooling: see ``CharRNN``;
            ``embedding_dim: null`` feeds one-hot letters as the course does.
        class_weighting: weight the loss against class skew.
        label_smoothing: cross-entropy label smoothing.
        **kwargs: see ``ClassificationTask`` (class names, optimizer, scheduler).
    """

    def __init__(
        self,
        vocab_size: int,
        class_counts: list[int] | None = None,
        cell: Literal["rnn", "gru", "lstm"] = "gru",
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        embedding_dim: int | None = None,
        dropout: float = 0.0,
        pooling: Literal["last", "max"] = "last",
        class_weighting: Literal["none", "inverse", "sqrt_inverse"] = "none",
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if class_weighting != "none" and not class_counts:
            raise ValueError("class_weighting needs class_counts (linked from the data module).")
        weights = class_weights(class_counts or [], class_weighting)
        super().__init__(loss=nn.CrossEntropyLoss(weight=weights, label_smoothing=label_smoothing), **kwargs)
        self.save_hyperparameters()
        self.net = CharRNN(
            vocab_size,
            self.num_classes,
            cell,
            hidden_size,
            num_layers,
            bidirectional,
            embedding_dim,
            dropout,
            pooling,
        )

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tokens, lengths = inputs
        return self.net(tokens, lengths)
