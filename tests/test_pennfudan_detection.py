"""The detection task: the CLI end to end (fit with views, predict), mAP, the predictions file, weights."""

from __future__ import annotations

import csv
import json
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
import torchvision
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.data import DataLoader

from lit_modules import DetectionTask
from lit_modules.callbacks import BoxWriter
from lit_modules.callbacks.detection_views import draw_boxes
from lit_modules.nets import TorchvisionDetector
from lit_modules.nets.errors import ConfigError
from tests.conftest import REPO, write_pedestrians

CONFIG = str(REPO / "configs" / "pennfudan_fasterrcnn.yaml")
SCRATCH = str(REPO / "configs" / "variants" / "pennfudan_scratch.yaml")
VIEWS = str(REPO / "configs" / "views" / "pennfudan_fasterrcnn.yaml")
SMALL = [
    "--data.image_size", "48", "--data.batch_size", "2",
    "--model.net.init_args.options.min_size", "48", "--model.net.init_args.options.max_size", "48",
    "--model.net.init_args.options.box_score_thresh", "0.0",  # one key at a time: the config's others stay
]  # fmt: skip
LOSS_PARTS = ("loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg")


def test_fit_logs_loss_parts_and_map_draws_views_and_predict_writes_rows_and_photos(
    run_cli, tmp_path: Path
) -> None:
    data = ["--data.data_dir", str(write_pedestrians(tmp_path / "peds", 10)), *SMALL]
    cli = run_cli(
        "fit", "--config", CONFIG, "--config", SCRATCH, "--config", VIEWS, *data, "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "2",
    )  # fmt: skip
    run = Path(cli.trainer.log_dir)
    assert cli.model.net.model.roi_heads.box_predictor.cls_score.out_features == 2  # linked from the data
    metrics = json.loads((run / "metrics.json").read_text())
    assert all(
        0 <= metrics[f"{stage}/{name}"] <= 1 for stage in ("val", "test") for name in ("map", "map_50")
    )
    assert "val/map_75" in metrics
    assert not (run / "confusion_matrix").exists()  # no class per photo: the always-on matrix stays out
    assert Image.open(run / "detection" / "epoch_000.png").width > 2 * 48  # true | predicted, per photo
    tags = EventAccumulator(str(run), size_guidance={"images": 0}).Reload().Tags()
    assert "detection/val" in tags["images"]
    assert {"train/loss_epoch", *(f"train/{part}" for part in LOSS_PARTS)} <= set(tags["scalars"])

    photos = tmp_path / "to_detect"
    write_pedestrians(photos, 2, size=(96, 80))
    run_cli(
        "predict", "--config", CONFIG, "--config", SCRATCH, *data, "--ckpt_path", "last",
        "--data.predict_dir", str(photos / "PNGImages"), "--model.score_threshold", "0.0",
    )  # fmt: skip
    with open(run / "predictions.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "class", "score", "x1", "y1", "x2", "y2"]
    assert {Path(r["file"]).name for r in rows} == {"Ped00000.png", "Ped00001.png"}
    assert all(r["class"] == "pedestrian" and 0 <= float(r["x1"]) <= float(r["x2"]) <= 96 for r in rows)
    drawn = sorted(p.name for p in (run / "predictions").iterdir())
    assert drawn == ["Ped00000_boxes.png", "Ped00001_boxes.png"]
    assert Image.open(run / "predictions" / "Ped00000_boxes.png").size == (96, 80)


def test_box_writer_scales_boxes_back_to_each_photo_and_draws_them(tmp_path: Path) -> None:
    photo = tmp_path / "street.png"
    Image.new("RGB", (96, 80), (0, 0, 0)).save(photo)
    data = SimpleNamespace(image_size=(40, 48), predict_inputs=[str(photo)], predict_sizes=[(96, 80)])
    trainer = SimpleNamespace(world_size=1, is_global_zero=True, datamodule=data)
    detections = {
        "boxes": torch.tensor([[0.0, 0.0, 24.0, 20.0], [10.0, 10.0, 20.0, 20.0]]),
        "labels": torch.tensor([1, 1]),
        "scores": torch.tensor([0.9, 0.3]),
    }
    module = SimpleNamespace(class_names=["background", "pedestrian"])
    BoxWriter(str(tmp_path / "out"), score_threshold=0.5).write_on_epoch_end(
        trainer, module, [{"index": torch.tensor([0]), "detections": [detections]}], []
    )
    with open(tmp_path / "out" / "predictions.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["file", "class", "score", "x1", "y1", "x2", "y2"],
        [str(photo), "pedestrian", "0.9000", "0.0", "0.0", "48.0", "40.0"],
    ]
    drawn = torch.from_numpy(
        __import__("numpy").asarray(Image.open(tmp_path / "out" / "predictions" / "street_boxes.png"))
    )
    assert drawn[20, 0].tolist() == [255, 0, 0] and drawn[20, 60].tolist() == [0, 0, 0]  # left edge only


class FixedDetections(nn.Module):
    """A stand-in detector that predicts the same boxes for any photo."""

    def __init__(self, detections: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.detections = detections
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, images, targets=None):
        return [dict(self.detections) for _ in images]


def test_validation_map_matches_a_case_computed_by_hand() -> None:
    """Two people; one box found with IoU 0.62, one false alarm scored lower, one person missed.

    Ranked by score: a hit (precision 1 at recall 0.5), then a false alarm; recall never passes 0.5. COCO's
    101-point AP is then 51/101 at every IoU threshold the hit passes (0.5, 0.55, 0.6) and 0 at the seven
    above, so map_50 = 51/101, map_75 = 0 and map = 3/10 * 51/101.
    """
    truth = {
        "boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]]),
        "labels": torch.tensor([1, 1]),
    }
    found = {
        "boxes": torch.tensor([[0.0, 0.0, 10.0, 6.2], [40.0, 20.0, 50.0, 30.0]]),
        "scores": torch.tensor([0.9, 0.8]),
        "labels": torch.tensor([1, 1]),
    }
    model = DetectionTask(FixedDetections(found), class_names=["background", "person"])
    batch = ([torch.zeros(3, 40, 60)], [truth])
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.validate(model, dataloaders=DataLoader([batch], batch_size=None), verbose=False)
    scores = trainer.callback_metrics
    assert scores["val/map_50"].item() == pytest.approx(51 / 101, abs=1e-4)
    assert scores["val/map_75"].item() == pytest.approx(0.0, abs=1e-6)
    assert scores["val/map"].item() == pytest.approx(0.3 * 51 / 101, abs=1e-4)


def offline(*args, **kwargs):
    raise urllib.error.URLError("no network")


def test_offline_coco_weights_say_which_file_to_fetch_and_how_to_pass_it(monkeypatch) -> None:
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    net = TorchvisionDetector(
        2, weights="FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
    )  # no download
    with pytest.raises(
        ConfigError,
        match=r"--model.net.init_args.weights path/to/fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth$",
    ):
        net.load_starting_weights()
    net = TorchvisionDetector(2, backbone_weights="MobileNet_V3_Large_Weights.IMAGENET1K_V1")
    with pytest.raises(
        ConfigError, match=r"--model.net.init_args.backbone_weights path/to/mobilenet_v3_large"
    ):
        net.load_starting_weights()


def test_a_weights_file_of_coco_classes_loads_all_but_the_class_head(tmp_path: Path) -> None:
    coco = TorchvisionDetector(91, weights=None)
    torch.save(coco.model.state_dict(), tmp_path / "coco.pth")
    net = TorchvisionDetector(2, weights=str(tmp_path / "coco.pth"))
    said = net.load_starting_weights()
    assert "dropped head weights" in said and "box_predictor.cls_score.weight" in said
    torch.testing.assert_close(net.model.rpn.head.conv[0][0].weight, coco.model.rpn.head.conv[0][0].weight)
    assert isinstance(net.model.backbone.body["0"][1], torchvision.ops.misc.FrozenBatchNorm2d)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"name": "maskrcnn_resnet50_fpn"},
            "not a torchvision box detector; choose one of .*fasterrcnn_resnet50_fpn",
        ),
        ({"weights": "FasterRCNN_ResNet50_FPN_Weights.COCO_V1"}, "weights of another model"),
        ({"backbone_weights": "ResNet50_Weights.IMAGENET1K_V1"}, "do not fit the backbone"),
        ({"options": {"min_sise": 100}}, "--model.net.init_args.options"),
    ],
)
def test_settings_that_cannot_work_fail_when_the_network_is_built(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TorchvisionDetector(2, **kwargs)


def test_a_photo_without_boxes_is_drawn_as_it_is_without_a_warning(recwarn) -> None:
    photo = torch.rand(3, 20, 30)
    drawn = draw_boxes(photo, torch.zeros(0, 4))
    assert drawn.dtype == torch.uint8 and torch.equal(drawn, (photo * 255).round().to(torch.uint8))
    assert not [w for w in recwarn if "box" in str(w.message)]
