"""Workarounds for framework behaviour that public API cannot reach, in one place, so each can be deleted
when its cause is fixed. Each names its cause and the versions it covers; ``tests/test_compat.py`` and the
tests it names fail once a workaround is no longer needed.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities.exceptions import _TunerExitException


# Lightning 2.6 (2.6.6 checked): ModelCheckpoint(save_last=True) writes last.ckpt only at a step where it also
# writes a top-k checkpoint, so once the monitored score stops improving last.ckpt stays behind (before 2.6
# it followed every save); and save_on_exception writes the state at the error under the best
# checkpoint's name. No public method saves "last" alone. Pinned by
# tests/test_last_checkpoint.py::test_lightning_save_last_follows_the_best_at_epoch_ends and
# ::test_lightning_save_on_exception_uses_the_best_name.
def save_last_checkpoint(callback: ModelCheckpoint, trainer: pl.Trainer) -> None:
    """Write ``callback``'s ``last.ckpt`` now, as its own save points do."""
    callback._save_last_checkpoint(trainer, callback._monitor_candidates(trainer))


def skips_saving(callback: ModelCheckpoint, trainer: pl.Trainer) -> bool:
    """Whether ``callback`` saves nothing now (fast_dev_run, not fitting, sanity check, saved already)."""
    return callback._should_skip_saving_checkpoint(trainer)


def saves_on_exception(callback: ModelCheckpoint, trainer: pl.Trainer) -> bool:
    """Whether ``callback`` saves at an exception now (``save_on_exception``, and not saved at this step)."""
    return callback._should_save_on_exception(trainer)


# Lightning issue #20866 (open; 2.5-2.6): with manual optimization each backward reaches one network only,
# which DDP must be told about before it wraps the model, and DDPStrategy has no public setter for it once
# built (an overlay's strategy: ddp builds it without). Checked by tests/test_compat.py.
def find_unused_parameters(strategy: DDPStrategy) -> None:
    """Let DDP tolerate parameters without gradients in a step; call before the model is wrapped."""
    strategy._ddp_kwargs["find_unused_parameters"] = True


# Lightning 2.0-2.6: a callback cannot end fit cleanly after tuning; Lightning's own LearningRateFinder and
# BatchSizeFinder raise this exception, which the Trainer treats as a normal end. Checked by
# tests/test_compat.py.
def end_fit_after_tuning() -> NoReturn:
    raise _TunerExitException()


# argparse (every version): no public way to change the help of an argument a parser already holds, and
# LightningCLI adds each subcommand's --ckpt_path after add_arguments_to_parser. Checked by
# tests/test_compat.py.
def set_subcommand_help(parser: argparse.ArgumentParser, dest: str, text: str) -> None:
    """Give ``dest`` in every subcommand of ``parser`` the help ``text``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                for sub_action in subparser._actions:
                    if sub_action.dest == dest:
                        sub_action.help = text
