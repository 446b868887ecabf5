"""The faces data module, the DCGAN networks, and the DCGAN LightningModule (manual optimization)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from PIL import Image

import lit_modules.dcgan as dcgan_module
from datamodules import DataLayoutError, FacesDataModule
from lit_modules import DCGAN
from lit_modules.nets import Discriminator, Generator
from scripts.generate_faces import main as generate_main
from tests.conftest import REPO, shared_data, write_class_folders

# The course recipe: Adam 2e-4, betas (0.5, 0.999), for both networks.
COURSE_ADAM = functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))


def step_lr(step_size: int = 8, gamma: float = 0.1) -> functools.partial:
    return functools.partial(torch.optim.lr_scheduler.StepLR, step_size=step_size, gamma=gamma)


def dcgan(image_shape=(3, 32, 32), width: int = 8, scheduler=None, **kwargs) -> DCGAN:
    """The course's DCGAN on ``image_shape`` with nets ``width`` wide (tiny KID subsets unless given)."""
    return DCGAN(
        Generator(image_shape, ngf=width),
        Discriminator(image_shape, ndf=width),
        generator_optimizer=COURSE_ADAM,
        discriminator_optimizer=COURSE_ADAM,
        generator_scheduler=scheduler,
        discriminator_scheduler=scheduler,
        **{"kid_subsets": 5, "kid_subset_size": 8, **kwargs},
    )


@pytest.fixture
def faces_dir(tmp_path: Path) -> Path:
    """32 small generated images in one folder tree (the data module searches at any depth)."""
    return write_class_folders(tmp_path / "faces", ("a", "b"), per_class=16)


def tiny_data(faces_dir: Path, **kwargs) -> FacesDataModule:
    return FacesDataModule(faces_dir, **{"image_size": 32, "batch_size": 8, "val_images": 16, **kwargs})


def tiny_trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    defaults = {
        "accelerator": "cpu",
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "default_root_dir": str(tmp_path),
        "num_sanity_val_steps": 0,
    }
    return pl.Trainer(**{**defaults, **kwargs})


# -- networks -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64, 128])
def test_nets_depth_follows_image_size(size: int) -> None:
    generator, discriminator = (
        Generator(image_shape=(3, size, size), nz=100, ngf=4),
        Discriminator(image_shape=(3, size, size), ndf=4),
    )
    images = generator(torch.randn(2, 100))
    assert images.shape == (2, 3, size, size)
    assert images.abs().max() <= 1
    assert discriminator(images).shape == (2,)
    assert generator.nz == 100 and generator.image_shape == (3, size, size)


def test_nets_take_the_channels_from_the_image_shape() -> None:
    generator, discriminator = Generator((1, 16, 16), nz=8, ngf=4), Discriminator((1, 16, 16), ndf=4)
    images = generator(torch.randn(2, 8))
    assert images.shape == (2, 1, 16, 16)
    assert discriminator(images).shape == (2,)


def test_nets_dcgan_initialisation() -> None:
    generator = Generator(ngf=64)
    convs = torch.cat(
        [m.weight.flatten() for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    )
    norms = torch.cat([m.weight for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(convs.mean().item()) < 1e-3 and convs.std().item() == pytest.approx(0.02, rel=0.05)
    assert norms.mean().item() == pytest.approx(1.0, abs=0.01)
    assert norms.std().item() == pytest.approx(0.02, rel=0.2)


def test_nets_reject_sizes_that_are_not_powers_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Generator(image_shape=(3, 48, 48))
    with pytest.raises(ValueError, match="square"):
        Discriminator(image_shape=(3, 32, 64))


# -- data -----------------------------------------------------------------------------------------------
def test_faces_data_module_batches_in_tanh_range(faces_dir: Path) -> None:
    data = tiny_data(faces_dir)
    assert data.image_shape == (3, 32, 32)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch.dtype == torch.uint8 and batch.shape == (8, 3, 32, 32)
    images = data.on_after_batch_transfer(batch, 0)
    assert images.dtype == torch.float32 and -1 <= images.min() < images.max() <= 1
    assert len(data.train_dataloader()) == 32 // 8
    assert len(data.val_dataloader().dataset) == 16


def test_faces_data_module_crops_the_centre(tmp_path: Path) -> None:
    folder = tmp_path / "wide"
    folder.mkdir()
    img = Image.new("RGB", (96, 32), (0, 0, 255))  # blue sides, a red 32x32 centre
    img.paste((255, 0, 0), (32, 0, 64, 32))
    img.save(folder / "wide.png")
    data = FacesDataModule(folder, image_size=32, batch_size=1, val_images=2)
    data.setup("fit")
    assert data.images.shape == (1, 3, 32, 32)
    assert (data.images[0, 0] == 255).all() and (data.images[0, 2] == 0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"image_size": 48}, ValueError, "image_size must be one of"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"val_images": 1}, ValueError, "val_images"),
        ({"data_dir": "missing"}, DataLayoutError, "does not exist.*--data.download"),
        ({"data_dir": "empty"}, DataLayoutError, "No image files"),
        ({"batch_size": 64}, DataLayoutError, "fewer than one batch"),
    ],
)
def test_faces_data_module_bad_input(faces_dir: Path, kwargs: dict, error: type, match: str) -> None:
    (faces_dir.parent / "empty").mkdir()
    if "data_dir" in kwargs:
        kwargs = {**kwargs, "data_dir": faces_dir.parent / kwargs["data_dir"]}
    with pytest.raises(error, match=match):
        FacesDataModule(**{"data_dir": faces_dir, "image_size": 32, **kwargs}).setup("fit")


