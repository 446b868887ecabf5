"""Read a weights file a user hands over without letting it run code.

``safe_torch_load`` is the one way the project opens a ``.pth``/``.pt``/``.ckpt``/``.pkl`` file it did not
write itself. It tries ``torch.load(weights_only=True)`` first (tensors, containers, numbers: plain state
dicts and Lightning checkpoints). Whole pickled models (``torch.save(model)``, as the course saves them)
need more: they name their classes. Those load through ``RestrictedUnpickler``, which calls only an
allow-list (torch's tensor-rebuild functions, containers, ``torch.nn`` layers and the project's networks)
and turns a class that is not importable here (the course's ``__main__.Net``) into an inert stand-in that
only carries its tensors. Any other callable stops the load with one message naming the file, the
callable and the opt-in: ``HELLO_LIGHTNING_TRUST_PICKLE=1``, after which the file loads as plain
``torch.load`` would, with a warning that it can run code.

Hand-written because torch's own ``weights_only`` unpickler refuses every class it does not know, so it
cannot give the tensors of a whole model whose class is gone.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lit_modules.nets.errors import ConfigError

TRUST_VARIABLE = "HELLO_LIGHTNING_TRUST_PICKLE"
# Modules whose nn.Module classes may be rebuilt: torch's layers and the project's own networks.
MODULE_PACKAGES = ("torch.nn.", "torchvision.models.", "torchvision.ops.", "lit_modules.nets.")
CONTAINERS = {("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset")}
# Python 2 names that protocol-2 pickles (torch.save's) use; the default find_class maps them the same way.
PYTHON2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg", "exceptions": "builtins"}
TENSOR_REBUILDERS = {"torch._utils", "torch._tensor"}  # their ``_rebuild_*`` functions only


class UnsafePickleError(ConfigError):
    """A weights file whose pickle would call something outside the allow-list."""


class RefusedGlobal(pickle.UnpicklingError):
    """The restricted unpickler met a callable outside its allow-list (named in the message)."""


class StandIn(nn.Module):
    """Stands in for a network class that is not importable here; unpickling fills its modules and tensors.

    It accepts and ignores any constructor arguments, and cannot run.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, *args: Any) -> Any:
        raise RuntimeError("A stand-in network only carries weights; it cannot run.")


def loaded_attribute(module: str, name: str) -> Any | None:
    """``module.name`` if ``module`` is imported already or is one of torch's and the project's own, else
    None: a pickle never gets to import (and so run) an arbitrary module."""
    if module not in sys.modules and not module.startswith(("torch", "torchvision", "lit_modules")):
        return None
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def allowed_global(module: str, name: str) -> Any | None:
    """The object ``module.name`` when a pickle may call it, else None."""
    found = loaded_attribute(module, name)
    if (module, name) in CONTAINERS:
        return found
    if module in TENSOR_REBUILDERS:
        return found if name.startswith("_rebuild_") else None
    if module == "torch":
        return found if isinstance(found, torch.dtype) or found in (torch.Size, torch.device) else None
    in_packages = module.startswith(MODULE_PACKAGES) or module in ("torch.nn", "lit_modules.nets")
    return found if in_packages and isinstance(found, type) and issubclass(found, nn.Module) else None


def exists_here(module: str, name: str) -> bool:
    """Whether ``module.name`` could be found here, decided without importing anything new."""
    if module in sys.modules:
        return hasattr(sys.modules[module], name)
    return importlib.util.find_spec(module.split(".", 1)[0]) is not None


class RestrictedUnpickler(pickle.Unpickler):
    """Calls only what ``allowed_global`` allows; a class missing here becomes a ``StandIn``; anything else
    that exists here (``os.system``, ``builtins.eval``...) raises ``RefusedGlobal`` naming it."""

    def find_class(self, module: str, name: str) -> Any:
        module = PYTHON2_MODULES.get(module, module)
        found = allowed_global(module, name)
        if found is not None:
            return found
        if exists_here(module, name):
            raise RefusedGlobal(f"{module}.{name}")
        return StandIn


class RestrictedPickle:
    """A ``pickle_module`` for ``torch.load`` whose every unpickling is a ``RestrictedUnpickler``."""

    __name__ = "pickle"
    Unpickler = RestrictedUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return RestrictedUnpickler(file, **kwargs).load()


class LenientUnpickler(pickle.Unpickler):
    """Full pickle (trusted files only), with a ``StandIn`` for a class that is not importable here."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return StandIn


class LenientPickle:
    __name__ = "pickle"
    Unpickler = LenientUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return LenientUnpickler(file, **kwargs).load()


def trusts_pickles() -> bool:
    return os.environ.get(TRUST_VARIABLE, "0") not in ("", "0")


def unreadable(path: Path) -> ConfigError:
    return ConfigError(
        f"{path} is not a readable torch file: it is truncated, empty or of another format. Save it again "
        "with torch.save, or pick another file."
    )


def safe_torch_load(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> Any:
    """``torch.load`` of a file a user handed over, which never runs the file's code (see the module doc).

    Raises ``UnsafePickleError`` for a file that would call anything outside the allow-list, and
    ``ConfigError`` for a file that is not a torch file at all (truncated, empty, another format).
    """
    path = Path(path).expanduser()
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        pass  # a whole model, or something worse: decided below
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise unreadable(path) from err
    if trusts_pickles():
        warnings.warn(
            f"{TRUST_VARIABLE} is set: loading {path} with full pickle, which can run any code in it.",
            stacklevel=2,
        )
        return torch.load(path, map_location=map_location, weights_only=False, pickle_module=LenientPickle)
    try:
        return torch.load(path, map_location=map_location, weights_only=False, pickle_module=RestrictedPickle)
    except RefusedGlobal as err:
        raise UnsafePickleError(
            f"{path} is a pickle that would call {err}, which can run "
            "code; hello-lightning loads tensors, containers and torch.nn layers only. If you trust the "
            f"file, set {TRUST_VARIABLE}=1 to load it with full pickle."
        ) from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise unreadable(path) from err
