"""The NAS-Bench-201 search space."""

from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from search_spaces.base import Dimension, SearchSpace
from search_spaces.nb201.cell import (EDGE_NAMES, OPERATIONS, Cell, canonical_key, format_cell,
                                      parse_cell_mapping, parse_cell_string)
from search_spaces.nb201.network import NB201Network, network_macs
from search_spaces.options import positive_int
from search_spaces.registry import register_space

# Input sizes of the benchmark's datasets: CIFAR-10/100 are 32x32, ImageNet16-120 is 16x16.
DATASET_INPUT_SIZES = {"cifar10": 32, "cifar100": 32, "imagenet16_120": 16}


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201 cells: 5 operations on each of 6 edges, 15,625 cells, 6,466 distinct.

    Args:
        num_classes: Classifier outputs of built networks (10 for CIFAR-10, 100 for
            CIFAR-100, 120 for ImageNet16-120).
        input_size: Side of the square input in pixels (32 for CIFAR, 16 for ImageNet16-120).
            The network pools globally, so this only sets the FLOP count and example inputs.
        channels: Stem width C (16 in the benchmark).
        cells_per_stage: Cells per stage N (5 in the benchmark).
        in_channels: Input image channels.

    Example:
        >>> space = NB201Space(num_classes=120, input_size=16)
        >>> cell = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
        >>> model = space.build(cell)
    """

    name = "nb201"

    def __init__(self, num_classes: int = 10, input_size: int = 32, channels: int = 16, cells_per_stage: int = 5,
                 in_channels: int = 3) -> None:
        self._num_classes = positive_int("num_classes", num_classes)
        self.input_size = positive_int("input_size", input_size)
        self.channels = positive_int("channels", channels)
        self.cells_per_stage = positive_int("cells_per_stage", cells_per_stage)
        self.in_channels = positive_int("in_channels", in_channels)

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    def config(self) -> dict[str, Any]:
        return {"num_classes": self._num_classes, "input_size": self.input_size, "channels": self.channels,
                "cells_per_stage": self.cells_per_stage, "in_channels": self.in_channels}

    def parse(self, spec: Any) -> Cell:
        if isinstance(spec, str):
            if "~" not in spec:
                raise ValueError(f"{spec!r} is not a NAS-Bench-201 cell string; expected the form "
                                 f"'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with operations from {', '.join(OPERATIONS)}")
            return parse_cell_string(spec)
        if isinstance(spec, Mapping):
            return parse_cell_mapping(spec)
        if isinstance(spec, (tuple, list)) and len(spec) == len(EDGE_NAMES):
            return parse_cell_mapping(dict(zip(EDGE_NAMES, spec)))
        raise ValueError(f"cannot read a NAS-Bench-201 cell from {spec!r}; pass the cell string, a mapping from "
                         f"edge ({', '.join(EDGE_NAMES)}) to operation, or a sequence of 6 operations")

    def format(self, arch: Cell) -> str:
        return format_cell(self.parse(arch))

    def sample(self, rng: random.Random) -> Cell:
        return tuple(rng.choice(OPERATIONS) for _ in EDGE_NAMES)  # type: ignore[return-value]

    def mutate(self, arch: Cell, rng: random.Random) -> Cell:
        cell = list(self.parse(arch))
        edge = rng.randrange(len(cell))
        cell[edge] = rng.choice([op for op in OPERATIONS if op != cell[edge]])
        return tuple(cell)  # type: ignore[return-value]

    def canonical(self, arch: Cell) -> str:
        return canonical_key(self.parse(arch))

    def build(self, arch: Cell, num_classes: int | None = None) -> NB201Network:
        classes = self._num_classes if num_classes is None else positive_int("num_classes", num_classes)
        return NB201Network(self.parse(arch), num_classes=classes, channels=self.channels,
                            cells_per_stage=self.cells_per_stage, in_channels=self.in_channels)

    def flops_from_definition(self, arch: Cell, input_shape: tuple[int, ...],
                              num_classes: int | None = None) -> int | None:
        classes = self._num_classes if num_classes is None else positive_int("num_classes", num_classes)
        if len(input_shape) != 3 or input_shape[0] != self.in_channels:
            return None
        return network_macs(self.parse(arch), input_shape[1:], channels=self.channels,
                            cells_per_stage=self.cells_per_stage, in_channels=self.in_channels, num_classes=classes)

    def minimum_cost(self, num_classes: int | None = None) -> dict[str, float]:
        # `none`, `skip_connect` and `avg_pool_3x3` have no parameters, and `none` costs no
        # multiply-accumulates, so the all-`none` cell is the smallest network.
        return self.cost(("none",) * len(EDGE_NAMES), num_classes=num_classes)

    def dimensions(self) -> Sequence[Dimension]:
        return [Dimension(name, OPERATIONS) for name in EDGE_NAMES]
