"""Callbacks: what watches a run and writes its results, and the views that let a user see inside it."""

from lit_modules.callbacks.box_writer import BoxWriter
from lit_modules.callbacks.cam import CAM, cam_with_logits
from lit_modules.callbacks.checkpoint import BestAndLastCheckpoint
from lit_modules.callbacks.config_record import ConfigRecord
from lit_modules.callbacks.confusion_matrix import ConfusionMatrixFigure, TestConfusionMatrix
from lit_modules.callbacks.data_summary import DataSummary
from lit_modules.callbacks.detection_views import DetectionViews
from lit_modules.callbacks.feature_maps import FeatureMaps
from lit_modules.callbacks.finite_loss import FiniteLoss, NonFiniteLossError
from lit_modules.callbacks.grad_cam import GradCAM, grad_cam
from lit_modules.callbacks.gradual_unfreezing import GradualUnfreezing
from lit_modules.callbacks.histograms import ParameterHistograms
from lit_modules.callbacks.hparams_metrics import HparamsWithMetrics
from lit_modules.callbacks.interruption import Interruption
from lit_modules.callbacks.kernels import Kernels
from lit_modules.callbacks.loss_chart import LossChart
from lit_modules.callbacks.lr_range_test import LRRangeTest
from lit_modules.callbacks.mask_writer import MaskWriter
from lit_modules.callbacks.metrics_json import MetricsJson
from lit_modules.callbacks.prediction_csv import PredictionCsv
from lit_modules.callbacks.segmentation_views import SegmentationViews
from lit_modules.callbacks.training_images import TrainingImages
from lit_modules.callbacks.unstarted_run import DiscardUnstartedRun

__all__ = [
    "CAM",
    "BestAndLastCheckpoint",
    "BoxWriter",
    "ConfigRecord",
    "ConfusionMatrixFigure",
    "DataSummary",
    "DetectionViews",
    "DiscardUnstartedRun",
    "FeatureMaps",
    "FiniteLoss",
    "GradCAM",
    "GradualUnfreezing",
    "HparamsWithMetrics",
    "Interruption",
    "Kernels",
    "LRRangeTest",
    "LossChart",
    "MaskWriter",
    "MetricsJson",
    "NonFiniteLossError",
    "ParameterHistograms",
    "PredictionCsv",
    "SegmentationViews",
    "TestConfusionMatrix",
    "TrainingImages",
    "cam_with_logits",
    "grad_cam",
]
