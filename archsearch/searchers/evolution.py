"""Regularised (ageing) evolution.

Source: Real, Aggarwal, Huang and Le, "Regularized Evolution for Image Classifier
Architecture Search", AAAI 2019.
"""

from __future__ import annotations

import collections
from typing import Any, Hashable

from archsearch.searchers.base import Searcher
from archsearch.searchers.registry import register_searcher
from search_spaces import SearchSpace


@register_searcher("evolution")
class RegularizedEvolution(Searcher):
    """Tournament selection with one-decision mutation and removal of the oldest member.

    Until ``population_size`` candidates have a score, proposals are uniform samples. After
    that, each proposal mutates the best of ``sample_size`` members drawn from the
    population, and each scored child replaces the oldest member. Candidates without a score
    (failed or over a cost limit) never join the population.

    A proposal that repeats a network already told (same canonical key) does not join the
    population again, and the next proposal mutates it once more. Without this, copies of
    the best network fill the population once its neighbours are all scored, and the search
    stops finding new networks long before a large budget is spent.

    Args:
        space: The search space.
        seed: Seed of all random choices.
        population_size: Members kept alive (36 in the DisWOT search).
        sample_size: Members drawn per tournament (8 in the DisWOT search).
    """

    def __init__(self, space: SearchSpace, seed: int = 0, population_size: int = 36, sample_size: int = 8) -> None:
        super().__init__(space, seed)
        for name, value in (("population_size", population_size), ("sample_size", sample_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if sample_size > population_size:
            raise ValueError(f"sample_size ({sample_size}) must not exceed population_size ({population_size})")
        self.population_size = population_size
        self.sample_size = sample_size
        self.population: collections.deque[tuple[Hashable, float]] = collections.deque()
        self._seen: set[str] = set()
        # A repeated proposal, mutated again by the next ask() to walk away from scored networks.
        self._repeated: Hashable | None = None

    def ask(self) -> Hashable:
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng)
        if self._repeated is not None:
            parent, self._repeated = self._repeated, None
            return self.space.mutate(parent, self.rng)
        tournament = self.rng.sample(list(self.population), self.sample_size)
        parent = max(tournament, key=lambda member: member[1])[0]
        return self.space.mutate(parent, self.rng)

    def tell(self, arch: Hashable, objective: float | None) -> None:
        if objective is None:
            return
        key = self.space.canonical(arch)
        if key in self._seen:
            self._repeated = arch
            return
        self._seen.add(key)
        self.population.append((arch, objective))
        if len(self.population) > self.population_size:
            self.population.popleft()

    def config(self) -> dict[str, Any]:
        return {"population_size": self.population_size, "sample_size": self.sample_size}
