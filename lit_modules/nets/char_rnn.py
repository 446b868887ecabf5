"""A character-level recurrent classifier over padded index sequences, packed inside."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lit_modules.nets.errors import ConfigError

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
CONV_WIDTHS = (2, 3, 4, 5)  # letters seen by each filter of the n-gram branch


class NgramConv(nn.Module):
    """Convolutions of several widths over the letters, max-pooled over time: learned n-gram detectors.

    The branch reads the letters through its own embedding (or one-hot when ``embedding_dim`` is None).
    Padding (index 0) is zeroed before and ignored after the convolution, so the result does not depend
    on how much padding follows a name.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int | None, channels: int, widths: Sequence[int]
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0) if embedding_dim else None
        in_channels = embedding_dim or vocab_size
        self.convs = nn.ModuleList(nn.Conv1d(in_channels, channels, w, padding=w // 2) for w in widths)
        self.out_features = channels * len(widths)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        padding = tokens == 0  # (B, T)
        if self.embedding is not None:
            x = self.embedding(tokens)
        else:
            x = F.one_hot(tokens, self.vocab_size).float().masked_fill(padding[..., None], 0.0)
        x = x.transpose(1, 2)  # (B, C, T)
        steps = tokens.shape[1]
        pooled = [
            F.relu(conv(x)[..., :steps]).masked_fill(padding[:, None, :], 0.0).amax(dim=2)
            for conv in self.convs
        ]
        return torch.cat(pooled, dim=1)


class CharRNN(nn.Module):
    """Embed (or one-hot) characters, run an RNN/GRU/LSTM, classify a summary of the sequence.

    ``pooling="last"`` classifies the last hidden state(s), as the course does; ``"max"`` takes the
    element-wise maximum of the outputs over time, so every position can contribute.

    ``conv_channels > 0`` adds an ``NgramConv`` branch beside the RNN: ``conv_channels`` filters per width
    in ``conv_widths``, whose pooled features are concatenated with the RNN's summary. Short letter
    patterns (``-ez``, ``-escu``, ``Mc``) are what a surname's language shows most, and a convolution
    picks them out directly, wherever they sit in the name.

    Index 0 is padding. ``lengths`` must be a CPU tensor (packing needs it there; keeping it there avoids
    a device-to-host copy every step).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cell: Literal["rnn", "gru", "lstm"] = "gru",
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        embedding_dim: int | None = None,
        dropout: float = 0.0,
        pooling: Literal["last", "max"] = "last",
        conv_channels: int = 0,
        conv_widths: Sequence[int] = CONV_WIDTHS,
    ) -> None:
        super().__init__()
        if pooling not in ("last", "max"):
            raise ConfigError(f"Unknown pooling '{pooling}'; choose last or max.")
        self.vocab_size = vocab_size
        self.pooling = pooling
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0) if embedding_dim else None
        self.rnn = CELLS[cell](
            input_size=embedding_dim or vocab_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.ngrams = (
            NgramConv(vocab_size, embedding_dim, conv_channels, conv_widths) if conv_channels else None
        )
        self.dropout = nn.Dropout(dropout)
        summary_size = hidden_size * (2 if bidirectional else 1)
        self.head = nn.Linear(summary_size + (self.ngrams.out_features if self.ngrams else 0), num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.embedding(tokens)
        else:
            x = F.one_hot(tokens, self.vocab_size).float()
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, hidden = self.rnn(packed)
        if self.pooling == "max":
            padded, _ = pad_packed_sequence(outputs, batch_first=True, padding_value=float("-inf"))
            summary = padded.max(dim=1).values
        else:
            if isinstance(hidden, tuple):  # LSTM returns (h, c)
                hidden = hidden[0]
            summary = torch.cat([hidden[-2], hidden[-1]], dim=1) if self.rnn.bidirectional else hidden[-1]
        if self.ngrams is not None:
            summary = torch.cat([summary, self.ngrams(tokens)], dim=1)
        return self.head(self.dropout(summary))
