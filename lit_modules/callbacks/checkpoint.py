"""``best.ckpt`` and ``last.ckpt``: Lightning's ModelCheckpoint, with ``last.ckpt`` the newest state."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_modules.callbacks.finite_loss import NonFiniteLossError
from lit_modules.compat import save_last_checkpoint, saves_on_exception, skips_saving
from lit_modules.nets.errors import ConfigError


class BestAndLastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` is the state at the end of every training epoch.

    Lightning 2.6 writes ``last.ckpt`` (``save_last=True``) only at a step where it also writes a top-k
    checkpoint, so once the monitored metric stops improving ``last.ckpt`` stops moving and holds the same
    early state as the best one. Here, after Lightning's own saving at the end of each training epoch
    (which comes after that epoch's validation, if any), ``last.ckpt`` is written too unless it was just
    written at this step. Under DDP every process takes the same decision and only rank 0 writes, as for
    Lightning's own saves. The best checkpoint keeps Lightning's meaning, with two guards:

    - ``save_on_exception`` writes ``last.ckpt`` only: Lightning would also write the state at the error
      under the best checkpoint's name (``best.ckpt``), replacing the best weights. After a non-finite
      loss it writes nothing: those weights are broken, and ``last.ckpt`` keeps the last good state.
    - ``save_last="link"`` is refused: a link can only point at a file saved at the same step, which is not
      the newest state once the metric stops improving.
    """

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("save_last") == "link":
            raise ConfigError(
                "--checkpoint.save_last link would point last.ckpt at the newest best checkpoint, not the "
                "newest state; use --checkpoint.save_last true."
            )
        super().__init__(**kwargs)

    @property
    def state_key(self) -> str:
        # Lightning's own key: runs saved with a plain ModelCheckpoint resume their best and last paths.
        return ModelCheckpoint.__qualname__ + super().state_key.removeprefix(type(self).__qualname__)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.save_last and not skips_saving(self, trainer):
            save_last_checkpoint(self, trainer)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if saves_on_exception(self, trainer) and not isinstance(exception, NonFiniteLossError):
            save_last_checkpoint(self, trainer)
