"""Course-style weight files load into the project's networks: state dicts, whole models, checkpoint dicts."""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from lit_modules.nets import LeNet
from lit_modules.nets.errors import ConfigError
from lit_modules.nets.loading import load_weights, match_prefix, read_checkpoint
from lit_modules.nets.safe_pickle import TRUST_VARIABLE as TRUST
from lit_modules.nets.safe_pickle import StandIn, UnsafePickleError, safe_torch_load
from lit_modules.nets.torchvision_weights import download_state_dict
from tests.conftest import REPO, pickle_payload


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


# -- no file runs code -------------------------------------------------------------------------------------
def payload_file(tmp_path: Path) -> tuple[Path, Path]:
    return pickle_payload(tmp_path / "payload.pth", tmp_path / "code_ran"), tmp_path / "code_ran"


def test_a_pickle_payload_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, marker = payload_file(tmp_path)
    with pytest.raises(
        UnsafePickleError, match=rf"{path} is a pickle that would call posix.system.*{TRUST}=1"
    ):
        load_weights(LeNet(num_classes=2), path)
    assert not marker.exists()
    monkeypatch.setenv(TRUST, "1")  # torch's loader refuses os.system even with the opt-in
    with (
        pytest.warns(UserWarning, match="can run any code"),
        pytest.raises(UnsafePickleError, match="even with"),
    ):
        load_weights(LeNet(num_classes=2), path)
    assert not marker.exists()


