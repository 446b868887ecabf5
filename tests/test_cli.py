"""The ``hello-lightning`` CLI in-process: fit, test, predict, print_config, overrides, run folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from lit_modules.cli import HelloCLI
from tests.conftest import REPO

RMB = str(REPO / "configs" / "rmb_lenet.yaml")
NAMES = str(REPO / "configs" / "names_rnn.yaml")
QUICK = ["--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1"]


def test_fit_test_predict_share_one_run_folder(image_folder, run_cli, tmp_path: Path) -> None:
    data = ["--data.data_dir", str(image_folder(["1", "100"], per_class=10)), "--data.batch_size", "4"]
    run_cli("fit", "--config", RMB, *data, *QUICK)
    run = tmp_path / "runs" / "rmb_lenet" / "version_0"
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"best.ckpt", "last.ckpt"}
    assert (run / "config.yaml").is_file() and list(run.glob("events.out.tfevents.*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"val/acc", "val/loss", "val/macro_f1", "best_checkpoint", "epoch"} <= metrics.keys()
    assert metrics["epoch"] == 1 and Path(metrics["best_checkpoint"]).name == "best.ckpt"
    assert metrics["best_score"] >= metrics["val/acc"]  # the best is never behind the last epoch

    run_cli("test", "--config", RMB, *data, "--ckpt_path", "best")
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"val/acc", "test/acc", "test/macro_f1", "test/loss"} <= metrics.keys()
    assert metrics["epoch"] == 1  # test did not overwrite what fit recorded
    assert not (run.parent / "version_1").exists()

    predict_dir = image_folder(["x"], per_class=3, name="to_predict") / "x"
    run_cli("predict", "--config", RMB, *data, "--ckpt_path", "best", "--data.predict_dir", str(predict_dir))
    rows = list(csv.DictReader((run / "predictions.csv").open()))
    assert [Path(r["input"]).name for r in rows] == ["img_000.jpg", "img_001.jpg", "img_002.jpg"]
    assert all(r["predicted"] in {"1", "100"} and 0.5 <= float(r["probability"]) <= 1 for r in rows)
    assert all(len(r["top_k"].split("; ")) == 2 for r in rows)


def test_names_predict_gives_top3_languages(names_folder: Path, run_cli, tmp_path: Path) -> None:
    data = ["--data.data_dir", str(names_folder)]
    run_cli("fit", "--config", NAMES, *data, *QUICK)
    output = tmp_path / "guesses.csv"
    names = ["--data.predict_names", "[Abcx, Zoaxski]", "--predictions.output", str(output)]
    run_cli("predict", "--config", NAMES, *data, "--ckpt_path", "last", *names)
    rows = list(csv.DictReader(output.open()))
    assert [r["input"] for r in rows] == ["Abcx", "Zoaxski"]
    assert all(len(r["top_k"].split("; ")) == 3 for r in rows)


def test_data_decides_classes_and_vocabulary(names_folder: Path, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", NAMES, "--data.data_dir", str(names_folder), "--trainer.fast_dev_run", "true"
    )
    assert cli.model.class_names == ["Alpha", "Beta", "Gamma"]
    assert cli.model.net.rnn.head.out_features == 3 and cli.model.net.bag.head.out_features == 3
    assert cli.model.net.rnn.vocab_size == cli.datamodule.vocab_size


def test_overrides_reach_model_data_and_trainer(image_folder, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", RMB, "--data.data_dir", str(image_folder()), "--data.batch_size", "3",
        "--model.net.init_args.norm", "batch", "--model.optimizer.init_args.lr", "0.5",
        "--trainer.fast_dev_run", "true",
    )  # fmt: skip
    assert cli.datamodule.batch_size == 3
    assert any(type(m).__name__ == "BatchNorm2d" for m in cli.model.modules())
    assert cli.trainer.optimizers[0].param_groups[0]["initial_lr"] == 0.5


def test_print_config_gives_a_complete_editable_config(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        HelloCLI(args=["fit", "--config", RMB, "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["init_args"]["optimizer"]["class_path"] == "torch.optim.SGD"
    assert printed["data"]["init_args"]["batch_size"] == 16
    assert printed["checkpoint"]["filename"] == "best" and printed["name"] == "rmb_lenet"


def test_misspelled_key_gets_the_cli_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        HelloCLI(args=["fit", "--config", RMB, "--data.batchsize", "3"])
    assert exit_info.value.code != 0
    assert "batchsize" in capsys.readouterr().err


def test_best_without_a_run_says_train_first(capsys, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        HelloCLI(
            args=["test", "--config", RMB, "--trainer.default_root_dir", str(tmp_path), "--ckpt_path", "best"]
        )
    assert "no best.ckpt under" in capsys.readouterr().err


def test_missing_data_dir_fails_before_training(run_cli, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"(?s)nowhere does not exist.*--data.data_dir"):
        run_cli("fit", "--config", RMB, "--data.data_dir", str(tmp_path / "nowhere"))


def test_a_recipe_runs_on_your_own_classes(image_folder, run_cli) -> None:
    data = [
        "--data",
        "datamodules.ImageFolderDataModule",
        "--data.data_dir",
        str(image_folder(["x", "y", "z"])),
    ]
    cli = run_cli("fit", "--config", RMB, *data, "--trainer.fast_dev_run", "true")
    assert cli.model.class_names == ["x", "y", "z"] and cli.model.net.classifier[-1].out_features == 3
    assert cli.datamodule.augment is not None  # the recipe's augmentation carried over to the new data class


def test_any_network_that_takes_num_classes_plugs_in(image_folder, run_cli) -> None:
    data = [
        "--data",
        "datamodules.ImageFolderDataModule",
        "--data.data_dir",
        str(image_folder(["x", "y", "z"])),
    ]
    data += ["--data.image_size", "64"]
    cli = run_cli(
        "fit", "--config", RMB, *data, "--data.augment", "null", "--model.net", "torchvision.models.AlexNet",
        "--trainer.fast_dev_run", "true",
    )  # fmt: skip
    assert type(cli.model.net).__name__ == "AlexNet" and cli.model.net.classifier[-1].out_features == 3


def test_saved_config_shows_the_logger_and_learning_rates_are_logged(image_folder, run_cli, tmp_path) -> None:
    run_cli("fit", "--config", RMB, "--data.data_dir", str(image_folder()), *QUICK)
    run = tmp_path / "runs" / "rmb_lenet" / "version_0"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    logger = saved["trainer"]["logger"]
    assert logger["class_path"] == "lightning.pytorch.loggers.TensorBoardLogger"
    assert (
        logger["init_args"]["save_dir"] == str(tmp_path / "runs")
        and logger["init_args"]["name"] == "rmb_lenet"
    )
    assert saved["lr_monitor"]["logging_interval"] == "epoch"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run)).Reload()
    assert any(tag.startswith("lr-SGD") for tag in events.Tags()["scalars"])
    # One training step an epoch (16 photos, batch 16), logs written every step: one point per epoch each.
    steps, epochs = events.Scalars("train/loss_step"), events.Scalars("train/loss_epoch")
    assert [e.step for e in steps] == [0, 1] and len(epochs) == len(events.Scalars("train/acc")) == 2
    assert epochs[0].value == pytest.approx(steps[0].value)  # the epoch's mean of its one step


def test_without_a_logger_the_run_still_trains(image_folder, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", RMB, "--data.data_dir", str(image_folder()), "--trainer.logger", "false",
        "--trainer.max_epochs", "1",
    )  # fmt: skip
    assert cli.trainer.state.finished and not cli.trainer.loggers


def test_null_for_a_network_argument_works_as_a_flag(names_folder: Path, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", NAMES, "--data.data_dir", str(names_folder), "--trainer.fast_dev_run", "true",
        "--model.net.init_args.embedding_dim", "null", "--model.net.init_args.hidden_size=16",
    )  # fmt: skip
    rnn = cli.model.net.rnn
    assert rnn.embedding is None and rnn.rnn.hidden_size == 16 and rnn.rnn.bidirectional  # the rest is kept
