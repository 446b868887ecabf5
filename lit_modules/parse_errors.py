"""Command-line mistakes in one line: jsonargparse explains a misspelt nested key over ten lines of its
own internals; here it becomes the flag, what is wrong and the closest valid key."""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import sys
from typing import NoReturn

from lightning.pytorch.cli import LightningArgumentParser

PARSER_KEY = re.compile(r'Parser key "([\w.]+)"')
NESTED_KEY = re.compile(r"NestedArg\(key='([\w.]+)'")
CLASS_PATH = re.compile(r"class_path[= ]'([\w.]+)'")
NOT_ACCEPTED = re.compile(r"Option '(\w+)' is not accepted")


def accepted_arguments(class_path: str) -> list[str]:
    """The argument names of a class's ``__init__`` (and its bases' where it takes ``**kwargs``)."""
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return []
    names: list[str] = []
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else [cls]:
        try:
            parameters = inspect.signature(klass).parameters.values()
        except (TypeError, ValueError):
            break
        names += [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return list(dict.fromkeys(names))


def short_message(message: str) -> str:
    """A misspelt key inside a class's ``init_args`` -> ``--<flag>: <class> takes no argument ...``."""
    top, nested, bad = PARSER_KEY.search(message), NESTED_KEY.search(message), NOT_ACCEPTED.search(message)
    classes = CLASS_PATH.findall(message)
    if not (top and nested and bad and classes):
        return message
    flag = f"--{top.group(1)}.{nested.group(1)}"
    class_path = classes[-1]
    close = difflib.get_close_matches(bad.group(1), accepted_arguments(class_path), n=1)
    hint = f"did you mean {flag.rsplit('.', 1)[0]}.{close[0]}?" if close else "see --help for its arguments."
    return f"{flag}: {class_path} takes no argument '{bad.group(1)}'; {hint}"


class OneLineErrorParser(LightningArgumentParser):
    """LightningCLI's parser, whose command-line mistakes end in one ``error:`` line and exit code 2."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)
        sys.stderr.write(f"error: {short_message(message)}\n")
        self.exit(2)
