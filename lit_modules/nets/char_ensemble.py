"""A CharRNN and, beside it, a bag of letter n-grams: two views of a name whose probabilities are averaged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lit_modules.nets.char_rnn import CharRNN
from lit_modules.nets.ngram_bag import NgramBag


def average_probabilities(member_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Logits whose softmax is the members' mean probability (a deep ensemble's prediction)."""
    if len(member_logits) == 1:
        return member_logits[0]
    log_probs = torch.stack([logits.log_softmax(dim=-1) for logits in member_logits])
    return log_probs.logsumexp(dim=0) - math.log(len(member_logits))


class CharEnsemble(nn.Module):
    """``CharRNN`` plus an optional ``NgramBag`` over the same padded letters, averaged in probability.

    Each member is a whole classifier; ``member_logits`` gives them apart, so a training policy can let each
    learn from its own loss (``NameClassifier`` does).

    Args:
        vocab_size, num_classes: linked from the data module.
        ngram_bag_dim, ngram_max_n, ngram_buckets: the bag's embedding size, longest n-gram and hash buckets;
            ``ngram_bag_dim: 0`` leaves the RNN alone.
        dropout: dropout of both members.
        **rnn_args: see ``CharRNN`` (cell, hidden_size, bidirectional, embedding_dim, pooling, conv_channels).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        ngram_bag_dim: int = 0,
        ngram_max_n: int = 4,
        ngram_buckets: int = 2**14,
        dropout: float = 0.0,
        **rnn_args: Any,
    ) -> None:
        super().__init__()
        self.rnn = CharRNN(vocab_size, num_classes, dropout=dropout, **rnn_args)
        self.bag = (
            NgramBag(vocab_size, num_classes, ngram_bag_dim, ngram_max_n, ngram_buckets, dropout)
            if ngram_bag_dim
            else None
        )

    def member_logits(self, tokens: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Each member's logits: the RNN's, then the bag's when there is one."""
        members = [self.rnn(tokens, lengths)]
        if self.bag is not None:
            members.append(self.bag(tokens, lengths))
        return members

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return average_probabilities(self.member_logits(tokens, lengths))
