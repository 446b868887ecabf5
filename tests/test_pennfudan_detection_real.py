"""A real short training of the from-scratch detection recipe on the Penn-Fudan photos (skipped where they are
absent): from random weights, the detector starts finding pedestrians within two epochs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, shared_data

pytestmark = pytest.mark.slow

TWO_EPOCHS = ["--trainer.max_epochs", "2", "--model.init_args.scheduler.init_args.T_max", "2"]


def test_scratch_recipe_starts_finding_pedestrians_in_two_epochs(run_cli) -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))  # the suite's longest training: not a small network
    cli = run_cli(
        "fit", "--config", str(REPO / "configs" / "pennfudan_fasterrcnn.yaml"),
        "--config", str(REPO / "configs" / "variants" / "pennfudan_scratch.yaml"),
        "--data.data_dir", str(shared_data("pennfudan")), "--test_after_fit", "false", *TWO_EPOCHS,
    )  # fmt: skip
    metrics = json.loads((Path(cli.trainer.log_dir) / "metrics.json").read_text())
    # Untrained, its boxes score 0.0. Measured best val/map_50 after two epochs at the recipe's lr 0.02: 0.290
    # (seed 42, the config's), 0.228 (seed 0), 0.170 (seed 1): docs/results.md (pedestrian detection).
    assert metrics["best_score"] >= 0.03, metrics
