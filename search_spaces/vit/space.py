"""A Vision Transformer space whose students are timm's own ``VisionTransformer`` models."""

from __future__ import annotations

import random
import re
from typing import Any, Sequence

import torch
import torch.nn as nn

from search_spaces.base import Dimension
from search_spaces.categorical import CategoricalSpace, Choices
from search_spaces.cost import count_meta_macs
from search_spaces.options import float_choices, int_choices, positive_int
from search_spaces.registry import register_space

DEFAULT_DEPTHS = (4, 6, 8, 12)
# Every default width is divisible by every default head count, so every combination is valid.
DEFAULT_WIDTHS = (192, 288, 384)
DEFAULT_HEADS = (3, 4, 6)
DEFAULT_MLP_RATIOS = (2.0, 3.0, 4.0)
DEFAULT_PATCH_SIZES = (8, 16)
GLOBAL_POOLS = ("token", "avg")
DIMENSION_NAMES = ("depth", "width", "heads", "mlp_ratio", "patch")

_WIDTH, _HEADS = DIMENSION_NAMES.index("width"), DIMENSION_NAMES.index("heads")


@register_space("vit")
class ViTSpace(CategoricalSpace):
    """Vision Transformers built with timm's ``VisionTransformer``: depth, width, heads, MLP ratio, patch.

    A student is ``timm.models.vision_transformer.VisionTransformer`` with a class token,
    learned position embeddings and timm's default blocks (pre-norm, GELU MLP, qkv bias). So it
    has timm's ``forward_features`` (tokens, ``B x (1 + N) x width``), ``forward_head``,
    ``get_classifier``, ``num_prefix_tokens`` and ``forward_intermediates``.

    The decisions are the number of blocks (``depth``), the embedding width (``width``), the
    number of attention heads (``heads``), the MLP hidden width as a multiple of the embedding
    width (``mlp_ratio``) and the side of the square patches (``patch``). The attention splits
    the width evenly over the heads, so the width must be divisible by the head count. ``parse``
    rejects other combinations, and ``sample`` and ``mutate`` only return valid ones. With the
    defaults every combination is valid: 4 depths x 3 widths x 3 head counts x 3 ratios x 2
    patch sizes = 216 students. ``"d12_w192_h3_m4.0_p16"`` is the shape of timm's
    ``vit_tiny_patch16_224`` and ``"d12_w384_h6_m4.0_p16"`` that of ``vit_small_patch16_224``.

    The string form is ``d<depth>_w<width>_h<heads>_m<mlp_ratio>_p<patch>``, with the ratio
    written as Python writes the float (``4.0``, ``2.5``). ``parse`` also reads an integer
    ratio such as ``m4``. The mapping form has the keys ``depth``, ``width``, ``heads``,
    ``mlp_ratio`` and ``patch``.

    Args:
        depths: Choices of the number of transformer blocks.
        widths: Choices of the embedding width.
        heads: Choices of the number of attention heads.
        mlp_ratios: Choices of the MLP hidden width divided by the embedding width.
        patch_sizes: Choices of the patch side in pixels. Each must divide ``input_size``.
        num_classes: Classifier outputs of built networks.
        input_size: Side of the square input in pixels (224 for ImageNet). Unlike the CNN
            spaces it fixes the network, because the position embeddings have one entry per patch.
        in_channels: Input image channels.
        global_pool: ``"token"`` (the class token feeds the classifier, as in ViT and DeiT)
            or ``"avg"`` (the mean of the patch tokens does).

    Raises:
        ValueError: If an option is invalid, a patch size does not divide ``input_size``, or
            no width is divisible by any head count.

    Example:
        >>> space = ViTSpace(num_classes=10, input_size=32)
        >>> arch = space.parse("d4_w192_h3_m2.0_p8")
        >>> model = space.build(arch)
        >>> model.forward_features(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 17, 192])
    """

    name = "vit"
    string_form = "d<depth>_w<width>_h<heads>_m<mlp_ratio>_p<patch>"
    string_pattern = re.compile(r"d(\d+)_w(\d+)_h(\d+)_m(\d+(?:\.\d+)?)_p(\d+)")

    def __init__(self, depths: Sequence[int] = DEFAULT_DEPTHS, widths: Sequence[int] = DEFAULT_WIDTHS,
                 heads: Sequence[int] = DEFAULT_HEADS, mlp_ratios: Sequence[float] = DEFAULT_MLP_RATIOS,
                 patch_sizes: Sequence[int] = DEFAULT_PATCH_SIZES, num_classes: int = 1000, input_size: int = 224,
                 in_channels: int = 3, global_pool: str = "token") -> None:
        self.depth_choices = int_choices("depths", depths)
        self.width_choices = int_choices("widths", widths)
        self.head_choices = int_choices("heads", heads)
        self.mlp_ratio_choices = float_choices("mlp_ratios", mlp_ratios)
        self.patch_choices = int_choices("patch_sizes", patch_sizes)
        self._num_classes = positive_int("num_classes", num_classes)
        self.input_size = positive_int("input_size", input_size)
        self.in_channels = positive_int("in_channels", in_channels)
        if global_pool not in GLOBAL_POOLS:
            raise ValueError(f"invalid global_pool {global_pool!r}; valid values: {', '.join(GLOBAL_POOLS)}")
        self.global_pool = global_pool

        bad_patches = [patch for patch in self.patch_choices if self.input_size % patch]
        if bad_patches:
            raise ValueError(f"patch size(s) {', '.join(map(str, bad_patches))} do not divide input_size "
                             f"{self.input_size}; choose patch sizes that divide it or another input_size")
        self._width_heads = tuple((width, head_count) for width in self.width_choices
                                  for head_count in self.head_choices if width % head_count == 0)
        if not self._width_heads:
            raise ValueError(f"no width in {list(self.width_choices)} is divisible by any head count in "
                             f"{list(self.head_choices)}, so the space has no valid architecture; the attention "
                             "splits the width evenly over the heads")

        all_choices = (self.depth_choices, self.width_choices, self.head_choices, self.mlp_ratio_choices,
                       self.patch_choices)
        self._dimensions = tuple(Dimension(name, choices) for name, choices in zip(DIMENSION_NAMES, all_choices))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    @property
    def size(self) -> int:
        """The number of valid architectures: combinations whose width is divisible by the head count."""
        return (len(self.depth_choices) * len(self._width_heads) * len(self.mlp_ratio_choices)
                * len(self.patch_choices))

    def config(self) -> dict[str, Any]:
        return {"depths": list(self.depth_choices), "widths": list(self.width_choices),
                "heads": list(self.head_choices), "mlp_ratios": list(self.mlp_ratio_choices),
                "patch_sizes": list(self.patch_choices), "num_classes": self._num_classes,
                "input_size": self.input_size, "in_channels": self.in_channels, "global_pool": self.global_pool}

    def convert_groups(self, groups: Sequence[str]) -> Sequence[Any]:
        depth, width, head_count, mlp_ratio, patch = groups
        return [int(depth), int(width), int(head_count), float(mlp_ratio), int(patch)]

    def format_values(self, values: Choices) -> str:
        depth, width, head_count, mlp_ratio, patch = values
        return f"d{depth}_w{width}_h{head_count}_m{mlp_ratio!r}_p{patch}"

    def parse(self, spec: Any) -> Choices:
        """Parse and validate an architecture given in any form that ``CategoricalSpace.parse`` accepts.

        Raises:
            ValueError: If a value is not one of its decision's choices, or the width is not
                divisible by the head count.
        """
        values = super().parse(spec)
        width, head_count = values[_WIDTH], values[_HEADS]
        if width % head_count:
            valid_heads = [choice for choice in self.head_choices if width % choice == 0]
            hint = (f"head counts that divide width {width}: {', '.join(map(str, valid_heads))}" if valid_heads
                    else f"no head count in this space divides width {width}")
            raise ValueError(f"invalid heads {head_count} for width {width}: the width must be divisible by the "
                             f"number of heads; {hint}")
        return values

    def sample(self, rng: random.Random) -> Choices:
        """Draw one valid architecture uniformly at random."""
        depth = rng.choice(self.depth_choices)
        # Drawing the (width, heads) pair from the valid pairs keeps the draw uniform over valid architectures.
        width, head_count = rng.choice(self._width_heads)
        mlp_ratio = rng.choice(self.mlp_ratio_choices)
        patch = rng.choice(self.patch_choices)
        return (depth, width, head_count, mlp_ratio, patch)

    def mutate(self, arch: Any, rng: random.Random) -> Choices:
        """Return ``arch`` with one decision changed to another value that keeps the architecture valid.

        The decision is drawn uniformly from those that have a valid alternative value, and the
        new value uniformly from the valid alternatives.

        Raises:
            ValueError: If no single decision can change without making the architecture invalid.
        """
        values = self.parse(arch)
        alternatives: dict[int, list[Any]] = {}
        for index, dimension in enumerate(self._dimensions):
            options = []
            for choice in dimension.choices:
                if choice == values[index]:
                    continue
                candidate = values[:index] + (choice,) + values[index + 1:]
                if candidate[_WIDTH] % candidate[_HEADS] == 0:
                    options.append(choice)
            if options:
                alternatives[index] = options
        if not alternatives:
            raise ValueError(f"{self.format_values(values)!r} has no valid neighbour in this {self.name} space: no "
                             "single decision can change while keeping the width divisible by the head count")
        index = rng.choice(sorted(alternatives))
        new_value = rng.choice(alternatives[index])
        return values[:index] + (new_value,) + values[index + 1:]

    def build(self, arch: Any, num_classes: int | None = None) -> nn.Module:
        # timm is imported here, not at module level, so `import search_spaces` stays fast.
        from timm.models.vision_transformer import VisionTransformer

        depth, width, head_count, mlp_ratio, patch = self.parse(arch)
        classes = self._num_classes if num_classes is None else positive_int("num_classes", num_classes)
        return VisionTransformer(img_size=self.input_size, patch_size=patch, in_chans=self.in_channels,
                                 num_classes=classes, global_pool=self.global_pool, embed_dim=width, depth=depth,
                                 num_heads=head_count, mlp_ratio=mlp_ratio, class_token=True)

    def flops_from_definition(self, arch: Any, input_shape: tuple[int, ...],
                              num_classes: int | None = None) -> int | None:
        """Count the multiply-accumulates of one image, the attention products included.

        The network is built on the meta device, and ``search_spaces.cost.count_meta_macs``
        counts every matrix product of its forward pass. These are the patch embedding, the
        qkv, projection, MLP and classifier layers, and the two attention products per block,
        which the hook count of ``count_flops`` misses. Normalisation, softmax and GELU are
        not counted. Returns ``None`` for an input shape other than the space's.
        """
        if tuple(input_shape) != self.input_shape:
            return None
        with torch.device("meta"):
            model = self.build(arch, num_classes=num_classes)
            example = torch.zeros(1, *input_shape)
        return count_meta_macs(model, example)

    def minimum_cost(self, num_classes: int | None = None) -> dict[str, float]:
        # Parameters and multiply-accumulates grow with depth, width and MLP ratio, and the head
        # count changes neither (the qkv projection is width x 3 width for any count). The patch
        # size trades patch-embedding parameters against position embeddings and tokens, so each
        # patch size is measured. Like the timm ResNet space, each count is the minimum over those
        # networks, so the two counts may come from different networks.
        width, head_count = min(self._width_heads)
        smallest = (min(self.depth_choices), width, head_count, min(self.mlp_ratio_choices))
        costs = [self.cost(smallest + (patch,), num_classes=num_classes) for patch in self.patch_choices]
        return {"params": min(cost["params"] for cost in costs), "flops": min(cost["flops"] for cost in costs)}

    def example_values(self) -> Choices:
        # The first choices may pair a width with a head count that does not divide it.
        width, head_count = self._width_heads[0]
        return (self.depth_choices[0], width, head_count, self.mlp_ratio_choices[0], self.patch_choices[0])
