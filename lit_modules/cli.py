"""The ``hello-lightning`` command: a LightningCLI whose YAML picks the task's model, network and data."""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch.distributed as dist
from jsonargparse import Namespace
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException

from datamodules.errors import DataError
from lit_modules.callbacks import (
    BestAndLastCheckpoint,
    ConfigRecord,
    DataSummary,
    DiscardUnstartedRun,
    FiniteLoss,
    HparamsWithMetrics,
    Interruption,
    MetricsJson,
    NonFiniteLossError,
    PredictionCsv,
    TestConfusionMatrix,
)
from lit_modules.checkpoint_io import AtomicCheckpointIO
from lit_modules.clean_exit import user_errors_exit
from lit_modules.cli_help import CKPT_PATH_HELP, HelpFormatter, description
from lit_modules.compat import set_subcommand_help
from lit_modules.config_checks import (
    checkpoint_misfit,
    non_positive_settings,
    unloadable_checkpoint,
    unwritable,
)
from lit_modules.nets.errors import ConfigError
from lit_modules.parse_errors import OneLineErrorParser
from lit_modules.runs import CHECKPOINT_WORDS, newest_checkpoint, snake_case, version_of_checkpoint

# Lightning's own use of jsonargparse triggers deprecation notices a user can do nothing about.
os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
# The errors a user can fix: main prints their message alone.
USER_ERRORS = (DataError, ConfigError, NonFiniteLossError)

# Values the data decides, linked into the model: (data module attribute, model argument). A link applies
# when the data module has the attribute, so a data module offers only what its task's model takes.
DATA_TO_MODEL = (
    ("class_names", "model.init_args.class_names"),
    ("class_counts", "model.init_args.class_counts"),
    ("num_classes", "model.init_args.net.init_args.num_classes"),
    ("vocab_size", "model.init_args.net.init_args.vocab_size"),
    ("input_shape", "model.init_args.input_shape"),
    ("image_shape", "model.init_args.generator.init_args.image_shape"),
    ("image_shape", "model.init_args.discriminator.init_args.image_shape"),
)
# One line instead of every option's name, above a parse error: `<subcommand> --help` lists the options.
SUBCOMMAND_USAGE = "%(prog)s --config CONFIG [--<key> <value> ...]"
DEFAULT_LOGGER = "lightning.pytorch.loggers.TensorBoardLogger"
BATCH_LIMITS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches")
EXIT_INTERRUPTED = 1
NULLS = ("null", "None")


def no_lightning_tip(record: logging.LogRecord) -> bool:
    return "LitLogger" not in record.getMessage()


def quiet_unactionable_notices() -> None:
    """Silence what a user can do nothing about: the deprecation of torch's pytree ``LeafSpec`` that Lightning
    triggers, and Lightning's advertisement for its cloud logger. Idempotent."""
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(no_lightning_tip)


def nested_nulls_as_json(args: list[str]) -> list[str]:
    """``--model.net.init_args.pooling null`` -> ``--model.net '{"init_args": {"pooling": null}}'``.

    jsonargparse (4.53) reads ``null`` in a flag nested inside a class's ``init_args`` as the text "None"
    (or rejects it for ``int | None``); the same value given as JSON for the class is read right.
    """
    rewritten: list[str] = []
    pending = list(args)
    while pending:
        arg = pending.pop(0)
        flag, eq, value = arg.partition("=")
        if not eq and pending and ".init_args." in flag and pending[0] in NULLS:
            value = pending.pop(0)
        if ".init_args." in flag and flag.startswith("--") and value in NULLS:
            owner, name = flag.rsplit(".init_args.", 1)
            if "." not in name:
                rewritten += [owner, json.dumps({"init_args": {name: None}})]
                continue
        rewritten += [arg, value] if not eq and value else [arg]
    return rewritten


def whole_batch_counts(trainer: Namespace) -> None:
    """``--trainer.limit_*_batches 20`` -> 20 batches, as Lightning means an int.

    jsonargparse (4.53) reads every such value as a float, and Lightning refuses a fraction above 1. A whole
    number above 1 can only be a count; 1 stays 1.0, every batch.
    """
    for key in BATCH_LIMITS:
        value = trainer.get(key)
        if isinstance(value, float) and value > 1 and value.is_integer():
            trainer[key] = int(value)


