"""A DCGAN trained with manual optimization, with image-quality distances that need no download."""

from __future__ import annotations

import warnings
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance
from torchvision.utils import make_grid, save_image

from lit_modules.callbacks.run_folder import run_folder
from lit_modules.compat import find_unused_parameters
from lit_modules.hparams import keep_settings_only
from lit_modules.nets.dcgan import Generator, RandomFeatures
from lit_modules.nets.errors import ConfigError
from lit_modules.optim import optimizer_config


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1] floats, for saving and showing."""
    return (images * 0.5 + 0.5).clamp(0, 1)


class DCGAN(pl.LightningModule):
    """Generator and discriminator trained in turn each step, the DCGAN way, with BCE on logits.

    Each training step: the discriminator on real images and on detached fakes, then the generator against
    "real" labels. Logs ``train/d_loss``, ``train/g_loss``, ``train/d_real`` (mean D(x)) and
    ``train/d_fake`` (mean D(G(z))). After each training epoch a fixed-noise 8x8 grid goes to TensorBoard
    and to ``<run>/samples/epoch_<n>.png``. Each validation logs ``val/kid`` (generated vs real) and its
    floor ``val/kid_real_floor`` (two disjoint halves of the real images) on ``RandomFeatures``, and
    ``val/fid`` when ``fid`` is on and the Inception weights can be had.

    Args:
        generator: noise ``(N, nz)`` -> images in [-1, 1]; has ``nz``. Its ``image_shape`` is linked from the
            data module, as the discriminator's.
        discriminator: images -> one logit each.
        generator_optimizer, discriminator_optimizer: one optimizer per network (the course: Adam, lr 2e-4,
            betas (0.5, 0.999)).
        generator_scheduler, discriminator_scheduler: per-epoch schedulers, or none; stepped by hand, as
            manual optimization wants.
        real_label: target of real images for the discriminator; 0.9 is one-sided label smoothing.
        noise_seed: seed of the training noise, the sample grid and the validation fakes.
        kid_subsets: random subsets the KID is averaged over.
        kid_subset_size: images per KID subset (lowered to what the validation set holds).
        fid: also compute FID with torchmetrics (``pip install torch-fidelity`` and network access once).
        compile: compile generator and discriminator with ``torch.compile`` (``nn.Module.compile``:
            parameter names, and so checkpoints, stay the same).
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: nn.Module,
        generator_optimizer: OptimizerCallable = torch.optim.Adam,
        discriminator_optimizer: OptimizerCallable = torch.optim.Adam,
        generator_scheduler: LRSchedulerCallable | None = None,
        discriminator_scheduler: LRSchedulerCallable | None = None,
        real_label: float = 1.0,
        noise_seed: int = 0,
        kid_subsets: int = 50,
        kid_subset_size: int = 100,
        fid: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if not 0.5 < real_label <= 1.0:
            raise ConfigError(f"--model.real_label must be in (0.5, 1], got {real_label}.")
        self.save_hyperparameters()
        keep_settings_only(self)
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.optimizer_factories = {
            "discriminator": (discriminator_optimizer, discriminator_scheduler),
            "generator": (generator_optimizer, generator_scheduler),
        }
        if compile:
            self.generator.compile()
            self.discriminator.compile()
        self.features = RandomFeatures(generator.image_shape[0])
        with warnings.catch_warnings():  # "saves all features": a few hundred numbers per image here
            warnings.simplefilter("ignore", UserWarning)
            # Features are extracted once per batch by self.features and fed in; hence the identity.
            self.kid = KernelInceptionDistance(nn.Identity(), kid_subsets, kid_subset_size)
            self.kid_floor = KernelInceptionDistance(nn.Identity(), kid_subsets, kid_subset_size)
        # Kept out of the module tree, so checkpoints do not carry (or later require) Inception's weights.
        self._fid: list[FrechetInceptionDistance] = self._build_fid() if fid else []
        self.register_buffer("fixed_noise", self.noise(64, torch.Generator().manual_seed(noise_seed)))
        self._noise_generator: torch.Generator | None = None

    # -- sampling ------------------------------------------------------------------------------------
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else self.device
        return torch.randn(n, self.generator.nz, generator=generator, device=device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Noise ``(N, nz)`` -> images in [-1, 1]."""
        return self.generator(z)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from noise, with the generator in eval mode (BatchNorm running statistics)."""
        was_training = self.generator.training
        self.generator.eval()
        images = to_unit_range(self.generator(z.to(self.device)))
        self.generator.train(was_training)
        return images

    def latent_walk(self, z0: torch.Tensor, z1: torch.Tensor, steps: int = 10) -> torch.Tensor:
        """Images in [0, 1] along the straight line from noise ``z0`` to ``z1`` (both ``(nz,)``)."""
        t = torch.linspace(0, 1, steps, device=z0.device).unsqueeze(1)
        return self.generate(torch.lerp(z0.unsqueeze(0), z1.unsqueeze(0), t))

    def _step_noise(self, n: int) -> torch.Tensor:
        # Seeded by the step, not drawn from the global RNG: a resumed run sees the same noise.
        if self._noise_generator is None or self._noise_generator.device != self.device:
            self._noise_generator = torch.Generator(self.device)
        seed = self.hparams.noise_seed + 1_000_003 * (self.global_step + 1) + self.global_rank
        return self.noise(n, self._noise_generator.manual_seed(seed))

    # -- training ------------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        """The discriminator's optimizer first, then the generator's, each with its scheduler if any."""
        return [
            optimizer_config(optimizer, scheduler, getattr(self, name).parameters())
            for name, (optimizer, scheduler) in self.optimizer_factories.items()
        ]

    def setup(self, stage: str) -> None:
        # Under DDP each backward of a step leaves one network without gradients (the discriminator step
        # never reaches the generator), which DDP must be told about; the setting applies when Lightning wraps
        # the model, right after this hook.
        if isinstance(self.trainer.strategy, DDPStrategy):
            find_unused_parameters(self.trainer.strategy)

    def on_train_epoch_start(self) -> None:
        # Manual optimization steps schedulers by hand. Stepping up to the epoch number (not once per epoch
        # end) keeps the rate right whichever point of an epoch a resumed checkpoint was saved at.
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else filter(None, [schedulers]):
            while scheduler.last_epoch < self.current_epoch:
                scheduler.step()

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """BCE of D on real images (target ``real_label``) and on fakes (target 0), and their logits."""
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        loss = F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, self.hparams.real_label)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return loss, real_logits, fake_logits

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        logits = self.discriminator(fake)
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def training_step(self, real: torch.Tensor, batch_idx: int) -> None:
        opt_d, opt_g = self.optimizers()
        fake = self.generator(self._step_noise(real.shape[0]))

        self.toggle_optimizer(opt_d)
        d_loss, real_logits, fake_logits = self.discriminator_loss(real, fake.detach())
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.toggle_optimizer(opt_g)
        g_loss = self.generator_loss(fake)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        self.log_dict(
            {
                "train/d_loss": d_loss.detach(),
                "train/g_loss": g_loss.detach(),
                "train/d_real": real_logits.detach().sigmoid().mean(),
                "train/d_fake": fake_logits.detach().sigmoid().mean(),
            },
            prog_bar=True,  # under DDP, as rank 0 sees them: no step waits on a collective
        )

    def on_train_epoch_end(self) -> None:
        self._log_sample_grid()

    @rank_zero_only
    def _log_sample_grid(self) -> None:
        grid = make_grid(self.generate(self.fixed_noise), nrow=8, padding=2)
        if isinstance(self.logger, TensorBoardLogger):
            self.logger.experiment.add_image("samples", grid, self.current_epoch)
        folder = run_folder(self.trainer)
        if folder:
            path = folder / "samples" / f"epoch_{self.current_epoch:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(grid, path)

    # -- quality ---------------------------------------------------------------------------------------
    def _build_fid(self) -> list[FrechetInceptionDistance]:
        try:
            return [FrechetInceptionDistance(feature=2048, normalize=True)]
        except Exception as err:  # missing torch-fidelity, or no network for the weights
            rank_zero_warn(
                f"FID is off: {err}. Install torch-fidelity (pip install torch-fidelity) and run once with "
                "network access to fetch the Inception weights; training goes on with KID only."
            )
            return []

    def validation_step(self, real: torch.Tensor, batch_idx: int) -> None:
        """Real images alternate between halves A and B; as many fakes as A, from noise fixed per batch."""
        half_a, half_b = real[0::2], real[1::2]
        generator = torch.Generator(self.device).manual_seed(self.hparams.noise_seed + 7919 * (batch_idx + 1))
        fake = self.generator(self.noise(len(half_a), generator))
        features_a = self.features(half_a)
        self.kid.update(features_a, real=True)
        self.kid.update(self.features(fake), real=False)
        self.kid_floor.update(features_a, real=True)
        self.kid_floor.update(self.features(half_b), real=False)
        for fid in self._fid:
            fid.to(self.device)
            fid.update(to_unit_range(half_a), real=True)
            fid.update(to_unit_range(fake), real=False)

    def _kid(self, metric: KernelInceptionDistance) -> torch.Tensor:
        counts = (sum(len(f) for f in metric.real_features), sum(len(f) for f in metric.fake_features))
        metric.subset_size = min(self.hparams.kid_subset_size, *counts)
        with torch.random.fork_rng(devices=[]):  # the same subsets every time: comparable numbers
            torch.manual_seed(self.hparams.noise_seed)
            kid_mean, _ = metric.compute()
        metric.reset()
        return kid_mean

    def on_validation_epoch_end(self) -> None:
        # The metrics gather every process's features, so each process holds the same value already.
        self.log("val/kid", self._kid(self.kid), prog_bar=True, sync_dist=True)
        self.log("val/kid_real_floor", self._kid(self.kid_floor), sync_dist=True)
        for fid in self._fid:
            self.log("val/fid", fid.compute(), sync_dist=True)
            fid.reset()
