"""Surname -> language: the training policy against heavily skewed classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from lit_modules.classification import ClassificationTask
from lit_modules.hparams import keep_settings_only
from lit_modules.nets.char_ensemble import average_probabilities
from lit_modules.nets.errors import ConfigError


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


class NameClassifier(ClassificationTask):
    """Classify padded character sequences (with their lengths) by language.

    The network takes ``(tokens, lengths)``: ``lit_modules.nets.CharRNN``, or ``CharEnsemble`` (an RNN and
    an n-gram bag), whose members each learn from their own loss in training (their mean), so each stays
    a whole model.

    Args:
        net: the network; ``vocab_size`` and ``num_classes`` are linked from the data module.
        class_counts: training samples per class, linked from the data module (for class weighting).
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
        net: nn.Module,
        class_counts: list[int] | None = None,
        class_weighting: Literal["none", "inverse", "sqrt_inverse"] = "none",
        label_smoothing: float = 0.0,
        logit_adjustment: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if class_weighting != "none" and not class_counts:
            raise ConfigError("class_weighting needs class_counts (linked from the data module).")
        if logit_adjustment and not class_counts:
            raise ConfigError("logit_adjustment needs class_counts (linked from the data module).")
        weights = class_weights(class_counts or [], class_weighting)
        loss = nn.CrossEntropyLoss(weight=weights, label_smoothing=label_smoothing)
        super().__init__(net=net, loss=loss, **kwargs)
        self.save_hyperparameters()
        keep_settings_only(self)
        offsets = prior_offsets(class_counts, logit_adjustment) if logit_adjustment else torch.zeros(())
        self.register_buffer("logit_offsets", offsets, persistent=False)

    def member_logits(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        """Each member's logits where the network is an ensemble; else the network's own."""
        if hasattr(self.net, "member_logits"):
            return self.net.member_logits(*inputs)
        return [self.net(*inputs)]

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        logits = self.net(*inputs)
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
