"""FinetuneClassifier over a TorchvisionClassifier: weights sources, when the starting weights load, and per
strategy which parameters and BatchNorm statistics move."""

from __future__ import annotations

import functools
import shutil
import urllib.error
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torchvision
from lightning.pytorch.callbacks import Callback

from datamodules import ImageFolderDataModule
from lit_modules import FinetuneClassifier
from lit_modules.nets import TorchvisionClassifier
from lit_modules.nets.errors import ConfigError
from lit_modules.nets.loading import load_weights
from lit_modules.nets.torchvision_classifier import head_name
from tests.conftest import REPO, write_class_folders

SGD = functools.partial(torch.optim.SGD, lr=0.05, momentum=0.9)


def classifier(
    class_names: Sequence[str] = ("a", "b"),
    name: str = "resnet18",
    weights: str | Path | None = None,
    **kwargs,
) -> FinetuneClassifier:
    net = TorchvisionClassifier(len(class_names), name=name, weights=str(weights) if weights else None)
    return FinetuneClassifier(net, class_names=list(class_names), **kwargs)


def loaded(model: FinetuneClassifier) -> FinetuneClassifier:
    """The model with its starting weights in, as a fit starts it (outside a fit, so they can be compared)."""
    model.net.load_starting_weights()
    return model


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
    model = classifier(["x", "y", "z"], strategy="none", optimizer=SGD)
    trainer = fit(model, make_data(root / "images", ("x", "y", "z")))
    trainer.save_checkpoint(root / "pretrained.ckpt")
    return root / "pretrained.ckpt"


def saved_weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["state_dict"]


def snapshot(model: FinetuneClassifier) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.net.state_dict().items()}


def changed(before: dict[str, torch.Tensor], model: FinetuneClassifier, prefix: str) -> dict[str, bool]:
    after = model.net.state_dict()
    return {k: not torch.equal(v, after[k]) for k, v in before.items() if k.startswith(prefix)}


def backbone_params(snap: dict[str, torch.Tensor], model: FinetuneClassifier) -> list[str]:
    names = {n for n, _ in model.net.named_parameters()}
    head = f"model.{model.net.head_name}."
    return [k for k in snap if k in names and not k.startswith(head)]


BN_STATS = ("model.layer1.0.bn1.running_mean", "model.bn1.running_var", "model.layer4.1.bn2.running_mean")


@pytest.mark.parametrize("strategy", ["frozen", "zero_lr"])
def test_frozen_and_zero_lr_keep_backbone_and_bn_stats_bit_for_bit(strategy, pretrained, tmp_path) -> None:
    model = loaded(classifier(weights=pretrained, strategy=strategy, optimizer=SGD))
    before = snapshot(model)
    trainer = fit(model, make_data(tmp_path / "images"))
    moved = changed(before, model, "")
    assert not any(moved[k] for k in backbone_params(before, model)), "a backbone weight moved"
    assert not any(moved[k] for k in BN_STATS), "BatchNorm statistics of the frozen backbone moved"
    assert moved["model.fc.weight"] and moved["model.fc.bias"]
    groups = trainer.optimizers[0].param_groups
    if strategy == "zero_lr":
        assert [g["lr"] for g in groups] == [0.05, 0.0]
        assert all(p.requires_grad for p in model.parameters())
    else:
        assert len(groups) == 1 and {id(p) for p in groups[0]["params"]} == {
            id(p) for p in model.net.head.parameters()
        }


def test_starting_weights_load_when_a_fit_starts(pretrained, tmp_path) -> None:
    """Not when the network is built (a restored run needs no file), but at the start of a fresh fit."""
    model = classifier(weights=pretrained, strategy="zero_lr", optimizer=SGD)
    saved = saved_weights(pretrained)
    key = "layer3.0.conv1.weight"
    assert not torch.equal(model.net.model.get_parameter(key), saved[f"net.model.{key}"])
    fit(model, make_data(tmp_path / "images"))
    assert torch.equal(model.net.model.get_parameter(key), saved[f"net.model.{key}"])
    assert torch.equal(model.net.model.bn1.running_mean, saved["net.model.bn1.running_mean"])


def test_train_frozen_bn_lets_statistics_move_but_not_weights(pretrained, tmp_path) -> None:
    model = loaded(classifier(weights=pretrained, strategy="frozen", train_frozen_bn=True))
    before = snapshot(model)
    fit(model, make_data(tmp_path / "images"))
    moved = changed(before, model, "")
    assert all(moved[k] for k in BN_STATS)
    assert not any(moved[k] for k in backbone_params(before, model))


