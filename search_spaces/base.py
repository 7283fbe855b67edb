"""The abstract search space that every student family implements."""

from __future__ import annotations

import abc
import random
from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Sequence

import torch.nn as nn


@dataclass(frozen=True)
class Dimension:
    """One categorical decision of a search space, in the form Optuna samplers expect.

    Attributes:
        name: The key used in ``SearchSpace.from_dimensions``.
        choices: The values this decision can take, in a fixed order.
    """

    name: str
    choices: tuple[Any, ...]


class SearchSpace(abc.ABC):
    """A family of student networks that a searcher can sample, mutate and build.

    An architecture ("arch") is a hashable value owned by the space. Users pass the readable
    string form (``format``/``parse``) across process boundaries: run stores, export specs
    and the command line.

    Subclasses set ``name`` and implement the abstract methods. ``cost`` and
    ``from_dimensions`` have generic implementations.
    """

    name: str = ""

    @abc.abstractmethod
    def parse(self, spec: Any) -> Hashable:
        """Parse and validate an architecture given as a string, a mapping or an arch.

        Raises:
            ValueError: If ``spec`` is not a valid architecture of this space. The message
                names the invalid token and the valid choices.
        """

    @abc.abstractmethod
    def format(self, arch: Hashable) -> str:
        """Return the canonical readable string of ``arch`` that ``parse`` accepts."""

    @abc.abstractmethod
    def sample(self, rng: random.Random) -> Hashable:
        """Draw one architecture uniformly at random."""

    @abc.abstractmethod
    def mutate(self, arch: Hashable, rng: random.Random) -> Hashable:
        """Return a neighbour of ``arch`` that differs in exactly one decision."""

    @abc.abstractmethod
    def canonical(self, arch: Hashable) -> str:
        """Return a key shared by all architectures that compute the same network."""

    @abc.abstractmethod
    def build(self, arch: Hashable, num_classes: int | None = None) -> nn.Module:
        """Build a randomly initialised network for ``arch``."""

    @abc.abstractmethod
    def dimensions(self) -> Sequence[Dimension]:
        """Return the categorical decisions that define an architecture, in order."""

    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input without the batch dimension.

        Image spaces return (channels, height, width). Text spaces return (sequence_length,):
        one input is a sequence of integer token ids, so it cannot be made with
        ``torch.zeros(input_shape)`` and those spaces override ``cost``.
        """

    @property
    @abc.abstractmethod
    def num_classes(self) -> int:
        """Default number of classifier outputs of built networks."""

    @property
    def size(self) -> int:
        """The number of architectures in the space (all decisions combined)."""
        total = 1
        for dimension in self.dimensions():
            total *= len(dimension.choices)
        return total

    def config(self) -> dict[str, Any]:
        """Return the keyword arguments that recreate this space with ``search_spaces.create``."""
        return {}

    def from_dimensions(self, values: Mapping[str, Any]) -> Hashable:
        """Build an architecture from one value per dimension, as an Optuna trial suggests them.

        Raises:
            ValueError: If a dimension is missing or a value is not one of its choices.
        """
        missing = [d.name for d in self.dimensions() if d.name not in values]
        if missing:
            raise ValueError(f"missing values for dimensions {missing}; expected one value for each of "
                             f"{[d.name for d in self.dimensions()]}")
        return self.parse({d.name: values[d.name] for d in self.dimensions()})

    def cost(self, arch: Hashable, num_classes: int | None = None) -> dict[str, float]:
        """Measure the parameter count and multiply-accumulate count of ``arch``.

        Returns:
            A dict with ``params`` (parameters) and ``flops`` (multiply-accumulates for one
            input of ``input_shape``; see ``search_spaces.cost.count_flops``).
        """
        from search_spaces.cost import count_flops, count_parameters

        model = self.build(arch, num_classes=num_classes)
        flops = self.flops_from_definition(arch, self.input_shape, num_classes=num_classes)
        if flops is None:
            flops = count_flops(model, self.input_shape)
        return {"params": float(count_parameters(model)), "flops": float(flops)}

    def flops_from_definition(self, arch: Hashable, input_shape: tuple[int, ...],
                              num_classes: int | None = None) -> int | None:
        """Return the multiply-accumulates of ``arch`` for one input, without running it.

        Spaces whose networks have a closed-form cost override this. The result must equal
        what ``search_spaces.cost.count_flops`` counts on the built network, so callers can
        skip that function's forward pass for every candidate. The default returns ``None``, and
        callers then count on the built network.

        Args:
            arch: An architecture of this space.
            input_shape: Shape of one input, without the batch dimension.
            num_classes: Classifier outputs; ``None`` uses the space's own.
        """
        return None

    def minimum_cost(self, num_classes: int | None = None) -> dict[str, float] | None:
        """Return the cost of the space's smallest network, or ``None`` when it is not known.

        Searches use it to reject cost limits that no architecture can meet.
        """
        return None

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({arguments})"
