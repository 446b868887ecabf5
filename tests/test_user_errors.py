"""Every mistake a user can make ends in one message and exit code 2, never a traceback.

The catalogue runs the installed ``hello-lightning`` as a user would, one process per mistake, a few at a
time; each stops at start-up. No case reaches the internet: downloads go to a closed local port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from datamodules import DataLayoutError
from lit_modules.clean_exit import EXIT_USER_ERROR, TRACEBACK_VARIABLE
from lit_modules.cli import main
from lit_modules.nets import LeNet
from tests.conftest import REPO, pickle_payload, write_class_folders, write_pedestrians

COMMAND = Path(sys.executable).parent / "hello-lightning"
RMB = str(REPO / "configs" / "rmb_lenet.yaml")


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Bad inputs, each made once: folders, a names file in Latin-1, a checkpoint of another network."""
    root = tmp_path_factory.mktemp("bad_inputs")
    (root / "no_classes").mkdir()
    write_class_folders(root / "empty_class", ["1"], per_class=3)
    (root / "empty_class" / "100").mkdir()
    write_class_folders(root / "ants_bees", ["ants", "bees"], per_class=10)
    write_pedestrians(root / "pedestrians", 10)
    (root / "latin1").mkdir()
    for language, names in {"French": "Béranger\nDupont\n", "German": "Müller\nSchmidt\n"}.items():
        (root / "latin1" / f"{language}.txt").write_bytes(names.encode("latin-1"))
    lenet = {f"net.{k}": v for k, v in LeNet(num_classes=2).state_dict().items()}
    torch.save({"state_dict": lenet, "hyper_parameters": {}}, root / "lenet.ckpt")
    (root / "truncated.ckpt").write_bytes((root / "lenet.ckpt").read_bytes()[:1000])
    pickle_payload(root / "payload.pth", root / "code_ran")
    return {"root": str(root), "port": str(closed_port())}


CASES = {
    "missing_folder": (
        ["fit", "--config", RMB, "--data.data_dir", "{root}/absent"],
        ["{root}/absent does not exist", "--data.data_dir"],
    ),
    "folder_with_no_classes": (
        ["fit", "--config", RMB, "--data", "datamodules.ImageFolderDataModule",
         "--data.data_dir", "{root}/no_classes"],
        ["Found 0 class folder(s) in {root}/no_classes", "at least 2"],
    ),
    "empty_class_folder": (
        ["fit", "--config", RMB, "--data.data_dir", "{root}/empty_class"],
        ["{root}/empty_class/100 is empty", "add images"],
    ),
    "misspelled_key": (
        ["fit", "--config", RMB, "--trainer.max_epoks", "3"],
        ["unrecognized arguments: --trainer.max_epoks"],
    ),
    "negative_learning_rate": (
        ["fit", "--config", RMB, "--model.optimizer.init_args.lr", "-0.1"],
        ["--model.init_args.optimizer.init_args.lr must be positive, got -0.1"],
    ),
    "offline_imagenet_weights": (
        ["fit", "--config", str(REPO / "configs" / "ants_bees_finetune.yaml"),
         "--data.data_dir", "{root}/ants_bees", "--data.batch_size", "2"],
        ["Could not download ResNet18_Weights.IMAGENET1K_V1",
         "--model.net.init_args.weights path/to/resnet18-f37072fd.pth"],
    ),
    "offline_coco_weights": (
        ["fit", "--config", str(REPO / "configs" / "pennfudan_fasterrcnn.yaml"),
         "--data.data_dir", "{root}/pedestrians", "--data.image_size", "48"],
        ["Could not download FasterRCNN_ResNet50_FPN_Weights.COCO_V1",
         "--model.net.init_args.weights path/to/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"],
    ),
    "detection_folder_of_class_folders": (
        ["fit", "--config", str(REPO / "configs" / "pennfudan_fasterrcnn.yaml"),
         "--data.data_dir", "{root}/ants_bees"],
        ["No detection layout found in {root}/ants_bees", "PNGImages/<stem>.png"],
    ),
    "offline_download": (
        ["fit", "--config", str(REPO / "configs" / "cats_dogs.yaml"), "--data.data_dir", "{root}/download",
         "--data.download", "true", "--data.url", "http://127.0.0.1:{port}/pets.zip"],
        ["Could not download http://127.0.0.1:{port}/pets.zip", "Download it by hand"],
    ),
    "checkpoint_of_another_network": (
        ["test", "--config", RMB, "--model.net", "lit_modules.nets.SmallCNN",
         "--ckpt_path", "{root}/lenet.ckpt"],
        ["--ckpt_path {root}/lenet.ckpt does not fit the configured model", "without --ckpt_path"],
    ),
    "pickle_payload_as_weights": (
        ["fit", "--config", str(REPO / "configs" / "ants_bees_finetune.yaml"),
         "--data.data_dir", "{root}/ants_bees", "--model.net.init_args.weights", "{root}/payload.pth"],
        ["{root}/payload.pth is a pickle that would call posix.system", "HELLO_LIGHTNING_TRUST_PICKLE=1"],
    ),
    "pickle_payload_as_checkpoint": (
        ["test", "--config", RMB, "--ckpt_path", "{root}/payload.pth"],
        ["--ckpt_path {root}/payload.pth: loading it would call posix.system, which can run code"],
    ),
    "truncated_checkpoint": (
        ["test", "--config", RMB, "--ckpt_path", "{root}/truncated.ckpt"],
        ["--ckpt_path {root}/truncated.ckpt: it does not load: it is truncated, empty or no checkpoint"],
    ),
    "negative_max_epochs": (
        ["fit", "--config", RMB, "--data.data_dir", "{root}/ants_bees", "--trainer.max_epochs", "-3"],
        ["--trainer: `max_epochs` must be a non-negative integer or -1. You passed in -3."],
    ),
    "misspelt_data_key": (
        ["fit", "--config", RMB, "--data.data_dirr", "x"],
        ["--data.data_dirr: datamodules.RMBDataModule takes no argument 'data_dirr'; "
         "did you mean --data.data_dir?"],
    ),
    "misspelt_optimizer_key": (
        ["fit", "--config", RMB, "--model.optimizer.init_args.lrr", "0.1"],
        ["--model.optimizer.init_args.lrr: torch.optim.SGD takes no argument 'lrr'; "
         "did you mean --model.optimizer.init_args.lr?"],
    ),
    "names_file_not_utf8": (
        ["fit", "--config", str(REPO / "configs" / "names_rnn.yaml"), "--data.data_dir", "{root}/latin1"],
        ["{root}/latin1/French.txt is not UTF-8", "Re-save it as UTF-8"],
    ),
}  # fmt: skip


