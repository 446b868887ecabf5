"""Surnames and their languages: one ``<Language>.txt`` per class, split with no name in two splits."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from datamodules.errors import DataError, DataLayoutError
from datamodules.global_batch import GlobalBatchSize
from datamodules.resumable import ResumableTraining
from datamodules.splits import check_fractions, split_items

EMBEDDED_NAMES = Path(__file__).parent / "names_data"
ALPHABET = string.ascii_letters + " .,;'"  # the course's letters; index 0 is padding
LOWERCASE_ALPHABET = string.ascii_lowercase + " .,;'"  # the same without letter case

NamedSample = tuple[str, int]


def fold_to_ascii(text: str) -> str:
    """Drop accents and anything outside the alphabet, as the course does (``Ślusàrski`` -> ``Slusarski``)."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn" and c in ALPHABET)


def read_names(data_dir: Path) -> tuple[list[str], list[NamedSample]]:
    """Languages (sorted) and the distinct (folded name, label) pairs of a folder of ``<Language>.txt``."""
    if not data_dir.is_dir():
        raise DataLayoutError(
            f"Names folder {data_dir} does not exist. Expected {data_dir}/<Language>.txt files "
            "(UTF-8, one surname a line), e.g. Arabic.txt, Chinese.txt."
        )
    files = sorted(data_dir.glob("*.txt"))
    if len(files) < 2:
        raise DataLayoutError(
            f"Found {len(files)} <Language>.txt file(s) in {data_dir}; a classifier needs at least 2. "
            "Expected one UTF-8 file per language, one surname a line."
        )
    pairs: set[NamedSample] = set()
    for label, file in enumerate(files):
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise DataLayoutError(
                f"{file} is not UTF-8 ({err.reason} at byte {err.start}). Re-save it as UTF-8."
            ) from err
        names = {fold_to_ascii(line.strip()) for line in lines} - {""}
        if not names:
            raise DataLayoutError(f"{file} holds no surname; add one a line or remove the file.")
        pairs |= {(name, label) for name in names}
    return [f.stem for f in files], sorted(pairs)


def leakage_free_split(
    pairs: Sequence[NamedSample], num_classes: int, fractions: Sequence[float], seed: int
) -> list[list[NamedSample]]:
    """Stratified split in which every name lives in one part only, whatever languages share it.

    A name is its spelling with case ignored (``McDonald`` and ``Mcdonald`` are one), so folding case when
    encoding cannot carry a name across parts either. Languages are split one by one, rarest first; a name
    already placed (through another language) stays in its part, so a name seen in training never appears
    in validation or test. Two spellings of one name in one language both go to the later of their parts.
    """
    by_label: dict[int, list[str]] = {label: [] for label in range(num_classes)}
    for name, label in pairs:
        by_label[label].append(name)
    part_of: dict[str, int] = {}
    for label in sorted(by_label, key=lambda lab: (len(by_label[lab]), lab)):
        free = [name for name in by_label[label] if name.lower() not in part_of]
        for part, names in enumerate(split_items(free, fractions, seed + label)):
            part_of.update(dict.fromkeys((name.lower() for name in names), part))
    parts: list[list[NamedSample]] = [[] for _ in fractions]
    for name, label in pairs:
        parts[part_of[name.lower()]].append((name, label))
    return parts


