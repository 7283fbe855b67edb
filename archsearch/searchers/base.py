"""The searcher interface: propose architectures (ask) and learn from their scores (tell)."""

from __future__ import annotations

import abc
import random
from typing import Any, Hashable

from search_spaces import SearchSpace


class Searcher(abc.ABC):
    """An ask/tell optimiser over a search space that maximises an objective.

    The search loop calls ``ask`` for a candidate, scores it, and calls ``tell`` with the
    objective (higher is better) or ``None`` when the candidate failed or was rejected by a
    cost limit. Implementations draw all randomness from ``self.rng`` so a seed fixes the
    whole sequence of proposals.

    Example:
        >>> class FirstChoice(Searcher):
        ...     def ask(self):
        ...         return self.space.sample(self.rng)
        ...     def tell(self, arch, objective):
        ...         pass
    """

    name: str = ""

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)

    @abc.abstractmethod
    def ask(self) -> Hashable:
        """Propose the next architecture to evaluate."""

    @abc.abstractmethod
    def tell(self, arch: Hashable, objective: float | None) -> None:
        """Report the objective of ``arch`` (higher is better), or ``None`` if it has no score."""

    def config(self) -> dict[str, Any]:
        """Return the keyword arguments that recreate this searcher (without space and seed)."""
        return {}
