"""Name-based registry of search spaces: ``register_space``, ``create`` and ``list_spaces``."""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

from search_spaces.base import SearchSpace

_SPACES: dict[str, Callable[..., SearchSpace]] = {}

SpaceFactory = TypeVar("SpaceFactory", bound=Callable[..., SearchSpace])


def register_space(name: str) -> Callable[[SpaceFactory], SpaceFactory]:
    """Register a search-space class or factory under ``name``.

    Example:
        >>> @register_space("my_space")
        ... class MySpace(SearchSpace): ...
    """

    def decorator(factory: SpaceFactory) -> SpaceFactory:
        if name in _SPACES and _SPACES[name] is not factory:
            raise ValueError(f"search space {name!r} is already registered; choose another name")
        _SPACES[name] = factory
        return factory

    return decorator


def list_spaces() -> list[str]:
    """Return the registered search-space names, sorted."""
    return sorted(_SPACES)


def create(name: str, **kwargs: Any) -> SearchSpace:
    """Create the search space registered as ``name``.

    Example:
        >>> space = create("nb201", num_classes=100)
        >>> space.format(space.sample(random.Random(0)))

    Raises:
        ValueError: If no space is registered as ``name``.
    """
    if name not in _SPACES:
        raise ValueError(f"unknown search space {name!r}; valid names: {', '.join(list_spaces())}")
    check_options(_SPACES[name], kwargs, f"search space {name!r}")
    return _SPACES[name](**kwargs)


def check_options(factory: Callable[..., Any], options: dict[str, Any], what: str) -> None:
    """Raise a ValueError naming any option that ``factory`` does not accept, with the valid ones."""
    parameters = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    valid = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for {what}; valid options: "
                         f"{', '.join(valid)}")
