"""Deterministic, stratified splits: the same on every machine, whatever order the file system lists files.

Hand-written because ``torch.utils.data.random_split`` neither stratifies by class nor sorts its input.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

import torch

from datamodules.errors import DataError

T = TypeVar("T")


def check_fractions(fractions: Sequence[float], argument: str = "--data.split") -> tuple[float, ...]:
    """Validate split fractions (they must be non-negative, the first positive, and sum to 1)."""
    fractions = tuple(float(f) for f in fractions)
    if any(f < 0 for f in fractions) or fractions[0] <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise DataError(f"{argument} must be non-negative fractions that sum to 1, got {list(fractions)}.")
    return fractions


def seeded_permutation(n: int, seed: int) -> list[int]:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def split_items(items: Sequence[T], fractions: Sequence[float], seed: int) -> list[list[T]]:
    """Sort, permute with a seeded generator, then cut by ``fractions`` (rounded, remainder to the first)."""
    ordered = sorted(items)
    shuffled = [ordered[i] for i in seeded_permutation(len(ordered), seed)]
    sizes = [round(len(ordered) * f) for f in fractions[1:]]
    sizes.insert(0, len(ordered) - sum(sizes))
    parts, start = [], 0
    for size in sizes:
        parts.append(shuffled[start : start + size])
        start += size
    return parts


def split_parts(items: Sequence[T], fractions: Sequence[float], seed: int) -> dict[str, list[T]]:
    """``split_items`` named: ``{"train": ..., "val": ..., "test": ...}`` for as many fractions as given."""
    return dict(zip(("train", "val", "test"), split_items(items, fractions, seed), strict=False))


def stratified_split(
    items: Sequence[T], labels: Sequence[Hashable], fractions: Sequence[float], seed: int
) -> list[list[T]]:
    """Split each class on its own, so every part keeps the class proportions."""
    parts: list[list[T]] = [[] for _ in fractions]
    for label in sorted(set(labels), key=str):
        members = [item for item, lab in zip(items, labels, strict=True) if lab == label]
        for part, chunk in zip(parts, split_items(members, fractions, seed), strict=True):
            part.extend(chunk)
    return [sorted(part) for part in parts]
