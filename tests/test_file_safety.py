"""Files a user hands over or a run writes: checkpoints whole or absent, records kept, every decode right.

The full-disk and read-only cases mount a small tmpfs (root on Linux, as the tests run here and in CI);
where mounting is not allowed they skip, saying so. An injected write fault covers the checkpoint writer
everywhere.
"""

from __future__ import annotations

import errno
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from datamodules.disk_cache import load_images
from datamodules.image_cache import decode_image, decode_images
from lit_modules.checkpoint_io import AtomicCheckpointIO, CheckpointWriteError
from lit_modules.cli import main
from tests.conftest import REPO, write_class_folders

RMB = str(REPO / "configs" / "rmb_lenet.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def tiny_fit(data: Path, root: Path, *extra: str) -> list[str]:
    return ["--config", RMB, "--data.data_dir", str(data), "--data.batch_size", "4",
            "--trainer.default_root_dir", str(root), "--trainer.accelerator", "cpu", *QUIET,
            *extra]  # fmt: skip


def mounted_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def rmb(tmp_path: Path) -> Path:
    return write_class_folders(tmp_path / "rmb", ("1", "100"), per_class=10)


# -- checkpoints: whole or absent ---------------------------------------------------------------------------
def test_a_failed_checkpoint_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)

    def full_disk(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointWriteError, match=rf"{path} \(No space left on device; .* MiB free"):
        io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.zeros(3))


def test_a_full_disk_during_fit_leaves_whole_checkpoints(rmb: Path, tmp_path: Path, capsys) -> None:
    main(["fit", *tiny_fit(rmb, tmp_path / "sizing", "--trainer.max_epochs", "1")])
    size = (tmp_path / "sizing" / "rmb_lenet" / "version_0" / "checkpoints" / "best.ckpt").stat().st_size
    capsys.readouterr()
    # Room for best.ckpt and the run's small files, not for last.ckpt beside it.
    for disk in mounted_tmpfs(tmp_path / "disk", f"size={int(size * 1.5) // 4096 * 4096}"):
        with pytest.raises(SystemExit) as stop:
            main(["fit", *tiny_fit(rmb, disk, "--trainer.max_epochs", "2")])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: Could not write the checkpoint") and "No space left" in err
        checkpoints = disk / "rmb_lenet" / "version_0" / "checkpoints"
        assert [p.name for p in checkpoints.iterdir()] == ["best.ckpt"]
        assert zipfile.is_zipfile(checkpoints / "best.ckpt")
        main(["test", *tiny_fit(rmb, disk), "--ckpt_path", "best"])
        assert "test/acc" in (disk / "rmb_lenet" / "version_0" / "metrics.json").read_text()


def test_best_never_resolves_to_a_broken_file(rmb: Path, tmp_path: Path, capsys) -> None:
    """A newest ``best.ckpt`` cut short (by hand, or by an older version on a full disk) is named in one
    line, never loaded, and never silently replaced by an older run's."""
    main(["fit", *tiny_fit(rmb, tmp_path / "runs", "--trainer.max_epochs", "1")])
    broken = tmp_path / "runs" / "rmb_lenet" / "version_1" / "checkpoints" / "best.ckpt"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(
        (tmp_path / "runs" / "rmb_lenet" / "version_0" / "checkpoints" / "best.ckpt").read_bytes()[:999]
    )
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["test", *tiny_fit(rmb, tmp_path / "runs"), "--ckpt_path", "best"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"error: --ckpt_path {broken}: it does not load: it is truncated, empty or no checkpoint. "
        "Pass a .ckpt file a hello-lightning fit wrote.\n"
    )


