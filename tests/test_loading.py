"""Course-style weight files load into the project's networks: state dicts, whole models, checkpoint dicts."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lit_modules.nets import LeNet
from lit_modules.nets.errors import ConfigError
from lit_modules.nets.loading import load_weights, match_prefix, read_checkpoint
from tests.conftest import REPO


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def save_whole_course_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[nn.Module, Path]:
    """``torch.save(model)`` of a class defined in a course script, then that script is gone."""
    (tmp_path / "course_model.py").write_text(
        "from lit_modules.nets import LeNet\n\nclass Net(LeNet):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    trained = importlib.import_module("course_model").Net(num_classes=2)
    path = saved(tmp_path, "whole_model.pkl", trained)
    (tmp_path / "course_model.py").unlink()
    monkeypatch.delitem(sys.modules, "course_model")
    return trained, path


def saved(tmp_path: Path, name: str, obj) -> Path:
    """``torch.save`` as a course script does it (a whole model is pickled by reference to its class)."""
    path = tmp_path / name
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    "form",
    ["state_dict", "data_parallel", "course_checkpoint", "lightning_checkpoint"],
)
def test_every_course_form_loads(form: str, tmp_path: Path) -> None:
    trained = LeNet(num_classes=2)
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.1, momentum=0.9)
    payload = {
        "state_dict": trained.state_dict(),
        "data_parallel": nn.DataParallel(trained).state_dict(),
        "course_checkpoint": {
            "model_state_dict": trained.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "epoch": 7,
        },
        "lightning_checkpoint": {
            "state_dict": {f"net.{k}": v for k, v in trained.state_dict().items()},
            "epoch": 7,
            "pytorch-lightning_version": "2.6.0",
        },
    }[form]
    net = LeNet(num_classes=2)
    assert not same_weights(net, trained)
    extras = load_weights(net, saved(tmp_path, f"{form}.pkl", payload))
    assert same_weights(net, trained)
    if form.endswith("checkpoint"):
        assert extras["epoch"] == 7


def test_whole_model_of_a_missing_class_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained, path = save_whole_course_model(tmp_path, monkeypatch)
    with pytest.raises(ModuleNotFoundError):
        torch.load(path, weights_only=False)
    net = LeNet(num_classes=2)
    load_weights(net, path)
    assert same_weights(net, trained)


def test_gpu_saved_file_loads_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose tensors were saved on ``cuda:0`` (faked: the tag is all that differs) loads on the CPU."""
    trained = LeNet(num_classes=2)
    path = tmp_path / "gpu.pth"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save({"model_state_dict": trained.state_dict(), "epoch": 1}, path)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    net = LeNet(num_classes=2)
    load_weights(net, path)
    assert same_weights(net, trained)
    assert next(net.parameters()).device.type == "cpu"


def test_other_class_count_is_named(tmp_path: Path) -> None:
    path = saved(tmp_path, "two.pth", LeNet(num_classes=2).state_dict())
    with pytest.raises(
        ValueError, match=r"classifier\.9\.weight: file has shape \(2, 84\), network expects \(3, 84\)"
    ):
        load_weights(LeNet(num_classes=3), path)
    extras = load_weights(LeNet(num_classes=3), path, strict=False)  # a new head on the old body
    assert len(extras["skipped"]) == 2  # the last layer's weight and bias


def test_a_new_head_drops_only_the_replaceable_weights(tmp_path: Path) -> None:
    """Finetuning: the old body loads, the head that no longer fits is left out and named."""
    trained = LeNet(num_classes=2)
    path = saved(tmp_path, "two.pth", {"model_state_dict": trained.state_dict()})
    net = LeNet(num_classes=3)
    report = load_weights(net, path, replaceable=["classifier"])
    assert report["dropped"] == ["classifier.9.bias", "classifier.9.weight"] and "skipped" not in report
    assert torch.equal(net.features[0].weight, trained.features[0].weight)
    with pytest.raises(ValueError, match=r"features\.0\.weight: file has shape"):
        load_weights(LeNet(num_classes=2, in_channels=1), path, replaceable=["classifier"])


def test_a_state_dict_in_memory_loads_like_a_file() -> None:
    trained, net = LeNet(num_classes=2), LeNet(num_classes=2)
    load_weights(net, {f"module.{k}": v for k, v in trained.state_dict().items()})
    assert same_weights(net, trained)


def test_helpers_alone(tmp_path: Path) -> None:
    weights = {"model.module.fc.weight": torch.zeros(2, 2), "loss.weight": torch.ones(2)}
    assert match_prefix(weights, {"fc.weight"}).keys() == {"fc.weight"}
    with pytest.raises(ValueError, match="holds no weights"):
        read_checkpoint(saved(tmp_path, "list.pt", [1, 2, 3]))
    with pytest.raises(ConfigError, match="No weights file"):
        read_checkpoint(tmp_path / "absent.pt")


def test_script_loads_and_saves(tmp_path: Path) -> None:
    trained = LeNet(num_classes=2)
    source = saved(tmp_path, "course.pkl", {"model_state_dict": trained.state_dict(), "epoch": 3})
    out = tmp_path / "lenet.pt"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "load_course_checkpoint.py"), str(source),
         "--net", "lit_modules.nets.LeNet", "--num-classes", "2", "--output", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "epoch: 3" in done.stdout
    net = LeNet(num_classes=2)
    net.load_state_dict(torch.load(out, weights_only=True))
    assert same_weights(net, trained)
