"""docs/course.md lists the course's 36 lessons, and the files it names exist."""

from __future__ import annotations

import re

from tests.conftest import REPO

COURSE_MAP = REPO / "docs" / "course.md"


def test_every_lesson_has_a_row() -> None:
    numbers = [int(n) for n in re.findall(r"^\| (\d+) \|", COURSE_MAP.read_text(), flags=re.MULTILINE)]
    assert numbers == list(range(1, 37))


def test_the_files_it_names_exist() -> None:
    paths = set(re.findall(r"`([\w/]+/[\w.]+\.(?:py|yaml|md))", COURSE_MAP.read_text()))
    assert paths and not {p for p in paths if not (REPO / p).exists()}
