"""LightningDataModules: what feeds the models."""

from datamodules.ants_bees import AntsBeesDataModule
from datamodules.cats_dogs import CatsDogsDataModule
from datamodules.detection import DetectionDataModule
from datamodules.errors import DataError, DataLayoutError
from datamodules.faces import FacesDataModule
from datamodules.image_folder import ImageFolderDataModule
from datamodules.names import NamesDataModule
from datamodules.rmb import RMBDataModule
from datamodules.segmentation import SegmentationDataModule
from datamodules.transforms import SaltPepperNoise

__all__ = [
    "AntsBeesDataModule",
    "CatsDogsDataModule",
    "DataError",
    "DataLayoutError",
    "DetectionDataModule",
    "FacesDataModule",
    "ImageFolderDataModule",
    "NamesDataModule",
    "RMBDataModule",
    "SaltPepperNoise",
    "SegmentationDataModule",
]
