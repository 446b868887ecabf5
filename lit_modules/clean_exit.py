"""Errors a user can fix end in their message alone and a non-zero exit, never in a traceback.

Set ``HELLO_LIGHTNING_TRACEBACK=1`` to see the full traceback instead, for debugging.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

TRACEBACK_VARIABLE = "HELLO_LIGHTNING_TRACEBACK"
EXIT_USER_ERROR = 2  # as for a command line that does not parse


def find_cause(err: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """``err`` or the first of its causes that is one of ``types``: jsonargparse and Lightning wrap the
    errors raised while they build or run the classes (``raise ... from err``)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, types):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


@contextmanager
def user_errors_exit(types: tuple[type[BaseException], ...]) -> Iterator[None]:
    """Print the message of an error of ``types`` (or one wrapping it) and exit with ``EXIT_USER_ERROR``."""
    try:
        yield
    except Exception as err:
        found = find_cause(err, types)
        if found is None or os.environ.get(TRACEBACK_VARIABLE, "0") not in ("", "0"):
            raise
        sys.stderr.write(f"error: {found}\n")
        raise SystemExit(EXIT_USER_ERROR) from None
