"""A training loader whose place in an epoch survives a checkpoint, so a resumed run replays it exactly.

Everything random in an epoch of data (the shuffle and each sample's augmentation) comes from the loader's
own generator, drawn at the start of the epoch. Saving that generator's state and the number of
batches done is then enough to replay the rest of the epoch, whatever the number of workers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sized
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.data import BatchSampler, DataLoader, Sampler

SEED_RANGE = 2**62


class EpochOrder(Sampler):
    """One epoch of indices, shuffled by ``generator``; with ``sample_seeds``, ``(index, seed)`` pairs."""

    def __init__(self, size: int, generator: torch.Generator, shuffle: bool, sample_seeds: bool) -> None:
        self.size, self.generator, self.shuffle, self.sample_seeds = size, generator, shuffle, sample_seeds

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Any]:
        order = (
            torch.randperm(self.size, generator=self.generator) if self.shuffle else torch.arange(self.size)
        )
        if not self.sample_seeds:
            return iter(order.tolist())
        seeds = torch.randint(SEED_RANGE, (self.size,), generator=self.generator)
        return zip(order.tolist(), seeds.tolist(), strict=True)


class SkipFirst(Sampler):
    """Batches of ``batches``; the next epoch after ``skip = k`` leaves out its first k (then skip is 0)."""

    def __init__(self, batches: BatchSampler) -> None:
        self.batches, self.skip = batches, 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Any]:
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.batches), skip, None)


class ResumableLoader(DataLoader):
    """A DataLoader with its own generator (seeded from the global one) and a resumable position.

    Args:
        dataset: a map-style data set; with ``sample_seeds`` it receives ``(index, seed)`` keys and should
            seed its random augmentation of that sample with ``seed`` (see ``seeded``).
        batch_size, shuffle, drop_last: as for ``DataLoader``.
        **kwargs: other ``DataLoader`` arguments (workers, collate function, pinning).
    """

    def __init__(
        self,
        dataset: Sized,
        batch_size: int,
        shuffle: bool = True,
        sample_seeds: bool = False,
        drop_last: bool = False,
        **kwargs: Any,
    ) -> None:
        generator = torch.Generator().manual_seed(int(torch.randint(SEED_RANGE, ())))
        order = EpochOrder(len(dataset), generator, shuffle, sample_seeds)
        # Worker seeds come from a generator of their own, so iterating never touches the global random state.
        worker_seeds = torch.Generator().manual_seed(int(torch.randint(SEED_RANGE, (), generator=generator)))
        super().__init__(
            dataset,  # type: ignore[arg-type]
            batch_sampler=SkipFirst(BatchSampler(order, batch_size, drop_last)),
            generator=worker_seeds,
            **kwargs,
        )
        self.order_generator = generator
        self.epoch_start_state = generator.get_state()

    def __iter__(self) -> Any:
        self.epoch_start_state = self.order_generator.get_state()
        return super().__iter__()

    def position(self, batches_done: int) -> dict[str, Any]:
        """Where to resume after ``batches_done`` batches of the current epoch (0: the next epoch's start)."""
        state = self.epoch_start_state if batches_done else self.order_generator.get_state()
        return {"generator": state, "skip": batches_done}

    def resume(self, position: dict[str, Any]) -> None:
        self.order_generator.set_state(position["generator"])
        self.batch_sampler.skip = position["skip"]


@contextmanager
def sample_seed(seed: int | None) -> Iterator[None]:
    """Draw the random numbers of one sample's augmentation from ``seed`` (None: the global state), leaving
    the global random state as it was."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed % SEED_RANGE)
        yield


def seeded(key: int | tuple[int, int]) -> tuple[int, int | None]:
    """Split a data set key into ``(index, seed)``; ``seed`` is None for plain integer keys."""
    return key if isinstance(key, tuple) else (key, None)


class ResumableTraining:
    """Mixin for a LightningDataModule whose ``train_dataloader`` uses ``self.resumable_loader(...)``.

    The loader's position goes into every checkpoint (the data module's ``state_dict``) and comes back
    when ``fit --ckpt_path`` restores it, so an interrupted epoch goes on with the batches it had left.
    Under several processes (DDP) the plain ``DataLoader`` is used: Lightning shards it per rank.
    """

    _train_loader: ResumableLoader | None = None
    _resume_at: dict[str, Any] | None = None

    def resumable_loader(self, dataset: Sized, **kwargs: Any) -> DataLoader:
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:
            kwargs.pop("sample_seeds", None)
            return DataLoader(dataset, shuffle=kwargs.pop("shuffle", True), **kwargs)  # type: ignore[arg-type]
        loader = ResumableLoader(dataset, **kwargs)
        if self._resume_at is not None:
            loader.resume(self._resume_at)
            self._resume_at = None
        self._train_loader = loader
        return loader

    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "trainer", None)
        if self._train_loader is None or trainer is None:
            return {}
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:
            done = 0
        return {"train_loader": self._train_loader.position(done)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume_at = state_dict.get("train_loader")
