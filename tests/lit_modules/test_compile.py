"""``compile: true`` compiles the networks in place: same parameter names, so checkpoints fit either way."""

from __future__ import annotations

from lit_modules import DCGAN, ImageClassifier
from lit_modules.nets import Discriminator, Generator, LeNet


def test_image_classifier_compile_switch() -> None:
    plain = ImageClassifier(net=LeNet(num_classes=2), class_names=["a", "b"])
    compiled = ImageClassifier(net=LeNet(num_classes=2), class_names=["a", "b"], compile=True)
    assert plain.net._compiled_call_impl is None
    assert compiled.net._compiled_call_impl is not None
    assert list(compiled.state_dict()) == list(plain.state_dict())


def tiny_dcgan(compile: bool = False) -> DCGAN:
    shape = (3, 32, 32)
    return DCGAN(Generator(shape, ngf=8), Discriminator(shape, ndf=8), compile=compile)


def test_dcgan_compile_switch() -> None:
    model = tiny_dcgan(compile=True)
    assert model.generator._compiled_call_impl is not None
    assert model.discriminator._compiled_call_impl is not None
    assert list(model.state_dict()) == list(tiny_dcgan().state_dict())
