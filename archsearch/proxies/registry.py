"""Name-based registry of proxies: ``register_proxy``, ``create`` and ``list_proxies``."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from archsearch.proxies.base import MAXIMIZE, MINIMIZE, Proxy
from search_spaces.registry import check_options

_PROXIES: dict[str, type[Proxy]] = {}

ProxyClass = TypeVar("ProxyClass", bound=type[Proxy])


def register_proxy(name: str) -> Callable[[ProxyClass], ProxyClass]:
    """Register a ``Proxy`` subclass under ``name`` and set its ``name`` attribute."""

    def decorator(cls: ProxyClass) -> ProxyClass:
        if cls.direction not in (MAXIMIZE, MINIMIZE):
            raise ValueError(f"proxy {name!r} has direction {cls.direction!r}; use {MAXIMIZE!r} or {MINIMIZE!r}")
        if name in _PROXIES and _PROXIES[name] is not cls:
            raise ValueError(f"proxy {name!r} is already registered; choose another name")
        cls.name = name
        _PROXIES[name] = cls
        return cls

    return decorator


def list_proxies() -> list[str]:
    """Return the registered proxy names, sorted."""
    return sorted(_PROXIES)


def create(name: str, **kwargs: Any) -> Proxy:
    """Create the proxy registered as ``name``.

    Raises:
        ValueError: If no proxy is registered as ``name``.
    """
    if name not in _PROXIES:
        raise ValueError(f"unknown proxy {name!r}; valid names: {', '.join(list_proxies())}")
    check_options(_PROXIES[name], kwargs, f"proxy {name!r}")
    return _PROXIES[name](**kwargs)


def proxy_class(name: str) -> type[Proxy]:
    """Return the class registered as ``name`` (to read its direction without creating it)."""
    if name not in _PROXIES:
        raise ValueError(f"unknown proxy {name!r}; valid names: {', '.join(list_proxies())}")
    return _PROXIES[name]
