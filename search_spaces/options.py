"""Validation of search-space constructor options: positive integers and choice tuples."""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int, or raise a ValueError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def int_choices(name: str, value: Any) -> tuple[int, ...]:
    """Return the choices of one integer decision as a tuple of distinct positive ints.

    Raises:
        ValueError: If ``value`` is not a non-empty sequence of distinct positive integers.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {value!r}")
    choices = tuple(positive_int(f"each choice of {name}", item) for item in value)
    duplicates = sorted({choice for choice in choices if choices.count(choice) > 1})
    if duplicates:
        raise ValueError(f"{name} lists {', '.join(map(str, duplicates))} more than once; give each choice once, "
                         f"got {list(choices)}")
    return choices


def stage_choices(name: str, value: Any, stages: int) -> tuple[tuple[int, ...], ...]:
    """Return the choices of a per-stage integer decision, one tuple per stage.

    ``value`` is either one sequence of integers that every stage shares, such as
    ``(2, 6, 10, 14)``, or ``stages`` sequences, one per stage, such as ``((16,), (32,), (64,))``.

    Raises:
        ValueError: If ``value`` has neither form, or a stage's choices are empty, repeated or
            not positive integers.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{name} must be a sequence of positive integers shared by all {stages} stages, or "
                         f"{stages} such sequences (one per stage), got {value!r}")
    nested = [isinstance(item, Sequence) and not isinstance(item, (str, bytes)) for item in value]
    if not any(nested):
        shared = int_choices(name, value)
        return (shared,) * stages
    if not all(nested) or len(value) != stages:
        raise ValueError(f"{name} must be one sequence of positive integers shared by all stages, or exactly "
                         f"{stages} sequences (one per stage), got {value!r}")
    return tuple(int_choices(f"{name} of stage {index + 1}", item) for index, item in enumerate(value))


def compact_stage_choices(per_stage: tuple[tuple[int, ...], ...]) -> list[int] | list[list[int]]:
    """Return per-stage choices in the shortest form ``stage_choices`` reads back.

    Lists, not tuples, so a configuration written to JSON and read back compares equal.
    """
    if all(choices == per_stage[0] for choices in per_stage):
        return list(per_stage[0])
    return [list(choices) for choices in per_stage]


def float_choices(name: str, value: Any) -> tuple[float, ...]:
    """Return the choices of one real-valued decision as a tuple of distinct positive floats.

    Integers are accepted and stored as floats, so ``(2, 4)`` and ``(2.0, 4.0)`` give the same
    choices.

    Raises:
        ValueError: If ``value`` is not a non-empty sequence of distinct positive finite numbers.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of positive numbers, got {value!r}")
    choices = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Real) or not math.isfinite(item) or item <= 0:
            raise ValueError(f"each choice of {name} must be a positive finite number, got {item!r}")
        choices.append(float(item))
    duplicates = sorted({choice for choice in choices if choices.count(choice) > 1})
    if duplicates:
        raise ValueError(f"{name} lists {', '.join(map(str, duplicates))} more than once; give each choice once, "
                         f"got {choices}")
    return tuple(choices)
