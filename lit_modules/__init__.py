"""LightningModules: what learns, as thin task wrappers over the plain networks in ``lit_modules.nets``."""

from lit_modules.classification import ClassificationTask
from lit_modules.dcgan import DCGAN
from lit_modules.detection import DetectionTask
from lit_modules.finetune_classifier import FinetuneClassifier
from lit_modules.image_classifier import ImageClassifier
from lit_modules.name_classifier import NameClassifier
from lit_modules.segmentation import SegmentationTask

__all__ = [
    "DCGAN",
    "ClassificationTask",
    "DetectionTask",
    "FinetuneClassifier",
    "ImageClassifier",
    "NameClassifier",
    "SegmentationTask",
]
