"""The ``hello-lightning`` command: a LightningCLI whose YAML picks the task's model and data."""

from __future__ import annotations

import atexit
import os
import re
import tempfile
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lit_modules.callbacks import FiniteLoss, Interruption, MetricsJson, PredictionCsv
from lit_modules.nets.loading import weight_mismatches

# Lightning's own use of jsonargparse triggers deprecation notices a user can do nothing about.
os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")

# Values the data decides, linked to the model when the data module has them. Each name must mean the same
# to every model that can meet such data: a model taking **kwargs receives every link whose source exists.
DATA_TO_MODEL_LINKS = ("class_names", "class_counts", "vocab_size", "image_shape")
CHECKPOINT_WORDS = ("best", "last")
# A model's init argument naming pretrained weights to start from (e.g. FinetuneClassifier's). When
# --ckpt_path supplies every weight it is not loaded, so a finetuned run is tested or resumed offline.
STARTING_WEIGHTS = "weights"
# Settings that must be positive wherever they appear in a config (e.g. an optimizer's init_args.lr).
POSITIVE_KEYS = re.compile(r"lr|learning_rate|max_lr|batch_size")  # min_lr and eta_min may be 0
EXIT_INTERRUPTED = 1


def _leaves(config: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted.key, value)`` for every value in a nested config."""
    if isinstance(config, dict):
        for key, value in config.items():
            yield from _leaves(value, f"{prefix}{key}.")
    elif isinstance(config, list):
        for i, value in enumerate(config):
            yield from _leaves(value, f"{prefix}{i}.")
    else:
        yield prefix[:-1], config


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class HelloCLI(LightningCLI):
    """LightningCLI with the project's conventions built in.

    - ``--name``: runs go to ``<trainer.default_root_dir>/<name>/version_<n>/`` (TensorBoard events,
      ``config.yaml``, ``checkpoints/best.ckpt`` and ``last.ckpt``, ``metrics.json``).
    - ``--ckpt_path best`` or ``last``: the newest such checkpoint of this task; the command then writes
      into that run's folder, so ``test`` numbers land next to the ``fit`` ones.
    - ``--checkpoint.*``, ``--metrics_json.*``, ``--predictions.*``: the always-on callbacks, with
      ``Interruption`` (Ctrl-C/SIGTERM save ``last.ckpt``) and ``FiniteLoss`` (stop at a NaN loss).
    - Checked before anything is built: positive learning rates and batch sizes, a writable run folder,
      and (before running) that a ``--ckpt_path`` fits the configured model, which wins over the
      checkpoint's saved settings.
    """

    def __init__(self, args: ArgsType = None, **kwargs: Any) -> None:
        self.run_version: int | None = None
        self._configured_model: Any = None
        super().__init__(
            pl.LightningModule,
            pl.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"default_root_dir": "runs"},
            args=args,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--name",
            type=str | None,
            default=None,
            help="Task name: runs go to <default_root_dir>/<name>/version_<n>/ (default: the model class).",
        )
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best",
                "checkpoint.save_last": True,
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_lightning_class_args(MetricsJson, "metrics_json")
        parser.add_lightning_class_args(PredictionCsv, "predictions")
        parser.add_lightning_class_args(Interruption, "interruption")
        parser.add_lightning_class_args(FiniteLoss, "finite_loss")
        for key in DATA_TO_MODEL_LINKS:
            parser.link_arguments(f"data.{key}", f"model.init_args.{key}", apply_on="instantiate")
        parser.link_arguments(
            "data.num_classes", "model.init_args.net.init_args.num_classes", apply_on="instantiate"
        )

    # -- where a run lives -------------------------------------------------------------------------------
    @property
    def subcommand_config(self) -> Any:
        return self.config[self.config.subcommand] if self.config.get("subcommand") else self.config

    @property
    def task_name(self) -> str:
        config = self.subcommand_config
        if config.get("name"):
            return config.name
        model_class = str(config.model.class_path) if config.get("model") else "model"
        return _snake_case(model_class.rsplit(".", 1)[-1])

    @property
    def task_dir(self) -> Path:
        return Path(self.subcommand_config.trainer.default_root_dir) / self.task_name

    def _newest_checkpoint(self, word: str) -> Path:
        """``best``/``last`` -> the file in the highest ``version_<n>`` of this task that has it."""
        runs = sorted(
            (int(m.group(1)), d)
            for d in self.task_dir.glob("version_*")
            if (m := re.fullmatch(r"version_(\d+)", d.name))
        )
        for _, run in reversed(runs):
            if (run / "checkpoints" / f"{word}.ckpt").is_file():
                return run / "checkpoints" / f"{word}.ckpt"
        self.parser.error(
            f"--ckpt_path {word}: no {word}.ckpt under {self.task_dir}/version_*/checkpoints/. "
            f"Train first (hello-lightning fit --config ...), or pass a checkpoint file."
        )
        raise AssertionError("unreachable")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        super().parse_arguments(parser, args)
        config = self.subcommand_config
        ckpt_path = config.get("ckpt_path")
        if ckpt_path in CHECKPOINT_WORDS:
            ckpt_path = str(self._newest_checkpoint(ckpt_path))
            config.ckpt_path = ckpt_path
        if ckpt_path:
            run_dir = Path(ckpt_path).resolve().parent.parent
            if run_dir.parent == self.task_dir.resolve() and (
                m := re.fullmatch(r"version_(\d+)", run_dir.name)
            ):
                self.run_version = int(m.group(1))
        # LightningCLI next replaces the model settings by those saved in the checkpoint, silently dropping
        # the config's edits; the config is kept instead, and a checkpoint that cannot apply is named.
        self._configured_model = deepcopy(config.get("model")) if ckpt_path else None

    # -- checks before anything runs ------------------------------------------------------------------
    def before_instantiate_classes(self) -> None:
        config = self.subcommand_config
        if self._configured_model is not None:
            config.model = self._configured_model
            init_args = config.model.get("init_args")
            if init_args is not None and init_args.get(STARTING_WEIGHTS):
                init_args[STARTING_WEIGHTS] = None
        for key, value in _leaves(config.as_dict()):
            name = key.rsplit(".", 1)[-1]
            if POSITIVE_KEYS.fullmatch(name) and isinstance(value, int | float) and value <= 0:
                self.parser.error(f"--{key} must be positive, got {value}.")
        self._check_writable(Path(config.trainer.default_root_dir))

    def _check_writable(self, folder: Path) -> None:
        """Fail now, not after hours of training, when the run folder cannot be written."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as err:
            self.parser.error(
                f"--trainer.default_root_dir {folder} cannot be written ({err.strerror or err}). "
                "Pick a folder you can write to."
            )

    def _check_checkpoint_fits(self) -> None:
        """A checkpoint from another network or class count: name the mismatch, not a shape traceback."""
        ckpt_path = self.subcommand_config.get("ckpt_path")
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=False)
        problems = weight_mismatches(self.model.state_dict(), checkpoint.get("state_dict", {}))
        if not problems:
            return
        saved = checkpoint.get("hyper_parameters", {})
        changed = [
            f"{key}: checkpoint {str(saved[key])[:80]}, config {str(value)[:80]}"
            for key, value in self.model.hparams.items()
            if key in saved and str(saved[key]) != str(value)
        ]
        raise ValueError(
            f"--ckpt_path {ckpt_path} does not fit the configured model:\n  "
            + "\n  ".join(changed + problems)
            + f"\nUse the config it was trained with ({Path(ckpt_path).parent.parent / 'config.yaml'}), "
            "or start a new run without --ckpt_path."
        )

    def before_fit(self) -> None:
        self._check_checkpoint_fits()

    def before_validate(self) -> None:
        self._check_checkpoint_fits()

    def before_test(self) -> None:
        self._check_checkpoint_fits()

    def before_predict(self) -> None:
        self._check_checkpoint_fits()

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        if trainer_config.get("logger") in (None, True):
            kwargs["logger"] = TensorBoardLogger(
                save_dir=trainer_config["default_root_dir"],
                name=self.task_name,
                version=self.run_version,
                default_hp_metric=False,
            )
        return super().instantiate_trainer(**kwargs)

    def after_fit(self) -> None:
        if self.trainer.log_dir and not self.trainer.fast_dev_run:
            rank_zero_info(
                f"Run folder: {self.trainer.log_dir}\n"
                f"Test its best checkpoint: hello-lightning test --config <this config> --ckpt_path best"
            )


def destroy_process_group() -> None:
    """Tear down the DDP process group, which Lightning leaves open, if there is one.

    Left to interpreter shutdown, gloo's threads can abort a finished run ("terminate called without an
    active exception"). ``main`` runs this at exit rather than after each command, so a script that runs
    several commands in one process group keeps it until the end.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main(args: ArgsType = None) -> None:
    """Entry point of ``hello-lightning``; ``args`` lets tests and scripts run it in-process."""
    atexit.unregister(destroy_process_group)  # once per process, however often main runs
    atexit.register(destroy_process_group)
    try:
        HelloCLI(args=args)
    except SIGTERMException as stop:  # interrupted: the checkpoint is saved, but the run did not finish
        raise SystemExit(EXIT_INTERRUPTED) from stop


if __name__ == "__main__":
    main()