def test_discriminative_backbone_learns_at_a_fraction_of_the_head_rate(pretrained, tmp_path) -> None:
    model = loaded(
        classifier(weights=pretrained, strategy="discriminative", backbone_lr_factor=0.2, optimizer=SGD)
    )
    before = snapshot(model)
    trainer = fit(model, make_data(tmp_path / "images"))
    assert [g["lr"] for g in trainer.optimizers[0].param_groups] == pytest.approx([0.05, 0.01])
    assert changed(before, model, "model.conv1.")["model.conv1.weight"]


def test_none_trains_everything_and_bn_statistics(tmp_path) -> None:
    model = classifier(strategy="none", optimizer=SGD)
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
    model = loaded(
        classifier(weights=pretrained, strategy="gradual", unfreeze_at_epochs=[1, 2], optimizer=SGD)
    )
    start, snaps = snapshot(model), EpochSnapshots()
    trainer = fit(model, make_data(tmp_path / "images"), epochs=3, callbacks=[snaps])
    epochs = [start, *snaps.snaps]

    def moved_in(epoch: int, key: str) -> bool:
        return not torch.equal(epochs[epoch][f"model.{key}"], epochs[epoch + 1][f"model.{key}"])

    top, bottom = "layer4.1.conv2.weight", "conv1.weight"
    assert [moved_in(e, "fc.weight") for e in range(3)] == [True, True, True]
    assert [moved_in(e, top) for e in range(3)] == [False, True, True]
    assert [moved_in(e, bottom) for e in range(3)] == [False, False, True]
    assert [moved_in(e, "layer1.0.bn1.running_mean") for e in range(3)] == [False, False, True]
    assert [g["lr"] for g in trainer.optimizers[0].param_groups] == pytest.approx([0.05, 0.005, 0.005])


def test_gradual_needs_epochs() -> None:
    with pytest.raises(ValueError, match="unfreeze_at_epochs"):
        classifier(strategy="gradual")


# -- weights sources --------------------------------------------------------------------------------------
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
    net = TorchvisionClassifier(2, weights=str(path))
    assert not torch.equal(net.model.conv1.weight, source.conv1.weight)  # nothing loads when it is built
    report = net.load_starting_weights()
    assert torch.equal(net.model.conv1.weight, source.conv1.weight)
    assert torch.equal(net.model.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    assert net.model.fc.weight.shape == (2, 512)
    assert report.endswith("dropped head weights that do not fit the new head: fc.bias, fc.weight.")
    assert load_weights(net.model, path, replaceable=["fc"])["dropped"] == ["fc.bias", "fc.weight"]


def test_lightning_checkpoint_loads_its_network(pretrained) -> None:
    net = TorchvisionClassifier(2, weights=str(pretrained))
    net.load_starting_weights()
    saved = saved_weights(pretrained)
    assert torch.equal(net.model.layer2[0].conv1.weight, saved["net.model.layer2.0.conv1.weight"])


def test_weights_of_another_architecture_are_refused(pretrained, tmp_path) -> None:
    model = classifier(name="resnet34", weights=pretrained)  # built: the file is only read at fit start
    with pytest.raises(
        ValueError, match=r"(?s)--model.net.init_args.weights: .*does not fit.*Pick the network"
    ):
        fit(model, make_data(tmp_path / "images"))


def test_missing_weights_file_is_named(tmp_path) -> None:
    net = TorchvisionClassifier(2, weights=str(tmp_path / "nope.pth"))
    with pytest.raises(ConfigError, match=r"nope\.pth"):
        net.load_starting_weights()


def test_weights_enum_offline_says_how_to_pass_a_file(monkeypatch, tmp_path) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    model = classifier(weights="ResNet18_Weights.IMAGENET1K_V1")  # building it downloads nothing
    with pytest.raises(ConfigError, match=r"--model.net.init_args.weights path/to/resnet18-f37072fd.pth"):
        fit(model, make_data(tmp_path / "images"))


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ("ResNet18_Weights.NOPE", "--model.net.init_args.weights.*ResNet18_Weights.IMAGENET1K_V1"),
        ("ResNet34_Weights.DEFAULT", "another model"),
    ],
)
def test_bad_weights_names_are_explained_when_the_net_is_built(weights, match) -> None:
    with pytest.raises(ValueError, match=match):
        TorchvisionClassifier(2, weights=weights)


def test_unknown_model_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="--model.net.init_args.name: 'resnet19'.*resnet18"):
        TorchvisionClassifier(2, name="resnet19")


def test_any_torchvision_model_finds_its_head() -> None:
    model = classifier(["a", "b", "c"], name="mobilenet_v3_small", strategy="frozen")
    assert model.net.head_name == "classifier"
    assert model.net.head is model.net.model.classifier
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("net.model.classifier.") for n in trainable)
    assert head_name(torchvision.models.vit_b_16(num_classes=7), 7) == "heads"


