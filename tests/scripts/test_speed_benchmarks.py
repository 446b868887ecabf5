"""The speed benchmarks run end to end on the CPU with tiny sizes (their GPU modes share the code)."""

from __future__ import annotations

import re
import sys

import pytest

from scripts.benchmark import main


def test_throughput_benchmark_on_cpu(image_folder, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    data = image_folder(per_class=20)
    main(["throughput", "--device", "cpu", "--arch", "lenet", "--image-size", "32", "--cache-size", "40",
          "--batch-size", "8", "--course-batch-size", "8", "--repeat", "1", "--workers", "0",
          "--data-dir", str(data)])  # fmt: skip
    out = capsys.readouterr().out
    for row in ("course loop", "CPU-worker path", "device-cache path", "network alone"):
        assert row in out


def test_overhead_benchmark(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    main(["overhead", "--steps", "10", "--repeats", "2"])
    rows = {
        line[:38].strip(): [float(x) for x in line[38:].split()]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(("plain", "Trainer.fit,"))
    }
    plain, minimal, project = rows.values()
    assert list(rows) == [
        "plain PyTorch loop", "Trainer.fit, minimal LightningModule", "Trainer.fit, project ImageClassifier"
    ]  # fmt: skip
    assert plain[2:] == [1.0, pytest.approx(plain[1] / minimal[1], abs=0.01)]  # ratios of the CPU times
    assert project[3] == pytest.approx(project[1] / minimal[1], abs=0.01) and all(v > 0 for v in project)


def test_dcgan_benchmark_prints_images_per_second_for_both_loops(
    image_folder, capsys, monkeypatch, tmp_path
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    data = image_folder(per_class=12)
    main(["dcgan", "--data-dir", str(data), "--epochs", "2", "--image-size", "32", "--width", "8",
          "--batch-size", "8", "--val-images", "16", "--course-workers", "0", "--threads", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert "project cache: cpu, course loop: PIL with 0 worker(s)" in out, out
    for row in ("images per second", "images/s after epoch 1"):
        (speed,) = [line.split()[-3:] for line in out.splitlines() if line.startswith(row)]
        assert float(speed[0]) > 0 and float(speed[1]) > 0 and speed[2].endswith("x"), out
    (alone,) = [line for line in out.splitlines() if line.startswith("networks alone")]
    assert float(alone.split("): ")[1].split()[0]) > 0 and float(alone.split()[-3]) > 0, alone
    assert list(cwd.iterdir()) == [], "the benchmark wrote into the working directory"


def test_cache_benchmark_prints_the_host_cache_and_two_runs_of_disk_and_stream(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    main(["cache", "--images", "40", "--jpeg-size", "32", "--image-size", "16", "--batch-size", "8",
          "--batches", "2", "--rounds", "1", "--folder", str(tmp_path / "jpegs"), "--skip-ddp"])  # fmt: skip
    out = capsys.readouterr().out
    labels = (
        "host memory (decodes every run)", "disk cache, first run (decodes, writes)",
        "disk cache, second run (memory-maps)", "stream, first run (decodes, writes chunks)",
        "stream, second run (reads chunks)",
    )  # fmt: skip
    rows = {line[:42].strip(): line[42:].split() for line in out.splitlines() if line[:42].strip() in labels}
    assert list(rows) == list(labels)
    assert rows["host memory (decodes every run)"][2] == "1.000"  # its own baseline
    assert "disk cache: second run's time to the first step / first run's" in out
    assert "stream: second run's time to the first step / first run's" in out
    rates = ("training loader", "loader +")
    speeds = [line.split()[-5:] for line in out.splitlines() if line.startswith(rates)]
    assert len(speeds) == 2 and all(float(cell) > 0 for row in speeds for cell in row), speeds
    assert len(list((tmp_path / "jpegs").rglob("*.jpg"))) == 40


def test_cache_key_benchmark_prints_both_keys(tmp_path, capsys) -> None:
    main(["cache_key", "--photos", "12", "--size", "16", "12", "--folder", str(tmp_path / "photos")])
    out = capsys.readouterr().out
    assert "12 photos of 16x12" in out and re.search(r"project key \(size, mtime, ctime\)\s+\d+ ms", out)
    assert re.search(r"SHA-256 of content, warm\s+\d+ ms", out) and "content / project key, warm: x" in out