@pytest.mark.parametrize("script", ["export.py", "load_course_checkpoint.py", "generate_faces.py"])
def test_scripts_refuse_a_pickle_payload(script: str, tmp_path: Path) -> None:
    path, marker = payload_file(tmp_path)
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), str(path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "posix.system" in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists()


class CallsEval:
    def __reduce__(self):
        return (eval, ("1+1",))


def test_only_listed_callables_run_in_a_whole_model(tmp_path: Path, monkeypatch) -> None:
    """A class that is gone loads as an inert stand-in, whatever its arguments; a function that exists here
    but is not on the list stops the load; a file that is no torch file is named."""
    torch.save({"model": CallsEval()}, tmp_path / "eval.pth")
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        safe_torch_load(tmp_path / "eval.pth")
    (tmp_path / "course_gone.py").write_text(
        "class Net:\n    def __reduce__(self):\n        return (Net, ('rm -rf /',))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save({"model": importlib.import_module("course_gone").Net()}, tmp_path / "gone.pth")
    (tmp_path / "course_gone.py").unlink()
    monkeypatch.delitem(sys.modules, "course_gone")
    assert isinstance(safe_torch_load(tmp_path / "gone.pth")["model"], StandIn)
    (tmp_path / "text.pth").write_text("not a torch file")
    with pytest.raises(ConfigError, match="text.pth is not a readable torch file"):
        safe_torch_load(tmp_path / "text.pth")


def test_torchvision_weights_load_tensors_only_and_are_rehashed(tmp_path, monkeypatch) -> None:
    """The hub's cached copy is checked against the digest in its name; torch loads it weights-only."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    enum = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    cached = tmp_path / "torch" / "hub" / "checkpoints" / Path(enum.url).name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"changed since it was downloaded")
    calls: list[dict] = []
    monkeypatch.setattr(
        torchvision.models._api, "load_state_dict_from_url", lambda url, **kw: calls.append(kw) or {}
    )
    with pytest.warns(UserWarning, match="no longer has its SHA-256"):
        download_state_dict(enum)
    assert not cached.exists()
    assert calls[0]["weights_only"] is True and calls[0]["check_hash"] is True


def write_module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(source)


COURSE_NET = """from pathlib import Path
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def __setstate__(self, state):
        Path({marker!r}).write_text("setstate ran")
        super().__setstate__(state)
"""
IMPORT_RUNS = """from pathlib import Path
Path({marker!r}).write_text("import ran")

class Thing:
    pass
"""
SAVE_THING = (
    "import sys, torch; sys.path.insert(0, sys.argv[1]); import import_runs; "
    "torch.save(import_runs.Thing, sys.argv[2])"
)


def test_a_pickle_never_imports_a_module_nor_runs_a_class_of_its_own(tmp_path: Path, monkeypatch) -> None:
    """A network class's own ``__setstate__`` never runs (the class is rebuilt as an inert stand-in, the
    tensors still come through); naming a module that is importable but not imported yet imports nothing."""
    marker = tmp_path / "code_ran"
    write_module(tmp_path, "course_net", COURSE_NET.format(marker=str(marker)))
    write_module(tmp_path, "import_runs", IMPORT_RUNS.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))
    trained = importlib.import_module("course_net").Net()
    torch.save({"model": trained, "epoch": 3}, tmp_path / "whole.pth")
    loaded = safe_torch_load(tmp_path / "whole.pth")
    assert not marker.exists() and isinstance(loaded["model"], StandIn)
    assert torch.equal(loaded["model"].state_dict()["fc.weight"], trained.fc.weight)
    with monkeypatch.context() as trusted:  # the opt-in rebuilds the real class: its own code runs
        trusted.setenv(TRUST, "1")
        with pytest.warns(UserWarning, match="can run any code"):
            assert type(safe_torch_load(tmp_path / "whole.pth")["model"]).__name__ == "Net"
        assert marker.read_text() == "setstate ran"
    marker.unlink()
    subprocess.run([sys.executable, "-c", SAVE_THING, str(tmp_path), str(tmp_path / "thing.pth")], check=True)
    marker.unlink()  # saving it imported the module; loading it must not
    with pytest.raises(UnsafePickleError, match=r"import_runs\.Thing"):
        safe_torch_load(tmp_path / "thing.pth")
    assert not marker.exists() and "import_runs" not in sys.modules


@pytest.mark.parametrize("form", ["whole_on_gpu", "whole_data_parallel", "with_partial"])
def test_whole_models_of_every_course_form_give_their_tensors(form, tmp_path: Path, monkeypatch) -> None:
    """Each saved by a course script whose network class is gone by the time the file is loaded."""
    write_module(
        tmp_path, "course_model", "from lit_modules.nets import LeNet\n\nclass Net(LeNet):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    trained = importlib.import_module("course_model").Net(num_classes=2)
    norm = functools.partial(nn.LayerNorm, eps=1e-6)  # as torchvision's transformers keep their norm layer
    payload = {
        "whole_on_gpu": trained,
        "whole_data_parallel": nn.DataParallel(trained),
        "with_partial": {"model": trained, "norm": norm, "epoch": 7},
    }[form]
    path = tmp_path / f"{form}.pth"
    with monkeypatch.context() as patch:
        if form == "whole_on_gpu":
            patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(payload, path)
    (tmp_path / "course_model.py").unlink()
    monkeypatch.delitem(sys.modules, "course_model")
    net = LeNet(num_classes=2)
    extras = load_weights(net, path)
    assert same_weights(net, trained)
    if form == "with_partial":
        assert extras["epoch"] == 7 and extras["norm"].keywords == {"eps": 1e-6}


def test_numpy_objects_and_lazy_modules_are_refused_without_importing(tmp_path: Path) -> None:
    """A rebuilt numpy dtype takes its memory layout from the file, so numpy objects are refused (the
    opt-in loads them); naming a submodule that its package would import lazily imports nothing (the name
    is not in the package yet, so it stands for a missing class)."""
    torch.save(
        {"model_state_dict": LeNet(num_classes=2).state_dict(), "best_acc": np.float64(0.9)},
        tmp_path / "np.pth",
    )
    with pytest.raises(UnsafePickleError, match=r"multiarray\.scalar.*HELLO_LIGHTNING_TRUST_PICKLE=1"):
        safe_torch_load(tmp_path / "np.pth")
    lazy = next(name for name in ("numpy.f2py", "numpy.testing") if name not in sys.modules)
    torch.save({"x": 1}, tmp_path / "lazy.pth")
    with (
        zipfile.ZipFile(tmp_path / "lazy.pth") as original,
        zipfile.ZipFile(tmp_path / "lazy2.pth", "w") as out,
    ):
        for item in original.infolist():
            data = original.read(item)
            if item.filename.endswith("data.pkl"):
                data = b"\x80\x02c" + lazy.replace(".", "\n").encode() + b"\n."
            out.writestr(item, data)
    assert safe_torch_load(tmp_path / "lazy2.pth") is StandIn  # the stand-in class itself, nothing called
    assert lazy not in sys.modules
