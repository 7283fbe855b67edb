"""Name-based registry of proxies: ``register_proxy``, ``create`` and ``list_proxies``."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from archsearch.proxies.base import MAXIMIZE, MINIMIZE, Proxy
from search_spaces.registry import Registry

PROXIES: Registry[type[Proxy]] = Registry("proxy")

ProxyClass = TypeVar("ProxyClass", bound=type[Proxy])


def register_proxy(name: str) -> Callable[[ProxyClass], ProxyClass]:
    """Register a ``Proxy`` subclass under ``name`` and set its ``name`` attribute."""

    def decorator(cls: ProxyClass) -> ProxyClass:
        if cls.direction not in (MAXIMIZE, MINIMIZE):
            raise ValueError(f"proxy {name!r} has direction {cls.direction!r}; use {MAXIMIZE!r} or {MINIMIZE!r}")
        cls.name = name
        return PROXIES.register(name)(cls)

    return decorator


def list_proxies() -> list[str]:
    """Return the registered proxy names, sorted."""
    return PROXIES.names()


def create(name: str, **kwargs: Any) -> Proxy:
    """Create the proxy registered as ``name``.

    Raises:
        ValueError: If no proxy is registered as ``name`` or an option is unknown.
    """
    return PROXIES.create(name, **kwargs)


def proxy_class(name: str) -> type[Proxy]:
    """Return the class registered as ``name`` (to read its direction without creating it)."""
    return PROXIES.get(name)
