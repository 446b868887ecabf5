"""A character-level recurrent classifier over padded index sequences, packed inside."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class CharRNN(nn.Module):
    """Embed (or one-hot) characters, run an RNN/GRU/LSTM, classify a summary of the sequence.

    ``pooling="last"`` classifies the last hidden state(s), as the course does; ``"max"`` takes the
    element-wise maximum of the outputs over time, so every position can contribute.

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
    ) -> None:
        super().__init__()
        if pooling not in ("last", "max"):
            raise ValueError(f"Unknown pooling '{pooling}'; choose last or max.")
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
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

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
        return self.head(self.dropout(summary))
