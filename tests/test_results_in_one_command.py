"""``fit`` ends by testing its best checkpoint; a test writes per-class numbers and a confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO

RMB = str(REPO / "configs" / "rmb_lenet.yaml")
NAMES = str(REPO / "configs" / "names_rnn.yaml")


@pytest.mark.parametrize("task", ["rmb_lenet", "names_rnn"])
def test_fit_leaves_test_numbers_per_class_and_a_confusion_matrix(
    task: str, image_folder, names_folder, run_cli, tmp_path: Path
) -> None:
    data = image_folder() if task == "rmb_lenet" else names_folder
    cli = run_cli("fit", "--config", str(REPO / "configs" / f"{task}.yaml"), "--data.data_dir", str(data),
                  "--trainer.max_epochs", "1")  # fmt: skip
    run = tmp_path / "runs" / task / "version_0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["test/acc"] <= 1 and metrics["best_checkpoint"].endswith("best.ckpt")
    for name in cli.model.class_names:
        assert {f"test/{m}/{name}" for m in ("precision", "recall", "f1")} <= metrics.keys()
    assert (run / "confusion_matrix" / "test.png").is_file()
    events = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    assert len(events.Images("test/confusion_matrix")) == 1


def test_without_the_switch_fit_only_fits(image_folder, run_cli, tmp_path: Path) -> None:
    run_cli("fit", "--config", RMB, "--data.data_dir", str(image_folder()), "--trainer.max_epochs", "1",
            "--test_after_fit", "false")  # fmt: skip
    metrics = json.loads((tmp_path / "runs" / "rmb_lenet" / "version_0" / "metrics.json").read_text())
    assert "val/acc" in metrics and not any(key.startswith("test/") for key in metrics)


def test_a_smoke_run_tests_its_last_weights(image_folder, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", RMB, "--data.data_dir", str(image_folder()), "--trainer.fast_dev_run", "true"
    )
    assert cli.trainer.state.fn == "test" and "test/acc" in cli.trainer.callback_metrics
