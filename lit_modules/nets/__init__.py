"""Plain networks: torch and torchvision only, no Lightning."""

from lit_modules.nets.char_ensemble import CharEnsemble
from lit_modules.nets.char_rnn import CharRNN
from lit_modules.nets.dcgan import Discriminator, Generator, RandomFeatures
from lit_modules.nets.detection import TorchvisionDetector
from lit_modules.nets.init import initialize
from lit_modules.nets.lenet import LeNet
from lit_modules.nets.ngram_bag import NgramBag
from lit_modules.nets.small_cnn import SmallCNN
from lit_modules.nets.torchvision_classifier import TorchvisionClassifier
from lit_modules.nets.unet import UNet

__all__ = [
    "CharEnsemble",
    "CharRNN",
    "Discriminator",
    "Generator",
    "LeNet",
    "NgramBag",
    "RandomFeatures",
    "SmallCNN",
    "TorchvisionClassifier",
    "TorchvisionDetector",
    "UNet",
    "initialize",
]
