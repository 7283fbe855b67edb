"""The CIFAR ResNet macro space: a depth and a width for each of three stages."""

from __future__ import annotations

import re
from typing import Any, Sequence

from search_spaces.base import Dimension
from search_spaces.categorical import CategoricalSpace, Choices
from search_spaces.options import compact_stage_choices, positive_int, stage_choices
from search_spaces.registry import register_space
from search_spaces.resnet_cifar.network import CifarResNet

STAGES = 3
DEFAULT_DEPTHS = (2, 6, 10, 14)
DEFAULT_WIDTHS = ((16,), (32,), (64,))
DEPTH_NAMES = tuple(f"depth{stage}" for stage in range(1, STAGES + 1))
WIDTH_NAMES = tuple(f"width{stage}" for stage in range(1, STAGES + 1))



@register_space("resnet_cifar")
class ResNetCifarSpace(CategoricalSpace):
    """CIFAR ResNets with a number of basic blocks and a width chosen for each of three stages.

    The defaults give the ResNet-20-like distillation space: every stage takes 2, 6, 10 or 14
    blocks at the fixed widths 16, 32 and 64, so the space has 4^3 = 64 students. The usual
    teacher, ResNet-110, has 18 blocks per stage (``build_cifar_resnet(110)``, or the arch
    ``"d18-18-18_w16-32-64"`` of a space created with ``depths=(18,)``).

    The string form is ``d<depth1>-<depth2>-<depth3>_w<width1>-<width2>-<width3>``, for example
    ``"d2-6-10_w16-32-64"``. The mapping form has the keys ``depth1`` to ``depth3`` and
    ``width1`` to ``width3``, which are also the dimension names.

    Args:
        depths: Block-count choices: one sequence that every stage shares, or three sequences,
            one per stage.
        widths: Width choices (output channels): one shared sequence, or three sequences, one
            per stage. The stem has the first stage's width.
        num_classes: Classifier outputs of built networks.
        input_size: Side of the square input in pixels. The network pools globally, so this only
            sets the FLOP count and example inputs.
        in_channels: Input image channels.

    Example:
        >>> space = ResNetCifarSpace(num_classes=100)
        >>> space.size
        64
        >>> model = space.build("d2-6-10_w16-32-64")
        >>> wide = ResNetCifarSpace(depths=(1, 2, 3), widths=((16, 32), (32, 64), (64, 128)))
    """

    name = "resnet_cifar"
    string_form = "d<depth1>-<depth2>-<depth3>_w<width1>-<width2>-<width3>"
    string_pattern = re.compile(r"d(\d+)-(\d+)-(\d+)_w(\d+)-(\d+)-(\d+)")

    def __init__(self, depths: Sequence[int] | Sequence[Sequence[int]] = DEFAULT_DEPTHS,
                 widths: Sequence[int] | Sequence[Sequence[int]] = DEFAULT_WIDTHS, num_classes: int = 10,
                 input_size: int = 32, in_channels: int = 3) -> None:
        self.depth_choices = stage_choices("depths", depths, STAGES)
        self.width_choices = stage_choices("widths", widths, STAGES)
        self._num_classes = positive_int("num_classes", num_classes)
        self.input_size = positive_int("input_size", input_size)
        self.in_channels = positive_int("in_channels", in_channels)
        self._dimensions = tuple(Dimension(name, choices) for name, choices in
                                 zip(DEPTH_NAMES + WIDTH_NAMES, self.depth_choices + self.width_choices))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    def config(self) -> dict[str, Any]:
        return {"depths": compact_stage_choices(self.depth_choices),
                "widths": compact_stage_choices(self.width_choices), "num_classes": self._num_classes,
                "input_size": self.input_size, "in_channels": self.in_channels}

    def convert_groups(self, groups: Sequence[str]) -> Sequence[Any]:
        return [int(group) for group in groups]

    def format_values(self, values: Choices) -> str:
        depths, widths = values[:STAGES], values[STAGES:]
        return f"d{'-'.join(map(str, depths))}_w{'-'.join(map(str, widths))}"

    def build(self, arch: Any, num_classes: int | None = None) -> CifarResNet:
        values = self.parse(arch)
        classes = self._num_classes if num_classes is None else positive_int("num_classes", num_classes)
        return CifarResNet(depths=values[:STAGES], widths=values[STAGES:], num_classes=classes,
                           in_channels=self.in_channels)

    def minimum_cost(self, num_classes: int | None = None) -> dict[str, float]:
        # Parameters and multiply-accumulates both grow with every stage's depth and width, because
        # the projection shortcuts sit at the stride-2 blocks whatever the widths are. So the network
        # with the smallest choice of every decision is the cheapest in both.
        smallest = tuple(min(dimension.choices) for dimension in self._dimensions)
        return self.cost(smallest, num_classes=num_classes)
