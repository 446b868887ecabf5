"""The README's "Adding your own task" recipe, followed literally: its network file and config, as printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, write_class_folders

HELLO = str(Path(sys.executable).parent / "hello-lightning")


def readme_recipe() -> tuple[str, str]:
    """The Python and YAML blocks of the README's recipe section."""
    section = REPO.joinpath("README.md").read_text().split("## Adding your own task")[1].split("\n## ")[0]
    (python,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (config,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    return python, config


def hello(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([HELLO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_readme_recipe_trains_a_new_task(tmp_path: Path) -> None:
    python, config = readme_recipe()
    module = re.search(r"# (\w+)\.py", python).group(1)
    (tmp_path / f"{module}.py").write_text(python)
    data = write_class_folders(tmp_path / "photos", ("red", "blue", "green"), per_class=12)
    (tmp_path / "my_task.yaml").write_text(config.replace("PATH/TO/folders_of_classes", str(data)))

    hello("fit", "--config", "my_task.yaml", "--trainer.fast_dev_run", "true", cwd=tmp_path)
    quiet = ["--trainer.enable_progress_bar", "false"]
    hello("fit", "--config", "my_task.yaml", "--trainer.max_epochs", "3", *quiet, cwd=tmp_path)
    run = tmp_path / "runs" / "my_task" / "version_0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 3 * 2 and 0 <= metrics["val/acc"] <= 1  # 29 training photos, 16 a batch
    assert {p.name for p in (run / "checkpoints").iterdir()} >= {"best.ckpt", "last.ckpt"}
    tested = hello("test", "--config", "my_task.yaml", "--ckpt_path", "best", cwd=tmp_path)
    assert "test/acc" in tested.stdout
