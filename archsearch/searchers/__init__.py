"""Searchers that explore a search space: random search and regularised evolution.

Example:
    >>> from archsearch import searchers
    >>> searcher = searchers.create("evolution", space, seed=0, population_size=36, sample_size=8)
    >>> arch = searcher.ask()
    >>> searcher.tell(arch, 0.5)
"""

from archsearch.searchers.base import Searcher
from archsearch.searchers.registry import create, list_searchers, register_searcher

# Importing the searcher modules registers them.
from archsearch.searchers import evolution as _evolution  # noqa: F401,E402
from archsearch.searchers import random_search as _random_search  # noqa: F401,E402

list = list_searchers  # noqa: A001 - the registry API is create()/list(), as in the timm style

__all__ = ["Searcher", "create", "list", "list_searchers", "register_searcher"]
