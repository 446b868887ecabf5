"""Multi-process (DDP) runs on the CPU with configs/trainer/ddp_cpu.yaml: two processes over gloo.

DDP runs go through a subprocess, as a user starts them: Lightning's ``ddp`` launcher re-runs the command
line for rank 1, which inside pytest would be pytest itself, and ``ddp_spawn`` pickles the whole CLI state
into new processes (and is not what the overlay configures).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from datamodules.global_batch import per_device_batch_size
from lit_modules import cli
from tests.conftest import REPO, write_class_folders
from tests.test_configs import TASK_CONFIGS, smoke_args

DDP_CPU = REPO / "configs" / "trainer" / "ddp_cpu.yaml"
MULTINODE_CPU = REPO / "configs" / "trainer" / "multinode_cpu.yaml"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def _free_port() -> int:
    with socket.socket() as sock:  # torchrun's --master-port 0 does not pick one: it hangs
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


def test_global_batch_must_divide() -> None:
    assert per_device_batch_size(64, 4) == 16
    with pytest.raises(
        ValueError, match=r"--data.batch_size 10 is the global batch .* 4 processes .* 12 or 8"
    ):
        per_device_batch_size(10, 4)


def test_every_task_under_ddp_cpu(tmp_path: Path) -> None:
    """Each task config, one training and one validation batch per process, logging and checkpoints on."""
    commands = []
    for config in TASK_CONFIGS:
        commands.append(
            ["fit", "--config", str(config), "--config", str(DDP_CPU),
             *smoke_args(config, tmp_path / config.stem),
             "--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.max_epochs", "1",
             "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
             "--trainer.check_val_every_n_epoch", "1", *QUIET]
            + (["--data.num_workers", "0"] if "num_workers" in config.read_text() else [])
        )  # fmt: skip
    (tmp_path / "commands.json").write_text(json.dumps(commands))
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
          "--master-port", str(_free_port()),
          "tests/ddp_tasks.py", str(tmp_path / "commands.json")])  # fmt: skip
    for config in TASK_CONFIGS:
        runs = list((tmp_path / "runs" / config.stem).iterdir())
        assert [r.name for r in runs] == ["version_0"], (
            f"{config.stem}: one run folder, written by rank 0 only"
        )
        assert (runs[0] / "checkpoints" / "last.ckpt").is_file()
        assert (runs[0] / "metrics.json").is_file()
    assert (tmp_path / "runs" / "faces_dcgan" / "version_0" / "samples" / "epoch_000.png").is_file()


def _rmb_fit(tmp_path: Path, data_dir: Path, *extra: str, nodes: int = 1) -> tuple[dict, dict]:
    """Full-batch training (16 training images, global batch 16, no augmentation): the order cannot matter,
    and the result equals one process's only if every training image is used once per step.

    With ``nodes`` > 1, that many ``torchrun`` "nodes" of one process each run at once on the loopback.
    """
    args = [
        "fit", "--config", "configs/rmb_lenet.yaml", "--data.data_dir", str(data_dir),
        "--data.augment", "null",
        "--trainer.default_root_dir", str(tmp_path), "--trainer.max_epochs", "4", "--trainer.callbacks", "[]",
        "--trainer.accelerator", "cpu", *QUIET, *extra,
    ]  # fmt: skip
    if nodes == 1:
        _run([sys.executable, "-m", "lit_modules.cli", *args])
    else:
        port = str(_free_port())
        launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes),
                  "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port]  # fmt: skip
        with ThreadPoolExecutor(nodes) as pool:  # every node at once, as on N machines
            list(pool.map(_run, [[*launch, "--node-rank", str(rank), "-m", "lit_modules.cli", *args]
                                 for rank in range(nodes)]))  # fmt: skip
    run = tmp_path / "rmb_lenet" / "version_0"
    weights = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)[
        "state_dict"
    ]
    return json.loads((run / "metrics.json").read_text()), weights


def test_rmb_ddp_equals_one_process(tmp_path: Path) -> None:
    data_dir = write_class_folders(tmp_path / "rmb", ("1", "100"), per_class=10)  # 16 train, 2 val, 2 test
    single, single_weights = _rmb_fit(tmp_path / "one", data_dir, "--trainer.devices", "1")
    ddp, ddp_weights = _rmb_fit(tmp_path / "two", data_dir, "--config", str(DDP_CPU))
    for key in ("val/loss", "val/acc", "val/macro_f1", "global_step"):
        assert ddp[key] == pytest.approx(single[key], abs=1e-4), key
    for name, value in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], value, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cache", ["disk", "stream"])
def test_two_nodes_on_loopback_equal_one_process(cache: str, tmp_path: Path) -> None:
    """Two "nodes" (torchrun --nnodes 2, one gloo process each) read disjoint halves of each batch from one
    shared data folder and cache (memory-mapped, or streamed from LitData chunks), and train exactly as one
    process: every training image is used once per step."""
    data_dir = write_class_folders(tmp_path / "rmb", ("1", "100"), per_class=10)
    single, single_weights = _rmb_fit(tmp_path / "one", data_dir, "--trainer.devices", "1")
    nodes, nodes_weights = _rmb_fit(
        tmp_path / "two", data_dir, "--config", str(MULTINODE_CPU), "--data.cache", cache, nodes=2
    )
    for key in ("val/loss", "val/acc", "val/macro_f1", "global_step"):
        assert nodes[key] == pytest.approx(single[key], abs=1e-4), key
    for name, value in single_weights.items():
        torch.testing.assert_close(nodes_weights[name], value, atol=1e-5, rtol=1e-4)
    assert [r.name for r in (tmp_path / "two" / "rmb_lenet").iterdir()] == ["version_0"]


@pytest.mark.parametrize("module", ["rmb", "names", "faces"])
def test_data_modules_split_the_global_batch(module: str, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from datamodules import FacesDataModule, NamesDataModule, RMBDataModule
    from tests.conftest import write_names

    images = write_class_folders(tmp_path / "images", ("1", "100"), per_class=10)
    data = {
        "rmb": lambda: RMBDataModule(images, batch_size=8),
        "names": lambda: NamesDataModule(write_names(tmp_path / "names"), batch_size=8),
        "faces": lambda: FacesDataModule(images, image_size=32, batch_size=8),
    }[module]()
    data.trainer = SimpleNamespace(
        world_size=2, global_rank=0, strategy=SimpleNamespace(root_device=torch.device("cpu"))
    )
    data.setup("fit")
    assert data.device_batch_size == 4
    assert data.val_dataloader().batch_size == 4
    data.trainer.world_size = 3
    with pytest.raises(ValueError, match="--data.batch_size 8 is the global batch"):
        data.setup("fit")


def test_the_cli_tears_the_process_group_down_at_exit(tmp_path: Path, monkeypatch) -> None:
    """Left open, gloo can abort a DDP run at interpreter exit after it has finished."""
    at_exit = []
    monkeypatch.setattr(cli.atexit, "register", at_exit.append)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert at_exit == [cli.destroy_process_group]
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    cli.destroy_process_group()
    assert not dist.is_initialized()
    cli.destroy_process_group()  # and without a group, nothing to do