class HelloCLI(LightningCLI):
    """LightningCLI with the project's conventions built in.

    - ``--name``: runs go to ``<trainer.default_root_dir>/<name>/version_<n>/`` (TensorBoard events,
      ``config.yaml``, ``checkpoints/best.ckpt`` and ``last.ckpt``, ``metrics.json``).
    - ``--ckpt_path best`` or ``last``: the newest such checkpoint of this task; the command then writes
      into that run's folder, so ``test`` numbers land next to the ``fit`` ones.
    - Always on, each configurable by its flags: ``--checkpoint.*``, ``--lr_monitor.*``,
      ``--metrics_json.*``, ``--predictions.*``, ``Interruption`` (Ctrl-C/SIGTERM save ``last.ckpt``),
      ``FiniteLoss`` (stop at a NaN loss), ``DataSummary`` (what the data holds, after ``setup``),
      ``DiscardUnstartedRun`` (no run folder left by a failure before the first step),
      ``--hparams_metrics.*`` (hyperparameters with the final metrics, for TensorBoard's HParams tab) and
      ``--test_confusion_matrix.*`` (a classifier's test confusion matrix). The TensorBoard logger is the
      default ``--trainer.logger``.
    - ``--test_after_fit true``: ``fit`` ends by testing its best checkpoint in the same process, so
      ``metrics.json`` holds the test numbers after one start-up.
    - Checkpoints are written atomically (``AtomicCheckpointIO``); ``config.yaml`` records ``fit``, and a
      later command in the same run folder writes its own ``<command>_config.yaml`` (``ConfigRecord``).
    - Checked before anything is built: positive learning rates and batch sizes, a writable run folder,
      and (before running) that a ``--ckpt_path`` fits the configured model, which wins over the
      checkpoint's saved settings.
    """

    def __init__(self, args: ArgsType = None, **kwargs: Any) -> None:
        quiet_unactionable_notices()
        self.run_version: int | None = None
        self.checkpoint: str | None = None
        super().__init__(
            pl.LightningModule,
            pl.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            save_config_callback=ConfigRecord,
            parser_class=OneLineErrorParser,
            trainer_defaults={"default_root_dir": "runs"},
            parser_kwargs={
                "description": description(),
                "formatter_class": HelpFormatter,
                **{name: {"usage": SUBCOMMAND_USAGE} for name in self.subcommands()},
                **kwargs.pop("parser_kwargs", {}),
            },
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
        parser.add_lightning_class_args(BestAndLastCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best",
                "checkpoint.save_last": True,
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.set_defaults({"lr_monitor.logging_interval": "epoch"})
        parser.add_lightning_class_args(MetricsJson, "metrics_json")
        parser.add_lightning_class_args(PredictionCsv, "predictions")
        parser.add_lightning_class_args(Interruption, "interruption")
        parser.add_lightning_class_args(FiniteLoss, "finite_loss")
        parser.add_lightning_class_args(DataSummary, "data_summary")
        parser.add_lightning_class_args(DiscardUnstartedRun, "discard_unstarted_run")
        parser.add_lightning_class_args(HparamsWithMetrics, "hparams_metrics")
        parser.add_lightning_class_args(TestConfusionMatrix, "test_confusion_matrix")
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=False,
            help="fit only: end by testing the best checkpoint (the last weights in a fast_dev_run).",
        )
        for source, target in DATA_TO_MODEL:
            parser.link_arguments(f"data.{source}", target, apply_on="instantiate")

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
        return snake_case(model_class.rsplit(".", 1)[-1])

    @property
    def task_dir(self) -> Path:
        return Path(self.subcommand_config.trainer.default_root_dir) / self.task_name

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        set_subcommand_help(parser, "ckpt_path", CKPT_PATH_HELP)
        if isinstance(args, dict | Namespace):
            self.config = parser.parse_object(args)
        else:
            self.config = parser.parse_args(
                nested_nulls_as_json(sys.argv[1:] if args is None else list(args))
            )
        config = self.subcommand_config
        ckpt_path = config.get("ckpt_path")
        if ckpt_path in CHECKPOINT_WORDS:
            found = newest_checkpoint(self.task_dir, ckpt_path)
            if found is None:
                self.parser.error(
                    f"--ckpt_path {ckpt_path}: no {ckpt_path}.ckpt under "
                    f"{self.task_dir}/version_*/checkpoints/. "
                    "Train first (hello-lightning fit --config ...), or pass a checkpoint file."
                )
            ckpt_path = config.ckpt_path = str(found)
        if ckpt_path and not Path(ckpt_path).is_file():
            self.parser.error(f"--ckpt_path {ckpt_path}: no such file. Pass a .ckpt file, best or last.")
        if ckpt_path and (problem := unloadable_checkpoint(ckpt_path)):
            self.parser.error(problem)
        if not ckpt_path:
            return
        self.run_version = version_of_checkpoint(ckpt_path, self.task_dir)
        # LightningCLI next re-reads the model settings saved in a checkpoint over the config's, silently
        # dropping its edits and importing whatever classes the file names. The path is held back until
        # then: the config given wins, and a checkpoint that cannot apply is named before running.
        self.checkpoint, config.ckpt_path = ckpt_path, None

    # -- before anything is built --------------------------------------------------------------------------
    def before_instantiate_classes(self) -> None:
        config = self.subcommand_config
        if self.checkpoint:
            config.ckpt_path = self.checkpoint
        problems = non_positive_settings(config.as_dict())
        problems += filter(None, [unwritable(Path(config.trainer.default_root_dir))])
        if problems:
            self.parser.error("\n".join(problems))
        whole_batch_counts(config.trainer)
        self._place_logger(config.trainer)

    def _place_logger(self, trainer: Namespace) -> None:
        """TensorBoard unless the config names loggers; each one writes into this run's folder.

        A logger with run folders (TensorBoard, CSV) writes to ``<root>/<task>/version_<n>/``; MLflow (a
        logger with ``experiment_name``) to the local store ``<root>/<task>/mlruns``, experiment ``<task>``.
        """
        if trainer.logger in (None, True):
            trainer.logger = Namespace(
                class_path=DEFAULT_LOGGER, init_args=Namespace(default_hp_metric=False)
            )
        loggers = trainer.logger if isinstance(trainer.logger, list) else [trainer.logger]
        for logger in loggers:
            if isinstance(logger, Namespace) and logger.get("init_args") is not None:
                if "experiment_name" in logger.init_args:
                    # MLflow 3 refuses its file store unless asked: it needs no server and no database.
                    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
                    logger.init_args.save_dir = str(self.task_dir / "mlruns")
                    logger.init_args.experiment_name = self.task_name
                    continue
                run = {
                    "save_dir": trainer.default_root_dir,
                    "name": self.task_name,
                    "version": self.run_version,
                }
                for key, value in run.items():
                    if key in logger.init_args or logger.class_path == DEFAULT_LOGGER:
                        logger.init_args[key] = value

    def _dump_config(self) -> None:
        """Lightning (2.6) records linked values under ``<argument>.init_args`` in the module's saved
        hyperparameters and fails where a network's every argument is linked (no ``init_args`` at all)."""
        super()._dump_config()
        model_args = self.config_dump.get("model", {}).get("init_args", {})
        for value in model_args.values():
            if isinstance(value, dict) and "class_path" in value:
                value.setdefault("init_args", {})

    def _check_checkpoint_fits(self) -> None:
        ckpt_path = self.subcommand_config.get("ckpt_path")
        if ckpt_path and Path(ckpt_path).is_file():
            problem = checkpoint_misfit(ckpt_path, self.model, self.model.hparams)
            if problem:
                raise ConfigError(problem)

    def before_fit(self) -> None:
        self._check_checkpoint_fits()

    def before_validate(self) -> None:
        self._check_checkpoint_fits()

    def before_test(self) -> None:
        self._check_checkpoint_fits()

    def before_predict(self) -> None:
        self._check_checkpoint_fits()

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        """The configured Trainer, with checkpoints written atomically unless the config picks a
        ``CheckpointIO``; a setting the Trainer refuses (``--trainer.max_epochs -3``) is one message."""
        configured = self.config_init[self.subcommand].trainer.get("plugins") if self.subcommand else None
        if configured is None:
            plugins = []
        else:
            plugins = list(configured) if isinstance(configured, list | tuple) else [configured]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            plugins.append(AtomicCheckpointIO())
        try:
            trainer = super().instantiate_trainer(plugins=plugins, **kwargs)
        except MisconfigurationException as err:
            raise ConfigError(f"--trainer: {err}") from err
        if not trainer.loggers:  # --trainer.logger false: nothing to log learning rates to
            trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, LearningRateMonitor)]
        return trainer

    def after_fit(self) -> None:
        best = getattr(self.trainer.checkpoint_callback, "best_model_path", "")
        fast_dev_run = bool(self.trainer.fast_dev_run)
        tested = self.subcommand_config.get("test_after_fit") and not self.trainer.interrupted
        if tested and (best or fast_dev_run):  # a run stopped before its first checkpoint has none to test
            self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None)
        if best and not fast_dev_run:
            run = Path(best).parent.parent
            command = f"hello-lightning test --config {run / 'config.yaml'} --ckpt_path {best}"
            rank_zero_info(
                f"Run folder: {run}\n"
                f"{'Test numbers in metrics.json; to test again' if tested else 'To test it'}: {command}"
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
        with user_errors_exit(USER_ERRORS):
            HelloCLI(args=args)
    except SIGTERMException as stop:  # interrupted: the checkpoint is saved, but the run did not finish
        raise SystemExit(EXIT_INTERRUPTED) from stop


if __name__ == "__main__":
    main()
