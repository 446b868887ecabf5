"""The learning-rate range test: Lightning's finder through the CLI, its plot in the run folder, a stop."""

from __future__ import annotations

from pathlib import Path

from lit_modules.callbacks import LRRangeTest
from tests.conftest import REPO
from tests.test_configs import smoke_args


def test_range_test_saves_its_plot_and_stops(run_cli, tmp_path: Path) -> None:
    config = REPO / "configs" / "rmb_lenet.yaml"
    cli = run_cli(
        "fit", "--config", str(config), "--config", str(REPO / "configs" / "variants" / "lr_find.yaml"),
        *smoke_args(config, tmp_path), "--trainer.max_epochs", "30",  # the generated data: 1 batch an epoch
        "--trainer.callbacks.init_args.num_training_steps", "20",
        "--trainer.callbacks.init_args.early_stop_threshold", "1e9",  # no early stop on a diverging loss
    )  # fmt: skip
    (finder,) = [c for c in cli.trainer.callbacks if isinstance(c, LRRangeTest)]
    assert len(finder.optimal_lr.results["lr"]) > 2 and finder.optimal_lr.suggestion() is not None
    assert (Path(cli.trainer.log_dir) / "lr_find.png").stat().st_size > 0
    assert not list(Path(cli.trainer.log_dir).glob("checkpoints/*.ckpt"))  # stopped before training
    assert cli.model.optimizers is not None and cli.trainer.global_step == 0
