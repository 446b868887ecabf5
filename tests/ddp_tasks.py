"""Run several ``hello-lightning`` commands in one set of DDP processes: ``torchrun ... ddp_tasks.py FILE``.

FILE holds a JSON list of argument lists. Under torchrun every process runs each command in turn, and they
share one process group, so four tasks cost one start-up of two processes instead of four.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lit_modules.cli import main

if __name__ == "__main__":
    for args in json.loads(Path(sys.argv[1]).read_text()):
        main(args)
