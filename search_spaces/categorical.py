"""A search space whose architecture is one value per named categorical decision.

Macro spaces such as per-stage depths and widths fit this form. The subclass supplies the
decisions, the string form and the network. This base class provides validation of mappings and
sequences, uniform sampling, one-decision mutation and the dimension list.
"""

from __future__ import annotations

import abc
import numbers
import random
import re
from typing import Any, ClassVar, Mapping, Sequence

from search_spaces.base import Dimension, SearchSpace

# An architecture: one value per dimension, in the order of ``dimensions()``.
Choices = tuple[Any, ...]


class CategoricalSpace(SearchSpace):
    """A space of independent categorical decisions, with a tuple of values as the architecture.

    Subclasses set ``_dimensions`` (one ``Dimension`` per decision, in order) and
    ``_num_classes`` in ``__init__``, set the class attributes ``string_form`` (shown in
    errors) and ``string_pattern`` (a regular expression with one group per decision), and
    implement ``convert_groups``, ``format_values`` and ``build``. ``parse`` accepts the string
    form, a mapping from dimension name to value, a sequence of values in dimension order, or
    an architecture returned by this space.

    Example:
        >>> space = search_spaces.create("resnet_cifar")
        >>> arch = space.parse({"depth1": 2, "depth2": 6, "depth3": 10,
        ...                     "width1": 16, "width2": 32, "width3": 64})
        >>> space.format(arch)
        'd2-6-10_w16-32-64'
    """

    string_form: ClassVar[str] = ""
    string_pattern: ClassVar[re.Pattern[str]]
    # Added to the error of a string that does not match, such as the valid block names.
    string_hint: ClassVar[str] = ""
    _dimensions: tuple[Dimension, ...]
    _num_classes: int

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def dimensions(self) -> Sequence[Dimension]:
        return self._dimensions

    def parse_string(self, text: str) -> Sequence[Any]:
        """Split the string form into one raw value per dimension, in dimension order.

        The values are checked against the choices by ``parse``, so this only checks the layout.

        Raises:
            ValueError: If ``text`` does not have the space's string layout.
        """
        match = self.string_pattern.fullmatch(text)
        if match is None:
            raise ValueError(f"invalid {self.name} architecture {text!r}: expected the form {self.string_form}"
                             f"{self.string_hint}, for example {self.format_values(self.example_values())!r}")
        return self.convert_groups(match.groups())

    @abc.abstractmethod
    def convert_groups(self, groups: Sequence[str]) -> Sequence[Any]:
        """Convert the matched groups of ``string_pattern`` to raw values (int, float, str)."""

    def example_values(self) -> Choices:
        """Return a valid architecture for error messages: the first choice of every decision."""
        return tuple(dimension.choices[0] for dimension in self._dimensions)

    @abc.abstractmethod
    def format_values(self, values: Choices) -> str:
        """Return the string form of validated values, one per dimension."""

    def parse(self, spec: Any) -> Choices:
        dimensions = self.dimensions()
        if isinstance(spec, str):
            values = list(self.parse_string(spec.strip()))
            return tuple(self._check_value(dimension, value, spec) for dimension, value in zip(dimensions, values))
        if isinstance(spec, Mapping):
            return self._parse_mapping(spec)
        if isinstance(spec, (tuple, list)) and len(spec) == len(dimensions):
            return tuple(self._check_value(dimension, value, None) for dimension, value in zip(dimensions, spec))
        names = ", ".join(dimension.name for dimension in dimensions)
        raise ValueError(f"cannot read a {self.name} architecture from {spec!r}; pass the string form, a mapping "
                         f"from each of {names} to its value, or a sequence of {len(dimensions)} values in that order")

    def format(self, arch: Any) -> str:
        return self.format_values(self.parse(arch))

    def canonical(self, arch: Any) -> str:
        # Every combination of decisions builds a different network, so the string is the key.
        return self.format(arch)

    def sample(self, rng: random.Random) -> Choices:
        return tuple(rng.choice(dimension.choices) for dimension in self.dimensions())

    def mutate(self, arch: Any, rng: random.Random) -> Choices:
        """Return ``arch`` with one decision, among those with two or more choices, changed.

        Raises:
            ValueError: If every decision has a single choice, so the space has no neighbour.
        """
        values = list(self.parse(arch))
        dimensions = self.dimensions()
        open_indices = [index for index, dimension in enumerate(dimensions) if len(dimension.choices) > 1]
        if not open_indices:
            raise ValueError(f"the {self.name} space has a single architecture, so it cannot be mutated; "
                             "give at least one decision two or more choices")
        index = rng.choice(open_indices)
        values[index] = rng.choice([choice for choice in dimensions[index].choices if choice != values[index]])
        return tuple(values)

    def _parse_mapping(self, spec: Mapping[Any, Any]) -> Choices:
        dimensions = self.dimensions()
        names = [dimension.name for dimension in dimensions]
        unknown = [key for key in spec if key not in names]
        if unknown:
            raise ValueError(f"unknown {self.name} decision(s) {', '.join(map(repr, unknown))}; valid decisions: "
                             f"{', '.join(names)}")
        missing = [name for name in names if name not in spec]
        if missing:
            raise ValueError(f"missing {self.name} decision(s) {', '.join(missing)}; an architecture needs a value for "
                             f"each of {', '.join(names)}")
        return tuple(self._check_value(dimension, spec[dimension.name], None) for dimension in dimensions)

    def _check_value(self, dimension: Dimension, value: Any, text: str | None) -> Any:
        # Integers from NumPy or a JSON file compare equal to the int choices, but True == 1 would
        # too, so booleans are rejected before the comparison. A float choice also matches an
        # equal int, so a ratio of 4.0 can be given as 4.
        for choice in dimension.choices:
            if isinstance(choice, numbers.Integral) and not isinstance(choice, bool):
                matches = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value == choice
            elif isinstance(choice, float):
                matches = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == choice
            else:
                matches = type(value) is type(choice) and value == choice
            if matches:
                return choice
        where = f" in {text!r}" if text is not None else ""
        raise ValueError(f"invalid {dimension.name} {value!r}{where}; valid choices for {dimension.name} in this "
                         f"{self.name} space: {', '.join(map(str, dimension.choices))}")
