"""FinetuneClassifier: weights sources, and per strategy which parameters and BatchNorm statistics move."""

from __future__ import annotations

import functools
import shutil
import urllib.error
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torchvision
from lightning.pytorch.callbacks import Callback

from datamodules import ImageFolderDataModule
from lit_modules import FinetuneClassifier
from lit_modules.nets.backbone import build_classifier, head_name, load_weights
from tests.conftest import REPO, write_class_folders

SGD = functools.partial(torch.optim.SGD, lr=0.05, momentum=0.9)


def make_data(root: Path, class_names=("a", "b")) -> ImageFolderDataModule:
    return ImageFolderDataModule(
        write_class_folders(root, class_names, per_class=8),
        image_size=32,
        batch_size=8,
        split=(0.5, 0.25, 0.25),
    )


def fit(model: pl.LightningModule, data: pl.LightningDataModule, epochs: int = 1, callbacks=()) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=epochs, limit_train_batches=1, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=list(callbacks),
    )  # fmt: skip
    trainer.fit(model, data)
    return trainer


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A ResNet-18 trained (briefly) on a 3-class task, saved as a Lightning checkpoint of this project."""
    root = tmp_path_factory.mktemp("pretrain")
    torch.manual_seed(0)
    model = FinetuneClassifier(["x", "y", "z"], strategy="none", optimizer=SGD)
    trainer = fit(model, make_data(root / "images", ("x", "y", "z")))
    trainer.save_checkpoint(root / "pretrained.ckpt")
    return root / "pretrained.ckpt"


def snapshot(model: FinetuneClassifier) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.net.state_dict().items()}


def changed(before: dict[str, torch.Tensor], model: FinetuneClassifier, prefix: str) -> dict[str, bool]:
    after = model.net.state_dict()
    return {k: not torch.equal(v, after[k]) for k, v in before.items() if k.startswith(prefix)}


def backbone_params(snap: dict[str, torch.Tensor], model: FinetuneClassifier) -> list[str]:
    names = {n for n, _ in model.net.named_parameters()}
    return [k for k in snap if k in names and not k.startswith("fc.")]


BN_STATS = ("layer1.0.bn1.running_mean", "bn1.running_var", "layer4.1.bn2.running_mean")


@pytest.mark.parametrize("strategy", ["frozen", "zero_lr"])
def test_frozen_and_zero_lr_keep_backbone_and_bn_stats_bit_for_bit(strategy, pretrained, tmp_path) -> None:
    model = FinetuneClassifier(["a", "b"], weights=str(pretrained), strategy=strategy, optimizer=SGD)
    before = snapshot(model)
    trainer = fit(model, make_data(tmp_path / "images"))
    moved = changed(before, model, "")
    assert not any(moved[k] for k in backbone_params(before, model)), "a backbone weight moved"
    assert not any(moved[k] for k in BN_STATS), "BatchNorm statistics of the frozen backbone moved"
    assert moved["fc.weight"] and moved["fc.bias"]
    groups = trainer.optimizers[0].param_groups
    if strategy == "zero_lr":
        assert [g["lr"] for g in groups] == [0.05, 0.0]
        assert all(p.requires_grad for p in model.parameters())
    else:
        assert len(groups) == 1 and {id(p) for p in groups[0]["params"]} == {
            id(p) for p in model.head.parameters()
        }


def test_train_frozen_bn_lets_statistics_move_but_not_weights(pretrained, tmp_path) -> None:
    model = FinetuneClassifier(["a", "b"], weights=str(pretrained), strategy="frozen", train_frozen_bn=True)
    before = snapshot(model)
    fit(model, make_data(tmp_path / "images"))
    moved = changed(before, model, "")
    assert all(moved[k] for k in BN_STATS)
    assert not any(moved[k] for k in backbone_params(before, model))


def test_discriminative_backbone_learns_at_a_fraction_of_the_head_rate(pretrained, tmp_path) -> None:
    model = FinetuneClassifier(
        ["a", "b"], weights=str(pretrained), strategy="discriminative", backbone_lr_factor=0.2, optimizer=SGD
    )
    before = snapshot(model)
    trainer = fit(model, make_data(tmp_path / "images"))
    assert [g["lr"] for g in trainer.optimizers[0].param_groups] == pytest.approx([0.05, 0.01])
    assert changed(before, model, "conv1.")["conv1.weight"]


def test_none_trains_everything_and_bn_statistics(tmp_path) -> None:
    model = FinetuneClassifier(["a", "b"], strategy="none", optimizer=SGD)
    before = snapshot(model)
    fit(model, make_data(tmp_path / "images"))
    moved = changed(before, model, "")
    assert all(moved[k] for k in backbone_params(before, model))
    assert all(moved[k] for k in BN_STATS)


class EpochSnapshots(Callback):
    def __init__(self) -> None:
        self.snaps: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.snaps.append(snapshot(pl_module))


def test_gradual_unfreezes_the_top_then_the_rest_at_the_given_epochs(pretrained, tmp_path) -> None:
    model = FinetuneClassifier(
        ["a", "b"], weights=str(pretrained), strategy="gradual", unfreeze_at_epochs=[1, 2], optimizer=SGD
    )
    start, snaps = snapshot(model), EpochSnapshots()
    trainer = fit(model, make_data(tmp_path / "images"), epochs=3, callbacks=[snaps])
    epochs = [start, *snaps.snaps]

    def moved_in(epoch: int, key: str) -> bool:
        return not torch.equal(epochs[epoch][key], epochs[epoch + 1][key])

    top, bottom = "layer4.1.conv2.weight", "conv1.weight"
    assert [moved_in(e, "fc.weight") for e in range(3)] == [True, True, True]
    assert [moved_in(e, top) for e in range(3)] == [False, True, True]
    assert [moved_in(e, bottom) for e in range(3)] == [False, False, True]
    assert [moved_in(e, "layer1.0.bn1.running_mean") for e in range(3)] == [False, False, True]
    assert [g["lr"] for g in trainer.optimizers[0].param_groups] == pytest.approx([0.05, 0.005, 0.005])


def test_gradual_needs_epochs() -> None:
    with pytest.raises(ValueError, match="unfreeze_at_epochs"):
        FinetuneClassifier(["a", "b"], strategy="gradual")


def old_torchvision_file(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Like the course's resnet18-5c106cde.pth: saved before BatchNorm had ``num_batches_tracked``."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize(
    "save_as",
    [old_torchvision_file, lambda model: torch.nn.DataParallel(model).state_dict()],
    ids=["old_torchvision_file", "dataparallel_module_prefix"],
)
def test_state_dict_files_load_and_mismatched_head_is_dropped(save_as, tmp_path) -> None:
    source = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(save_as(source), path)
    model = build_classifier("resnet18", 2)
    report = load_weights(model, str(path), "resnet18", "fc")
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    assert sorted(report.dropped) == ["fc.bias (1000,)->(2,)", "fc.weight (1000, 512)->(2, 512)"]
    assert "fc.weight (1000, 512)->(2, 512)" in report.message()


def test_lightning_checkpoint_loads_its_network(pretrained) -> None:
    model = FinetuneClassifier(["a", "b"], weights=str(pretrained))
    saved = torch.load(pretrained, weights_only=False)["state_dict"]
    assert torch.equal(model.net.layer2[0].conv1.weight, saved["net.layer2.0.conv1.weight"])


def test_weights_of_another_architecture_are_refused(pretrained) -> None:
    with pytest.raises(ValueError, match=r"does not fit resnet34.*Pick the backbone"):
        FinetuneClassifier(["a", "b"], backbone="resnet34", weights=str(pretrained))


def test_missing_weights_file_is_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pth"):
        FinetuneClassifier(["a", "b"], weights=str(tmp_path / "nope.pth"))


def test_weights_enum_offline_says_how_to_pass_a_file(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match=r"--model.init_args.weights path/to/resnet18-f37072fd.pth"):
        FinetuneClassifier(["a", "b"], weights="ResNet18_Weights.IMAGENET1K_V1")


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ("ResNet18_Weights.NOPE", "ResNet18_Weights.IMAGENET1K_V1"),
        ("ResNet34_Weights.DEFAULT", "another model"),
    ],
)
def test_bad_weights_names_are_explained(weights, match) -> None:
    with pytest.raises(ValueError, match=match):
        FinetuneClassifier(["a", "b"], weights=weights)


def test_unknown_backbone_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="resnet18"):
        FinetuneClassifier(["a", "b"], backbone="resnet19")


def test_any_torchvision_backbone_finds_its_head() -> None:
    model = FinetuneClassifier(["a", "b", "c"], backbone="mobilenet_v3_small", strategy="frozen")
    assert model.head_name == "classifier"
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("net.classifier.") for n in trainable)
    assert head_name(torchvision.models.vit_b_16(num_classes=7), 7) == "heads"


def test_recipe_config_finetunes_from_a_checkpoint_file(pretrained, image_folder, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", str(REPO / "configs/ants_bees_finetune.yaml"), "--trainer.fast_dev_run", "true",
        "--data.data_dir", str(image_folder(("ants", "bees"), per_class=6)), "--data.batch_size", "4",
        "--model.init_args.weights", str(pretrained),
    )  # fmt: skip
    saved = torch.load(pretrained, weights_only=False)["state_dict"]["net.conv1.weight"]
    assert torch.equal(cli.model.net.conv1.weight, saved)  # zero_lr: the recipe's backbone stays put
    assert [g["lr"] for g in cli.trainer.optimizers[0].param_groups] == [0.001, 0.0]


def test_test_from_a_checkpoint_needs_no_pretrained_weights(
    pretrained, image_folder, run_cli, tmp_path
) -> None:
    """The run's checkpoint holds every weight: the starting weights may be gone (or offline) by then."""
    starting = tmp_path / "starting_weights.ckpt"
    shutil.copy(pretrained, starting)
    data = ["--data.data_dir", str(image_folder(("ants", "bees"), per_class=6)), "--data.batch_size", "4"]
    config = [
        "--config",
        str(REPO / "configs/ants_bees_finetune.yaml"),
        "--model.init_args.weights",
        str(starting),
    ]
    run_cli("fit", *config, *data, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1")
    starting.unlink()
    cli = run_cli("test", *config, *data, "--ckpt_path", "last")
    assert "test/acc" in cli.trainer.callback_metrics
