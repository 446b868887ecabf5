"""What ``hello-lightning --help`` says: the project, its task configs, and what ``--ckpt_path`` takes."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from jsonargparse import DefaultHelpFormatter

from lit_modules.clean_exit import TRACEBACK_VARIABLE

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CKPT_PATH_HELP = (
    "A checkpoint file, or 'best' / 'last': the newest best.ckpt (best monitored score) or last.ckpt (the "
    "newest epoch) under <default_root_dir>/<name>/version_*/checkpoints/; the command then writes into "
    "that run's folder. 'fit --ckpt_path last' resumes a run exactly."
)


class HelpFormatter(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """jsonargparse's help, with the description's lines kept as written."""


def task_configs(folder: Path = CONFIGS) -> list[tuple[str, str]]:
    """``(path, first phrase of its opening comment)`` of each task config in ``folder``, overlays aside."""
    found = []
    for config in sorted(folder.glob("*.yaml")):
        first_line = config.read_text(encoding="utf-8").split("\n", 1)[0].lstrip("# ").strip()
        found.append((f"configs/{config.name}", re.split(r"(?<=\?)\s|\.(?:\s|$)|, |: the ", first_line)[0]))
    return found


def description() -> str:
    lines = [
        "hello-lightning: the exercises of a PyTorch course as LightningCLI tasks. Pick a task with",
        "--config, override any of its settings with --<key> <value>, stack overlays with more --config.",
        "",
        "Task configs:",
    ]
    configs = task_configs()
    width = max((len(path) for path, _ in configs), default=0)
    lines += [f"  {path:<{width}}  {summary}" for path, summary in configs]
    if not configs:
        lines.append(f"  (none found in {CONFIGS}; the repository's configs/ folder holds them)")
    lines += [
        "Overlays: configs/trainer/ (hardware), configs/views/ (what to watch), configs/variants/.",
        "",
        "Example: hello-lightning fit --config configs/names_rnn.yaml",
        f"A mistake in the input ends in one message; {TRACEBACK_VARIABLE}=1 shows the full traceback.",
    ]
    return "\n".join(lines)