def test_faces_download_failure_names_the_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise RuntimeError("no network")

    monkeypatch.setattr("datamodules.faces.CelebA", offline)
    with pytest.raises(DataLayoutError, match=r"(?s)no network.*img_align_celeba"):
        FacesDataModule(tmp_path / "celeba", download=True).prepare_data()


# -- model ------------------------------------------------------------------------------------------------
class WatchParameters(Callback):
    """Snapshots of G and D at the batch start, just before G's optimizer steps, and at the batch end."""

    def __init__(self) -> None:
        self.snapshots: dict[str, dict[str, torch.Tensor]] = {}

    @staticmethod
    def snapshot(model: DCGAN) -> dict[str, torch.Tensor]:
        return {
            name: torch.cat([p.detach().flatten().clone() for p in net.parameters()])
            for name, net in (("g", model.generator), ("d", model.discriminator))
        }

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.snapshots["start"] = self.snapshot(pl_module)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if optimizer is trainer.optimizers[1]:  # the generator's: the discriminator has stepped already
            self.snapshots["after_d"] = self.snapshot(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.snapshots["end"] = self.snapshot(pl_module)


def test_one_manual_step_trains_d_then_g(faces_dir: Path, tmp_path: Path) -> None:
    watch = WatchParameters()
    model = dcgan(scheduler=step_lr())
    tiny_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0, callbacks=[watch]).fit(
        model, tiny_data(faces_dir)
    )
    start, after_d, end = (watch.snapshots[k] for k in ("start", "after_d", "end"))
    assert torch.equal(after_d["g"], start["g"]), "the discriminator step changed the generator"
    assert not torch.equal(after_d["d"], start["d"])
    assert not torch.equal(end["g"], after_d["g"])
    assert torch.equal(end["d"], after_d["d"]), "the generator step changed the discriminator"
    assert model.lr_schedulers()[0].get_last_lr() == [2e-4]


def test_label_smoothing_sets_the_real_target() -> None:
    """Real images of noise give logits away from 0, where the target changes the loss (at a logit of
    exactly 0 every target costs ln 2)."""
    model = dcgan(real_label=0.9)
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(4, 3, 32, 32, generator=generator) * 2 - 1
    fake = torch.rand(4, 3, 32, 32, generator=generator) * 2 - 1
    loss, real_logits, fake_logits = model.discriminator_loss(real, fake)
    assert real_logits.abs().min() > 1e-3
    expected = torch.nn.functional.binary_cross_entropy_with_logits(real_logits, torch.full((4,), 0.9))
    expected = expected + torch.nn.functional.softplus(fake_logits).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    unsmoothed = torch.nn.functional.binary_cross_entropy_with_logits(real_logits, torch.ones(4))
    assert (
        abs(expected.item() - (unsmoothed + torch.nn.functional.softplus(fake_logits).mean()).item()) > 1e-4
    )
    with pytest.raises(ValueError, match="real_label"):
        dcgan(real_label=0.4)


class RecordLosses(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        metrics = trainer.callback_metrics
        self.losses += [metrics["train/d_loss"].item(), metrics["train/g_loss"].item()]


def _fit(faces_dir: Path, root: Path, max_epochs: int, ckpt_path: str | None = None) -> RecordLosses:
    """3 epochs of 4 steps, validation (and the checkpoint after it) each epoch, lr halved every epoch."""
    pl.seed_everything(3)
    record = RecordLosses()
    checkpoint = ModelCheckpoint(dirpath=root / "checkpoints", save_last=True)
    trainer = tiny_trainer(
        root,
        max_epochs=max_epochs,
        deterministic=True,
        callbacks=[record, checkpoint],
        enable_checkpointing=True,
    )
    # A module built in Python keeps its networks and optimizer partials in its hyperparameters, which
    # torch.load's weights_only mode refuses; checkpoints of the CLI hold their config instead.
    model = dcgan(scheduler=step_lr(1, 0.5))
    trainer.fit(model, tiny_data(faces_dir), ckpt_path=ckpt_path)
    for optimizer in trainer.optimizers:
        assert optimizer.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.5 ** (max_epochs - 1))
    return record


