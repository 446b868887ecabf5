"""What the console says: the help, a summary of the data after setup, and the demo's showcase."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import pytest
import yaml

from datamodules.image_cache import PROGRESS_FROM, decode_images
from lit_modules.callbacks.data_summary import SKIPPED_FILE, summary_text
from lit_modules.cli import HelloCLI
from tests.conftest import REPO

RMB = str(REPO / "configs" / "rmb_lenet.yaml")


def test_help_describes_the_project_and_lists_the_task_configs(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        HelloCLI(args=["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "the exercises of a PyTorch course" in out and "HELLO_LIGHTNING_TRACEBACK=1" in out
    for config in sorted((REPO / "configs").glob("*.yaml")):
        assert re.search(rf"configs/{config.name} +\w", out), config.name


def test_ckpt_path_help_says_what_best_and_last_mean(capsys) -> None:
    with pytest.raises(SystemExit):
        HelloCLI(args=["test", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "'best' / 'last': the newest best.ckpt (best monitored score) or last.ckpt" in out


def test_summary_names_classes_splits_cache_and_skipped_files() -> None:
    summary = {
        "classes": [f"class_{i}" for i in range(8)],
        "samples": {"train": 80, "val": 10},
        "cache": "host memory, 1.5 MiB",
        "skipped": {Path("/data/a/x.jpg"): "empty file"},
    }
    text = summary_text(summary, Path("runs/t/version_0/skipped_files.txt"))
    assert text == (
        "Data: 8 classes (class_0, class_1, class_2, class_3, class_4, class_5 and 2 more); "
        "train 80, val 10; cached in host memory, 1.5 MiB\n"
        "Skipped 1 file(s) that are no readable image, all listed in runs/t/version_0/skipped_files.txt: "
        "x.jpg (empty file)"
    )


def test_fit_prints_the_summary_and_lists_skipped_files_in_the_run(image_folder, run_cli, caplog, tmp_path):
    data = image_folder(["1", "100"], per_class=10)
    (data / "100" / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.INFO):
        run_cli("fit", "--config", RMB, "--data.data_dir", str(data), "--trainer.max_epochs", "1",
                "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
                "--trainer.log_every_n_steps", "1")  # fmt: skip
    skipped = tmp_path / "runs" / "rmb_lenet" / "version_0" / SKIPPED_FILE
    cache = tmp_path / "image_cache"  # the tests' HELLO_LIGHTNING_CACHE
    assert (
        f"Data: 2 classes (1, 100); train 16, val 2; cached in {cache} (memory-mapped), 0.1 MiB"
        in caplog.text
    )
    assert f"Skipped 1 file(s) that are no readable image, all listed in {skipped}" in caplog.text
    assert skipped.read_text() == f"{data / '100' / 'empty.jpg'}\tempty file\n"
    assert "LitLogger" not in caplog.text


def test_the_demo_asks_about_names_as_the_data_spells_them() -> None:
    makefile = (REPO / "Makefile").read_text()
    names = yaml.safe_load(re.search(r'--data.predict_names "(\[.*\])"', makefile).group(1))
    spelled = {
        line.strip()
        for file in (REPO / "datamodules" / "names_data").glob("*.txt")
        for line in file.read_text(encoding="utf-8").splitlines()
    }
    assert "O'Brien" in names
    assert [name for name in names if name not in spelled] == []


@pytest.mark.parametrize(("count", "bar"), [(3, False), (PROGRESS_FROM, True)])
def test_a_progress_bar_shows_while_decoding_many_images(count, bar, tmp_path, monkeypatch) -> None:
    shown = []

    def recording_tqdm(iterable, *args, disable=None, **kwargs):
        shown.append(disable is None)  # None: a bar wherever the console is a terminal
        return iterable

    monkeypatch.setattr("datamodules.image_cache.tqdm", recording_tqdm)
    paths = [tmp_path / f"{i}.jpg" for i in range(count)]  # absent files decode to nothing, fast
    decode_images(paths, (8, 8))
    assert shown == [bar]


def test_the_cli_silences_torchs_pytree_deprecation_inside_lightning() -> None:
    from lightning.pytorch.utilities._pytree import _tree_flatten  # builds a LeafSpec, deprecated in torch

    with warnings.catch_warnings(record=True) as caught:
        with pytest.raises(SystemExit):
            HelloCLI(args=["--help"])
        _tree_flatten(1)
    assert [str(w.message) for w in caught if "LeafSpec" in str(w.message)] == []
