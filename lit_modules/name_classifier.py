"""Surname -> language with a character-level RNN."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from lit_modules.classification import ClassificationTask
from lit_modules.nets.char_rnn import CONV_WIDTHS, CharRNN
from lit_modules.nets.ngram_bag import NgramBag


def class_weights(
    counts: Sequence[int], scheme: Literal["none", "inverse", "sqrt_inverse"]
) -> torch.Tensor | None:
    """Loss weights against class skew, normalised to mean 1; ``sqrt_inverse`` is the gentler one."""
    if scheme == "none":
        return None
    counts_t = torch.tensor(counts, dtype=torch.float).clamp(min=1)
    weights = 1.0 / counts_t if scheme == "inverse" else counts_t.rsqrt()
    return weights * len(weights) / weights.sum()


def prior_offsets(counts: Sequence[int], strength: float) -> torch.Tensor:
    """``-strength * log(class prior)``: added to the logits, it moves decisions towards the rare classes."""
    prior = torch.tensor(counts, dtype=torch.float).clamp(min=1)
    return -strength * (prior / prior.sum()).log()


def average_probabilities(member_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Logits whose softmax is the members' mean probability (a deep ensemble's prediction)."""
    if len(member_logits) == 1:
        return member_logits[0]
    log_probs = torch.stack([logits.log_softmax(dim=-1) for logits in member_logits])
    return log_probs.logsumexp(dim=0) - math.log(len(member_logits))


class NameClassifier(ClassificationTask):
    """Classify padded character sequences (with their lengths) by language.

    Args:
        vocab_size: alphabet size plus padding, linked from the data module.
        class_counts: training samples per class, linked from the data module (for class weighting).
        cell, hidden_size, num_layers, bidirectional, embedding_dim, dropout, pooling, conv_channels,
            conv_widths: see ``CharRNN``; ``embedding_dim: null`` feeds one-hot letters as the course does,
            ``conv_channels: 0`` leaves the RNN alone, without the convolutional n-gram branch.
        ngram_bag_dim, ngram_max_n, ngram_buckets: a second member, ``NgramBag`` (embedding size, longest
            n-gram, hash buckets), trained beside the RNN on the same batches, each with its own loss; the
            prediction is the mean of their probabilities. The bag shares ``dropout``; ``ngram_bag_dim: 0``
            leaves the RNN alone.
        class_weighting: weight the loss against class skew.
        label_smoothing: cross-entropy label smoothing.
        logit_adjustment: post-hoc logit adjustment (Menon et al., 2021). Outside training, the logits get
            ``-logit_adjustment * log(class prior)`` (priors from ``class_counts``), so a rare language
            wins more of the close calls: macro F1 rises for a little micro accuracy. 0 turns it off; 1
            is the full correction. Training is unchanged; predicted probabilities are then those of a
            flatter class prior.
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
        conv_channels: int = 0,
        conv_widths: tuple[int, ...] = CONV_WIDTHS,
        ngram_bag_dim: int = 0,
        ngram_max_n: int = 4,
        ngram_buckets: int = 2**14,
        class_weighting: Literal["none", "inverse", "sqrt_inverse"] = "none",
        label_smoothing: float = 0.0,
        logit_adjustment: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if class_weighting != "none" and not class_counts:
            raise ValueError("class_weighting needs class_counts (linked from the data module).")
        if logit_adjustment and not class_counts:
            raise ValueError("logit_adjustment needs class_counts (linked from the data module).")
        weights = class_weights(class_counts or [], class_weighting)
        super().__init__(loss=nn.CrossEntropyLoss(weight=weights, label_smoothing=label_smoothing), **kwargs)
        self.save_hyperparameters()
        self.net = CharRNN(
            vocab_size,
            self.num_classes,
            cell=cell,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            embedding_dim=embedding_dim,
            dropout=dropout,
            pooling=pooling,
            conv_channels=conv_channels,
            conv_widths=conv_widths,
        )
        self.ngram_bag = (
            NgramBag(vocab_size, self.num_classes, ngram_bag_dim, ngram_max_n, ngram_buckets, dropout)
            if ngram_bag_dim
            else None
        )
        offsets = prior_offsets(class_counts, logit_adjustment) if logit_adjustment else torch.zeros(())
        self.register_buffer("logit_offsets", offsets, persistent=False)

    def member_logits(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        """Each member's logits: the RNN's, then the n-gram bag's when there is one."""
        tokens, lengths = inputs
        members = [self.net(tokens, lengths)]
        if self.ngram_bag is not None:
            members.append(self.ngram_bag(tokens, lengths))
        return members

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        logits = average_probabilities(self.member_logits(inputs))
        return logits if self.training else logits + self.logit_offsets

    def logits_and_loss(
        self, inputs: tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """In training every member learns from its own loss (their mean), so each stays a whole model."""
        if not self.training:
            return super().logits_and_loss(inputs, targets)
        members = self.member_logits(inputs)
        loss = torch.stack([self.criterion(logits, targets) for logits in members]).mean()
        return average_probabilities(members), loss
