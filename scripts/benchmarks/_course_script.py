"""The course-style RMB script as one whole process: split, 10 epochs with validation, test accuracy.

    python -m benchmarks._course_script DATA_DIR [EPOCHS]

Like the course's script it imports torch, torchvision and PIL but not Lightning: the project's packages are
entered without their ``__init__`` (which imports the Lightning modules) to reuse LeNet and the split.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for name in ("lit_modules", "datamodules"):
    bare = types.ModuleType(name)
    bare.__path__ = [str(REPO / name)]
    sys.modules[name] = bare

from benchmarks._rmb_course import course_loop  # noqa: E402
from datamodules.layouts import scan_image_folder  # noqa: E402
from datamodules.splits import stratified_split  # noqa: E402

if __name__ == "__main__":
    data_dir, epochs = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 10
    samples = scan_image_folder(data_dir, ["1", "100"]).unsplit
    parts = stratified_split(samples, [s.label for s in samples], (0.8, 0.1, 0.1), seed=42)
    seconds, test_acc = course_loop(dict(zip(("train", "val", "test"), parts, strict=True)), 42, epochs)
    print(f"course-style script: {epochs} epochs in {seconds:.1f} s, test acc {test_acc:.3f}")
