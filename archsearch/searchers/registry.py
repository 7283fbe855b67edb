"""Name-based registry of searchers: ``register_searcher``, ``create`` and ``list_searchers``."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from archsearch.searchers.base import Searcher
from search_spaces import SearchSpace
from search_spaces.registry import Registry

SEARCHERS: Registry[type[Searcher]] = Registry("searcher")

SearcherClass = TypeVar("SearcherClass", bound=type[Searcher])


def register_searcher(name: str) -> Callable[[SearcherClass], SearcherClass]:
    """Register a ``Searcher`` subclass under ``name`` and set its ``name`` attribute."""

    def decorator(cls: SearcherClass) -> SearcherClass:
        cls.name = name
        return SEARCHERS.register(name)(cls)

    return decorator


def list_searchers() -> list[str]:
    """Return the registered searcher names, sorted."""
    return SEARCHERS.names()


def create(name: str, space: SearchSpace, seed: int = 0, **kwargs: Any) -> Searcher:
    """Create the searcher registered as ``name`` over ``space``.

    Raises:
        ValueError: If no searcher is registered as ``name`` or an option is unknown.
    """
    return SEARCHERS.create(name, space, seed, **kwargs)
