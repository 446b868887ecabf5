"""Names: folding, label order, de-duplication, a split with no leakage, bad files, prediction inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from datamodules import DataLayoutError, NamesDataModule
from datamodules.names import (
    ALPHABET,
    EMBEDDED_NAMES,
    LOWERCASE_ALPHABET,
    fold_to_ascii,
    leakage_free_split,
    read_names,
)
from tests.conftest import write_names


def test_fold_to_ascii_like_the_course() -> None:
    assert fold_to_ascii("Ślusàrski") == "Slusarski"
    assert fold_to_ascii("O'Néal") == "O'Neal"
    assert fold_to_ascii("Ähm!?") == "Ahm"


def test_embedded_data_has_18_sorted_languages() -> None:
    names, pairs = read_names(EMBEDDED_NAMES)
    assert len(names) == 18 and names[0] == "Arabic" and names[-1] == "Vietnamese"
    assert names == sorted(names)
    assert len(pairs) == len(set(pairs)) and 17_000 < len(pairs) < 18_500
    assert sum(1 for _, label in pairs if label == 0) == 108  # Arabic: 2,000 lines, 108 distinct names


def test_split_has_no_name_in_two_parts_and_keeps_every_language() -> None:
    dm = NamesDataModule()
    parts = {split: dm.samples(split) for split in ("train", "val", "test")}
    names = {split: {n for n, _ in samples} for split, samples in parts.items()}
    assert not (
        names["train"] & names["test"] or names["train"] & names["val"] or names["val"] & names["test"]
    )
    for split in ("val", "test"):
        assert {label for _, label in parts[split]} == set(range(18))
        assert 0.13 < len(parts[split]) / sum(len(p) for p in parts.values()) < 0.17


def test_a_name_shared_by_two_languages_stays_in_one_part() -> None:
    pairs = [(f"N{i:03d}", 0) for i in range(40)] + [(f"N{i:03d}", 1) for i in range(0, 40, 2)]
    parts = leakage_free_split(sorted(pairs), 2, (0.5, 0.25, 0.25), seed=3)
    part_of = {}
    for index, part in enumerate(parts):
        for name, _ in part:
            assert part_of.setdefault(name, index) == index


def test_spellings_that_differ_in_case_are_one_name_for_the_split() -> None:
    pairs = [(f"N{i:03d}", 0) for i in range(40)] + [("Mcdonald", 0), ("McDonald", 1), ("An", 1), ("an", 1)]
    parts = leakage_free_split(sorted(pairs), 2, (0.5, 0.25, 0.25), seed=3)
    part_of = {name: index for index, part in enumerate(parts) for name, _ in part}
    assert part_of["Mcdonald"] == part_of["McDonald"] and part_of["An"] == part_of["an"]
    dm = NamesDataModule()  # the embedded data has An and an (Vietnamese)
    folded = [{name.lower() for name, _ in dm.samples(split)} for split in ("train", "val", "test")]
    assert not (folded[0] & folded[1] or folded[0] & folded[2] or folded[1] & folded[2])


def test_split_is_deterministic() -> None:
    assert NamesDataModule(seed=1).samples("test") == NamesDataModule(seed=1).samples("test")
    assert NamesDataModule(seed=1).samples("test") != NamesDataModule(seed=2).samples("test")


def test_batches_are_padded_indices_with_cpu_lengths(names_folder: Path) -> None:
    dm = NamesDataModule(names_folder, batch_size=5)
    dm.setup("fit")
    (tokens, lengths), labels = next(iter(dm.val_dataloader()))
    assert tokens.shape[0] == lengths.shape[0] == labels.shape[0]
    assert (
        tokens.shape[1] == lengths.max()
        and tokens.max() <= len(ALPHABET)
        and (tokens[0, lengths[0] :] == 0).all()
    )
    (moved, kept_lengths), _ = dm.transfer_batch_to_device(
        ((tokens, lengths), labels), torch.device("meta"), 0
    )
    assert moved.device.type == "meta" and kept_lengths.device.type == "cpu"


def test_class_counts_and_vocab(names_folder: Path) -> None:
    dm = NamesDataModule(names_folder)
    assert dm.class_names == ["Alpha", "Beta", "Gamma"]
    assert sum(dm.class_counts) == len(dm.samples("train"))
    assert dm.vocab_size == len(ALPHABET) + 1


def test_lowercase_folds_case_everywhere_but_keeps_the_split(names_folder: Path) -> None:
    cased, folded = NamesDataModule(names_folder), NamesDataModule(names_folder, lowercase=True)
    assert folded.vocab_size == len(LOWERCASE_ALPHABET) + 1 == 32 and cased.vocab_size == 58
    assert torch.equal(folded.tokens("McDonald"), folded.tokens("mcdonald"))
    assert not torch.equal(cased.tokens("McDonald"), cased.tokens("mcdonald"))
    assert folded.samples("test") == cased.samples("test")
    folded.setup("fit")
    (tokens, _), _ = next(iter(folded.train_dataloader()))
    assert 0 < tokens.max() < folded.vocab_size
    folded = NamesDataModule(names_folder, lowercase=True, predict_names=["Ślusàrski"])
    folded.setup("predict")
    (tokens, _), _ = next(iter(folded.predict_dataloader()))
    assert torch.equal(tokens[0], folded.tokens("slusarski"))


def test_bad_names_folders(tmp_path: Path) -> None:
    with pytest.raises(DataLayoutError, match="does not exist"):
        NamesDataModule(tmp_path / "nope").class_names
    write_names(tmp_path / "one", {"Solo": ["A"]})
    with pytest.raises(DataLayoutError, match="at least 2"):
        NamesDataModule(tmp_path / "one").class_names
    root = write_names(tmp_path / "latin1", {"A": ["Ab"], "B": ["Bc"]})
    (root / "B.txt").write_bytes("Müller\n".encode("latin-1"))
    with pytest.raises(DataLayoutError, match=r"B.txt is not UTF-8"):
        NamesDataModule(root).class_names
    root = write_names(tmp_path / "blank", {"A": ["Ab"], "B": ["", "  "]})
    with pytest.raises(DataLayoutError, match="holds no surname"):
        NamesDataModule(root).class_names


def test_predict_inputs_from_file_or_list(tmp_path: Path) -> None:
    listing = tmp_path / "in.txt"
    listing.write_text("Nguyen\n\nSchmidt\n", encoding="utf-8")
    dm = NamesDataModule(predict_file=listing)
    dm.setup("predict")
    assert dm.predict_inputs == ["Nguyen", "Schmidt"]
    dm = NamesDataModule(predict_names=["Rossi"])
    dm.setup("predict")
    (_, lengths), index = next(iter(dm.predict_dataloader()))
    assert lengths.tolist() == [5] and index.tolist() == [0]
    with pytest.raises(DataLayoutError, match="predict_file"):
        NamesDataModule().setup("predict")
