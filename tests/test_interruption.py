"""Ctrl-C and SIGTERM during ``fit``: a real subprocess stops at a chosen step, resumes, and ends exactly
where a run never interrupted ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, write_class_folders

# 16 training images in batches of 4: 4 steps an epoch; dropout and augmentation draw random numbers.
SMALL_RUN = [
    "--config", str(REPO / "configs" / "rmb_lenet.yaml"),
    "--trainer.max_epochs", "2",
    "--trainer.deterministic", "true",
    "--data.batch_size", "4",
    "--model.init_args.net.init_args.dropout", "0.3",
]  # fmt: skip


def val_numbers(root: Path) -> dict[str, float]:
    numbers = json.loads((root / "rmb_lenet" / "version_0" / "metrics.json").read_text())
    return {k: v for k, v in numbers.items() if k.startswith("val/") or k == "global_step"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, dict[str, float]]]:
    """``uninterrupted(cache)``: the data, and the numbers of a run that was never stopped."""
    from lit_modules.cli import HelloCLI

    tmp = tmp_path_factory.mktemp("uninterrupted")
    data = write_class_folders(tmp / "images", ("1", "100"), per_class=10)
    numbers: dict[str, dict[str, float]] = {}

    def run(cache: str) -> tuple[Path, dict[str, float]]:
        if cache not in numbers:
            HelloCLI(
                args=["fit", *SMALL_RUN, "--data.data_dir", str(data), "--data.cache", cache,
                      "--trainer.default_root_dir", str(tmp / cache), "--trainer.enable_progress_bar",
                      "false",
                      "--trainer.enable_model_summary", "false"]
            )  # fmt: skip
            numbers[cache] = val_numbers(tmp / cache)
        return data, numbers[cache]

    return run


@pytest.mark.parametrize(
    ("signal_name", "step", "cache"),
    [("SIGTERM", 2, "disk"), ("SIGINT", 6, "disk"), ("SIGTERM", 6, "stream")],
)
def test_interrupted_fit_resumes_exactly(signal_name, step, cache, uninterrupted, tmp_path, run_cli) -> None:
    """Memory-mapped or streamed (LitData's loader state in the checkpoint), the resumed run ends where the
    uninterrupted one does."""
    data, expected = uninterrupted(cache)
    runs = tmp_path / "runs"
    stop_at = {
        "class_path": "tests.fault_hooks.SignalAtStep",
        "init_args": {"step": step, "signal_name": signal_name},
    }
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    interrupted = subprocess.run(
        [sys.executable, "-m", "lit_modules.cli", "fit", *SMALL_RUN, "--data.data_dir", str(data),
         "--data.cache", cache, "--trainer.default_root_dir", str(runs), "--trainer.enable_progress_bar",
         "false", f"--trainer.callbacks+={json.dumps(stop_at)}"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = interrupted.stdout + interrupted.stderr
    assert interrupted.returncode == 1, output
    assert f"global step {step}: saved" in output and "--ckpt_path last" in output, output
    last = runs / "rmb_lenet" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    metrics = runs / "rmb_lenet" / "version_0" / "metrics.json"
    if step < 4:  # stopped inside the first epoch: no validation has run
        assert not metrics.is_file()
    else:  # stopped in the second epoch: the numbers are the first epoch's
        assert json.loads(metrics.read_text())["global_step"] == 4

    resumed = run_cli(
        "fit", *SMALL_RUN, "--data.data_dir", str(data), "--data.cache", cache, "--ckpt_path", "last"
    )
    assert resumed.trainer.log_dir == str(runs / "rmb_lenet" / "version_0")  # the same run goes on
    assert val_numbers(runs) == pytest.approx(expected, rel=1e-6, abs=1e-7)
