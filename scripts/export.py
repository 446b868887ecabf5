"""Export a trained image classifier for use outside Python and Lightning: ONNX, or TorchScript.

    python scripts/export.py runs/rmb_lenet/version_0/checkpoints/best.ckpt
    python scripts/export.py CKPT --format torchscript --data-dir ../shared/data/rmb --out rmb.pt

The exported network takes float32 RGB images in [0, 1], shape (N, C, H, W) at the run's input size, and
normalizes them itself with the data's mean and std; it returns one logit per class. ``<out>.json`` next
to it lists the class names, the input shape, the mean and the std.

The export is checked on the run's real test split (the data of ``<run>/config.yaml``, or ``--data-dir``):
every test image goes through the trained model in PyTorch, as ``hello-lightning test`` feeds it, and
through the export (ONNX Runtime, or the loaded TorchScript). The script prints the largest logit
difference and the top-1 agreement, and fails when a logit differs by more than ``--atol`` or a top-1
differs. ONNX needs the ``export`` extra (``pip install -e '.[export]'``).

Image classifiers export (``ImageClassifier``, ``FinetuneClassifier``); the names classifier does not (it
packs variable-length sequences, which neither exporter traces).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml
from jsonargparse import ArgumentParser
from torch import nn

from datamodules import ImageFolderDataModule
from datamodules.transforms import normalize_batch
from lit_modules.classification import ClassificationTask
from lit_modules.config_checks import unloadable_checkpoint
from lit_modules.nets.safe_pickle import safe_torch_load

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


class Deployable(nn.Module):
    """Images in [0, 1] -> logits: the data's normalization, then the classifier's network."""

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images - self.mean) / self.std)


def load_classifier(ckpt: Path) -> ClassificationTask:
    """The trained module of a ``hello-lightning`` checkpoint, rebuilt from the config saved in it."""
    hparams = safe_torch_load(ckpt).get("hyper_parameters", {})  # a checkpoint, as main checked
    module_name, _, class_name = str(hparams.get("_class_path", "")).rpartition(".")
    if not hparams.get("input_shape") or module_name.partition(".")[0] != "lit_modules":
        raise SystemExit(
            f"{ckpt}: {class_name or 'this model'} is not an image classifier run; ImageClassifier and "
            "FinetuneClassifier runs export (the names classifier packs variable-length sequences, which "
            "do not trace)."
        )
    model_class = getattr(importlib.import_module(module_name), class_name)  # lets Lightning rebuild it
    return model_class.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True).eval()


def load_data(ckpt: Path, data_dir: str | None) -> ImageFolderDataModule:
    """The run's data module, from ``<run>/config.yaml``, set up for its test split."""
    config = ckpt.resolve().parent.parent / "config.yaml"
    if not config.is_file():
        raise SystemExit(
            f"{config} is missing: the export takes its data's mean, std and test split from it."
        )
    data = yaml.safe_load(config.read_text())["data"]
    if data_dir:
        data["init_args"]["data_dir"] = data_dir
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(pl.LightningDataModule, "data")
    datamodule = parser.instantiate_classes(parser.parse_object({"data": data})).data
    datamodule.setup("test")
    return datamodule


def export(
    deployable: Deployable, example: torch.Tensor, out: Path, fmt: str
) -> Callable[[torch.Tensor], Any]:
    """Write ``out`` and return a function that runs the written file (not the module in memory)."""
    if fmt == "torchscript":
        torch.jit.save(torch.jit.trace(deployable, example), out)
        loaded = torch.jit.load(out)
        return lambda images: loaded(images)
    batch = torch.export.Dim("batch", min=1)
    torch.onnx.export(
        deployable, (example,), out, input_names=["images"], output_names=["logits"],
        dynamic_shapes=({0: batch},), dynamo=True, external_data=False, verbose=False,
    )  # fmt: skip
    try:
        import onnxruntime
    except ImportError:
        raise SystemExit(f"Wrote {out}; its check needs onnxruntime: pip install -e '.[export]'.") from None
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return lambda images: torch.from_numpy(session.run(None, {"images": images.numpy()})[0])


@torch.no_grad()
def check(
    model: ClassificationTask, run: Callable[[torch.Tensor], torch.Tensor], datamodule: ImageFolderDataModule
) -> dict[str, Any]:
    """PyTorch's logits (as ``test`` computes them) against the export's, over the whole test split."""
    worst, same, total = 0.0, 0, 0
    for images, _ in datamodule.test_dataloader():
        reference = model(normalize_batch(images, datamodule.mean, datamodule.std))
        exported = run(images.float() / 255)
        worst = max(worst, (reference - exported).abs().max().item())
        same += (reference.argmax(1) == exported.argmax(1)).sum().item()
        total += len(images)
    return {"test_images": total, "top1_agreement": same / total, "max_abs_logit_diff": worst}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ckpt", type=Path, help="a checkpoint of an image classifier run (.ckpt)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="onnx", help="default: onnx")
    parser.add_argument("--out", type=Path, default=None, help="default: next to the checkpoint, <name>.onnx")
    parser.add_argument("--data-dir", default=None, help="the test data, if not at the run's data_dir")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest logit difference accepted")
    args = parser.parse_args(argv)
    if not args.ckpt.is_file():
        parser.error(f"checkpoint {args.ckpt} does not exist; train first (hello-lightning fit --config ...)")
    if problem := unloadable_checkpoint(args.ckpt, flag="checkpoint"):
        parser.exit(2, f"error: {problem}\n")
    model = load_classifier(args.ckpt)
    datamodule = load_data(args.ckpt, args.data_dir)
    mean, std = datamodule.mean, datamodule.std
    deployable = Deployable(model.net, mean, std).eval()
    out = args.out or args.ckpt.with_suffix(FORMATS[args.format])
    out.parent.mkdir(parents=True, exist_ok=True)
    run = export(deployable, torch.rand(2, *model.hparams.input_shape), out, args.format)
    info = {"class_names": model.class_names, "input_shape": list(model.hparams.input_shape)}
    info |= {"input": "float32 RGB in [0, 1], (N, C, H, W)", "mean": list(mean), "std": list(std)}
    out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    result = check(model, run, datamodule)
    print(json.dumps({"export": str(out), "format": args.format, **result}, indent=2))
    if result["max_abs_logit_diff"] > args.atol or result["top1_agreement"] < 1:
        sys.exit(f"{out} does not match PyTorch within --atol {args.atol}: see the numbers above.")


if __name__ == "__main__":
    main()
