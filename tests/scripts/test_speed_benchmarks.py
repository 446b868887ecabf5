"""The speed benchmarks run end to end on the CPU with tiny sizes (their GPU modes share the code)."""

from __future__ import annotations

import sys

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
    main(["overhead", "--steps", "10"])
    out = capsys.readouterr().out
    assert "plain PyTorch loop" in out and "project ImageClassifier" in out
