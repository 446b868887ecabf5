"""The shared classifier step: the epoch's training numbers are sample-weighted over the whole epoch."""

from __future__ import annotations

import functools

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lit_modules.classification import ClassificationTask


def test_train_acc_and_loss_are_the_epoch_means_over_samples(tmp_path) -> None:
    """With a learning rate of 0 the network stays as it started, so the epoch's numbers can be computed
    again afterwards; 10 samples in batches of 4 make an uneven last batch, where a mean over batches (or
    any other total) differs from the mean over samples."""
    torch.manual_seed(0)
    inputs, targets = torch.randn(10, 6), torch.tensor([0, 1, 1, 0, 1, 1, 1, 0, 0, 1])
    model = ClassificationTask(
        nn.Linear(6, 2), ["a", "b"], optimizer=functools.partial(torch.optim.SGD, lr=0.0)
    )
    trainer = pl.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, DataLoader(TensorDataset(inputs, targets), batch_size=4))
    with torch.no_grad():
        logits = model.net(inputs)
    expected_acc = (logits.argmax(-1) == targets).float().mean().item()
    batch_accs = [(logits[i : i + 4].argmax(-1) == targets[i : i + 4]).float().mean() for i in (0, 4, 8)]
    assert abs(torch.stack(batch_accs).mean().item() - expected_acc) > 1e-3  # the two means differ here
    assert trainer.callback_metrics["train/acc"].item() == pytest.approx(expected_acc, abs=1e-6)
    expected_loss = nn.functional.cross_entropy(logits, targets).item()
    assert trainer.callback_metrics["train/loss_epoch"].item() == pytest.approx(expected_loss, abs=1e-5)
