"""Load a weights file saved by a course-style script into a project network, report, and re-save it clean.

    python scripts/load_course_checkpoint.py lenet_course.pkl --net lit_modules.nets.LeNet --num-classes 2 \
        --output lenet.pt

Accepts plain state dicts, whole pickled models, ``nn.DataParallel`` files (``module.`` names) and checkpoint
dicts (``model_state_dict``, ``optimizer_state_dict``, ``epoch``); files saved on a GPU load on the CPU.
The output is a plain ``state_dict`` of the network. No file runs code: a pickle that would call anything
but tensors, containers and torch.nn layers is refused (``HELLO_LIGHTNING_TRUST_PICKLE=1`` allows it).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import torch

from lit_modules.nets.loading import load_weights


def build(class_path: str, num_classes: int, init_args: dict) -> torch.nn.Module:
    module_name, class_name = class_path.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)(num_classes, **init_args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path, help="the weights file")
    parser.add_argument("--net", default="lit_modules.nets.LeNet", help="class path of the project network")
    parser.add_argument("--num-classes", type=int, default=2)
    parser.add_argument("--init-args", type=json.loads, default={}, help='e.g. \'{"norm": "batch"}\'')
    parser.add_argument(
        "--no-strict", dest="strict", action="store_false", help="load what fits, report the rest"
    )
    parser.add_argument("--output", type=Path, help="write the network's state_dict here")
    args = parser.parse_args(argv)

    net = build(args.net, args.num_classes, args.init_args)
    try:
        extras = load_weights(net, args.path, strict=args.strict)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    count = sum(p.numel() for p in net.parameters())
    print(f"Loaded {args.path} into {type(net).__name__} ({count:,} parameters).")
    for key, value in extras.items():
        if key == "skipped":
            print("Not loaded:\n  " + "\n  ".join(value))
        elif isinstance(value, int | float | str):
            print(f"{key}: {value}")
    if args.output:
        torch.save(net.state_dict(), args.output)
        print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
