"""scripts/export.py: a trained image classifier as ONNX or TorchScript, checked against PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import export
import pytest

from tests.conftest import REPO, shared_data

RMB = str(REPO / "configs" / "rmb_lenet.yaml")


def trained(run_cli, config: str, data: Path, *args: str) -> Path:
    """The best checkpoint of a short run."""
    cli = run_cli("fit", "--config", config, "--data.data_dir", str(data), "--test_after_fit", "false", *args)
    return Path(cli.trainer.checkpoint_callback.best_model_path)


def exported(capsys, *args: str) -> dict:
    """What scripts/export.py prints, as JSON."""
    capsys.readouterr()
    export.main(list(args))
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch_on_the_test_split(fmt: str, image_folder, run_cli, capsys) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    ckpt = trained(run_cli, RMB, image_folder(per_class=20), "--trainer.max_epochs", "1")
    result = exported(capsys, str(ckpt), "--format", fmt)
    assert result["test_images"] == 4 and result["top1_agreement"] == 1.0
    assert result["max_abs_logit_diff"] <= 1e-4
    info = json.loads(ckpt.with_suffix(".json").read_text())
    assert info["class_names"] == ["1", "100"] and info["input_shape"] == [3, 32, 32]


def test_the_names_classifier_is_refused_with_the_reason(names_folder, run_cli) -> None:
    config = str(REPO / "configs" / "names_rnn.yaml")
    ckpt = trained(run_cli, config, names_folder, "--trainer.max_epochs", "1")
    with pytest.raises(SystemExit, match="packs variable-length sequences"):
        export.main([str(ckpt)])


@pytest.mark.slow
@pytest.mark.parametrize("task", ["rmb_lenet", "ants_bees_finetune"])
def test_real_photos_get_the_same_top1_from_onnx(task: str, run_cli, capsys) -> None:
    """The RMB LeNet (2 epochs) and a ResNet-18 from random weights (2 batches) on their real test photos."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    config = str(REPO / "configs" / f"{task}.yaml")
    if task == "rmb_lenet":
        ckpt = trained(run_cli, config, shared_data("rmb"), "--trainer.max_epochs", "2")
    else:
        scratch = str(REPO / "configs" / "variants" / "ants_bees_scratch.yaml")
        ckpt = trained(run_cli, config, shared_data("hymenoptera"), "--config", scratch, "--name", task,
                       "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2")  # fmt: skip
    result = exported(capsys, str(ckpt))
    assert result["top1_agreement"] == 1.0 and result["max_abs_logit_diff"] <= 1e-4
