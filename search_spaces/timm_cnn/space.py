"""An ImageNet-scale ResNet space whose students are timm's own ``ResNet`` models."""

from __future__ import annotations

import re
from typing import Any, Sequence

import torch.nn as nn

from search_spaces.base import Dimension
from search_spaces.categorical import CategoricalSpace, Choices
from search_spaces.options import compact_stage_choices, int_choices, positive_int, stage_choices
from search_spaces.registry import register_space

STAGES = 4
BLOCK_TYPES = ("basic", "bottleneck")
DEFAULT_DEPTHS = (1, 2, 3, 4, 6)
DEFAULT_WIDTHS = (32, 48, 64)
DIMENSION_NAMES = tuple(f"depth{stage}" for stage in range(1, STAGES + 1)) + ("width", "block")



@register_space("timm_resnet")
class TimmResNetSpace(CategoricalSpace):
    """ResNets built with timm's ``ResNet`` class: four stage depths, a base width and a block type.

    A student is ``timm.models.resnet.ResNet`` with timm's ``BasicBlock`` or ``Bottleneck``,
    stage widths w, 2w, 4w and 8w, and timm's default stem: a 7x7 stride-2 convolution with 64
    channels, whatever w is, and a stride-2 max pool. So it has timm's ``forward_features``,
    ``forward_head``, ``get_classifier`` and ``feature_info`` (stem, then one entry per stage).
    ``"d2-2-2-2_w64_basic"`` is timm's ``resnet18``, ``"d3-4-6-3_w64_basic"`` its ``resnet34``
    and ``"d3-4-6-3_w64_bottleneck"`` its ``resnet50``. The name says which timm family it
    builds, so other timm CNN families can register spaces of their own.

    The default choices give 5^4 depth combinations x 3 widths x 2 block types = 3,750
    students. The string form is ``d<depth1>-<depth2>-<depth3>-<depth4>_w<width>_<block>``,
    and the mapping form has the keys ``depth1`` to ``depth4``, ``width`` and ``block``.

    Args:
        depths: Block-count choices: one sequence that every stage shares, or four sequences,
            one per stage.
        widths: Choices of the base width w, the first stage's ``planes``.
        blocks: Block types to choose from: ``"basic"`` and/or ``"bottleneck"``.
        num_classes: Classifier outputs of built networks.
        input_size: Side of the square input in pixels (224 for ImageNet). The network pools
            globally, so this only sets the FLOP count and example inputs.
        in_channels: Input image channels.
        zero_init_last: Whether to zero the last BatchNorm weight of every residual branch, as
            timm does for training. It is off by default because it makes every block an
            identity at initialisation, so training-free proxies could not tell depths apart.

    Example:
        >>> space = TimmResNetSpace(num_classes=10, input_size=64)
        >>> model = space.build("d2-2-2-2_w32_basic")
        >>> model.forward_features(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 256, 2, 2])
    """

    name = "timm_resnet"
    string_form = "d<depth1>-<depth2>-<depth3>-<depth4>_w<width>_<block>"
    string_pattern = re.compile(r"d(\d+)-(\d+)-(\d+)-(\d+)_w(\d+)_([a-z]+)")
    string_hint = f" with block {' or '.join(BLOCK_TYPES)}"

    def __init__(self, depths: Sequence[int] | Sequence[Sequence[int]] = DEFAULT_DEPTHS,
                 widths: Sequence[int] = DEFAULT_WIDTHS, blocks: Sequence[str] = BLOCK_TYPES,
                 num_classes: int = 1000, input_size: int = 224, in_channels: int = 3,
                 zero_init_last: bool = False) -> None:
        self.depth_choices = stage_choices("depths", depths, STAGES)
        self.width_choices = int_choices("widths", widths)
        self.block_choices = _block_choices(blocks)
        self._num_classes = positive_int("num_classes", num_classes)
        self.input_size = positive_int("input_size", input_size)
        self.in_channels = positive_int("in_channels", in_channels)
        if not isinstance(zero_init_last, bool):
            raise ValueError(f"zero_init_last must be True or False, got {zero_init_last!r}")
        self.zero_init_last = zero_init_last
        all_choices = self.depth_choices + (self.width_choices, self.block_choices)
        self._dimensions = tuple(Dimension(name, choices) for name, choices in zip(DIMENSION_NAMES, all_choices))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    def config(self) -> dict[str, Any]:
        return {"depths": compact_stage_choices(self.depth_choices), "widths": list(self.width_choices),
                "blocks": list(self.block_choices), "num_classes": self._num_classes,
                "input_size": self.input_size, "in_channels": self.in_channels,
                "zero_init_last": self.zero_init_last}

    def convert_groups(self, groups: Sequence[str]) -> Sequence[Any]:
        *numbers, block = groups
        return [int(number) for number in numbers] + [block]

    def format_values(self, values: Choices) -> str:
        *depths, width, block = values
        return f"d{'-'.join(map(str, depths))}_w{width}_{block}"

    def build(self, arch: Any, num_classes: int | None = None) -> nn.Module:
        # timm is imported here, not at module level, so `import search_spaces` stays fast.
        from timm.models.resnet import BasicBlock, Bottleneck, ResNet

        *depths, width, block = self.parse(arch)
        classes = self._num_classes if num_classes is None else positive_int("num_classes", num_classes)
        block_class = BasicBlock if block == "basic" else Bottleneck
        return ResNet(block=block_class, layers=tuple(depths), channels=(width, 2 * width, 4 * width, 8 * width),
                      num_classes=classes, in_chans=self.in_channels, zero_init_last=self.zero_init_last)

    def minimum_cost(self, num_classes: int | None = None) -> dict[str, float]:
        # Within one block type, parameters and multiply-accumulates grow with every depth and
        # with the width. Which block type is cheaper depends on the depths and widths, so each
        # count is the minimum over the block types at the smallest depths and width, and the two
        # counts may come from different networks. Each is still a bound that no student beats.
        smallest_depths = tuple(min(choices) for choices in self.depth_choices)
        smallest_width = min(self.width_choices)
        costs = [self.cost(smallest_depths + (smallest_width, block), num_classes=num_classes)
                 for block in self.block_choices]
        return {"params": min(cost["params"] for cost in costs), "flops": min(cost["flops"] for cost in costs)}


def _block_choices(blocks: Any) -> tuple[str, ...]:
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence) or len(blocks) == 0:
        raise ValueError(f"blocks must be a non-empty sequence of block types from {', '.join(BLOCK_TYPES)}, "
                         f"got {blocks!r}")
    unknown = [block for block in blocks if block not in BLOCK_TYPES]
    if unknown:
        raise ValueError(f"unknown block type(s) {', '.join(map(repr, unknown))}; valid block types: "
                         f"{', '.join(BLOCK_TYPES)}")
    if len(set(blocks)) != len(blocks):
        raise ValueError(f"blocks lists a block type more than once; give each once, got {list(blocks)}")
    return tuple(blocks)
