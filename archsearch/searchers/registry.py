"""Name-based registry of searchers: ``register_searcher``, ``create`` and ``list_searchers``."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from archsearch.searchers.base import Searcher
from search_spaces import SearchSpace
from search_spaces.registry import check_options

_SEARCHERS: dict[str, type[Searcher]] = {}

SearcherClass = TypeVar("SearcherClass", bound=type[Searcher])


def register_searcher(name: str) -> Callable[[SearcherClass], SearcherClass]:
    """Register a ``Searcher`` subclass under ``name``."""

    def decorator(cls: SearcherClass) -> SearcherClass:
        if name in _SEARCHERS and _SEARCHERS[name] is not cls:
            raise ValueError(f"searcher {name!r} is already registered; choose another name")
        cls.name = name
        _SEARCHERS[name] = cls
        return cls

    return decorator


def list_searchers() -> list[str]:
    """Return the registered searcher names, sorted."""
    return sorted(_SEARCHERS)


def create(name: str, space: SearchSpace, seed: int = 0, **kwargs: Any) -> Searcher:
    """Create the searcher registered as ``name`` over ``space``.

    Raises:
        ValueError: If no searcher is registered as ``name``.
    """
    if name not in _SEARCHERS:
        raise ValueError(f"unknown searcher {name!r}; valid names: {', '.join(list_searchers())}")
    check_options(_SEARCHERS[name], kwargs, f"searcher {name!r}")
    return _SEARCHERS[name](space, seed=seed, **kwargs)
