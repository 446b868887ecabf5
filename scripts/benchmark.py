"""Side-by-side benchmarks: the project against a plain PyTorch loop written the way the course writes it.

    python scripts/benchmark.py rmb [--help]
    python scripts/benchmark.py finetune
    python scripts/benchmark.py dcgan
    python scripts/benchmark.py detection

Each benchmark lives in ``scripts/benchmarks/<name>.py`` with ``add_arguments(parser)`` and ``run(args)``,
runs both sides in one process on the same data, and prints measured numbers and their ratio.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent / "benchmarks"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="benchmark", required=True)
    for path in sorted(BENCHMARKS.glob("[!_]*.py")):
        module = importlib.import_module(f"benchmarks.{path.stem}")
        sub = commands.add_parser(path.stem, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
