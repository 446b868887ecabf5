"""Bad numbers, bad settings, bad disks, resumes that cannot apply: each stops early with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from datamodules.image_cache import decode_images
from lit_modules.callbacks import NonFiniteLossError
from tests.conftest import REPO, write_class_folders

RMB = str(REPO / "configs" / "rmb_lenet.yaml")
# 16 training images in batches of 4: 4 steps an epoch.
TINY = ["--config", RMB, "--trainer.max_epochs", "2", "--data.batch_size", "4"]


@pytest.fixture
def rmb_data(tmp_path: Path) -> str:
    return str(write_class_folders(tmp_path / "rmb", ("1", "100"), per_class=10))


def parse_error(run_cli, capsys, *args: str) -> str:
    """The message of a run the CLI refuses before any training."""
    with pytest.raises(SystemExit) as stop:
        run_cli("fit", *args)
    assert stop.value.code != 0
    return capsys.readouterr().err


# -- bad numbers -------------------------------------------------------------------------------------------
def test_nan_loss_stops_at_its_step_and_keeps_the_good_checkpoint(run_cli, rmb_data, tmp_path) -> None:
    nan_from_step_6 = [
        "--model.init_args.loss",
        "tests.fault_hooks.NanLossAfter",
        "--model.init_args.loss.calls",
        "6",
    ]
    with pytest.raises(NonFiniteLossError) as stop:
        run_cli("fit", *TINY, "--data.data_dir", rmb_data, *nan_from_step_6)
    last = tmp_path / "runs" / "rmb_lenet" / "version_0" / "checkpoints" / "last.ckpt"
    message = str(stop.value)
    assert "nan at epoch 1, batch 1 (global step 6)" in message
    assert f"Last good checkpoint: {last}" in message
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == 4  # the end of epoch 0, not overwritten by the bad step
    assert all(torch.isfinite(w).all() for w in saved["state_dict"].values())


@pytest.mark.parametrize(
    ("flag", "value", "key"),
    [
        ("--model.init_args.optimizer.init_args.lr", "0", "model.init_args.optimizer.init_args.lr"),
        ("--model.init_args.optimizer.init_args.lr", "-0.01", "model.init_args.optimizer.init_args.lr"),
        ("--data.batch_size", "0", "data.init_args.batch_size"),
    ],
)
def test_non_positive_settings_are_refused_at_parse_time(flag, value, key, run_cli, capsys, tmp_path) -> None:
    err = parse_error(
        run_cli, capsys, "--config", RMB, "--data.data_dir", str(tmp_path / "absent"), flag, value
    )
    assert f"--{key} must be positive, got {value}" in err


# -- disk and data surprises -----------------------------------------------------------------------------
def test_unwritable_output_folder_is_reported_before_training(run_cli, capsys, rmb_data, tmp_path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    err = parse_error(
        run_cli, capsys, *TINY, "--data.data_dir", rmb_data, "--trainer.default_root_dir", f"{blocker}/runs"
    )
    assert f"--trainer.default_root_dir {blocker}/runs cannot be written" in err


def test_images_spoiled_after_setup_do_not_stop_training(run_cli, rmb_data) -> None:
    """Images are decoded once at setup: deleting or corrupting the files afterwards changes nothing."""
    spoil = json.dumps(
        {"class_path": "tests.fault_hooks.SpoilImagesOnFitStart", "init_args": {"folder": rmb_data}}
    )
    cli = run_cli("fit", *TINY, "--data.data_dir", rmb_data, f"--trainer.callbacks+={spoil}",
                  "--test_after_fit", "false")  # a test would scan the spoiled folder again  # fmt: skip
    assert cli.trainer.state.finished and cli.trainer.global_step == 8
    assert not any(p.read_bytes().startswith(b"\xff\xd8") for p in Path(rmb_data).rglob("*.jpg"))


def test_image_gone_between_scan_and_decode_is_skipped_and_reported(rmb_data) -> None:
    paths = sorted(Path(rmb_data).rglob("*.jpg"))[:3]
    paths[1].unlink()
    decoded = decode_images(paths, (32, 32))
    assert decoded.kept == [0, 2]
    assert list(decoded.skipped) == [paths[1]] and decoded.skipped[paths[1]].startswith("unreadable")


# -- config surprises ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--model.init_args.no_such_setting", "1"], "no_such_setting"),
        (["--trainer.max_epochs", "many"], "max_epochs"),
        (["--model.init_args.net", "lit_modules.nets.NoSuchNet"], "lit_modules.nets.NoSuchNet"),
    ],
    ids=["unknown_key", "wrong_type", "class_path_does_not_import"],
)
def test_config_mistakes_get_the_cli_error_naming_the_key(args, named, run_cli, capsys, tmp_path) -> None:
    err = parse_error(run_cli, capsys, "--config", RMB, "--data.data_dir", str(tmp_path), *args)
    assert named in err


def test_unknown_key_in_a_yaml_is_named(run_cli, capsys, tmp_path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("trainer:\n  max_epoch: 3\n")  # a typo of max_epochs
    err = parse_error(run_cli, capsys, "--config", RMB, "--config", str(overlay))
    assert "max_epoch" in err


# -- resume after edits --------------------------------------------------------------------------------
def test_resume_with_another_network_or_class_count_names_the_mismatch(run_cli, rmb_data, tmp_path) -> None:
    one_epoch = ["--config", RMB, "--trainer.max_epochs", "1", "--data.batch_size", "8"]
    run_cli("fit", *one_epoch, "--data.data_dir", rmb_data)
    three_classes = str(write_class_folders(tmp_path / "abc", ("a", "b", "c"), per_class=6))
    with pytest.raises(ValueError, match="does not fit the configured model") as stop:
        run_cli("fit", *one_epoch, "--data.class_path", "datamodules.ImageFolderDataModule",
                "--data.data_dir", three_classes, "--ckpt_path", "last")  # fmt: skip
    assert "class_names: checkpoint ['1', '100'], config ['a', 'b', 'c']" in str(stop.value)
    assert "classifier.9.weight: file has shape (2, 84), network expects (3, 84)" in str(stop.value)
    with pytest.raises(ValueError, match="does not fit the configured model") as stop:
        run_cli("fit", *one_epoch, "--data.data_dir", rmb_data, "--ckpt_path", "last",
                "--model.init_args.net", "lit_modules.nets.SmallCNN")  # fmt: skip
    assert "net: checkpoint" in str(stop.value) and "SmallCNN" in str(stop.value)
    assert "config.yaml" in str(stop.value)