def collate(
    samples: list[tuple[torch.Tensor, int]],
) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Pad index sequences into (B, T) with their lengths; targets are labels (or input indices)."""
    sequences, targets = zip(*samples, strict=True)
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    return (pad_sequence(list(sequences), batch_first=True), lengths), torch.tensor(targets)


class NamesDataModule(GlobalBatchSize, ResumableTraining, pl.LightningDataModule):
    """Surnames -> language. Labels are the sorted file stems (Arabic = 0 ... Vietnamese = 17).

    Args:
        data_dir: folder of ``<Language>.txt`` files; defaults to the copy shipped with the project.
        batch_size: names per optimizer step, all devices together (under DDP each of N processes loads
            batch_size / N; it must divide).
        split: train/val/test fractions of the distinct names.
        seed: seed of the deterministic split.
        num_workers: loader worker processes.
        predict_file: a text file of names (one a line) to classify with ``predict``.
        predict_names: names to classify with ``predict`` (used when ``predict_file`` is not given).
        lowercase: fold letter case when encoding: the model reads 31 characters instead of 57, and ``K``
            at the start of a name is the ``k`` it sees inside names. The split is the same either way (it
            keeps spellings that differ only in case together).
    """

    def __init__(
        self,
        data_dir: str | Path = EMBEDDED_NAMES,
        batch_size: int = 64,
        split: tuple[float, float, float] = (0.7, 0.15, 0.15),
        seed: int = 42,
        num_workers: int = 0,
        predict_file: str | Path | None = None,
        predict_names: list[str] | None = None,
        lowercase: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise DataError(f"--data.batch_size must be a positive integer, got {batch_size}.")
        self.data_dir = Path(data_dir).expanduser()
        self.batch_size = batch_size
        self.split = check_fractions(split)
        self.seed = seed
        self.num_workers = num_workers
        self.predict_file = Path(predict_file).expanduser() if predict_file else None
        self.predict_names = predict_names
        self.lowercase = lowercase
        self.predict_inputs: list[str] = []
        self._class_names: list[str] | None = None
        self._parts: dict[str, list[NamedSample]] = {}

    def _load(self) -> None:
        if self._class_names is None:
            self._class_names, pairs = read_names(self.data_dir)
            parts = leakage_free_split(pairs, len(self._class_names), self.split, self.seed)
            self._parts = dict(zip(("train", "val", "test"), parts, strict=True))

    @property
    def class_names(self) -> list[str]:
        self._load()
        return list(self._class_names or [])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def alphabet(self) -> str:
        """The characters the model reads, in index order (index 0 pads)."""
        return LOWERCASE_ALPHABET if self.lowercase else ALPHABET

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet) + 1

    def tokens(self, name: str) -> torch.Tensor:
        """Indices in ``alphabet`` (from 1; 0 pads) of a name's letters, folded to ASCII beforehand."""
        letters = name.lower() if self.lowercase else name
        return torch.tensor([self.alphabet.index(c) + 1 for c in letters], dtype=torch.long)

    @property
    def class_counts(self) -> list[int]:
        """Training names per class, for class weighting."""
        self._load()
        counts = torch.bincount(
            torch.tensor([label for _, label in self._parts["train"]]), minlength=len(self.class_names)
        )
        return counts.tolist()

    def samples(self, split: str) -> list[NamedSample]:
        self._load()
        return self._parts[split]

    def setup(self, stage: str) -> None:
        self.check_batch_size()
        self._load()
        if stage == "predict":
            self._setup_predict()

    def data_summary(self, stage: str) -> dict[str, Any]:
        """What ``setup(stage)`` prepared: languages and names per split."""
        if stage == "predict":
            return {"classes": self.class_names, "samples": {"predict": len(self.predict_inputs)}}
        splits = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}[stage]
        return {"classes": self.class_names, "samples": {s: len(self.samples(s)) for s in splits}}

    def _setup_predict(self) -> None:
        if self.predict_file is not None:
            if not self.predict_file.is_file():
                raise DataLayoutError(f"--data.predict_file {self.predict_file} does not exist.")
            raw = self.predict_file.read_text(encoding="utf-8").splitlines()
        elif self.predict_names:
            raw = list(self.predict_names)
        else:
            raise DataLayoutError(
                "predict needs --data.predict_file FILE (one name a line) or --data.predict_names."
            )
        self.predict_inputs = [line.strip() for line in raw if fold_to_ascii(line.strip())]
        if not self.predict_inputs:
            raise DataLayoutError("No name to classify: every input line is empty after folding to ASCII.")

    def _loader(self, samples: list[tuple[torch.Tensor, int]]) -> DataLoader:
        return DataLoader(
            samples,
            batch_size=self.device_batch_size,
            collate_fn=collate,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self.resumable_loader(
            [(self.tokens(n), y) for n, y in self.samples("train")],
            batch_size=self.device_batch_size,
            collate_fn=collate,
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader([(self.tokens(n), y) for n, y in self.samples("val")])

    def test_dataloader(self) -> DataLoader:
        return self._loader([(self.tokens(n), y) for n, y in self.samples("test")])

    def predict_dataloader(self) -> DataLoader:
        encoded = [(self.tokens(fold_to_ascii(name)), i) for i, name in enumerate(self.predict_inputs)]
        return self._loader(encoded)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Move tokens and targets; lengths stay on the CPU, where packing needs them."""
        (tokens, lengths), targets = batch
        return (tokens.to(device, non_blocking=True), lengths), targets.to(device, non_blocking=True)
