"""What a module's saved hyperparameters keep: settings, not objects."""

from __future__ import annotations

from lightning.pytorch.core.mixins import HyperparametersMixin

SETTINGS = (str, int, float, bool, type(None), list, tuple, dict)


def keep_settings_only(module: HyperparametersMixin) -> None:
    """Drop the networks, optimizer callables and losses a module built in Python was given.

    Through the CLI a module's hyperparameters are its config (class paths and values), which
    ``load_from_checkpoint`` rebuilds from; built in Python they would be the objects themselves, pickled
    into every checkpoint, where torch's safe loading refuses them. Pass those objects to
    ``load_from_checkpoint`` again instead.
    """
    module.remove_ignored_hparams([k for k, v in module.hparams.items() if not isinstance(v, SETTINGS)])
