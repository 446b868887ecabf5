"""The learning-rate range test by Lightning's own ``LearningRateFinder``, its plot in the run folder."""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import LearningRateFinder
from lightning.pytorch.utilities import rank_zero_info

from lit_modules.callbacks.run_folder import run_folder
from lit_modules.compat import end_fit_after_tuning


class LRRangeTest(LearningRateFinder):
    """Raise the learning rate step by step from ``min_lr`` to ``max_lr`` over ``num_training_steps`` batches,
    record the loss, and save the curve with Lightning's suggestion to ``<run folder>/lr_find.png``.

    The weights are restored afterwards and the configured optimizer keeps its learning rate (the modules
    take the optimizer as a callable, so there is no ``lr`` attribute to update): read the plot, then set
    ``--model.optimizer.init_args.lr``. ``then_fit``: go on to train after the test instead of stopping.
    Other args: ``lightning.pytorch.callbacks.LearningRateFinder``.
    """

    def __init__(
        self,
        min_lr: float = 1e-6,
        max_lr: float = 1.0,
        num_training_steps: int = 100,
        mode: str = "exponential",
        early_stop_threshold: float | None = 4.0,
        then_fit: bool = False,
    ) -> None:
        super().__init__(min_lr, max_lr, num_training_steps, mode, early_stop_threshold, update_attr=False)
        self.then_fit = then_fit

    def lr_find(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().lr_find(trainer, pl_module)
        if self.optimal_lr is not None and trainer.is_global_zero:
            path = (run_folder(trainer) or trainer.default_root_dir) / "lr_find.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.optimal_lr.plot(suggest=True).savefig(path, dpi=80)
            rank_zero_info(
                f"Learning-rate range test: suggested lr {self.optimal_lr.suggestion()}; plot {path}"
            )
        if not self.then_fit:
            end_fit_after_tuning()
