"""The logger overlays (configs/logger/), the quick-check presets (configs/trainer/), the HParams record."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lit_modules.cli import whole_batch_counts
from tests.conftest import REPO

RMB = str(REPO / "configs" / "rmb_lenet.yaml")
ONE_EPOCH = ["--trainer.max_epochs", "1", "--test_after_fit", "false"]


def overlay(folder: str, name: str) -> list[str]:
    return ["--config", str(REPO / "configs" / folder / f"{name}.yaml")]


def test_csv_overlay_writes_metrics_into_the_run_folder(image_folder, run_cli, tmp_path: Path) -> None:
    run_cli(
        "fit", "--config", RMB, *overlay("logger", "csv"), "--data.data_dir", str(image_folder()), *ONE_EPOCH
    )
    run = tmp_path / "runs" / "rmb_lenet" / "version_0"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert any(row["val/acc"] for row in rows) and (run / "checkpoints" / "best.ckpt").is_file()


def test_mlflow_overlay_writes_a_local_run_mlflow_reads_back(image_folder, run_cli, tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    run_cli(
        "fit",
        "--config",
        RMB,
        *overlay("logger", "mlflow"),
        "--data.data_dir",
        str(image_folder()),
        *ONE_EPOCH,
    )
    task = tmp_path / "runs" / "rmb_lenet"
    client = mlflow.tracking.MlflowClient(tracking_uri=(task / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("rmb_lenet")
    (run,) = client.search_runs([experiment.experiment_id])
    assert 0 <= run.data.metrics["val/acc"] <= 1 and run.data.params
    assert (task / "version_0" / "metrics.json").is_file()  # TensorBoard, listed first, keeps the run folder


def test_hparams_are_recorded_with_the_final_metrics(image_folder, run_cli, tmp_path: Path) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    run_cli("fit", "--config", RMB, "--data.data_dir", str(image_folder()), *ONE_EPOCH)
    events = EventAccumulator(str(tmp_path / "runs" / "rmb_lenet" / "version_0")).Reload()
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {"val/acc", "val/loss"} <= {m.name.tag for m in experiment.metric_infos}
    assert "optimizer/init_args/lr" in {h.name for h in experiment.hparam_infos}


@pytest.mark.parametrize(
    ("preset", "expect"),
    [
        ("smoke", {"fast_dev_run": True}),
        ("overfit", {"overfit_batches": 4, "max_epochs": 40}),
        ("profile", {"limit_train_batches": 20, "max_epochs": 1}),
    ],
)
def test_presets_mean_what_they_say(preset: str, expect: dict, image_folder, run_cli) -> None:
    args = [
        "--data.data_dir",
        str(image_folder()),
        "--trainer.max_epochs",
        "1",
        "--trainer.fast_dev_run",
        "true",
    ]
    cli = run_cli("fit", "--config", RMB, *overlay("trainer", preset), *args)
    settings = yaml.safe_load((REPO / "configs" / "trainer" / f"{preset}.yaml").read_text())["trainer"]
    assert {key: settings[key] for key in expect} == expect
    if preset == "overfit":
        assert cli.trainer.overfit_batches == 4  # four batches, not a fraction
    if preset == "profile":
        assert type(cli.trainer.profiler).__name__ == "SimpleProfiler"


def test_profile_preset_counts_batches(image_folder, run_cli, tmp_path: Path) -> None:
    data = str(image_folder(per_class=100))
    run_cli("fit", "--config", RMB, *overlay("trainer", "profile"), "--data.data_dir", data,
            "--data.batch_size", "4", "--test_after_fit", "false")  # fmt: skip
    metrics = yaml.safe_load((tmp_path / "runs" / "rmb_lenet" / "version_0" / "metrics.json").read_text())
    assert metrics["global_step"] == 20  # 20 of the 40 training batches
    assert (tmp_path / "runs" / "rmb_lenet" / "version_0" / "fit-profile.txt").is_file()


def test_whole_batch_counts_stay_counts() -> None:
    from jsonargparse import Namespace

    trainer = Namespace(limit_train_batches=20.0, limit_val_batches=1.0, limit_test_batches=0.25)
    whole_batch_counts(trainer)
    assert trainer.limit_train_batches == 20 and isinstance(trainer.limit_train_batches, int)
    assert (trainer.limit_val_batches, trainer.limit_test_batches) == (1.0, 0.25)


def test_make_help_lists_the_targets() -> None:
    done = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True)
    listed = {line.split(":")[0] for line in done.stdout.splitlines() if line.strip()}
    assert {"demo", "test", "test-fast", "lint", "format", "tensorboard", "clean", "help"} <= listed


def test_optional_packages_stay_out_of_start_up() -> None:
    """MLflow and the ONNX tools load only when a run or a script asks for them."""
    optional = {"mlflow", "onnx", "onnxruntime", "onnxscript"}
    code = f"import sys, lit_modules.cli, datamodules; print(sorted(set(sys.modules) & {optional}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip() == "[]"