# -- through the CLI ----------------------------------------------------------------------------------------
def small_recipe(image_folder) -> list[str]:
    """The finetune recipe on generated ants and bees, at its full 224 crop (ResNet-18 on the CPU)."""
    folder = image_folder(("ants", "bees"), per_class=6)
    return ["--config", str(REPO / "configs/ants_bees_finetune.yaml"), "--data.data_dir", str(folder),
            "--data.batch_size", "4"]  # fmt: skip


def test_recipe_config_finetunes_from_a_checkpoint_file(pretrained, image_folder, run_cli) -> None:
    cli = run_cli(
        "fit", *small_recipe(image_folder), "--trainer.fast_dev_run", "true",
        "--model.net.init_args.weights", str(pretrained),
    )  # fmt: skip
    saved = saved_weights(pretrained)["net.model.conv1.weight"]
    assert torch.equal(cli.model.net.model.conv1.weight, saved)  # zero_lr: the recipe's backbone stays put
    assert [g["lr"] for g in cli.trainer.optimizers[0].param_groups] == [0.001, 0.0]


@pytest.fixture
def count_starting_loads(monkeypatch) -> list[str]:
    """Records every ``TorchvisionClassifier.load_starting_weights`` call (the weights source of each)."""
    calls: list[str] = []
    original = TorchvisionClassifier.load_starting_weights

    def spy(self: TorchvisionClassifier) -> str:
        calls.append(str(self.weights))
        return original(self)

    monkeypatch.setattr(TorchvisionClassifier, "load_starting_weights", spy)
    return calls


def test_test_from_a_checkpoint_needs_no_starting_weights(
    pretrained, image_folder, run_cli, tmp_path, monkeypatch, count_starting_loads
) -> None:
    """The run's checkpoint holds every weight: the starting weights may be gone (or offline) by then."""
    starting = tmp_path / "starting_weights.ckpt"
    shutil.copy(pretrained, starting)
    recipe = small_recipe(image_folder)
    run_cli("fit", *recipe, "--model.net.init_args.weights", str(starting), "--trainer.max_epochs", "1")
    assert count_starting_loads == [str(starting)]
    starting.unlink()
    best = saved_weights(next((tmp_path / "runs/ants_bees_finetune").glob("version_*/checkpoints/best.ckpt")))

    cli = run_cli("test", *recipe, "--model.net.init_args.weights", str(starting), "--ckpt_path", "best")
    assert "test/acc" in cli.trainer.callback_metrics
    assert torch.equal(cli.model.net.model.fc.weight, best["net.model.fc.weight"])

    # The recipe as written (ImageNet weights by name) with no internet: testing needs no download either.
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    cli = run_cli("test", *recipe, "--ckpt_path", "best")
    assert cli.model.net.weights == "ResNet18_Weights.IMAGENET1K_V1"
    assert "test/acc" in cli.trainer.callback_metrics
    assert count_starting_loads == [str(starting)], "a restored run loaded its starting weights"


def test_resumed_fit_does_not_load_starting_weights(
    pretrained, image_folder, run_cli, tmp_path, count_starting_loads
) -> None:
    """``fit --ckpt_path last`` continues from the checkpoint's weights, with the starting file gone."""
    starting = tmp_path / "starting_weights.ckpt"
    shutil.copy(pretrained, starting)
    args = [
        *small_recipe(image_folder), "--model.net.init_args.weights", str(starting),
        "--model.strategy", "none",
    ]  # fmt: skip
    steps = run_cli("fit", *args, "--trainer.max_epochs", "1").trainer.global_step
    assert count_starting_loads == [str(starting)]
    starting.unlink()

    cli = run_cli("fit", *args, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    assert cli.trainer.current_epoch == 2 and cli.trainer.global_step == 2 * steps > 0
    assert count_starting_loads == [str(starting)], "the resumed fit loaded its starting weights again"


def test_scratch_flags_train_the_recipe_from_random_weights(image_folder, run_cli) -> None:
    """The recipe from scratch given as flags (what configs/variants/ants_bees_scratch.yaml sets)."""
    cli = run_cli(
        "fit", *small_recipe(image_folder), "--trainer.fast_dev_run", "true",
        "--name", "ants_bees_scratch", "--model.net.init_args.weights", "null", "--model.strategy", "none",
    )  # fmt: skip
    assert cli.model.net.weights is None and cli.model.strategy == "none"
    assert len(cli.trainer.optimizers[0].param_groups) == 1
    assert cli.task_name == "ants_bees_scratch"


def test_a_second_fit_goes_on_from_the_trained_weights(pretrained, tmp_path) -> None:
    net = TorchvisionClassifier(2, weights=str(pretrained))
    model = FinetuneClassifier(net, class_names=["a", "b"], strategy="none", optimizer=SGD)
    data = make_data(tmp_path / "images")
    fit(model, data)
    after_first = model.net.model.conv1.weight.detach().clone()
    fit(model, data, epochs=0)
    assert torch.equal(model.net.model.conv1.weight, after_first)