def test_resume_continues_the_same_curves(faces_dir: Path, tmp_path: Path) -> None:
    straight = _fit(faces_dir, tmp_path / "straight", max_epochs=3).losses
    first = _fit(faces_dir, tmp_path / "interrupted", max_epochs=2).losses
    resumed = _fit(
        faces_dir, tmp_path / "interrupted", 3, str(tmp_path / "interrupted/checkpoints/last.ckpt")
    )
    assert first + resumed.losses == pytest.approx(straight, rel=1e-5)
    assert len(resumed.losses) == 2 * 4


def test_fid_offline_says_so_and_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(**kwargs):
        raise ModuleNotFoundError("FrechetInceptionDistance needs torch-fidelity")

    monkeypatch.setattr(dcgan_module, "FrechetInceptionDistance", unavailable)
    with pytest.warns(UserWarning, match="FID is off.*torch-fidelity.*KID only"):
        model = dcgan(fid=True)
    assert model._fid == []


def test_cli_run_writes_grids_distances_and_samples(faces_dir: Path, tmp_path: Path, run_cli) -> None:
    cli = run_cli(
        "fit", "--config", str(REPO / "configs/faces_dcgan.yaml"),
        "--data.data_dir", str(faces_dir), "--data.image_size", "32", "--data.batch_size", "8",
        "--data.val_images", "16", "--model.generator.init_args.ngf", "8",
        "--model.discriminator.init_args.ndf", "8", "--model.kid_subset_size", "8",
        "--model.generator_optimizer.init_args.lr", "0.0003", "--trainer.max_epochs", "2",
        "--trainer.limit_train_batches", "2",
    )  # fmt: skip
    run = Path(cli.trainer.log_dir)
    # The data's image shape is linked into both networks; the widths and rates come from the flags.
    assert cli.model.generator.image_shape == (3, 32, 32) and cli.model.generator.main[-2].out_channels == 3
    assert cli.model.generator.main[0].out_channels == 8 * 4  # ngf 8, three doublings from 4x4 to 32x32
    convs = [m for m in cli.model.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4 and convs[0].out_channels == 8  # 32x32 -> 16 -> 8 -> 4 -> one logit; ndf 8
    generator_optimizer, discriminator_optimizer = cli.trainer.optimizers[1], cli.trainer.optimizers[0]
    assert generator_optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)
    assert discriminator_optimizer.param_groups[0]["lr"] == pytest.approx(2e-4)
    assert generator_optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["epoch_000.png", "epoch_001.png"]
    assert list(run.glob("events.out.tfevents.*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val/kid"] > metrics["val/kid_real_floor"]
    assert (run / "checkpoints/best.ckpt").is_file()

    out = tmp_path / "generated"
    generate_main(
        [str(run / "checkpoints/last.ckpt"), "--n", "5", "--walks", "2", "--steps", "4", "--out", str(out)]
    )
    assert sorted(p.name for p in out.iterdir()) == [
        *(f"{i:03d}.png" for i in range(5)),
        "grid.png",
        "latent_walk.png",
    ]
    with Image.open(out / "latent_walk.png") as strip:
        assert strip.size == (2 + 4 * 34, 2 + 2 * 34)


# -- real data ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_short_training_on_real_faces_closes_the_gap(tmp_path: Path) -> None:
    """1,024 real faces at 32x32, 8 epochs (about 50 s on one core): KID falls well below its start."""
    faces = shared_data("faces")
    pl.seed_everything(0)
    data = FacesDataModule(faces, image_size=32, batch_size=32, max_images=1024, val_images=512)
    model = dcgan(data.image_shape, width=32, scheduler=step_lr(), kid_subsets=50, kid_subset_size=128)
    trainer = tiny_trainer(tmp_path, max_epochs=8, check_val_every_n_epoch=8)
    before = trainer.validate(model, data, verbose=False)[0]
    trainer.fit(model, data)
    after = {k: v.item() for k, v in trainer.callback_metrics.items()}
    assert after["val/kid"] < 0.5 * before["val/kid"], (before, after)
    assert after["val/kid_real_floor"] < after["val/kid"]
