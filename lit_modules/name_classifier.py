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


class LogitAdjustedCrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy on ``logits + tau * log(prior)`` while training, plain cross-entropy in eval mode.

    Training against the prior-shifted logits makes the raw logits favour rare classes just enough to
    balance them (logit adjustment), which raises macro scores with less loss of accuracy than weighting.
    """

    def __init__(self, counts: Sequence[int], tau: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        prior = torch.tensor(counts, dtype=torch.float).clamp(min=1)
        self.register_buffer("offset", tau * (prior / prior.sum()).log())

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return super().forward(logits + self.offset if self.training else logits, targets)


class NameClassifier(ClassificationTask):
    """Classify padded character sequences (with their lengths) by language.

    Args:
        vocab_size: alphabet size plus padding, linked from the data module.
        class_counts: training samples per class, linked from the data module (for class weighting).
        cell, hidden_size, num_layers, bidirectional, embedding_dim, dropout, pooling: see ``CharRNN``;
            ``embedding_dim: null`` feeds one-hot letters as the course does.
        class_weighting: weight the loss against class skew.
        logit_adjustment: ``tau`` of logit-adjusted training against class skew (0 turns it off).
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
        logit_adjustment: float = 0.0,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if (class_weighting != "none" or logit_adjustment) and not class_counts:
            raise ValueError("class_weighting and logit_adjustment need class_counts (linked from the data).")
        weights = class_weights(class_counts or [], class_weighting)
        if logit_adjustment:
            loss = LogitAdjustedCrossEntropy(
                class_counts, logit_adjustment, weight=weights, label_smoothing=label_smoothing
            )
        else:
            loss = nn.CrossEntropyLoss(weight=weights, label_smoothing=label_smoothing)
        super().__init__(loss=loss, **kwargs)
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
