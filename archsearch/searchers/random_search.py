"""Random search: independent uniform samples, the baseline every NAS method is compared with."""

from __future__ import annotations

from typing import Hashable

from archsearch.searchers.base import Searcher
from archsearch.searchers.registry import register_searcher


@register_searcher("random")
class RandomSearch(Searcher):
    """Sample architectures uniformly at random; scores do not influence proposals."""

    def ask(self) -> Hashable:
        return self.space.sample(self.rng)

    def tell(self, arch: Hashable, objective: float | None) -> None:
        pass
