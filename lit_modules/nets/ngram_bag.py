"""A bag of hashed character n-grams: the fastText classifier (Joulin et al., 2017) over letters."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lit_modules.nets.errors import ConfigError

HASH_MULTIPLIER = 0x9E3779B1  # odd (Knuth's constant); with power-of-two buckets it only relabels them


def hashed_ngrams(
    tokens: torch.Tensor, lengths: torch.Tensor, vocab_size: int, max_n: int, buckets: int
) -> torch.Tensor:
    """Bucket ids of each name's 1..max_n letter n-grams, begin and end marked; ``buckets`` fills the rest.

    Letters are indices ``1..vocab_size-1`` (0 pads). A marker (index ``vocab_size``) goes before the first
    and after the last letter, so ``<mc`` (a prefix) and ``ez>`` (a suffix) are n-grams of their own. An
    n-gram read as a number in base ``vocab_size + 1`` is unique; that number times ``HASH_MULTIPLIER``,
    modulo ``buckets``, is its bucket.
    Returns ``(B, L)`` ids; windows that reach into the padding get ``buckets``.
    """
    marker = vocab_size
    base = vocab_size + 1
    rows = torch.arange(len(tokens), device=tokens.device)
    framed = F.pad(tokens, (1, 1))
    framed[:, 0] = marker
    framed[rows, lengths.to(tokens.device) + 1] = marker
    ids = []
    for n in range(1, max_n + 1):
        windows = framed.unfold(1, n, 1)  # (B, T + 3 - n, n)
        codes = (windows * base ** torch.arange(n, device=tokens.device)).sum(-1)
        buckets_of = (codes * HASH_MULTIPLIER).remainder(buckets)
        ids.append(buckets_of.masked_fill((windows == 0).any(-1), buckets))
    return torch.cat(ids, dim=1)


class NgramBag(nn.Module):
    """Average the embeddings of a name's hashed letter n-grams, then classify linearly.

    Where an RNN reads a name letter by letter, this model only asks which n-grams occur (``-ez``,
    ``-escu``, ``<mc``), so it errs on other names, and the two average to a better guess than either.
    N-grams that hash to the same one of the ``buckets`` share an embedding.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 64,
        max_n: int = 4,
        buckets: int = 2**14,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if max_n < 1:
            raise ConfigError(f"max_n must be at least 1 (letters alone), got {max_n}.")
        self.vocab_size = vocab_size
        self.max_n = max_n
        self.buckets = buckets
        self.bag = nn.EmbeddingBag(buckets + 1, embedding_dim, mode="mean", padding_idx=buckets)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(embedding_dim, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids = hashed_ngrams(tokens, lengths, self.vocab_size, self.max_n, self.buckets)
        return self.head(self.dropout(self.bag(ids)))
