"""Read a weights file a user hands over without letting it run code.

``safe_torch_load`` is the one way the project opens a ``.pth``/``.pt``/``.ckpt``/``.pkl`` file it did not
write itself, always through torch's own ``weights_only`` unpickler (tensors, containers, numbers: plain
state dicts and Lightning checkpoints load as they are). A whole pickled model (``torch.save(model)``, as
the course saves them) names its classes; torch lists them without unpickling anything
(``get_unsafe_globals_in_checkpoint``), and each is judged without importing anything new:

- a network class (any ``nn.Module`` subclass already imported here) or a class that is not importable here
  (the course's ``__main__.Net``) is rebuilt as a ``StandIn``, an inert module that only carries its
  tensors: neither the real class's ``__init__`` nor its ``__setstate__`` ever runs;
- ``functools.partial`` keeps its meaning (torchvision's networks hold ``partial(nn.LayerNorm, ...)``);
- anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``...) stops the load with one message
  naming the file, the callable and the opt-in, ``HELLO_LIGHTNING_TRUST_PICKLE=1``, after which every
  callable the file names is imported and allowed (as full pickle would; a class missing here is still a
  ``StandIn``), with a warning that the file can run code; torch's own blocklist (``os``, ``sys``,
  ``subprocess``...) still applies. Either way one loader, torch's, reads every file.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import sys
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lit_modules.nets.errors import ConfigError

TRUST_VARIABLE = "HELLO_LIGHTNING_TRUST_PICKLE"
# Globals a course checkpoint may hold beside its networks, harmless whatever their arguments. numpy is not
# among them: a rebuilt dtype takes its layout from the file, which can make numpy read raw bytes as objects.
HELPERS: dict[str, Any] = {
    "functools.partial": partial,  # torchvision keeps norm_layer=partial(nn.LayerNorm, eps=...)
}


class UnsafePickleError(ConfigError):
    """A weights file whose pickle would call something outside the allow-list."""


class StandIn(nn.Module):
    """Stands in for a network class of a whole pickled model; unpickling fills its modules and tensors.

    It accepts and ignores any constructor arguments, and cannot run.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, *args: Any) -> Any:
        raise RuntimeError("A stand-in network only carries weights; it cannot run.")


def imported_global(full_name: str) -> tuple[bool, Any]:
    """``(found, object)`` for ``module.name`` looked up among the modules already imported, in the module's
    own namespace (a module's lazy ``__getattr__`` could import more); ``found`` is False for a name that
    cannot be had here without importing."""
    module_name, _, name = full_name.rpartition(".")
    namespace = vars(sys.modules[module_name]) if module_name in sys.modules else {}
    return name in namespace, namespace.get(name)


def safe_global(full_name: str) -> Callable | None:
    """What the weights-only unpickler may build for ``full_name``: a ``StandIn`` for a network class or a
    class missing here, the object itself for a listed helper; None for anything else."""
    if full_name in HELPERS:
        return HELPERS[full_name]
    found, obj = imported_global(full_name)
    if found and isinstance(obj, type) and issubclass(obj, nn.Module):
        return StandIn
    if not found and not exists_here(full_name):
        return StandIn  # e.g. the course's __main__.Net or model.lenet.LeNet
    return None


def exists_here(full_name: str) -> bool:
    """Whether ``module.name`` could be imported here, decided without importing (and so running) it."""
    module_name = full_name.rpartition(".")[0]
    if module_name in sys.modules:
        return imported_global(full_name)[0]
    top = module_name.split(".", 1)[0]
    return bool(top) and importlib.util.find_spec(top) is not None


def trusts_pickles() -> bool:
    """Whether the user opted in to full pickle (``HELLO_LIGHTNING_TRUST_PICKLE=1``)."""
    return os.environ.get(TRUST_VARIABLE, "0") not in ("", "0")


def trusted_global(full_name: str) -> Callable:
    """With the opt-in: the object ``module.name`` itself, imported as full pickle would (so the file can run
    code), or a ``StandIn`` for a class that is not importable here."""
    module_name, _, name = full_name.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return StandIn


def unreadable(path: Path, err: BaseException) -> ConfigError:
    """The one message for a file that is no torch file this loader can read."""
    if isinstance(err, OSError) and not isinstance(err, EOFError) and err.strerror:
        return ConfigError(f"{path} cannot be read ({err.strerror}).")
    return ConfigError(
        f"{path} is not a readable torch file: it is truncated, empty, of another format or holds objects "
        "this loader cannot rebuild. Save its state_dict with torch.save, or pick another file."
    )


LOAD_ERRORS = (RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError, KeyError, IndexError)


def safe_torch_load(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> Any:
    """``torch.load`` of a file a user handed over, which never runs the file's code (see the module doc).

    Raises ``UnsafePickleError`` for a file that would call anything outside the allow-list, and
    ``ConfigError`` for a file that cannot be read or is no torch file (truncated, empty, another format).
    """
    path = Path(path).expanduser()
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        pass  # it names globals: judged below
    except LOAD_ERRORS as err:
        raise unreadable(path, err) from err
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as err:  # the legacy (pre-zip) format and damaged archives cannot be listed
        raise unreadable(path, err) from err
    if trusts_pickles():
        warnings.warn(
            f"{TRUST_VARIABLE} is set: loading {path} with every callable it names, which can run any code.",
            stacklevel=2,
        )
        allowed = [(trusted_global(name), name) for name in names]
    else:
        refused = [name for name in names if safe_global(name) is None]
        if refused:
            raise UnsafePickleError(
                f"{path} is a pickle that would call {', '.join(refused[:3])}, which can run code; "
                "hello-lightning loads tensors, containers and networks' weights only. If you trust the "
                f"file, set {TRUST_VARIABLE}=1 to load it with every callable it names."
            )
        allowed = [(safe_global(name), name) for name in names]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        if trusts_pickles():  # torch blocks os, sys, subprocess and the like whatever the allow-list says
            raise UnsafePickleError(
                f"{path} would call {', '.join(names[:3])}, which torch's loader refuses even with "
                f"{TRUST_VARIABLE}=1: no weights file needs that."
            ) from err
        raise unreadable(path, err) from err
    except LOAD_ERRORS as err:
        raise unreadable(path, err) from err
