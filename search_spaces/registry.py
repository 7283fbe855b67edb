"""A name-based registry, used for search spaces here and for proxies and searchers in archsearch.

The search-space functions ``register_space``, ``create`` and ``list_spaces`` are defined at
the end of this module.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, TypeVar

from search_spaces.base import SearchSpace

Factory = TypeVar("Factory", bound=Callable[..., Any])


class Registry(Generic[Factory]):
    """Factories (usually classes) registered under unique names.

    Args:
        kind: What the registry contains, as used in error messages ("search space", "proxy").

    Example:
        >>> widgets = Registry("widget")
        >>> @widgets.register("round")
        ... class RoundWidget: ...
        >>> widgets.create("round")
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Factory] = {}

    def register(self, name: str) -> Callable[[Factory], Factory]:
        """Return a decorator that registers a factory under ``name``."""

        def decorator(factory: Factory) -> Factory:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered; choose another name")
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._factories)

    def get(self, name: str) -> Factory:
        """Return the factory registered as ``name``.

        Raises:
            ValueError: If nothing is registered as ``name``; the message lists the valid names.
        """
        if name not in self._factories:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")
        return self._factories[name]

    def create(self, name: str, *args: Any, **options: Any) -> Any:
        """Call the factory registered as ``name`` after checking that it accepts every option."""
        factory = self.get(name)
        check_options(factory, options, f"{self.kind} {name!r}", skip=len(args))
        return factory(*args, **options)


def check_options(factory: Callable[..., Any], options: dict[str, Any], what: str, skip: int = 0) -> None:
    """Raise a ValueError naming any option that ``factory`` does not accept, with the valid ones.

    The first ``skip`` parameters are passed by position and are not listed as options.
    """
    parameters = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    named = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"]
    valid = named[skip:]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for {what}; valid options: "
                         f"{', '.join(valid) or 'none'}")


SPACES: Registry[Callable[..., SearchSpace]] = Registry("search space")

SpaceFactory = TypeVar("SpaceFactory", bound=Callable[..., SearchSpace])


def register_space(name: str) -> Callable[[SpaceFactory], SpaceFactory]:
    """Register a search-space class or factory under ``name``.

    Example:
        >>> @register_space("my_space")
        ... class MySpace(SearchSpace): ...
    """
    return SPACES.register(name)


def list_spaces() -> list[str]:
    """Return the registered search-space names, sorted."""
    return SPACES.names()


def create(name: str, **kwargs: Any) -> SearchSpace:
    """Create the search space registered as ``name``.

    Example:
        >>> space = create("nb201", num_classes=100)
        >>> space.format(space.sample(random.Random(0)))

    Raises:
        ValueError: If no space is registered as ``name`` or an option is unknown.
    """
    return SPACES.create(name, **kwargs)