def run_case(case: str, inputs: dict[str, str], folder: Path) -> tuple[int, str]:
    """Exit code and output of ``hello-lightning`` given the case's arguments."""
    args = [part.format(**inputs) for part in CASES[case][0]]
    unreachable = f"http://127.0.0.1:{inputs['port']}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
        "TORCH_HOME": str(folder / "torch"),  # no cached ImageNet weights
        "http_proxy": unreachable,
        "https_proxy": unreachable,  # no download ever leaves this machine
    }
    env.pop(TRACEBACK_VARIABLE, None)
    folder.mkdir()
    done = subprocess.run(
        [str(COMMAND), *args, "--trainer.default_root_dir", str(folder / "runs")],
        capture_output=True, text=True, env=env, timeout=600, cwd=folder,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def outcomes(inputs: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Every case's exit code and output; the processes run two at a time (most of each is start-up)."""
    if not COMMAND.is_file():
        pytest.skip(f"hello-lightning is not installed next to {sys.executable}")
    root = Path(inputs["root"])
    with ThreadPoolExecutor(2) as pool:
        done = pool.map(lambda case: run_case(case, inputs, root / case), CASES)
        return dict(zip(CASES, done, strict=True))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_ends_in_one_message(case: str, inputs: dict[str, str], outcomes) -> None:
    code, output = outcomes[case]
    assert code == EXIT_USER_ERROR, output
    assert "Traceback" not in output and "LitLogger" not in output  # nor Lightning's tip
    assert output.count("error:") == 1 and "usage:" not in output  # one line, no usage block
    for word in CASES[case][1]:
        assert word.format(**inputs) in output


def test_no_case_ran_the_pickle_payload(inputs: dict[str, str], outcomes) -> None:
    assert outcomes["pickle_payload_as_weights"][0] == EXIT_USER_ERROR
    assert not (Path(inputs["root"]) / "code_ran").exists()


def test_every_case_leaves_no_run_folder(inputs: dict[str, str], outcomes) -> None:
    assert not list(Path(inputs["root"]).glob("*/runs/*/version_*"))


def test_the_traceback_switch_shows_the_error_itself(tmp_path: Path, monkeypatch, capsys) -> None:
    args = ["fit", "--config", RMB, "--data.data_dir", str(tmp_path / "absent"),
            "--trainer.default_root_dir", str(tmp_path / "runs")]  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == EXIT_USER_ERROR
    assert capsys.readouterr().err.startswith(f"error: Data folder {tmp_path / 'absent'} does not exist")
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    with pytest.raises(DataLayoutError, match="does not exist"):
        main(args)


def test_an_error_that_is_no_input_mistake_keeps_its_traceback(tmp_path: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("lit_modules.cli.HelloCLI", broken)
    with pytest.raises(KeyError, match="a bug"):
        main(["fit"])
