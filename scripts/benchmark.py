"""Side-by-side benchmarks: the project against a plain PyTorch loop written the way the course writes it.

    python scripts/benchmark.py rmb [--help]
    python scripts/benchmark.py finetune
    python scripts/benchmark.py dcgan

Each benchmark lives in ``scripts/benchmarks/<name>.py`` with ``add_arguments(parser)`` and ``run(args)``,
runs both sides in one process on the same data, and prints measured numbers and their ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks.{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(BENCHMARKS.parent.parent))  # the repository root, for lit_modules/datamodules
    sys.path.insert(0, str(BENCHMARKS))  # the benchmarks' shared parts (_course.py)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="benchmark", required=True)
    for path in sorted(BENCHMARKS.glob("[!_]*.py")):
        module = load(path.stem)
        sub = commands.add_parser(path.stem, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