def test_a_failed_start_keeps_every_folder_that_holds_more(tmp_path: Path) -> None:
    """The clean-up after a failure removes a folder holding only what the start wrote, nothing else."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from lit_modules.callbacks.unstarted_run import DiscardUnstartedRun

    def failed_start(version: int, extra: str | None, step: int = 0, rank_zero: bool = True) -> Path:
        logger = TensorBoardLogger(tmp_path / "runs", name="task", version=version)
        folder = Path(logger.log_dir)
        folder.mkdir(parents=True)
        (folder / "events.out.tfevents.1.host.1.0").write_bytes(b"")
        (folder / "config.yaml").write_text("trainer: {}\n")
        if extra == "checkpoints":
            (folder / extra).mkdir()
        elif extra:
            (folder / extra).write_text("{}")
        trainer = SimpleNamespace(
            is_global_zero=rank_zero,
            global_step=step,
            loggers=[logger],
            default_root_dir=str(tmp_path / "runs"),
        )
        DiscardUnstartedRun().on_exception(trainer, None, RuntimeError("at setup"))
        return folder

    assert not failed_start(0, None).exists()
    assert failed_start(1, "checkpoints").exists()  # a resumed run's folder
    assert failed_start(2, "metrics.json").exists()  # an earlier command's numbers
    assert failed_start(3, None, step=1).exists()  # it trained: its events are worth keeping
    assert failed_start(4, None, rank_zero=False).exists()  # only rank 0 touches the folder


# -- a run's record is kept --------------------------------------------------------------------------------
def test_test_and_predict_keep_the_config_that_fit_wrote(rmb: Path, tmp_path: Path) -> None:
    main(["fit", *tiny_fit(rmb, tmp_path / "runs", "--trainer.max_epochs", "1")])
    run = tmp_path / "runs" / "rmb_lenet" / "version_0"
    for _ in range(2):
        main(["test", *tiny_fit(rmb, tmp_path / "runs"), "--ckpt_path", "best"])
    main(
        ["predict", *tiny_fit(rmb, tmp_path / "runs"), "--ckpt_path", "best", "--data.predict_dir", str(rmb)]
    )
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["max_epochs"] == 1
    assert {"test_config.yaml", "test_config_2.yaml", "predict_config.yaml"} <= {
        p.name for p in run.iterdir()
    }


def test_a_failure_before_training_leaves_no_run_folder(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["fit", *tiny_fit(tmp_path / "absent", tmp_path / "runs")])
    assert "does not exist" in capsys.readouterr().err
    assert not list((tmp_path / "runs").glob("*/version_*"))


# -- the decode cache notices every change ------------------------------------------------------------------
def test_a_rewrite_that_keeps_size_and_mtime_is_decoded_again(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.bmp" for i in range(3)]
    for i, path in enumerate(paths):
        Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(path)  # a BMP's size depends on its shape alone
    first, _ = load_images(paths, (8, 8), cache_dir=tmp_path / "cache")
    stat = paths[0].stat()
    Image.new("RGB", (8, 8), (0, 0, 250)).save(paths[0])
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as rsync -t or touch -r leave it
    assert (paths[0].stat().st_size, paths[0].stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    again, _ = load_images(paths, (8, 8), cache_dir=tmp_path / "cache")
    assert torch.equal(again.images[0], decode_image(paths[0], (8, 8)))
    assert not torch.equal(first.images[0], again.images[0])


# -- every image mode decodes to the right RGB --------------------------------------------------------------
GRADIENT = np.linspace(0, 1, 64 * 48).reshape(48, 64)


def eight_bit_images() -> dict[str, Image.Image]:
    rgb = Image.fromarray((np.stack([GRADIENT, GRADIENT[::-1], GRADIENT.T[:48, :48].repeat(2, 1)[:, :64]], -1)
                           * 255).astype(np.uint8))  # fmt: skip
    palette_alpha = rgb.convert("P")
    palette_alpha.info["transparency"] = 0
    return {
        "1": rgb.convert("1"), "L": rgb.convert("L"), "LA": rgb.convert("LA"), "P": rgb.convert("P"),
        "P_transparent": palette_alpha, "RGBA": rgb.convert("RGBA"), "CMYK": rgb.convert("CMYK"),
    }  # fmt: skip


@pytest.mark.parametrize("mode", list(eight_bit_images()))
def test_eight_bit_modes_decode_as_pillow_converts_them(mode: str, tmp_path: Path) -> None:
    img = eight_bit_images()[mode]
    path = tmp_path / ("image.tiff" if mode == "CMYK" else "image.png")
    img.save(path)
    with Image.open(path) as reopened:
        expected = np.asarray(reopened.convert("RGBA").convert("RGB") if mode == "P_transparent"
                              else reopened.convert("RGB"))  # fmt: skip
    decoded = decode_image(path, (48, 64)).permute(1, 2, 0).numpy()
    assert np.array_equal(decoded, expected)


@pytest.mark.parametrize(
    ("mode", "samples", "suffix"),
    [
        ("I;16", (GRADIENT * 65535).astype(np.uint16), ".png"),  # a 16-bit grayscale PNG
        ("I", (GRADIENT * 65535).astype(np.int32), ".tiff"),
        ("F", GRADIENT.astype(np.float32), ".tiff"),
    ],
)
def test_wide_samples_are_scaled_over_their_full_range(mode, samples, suffix, tmp_path: Path) -> None:
    path = tmp_path / f"image{suffix}"
    Image.fromarray(samples).save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == mode
    decoded = decode_image(path, (48, 64))
    expected = torch.from_numpy(np.rint(GRADIENT * 255).astype(np.uint8))
    assert (decoded[0].int() - expected.int()).abs().max() <= 1 and torch.equal(decoded[0], decoded[2])
    assert (decoded == 255).float().mean() < 0.01  # Pillow's own conversion clipped 94 % to white


@pytest.mark.parametrize(
    ("mode", "samples", "reason"),
    [
        ("I", np.full((8, 8), 2**20, np.int32), "32-bit samples beyond 16 bits"),
        ("F", np.full((8, 8), 3.5, np.float32), "float samples outside 0-1"),
    ],
)
def test_samples_of_no_known_range_are_skipped_with_why(mode, samples, reason, tmp_path: Path) -> None:
    path = tmp_path / "image.tiff"
    Image.fromarray(samples).save(path)
    decoded = decode_images([path], (8, 8))
    assert decoded.kept == [] and reason in decoded.skipped[path]


def test_a_decompression_bomb_is_skipped_and_the_run_goes_on(
    rmb: Path, tmp_path: Path, monkeypatch, caplog
) -> None:
    Image.new("RGB", (400, 400)).save(rmb / "1" / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)  # 160,000 pixels: over twice the limit
    main(["fit", *tiny_fit(rmb, tmp_path / "runs", "--trainer.max_epochs", "1")])
    assert "bomb.png (more pixels than Pillow opens safely" in caplog.text
    cache = Path(os.environ["HELLO_LIGHTNING_CACHE"])
    assert not list(cache.glob("*.partial"))


def test_a_file_name_that_is_not_utf8_is_read_and_listed(rmb: Path, tmp_path: Path, caplog) -> None:
    folder = os.fsencode(rmb / "1")
    (Path(os.fsdecode(folder + b"/caf\xe9.jpg"))).write_bytes((rmb / "1" / "img_000.jpg").read_bytes())
    Path(os.fsdecode(folder + b"/broken\xff.jpg")).write_bytes(b"not an image")
    main(["fit", *tiny_fit(rmb, tmp_path / "runs", "--trainer.max_epochs", "1")])
    assert r"broken\xff.jpg (not an image)" in caplog.text
    listed = (tmp_path / "runs" / "rmb_lenet" / "version_0" / "skipped_files.txt").read_bytes()
    assert b"broken\xff.jpg\tnot an image" in listed


def test_a_read_only_cache_folder_is_one_message(rmb: Path, tmp_path: Path, capsys) -> None:
    for cache in mounted_tmpfs(tmp_path / "read_only", "ro,size=4g"):  # room enough: only writing fails
        with pytest.raises(SystemExit) as stop:
            main(["fit", *tiny_fit(rmb, tmp_path / "runs"), "--data.cache_dir", str(cache)])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: The decoded-image cache folder {cache} cannot be written") and (
            "Read-only file system" in err
        )
        assert not list((tmp_path / "runs").glob("*/version_*"))


@pytest.mark.parametrize("named", ["plain", "class_path", "json_string"])
def test_a_checkpoint_never_makes_the_cli_import_a_module(named, rmb, tmp_path, monkeypatch, capsys) -> None:
    """Lightning re-reads a checkpoint's saved settings, and jsonargparse imports the classes they name,
    given as a class path, a plain string or JSON inside a string; such a checkpoint is refused first."""
    marker = tmp_path / "import_ran"
    (tmp_path / "side_effect.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    net = {
        "plain": "side_effect.Net",
        "class_path": {"class_path": "side_effect.Net"},
        "json_string": '{"class_path": "side_effect.Net"}',
    }[named]
    hparams = {"_class_path": "lit_modules.ImageClassifier", "class_names": ["1", "100"], "net": net}
    torch.save({"state_dict": {}, "hyper_parameters": hparams}, tmp_path / "crafted.ckpt")
    with pytest.raises(SystemExit) as stop:
        main(["test", *tiny_fit(rmb, tmp_path / "runs"), "--ckpt_path", str(tmp_path / "crafted.ckpt")])
    assert stop.value.code == 2
    assert "it names side_effect.Net, a class of a module not imported here" in capsys.readouterr().err
    assert not marker.exists()
