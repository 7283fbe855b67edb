"""The AutoDistil sub-spaces of BERT students and the rule that makes hidden sizes fit the heads.

Source: Xu et al., "AutoDistil: Few-shot Task-agnostic Neural Architecture Search for Distilling
Large Language Models", NeurIPS 2022. The paper splits its student space into three sub-spaces
with these published ranges (teacher BERT-base):

    ========  ======  =====  =======  =========
    preset    layers  heads  hidden   MLP ratio
    ========  ======  =====  =======  =========
    base      9-12    9-12   544-640  2.5-4.0
    small     9-12    7-10   256-352  2.5-4.0
    tiny      4-7     7-10   128-224  2.0-3.5
    ========  ======  =====  =======  =========

Each preset takes four evenly spaced values from both ends of every range, so it has
4^4 = 256 students. A fourth preset, ``cpu``, is not from the paper: it is sized for searches
on a CPU (2-5 layers, 2-8 heads, hidden 64-160, MLP ratio 1.0-4.0). Its students have 0.05
to 1.6 million parameters in their transformer layers, besides the embeddings. Most hidden sizes are not multiples of every head count (256 / 7 is not a
whole number), but a BERT layer splits the hidden size evenly across its heads. So a student
is built with the hidden size rounded to the nearest multiple of its head count (halves round
up): ``effective_hidden_size``. The grid steps of 32 exceed every head count, so two hidden
choices never round to the same size and the 256 students of a preset are 256 different
networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BertPreset:
    """The choices of one AutoDistil sub-space.

    Attributes:
        layers: Transformer layer counts.
        heads: Attention head counts.
        hidden: Nominal hidden sizes, before rounding to a multiple of the heads.
        mlp_ratios: Feed-forward (intermediate) size divided by the hidden size.

    Example:
        >>> PRESETS["tiny"].hidden
        (128, 160, 192, 224)
    """

    layers: tuple[int, ...]
    heads: tuple[int, ...]
    hidden: tuple[int, ...]
    mlp_ratios: tuple[float, ...]


PRESETS: dict[str, BertPreset] = {
    "base": BertPreset(layers=(9, 10, 11, 12), heads=(9, 10, 11, 12), hidden=(544, 576, 608, 640),
                       mlp_ratios=(2.5, 3.0, 3.5, 4.0)),
    "small": BertPreset(layers=(9, 10, 11, 12), heads=(7, 8, 9, 10), hidden=(256, 288, 320, 352),
                        mlp_ratios=(2.5, 3.0, 3.5, 4.0)),
    "tiny": BertPreset(layers=(4, 5, 6, 7), heads=(7, 8, 9, 10), hidden=(128, 160, 192, 224),
                       mlp_ratios=(2.0, 2.5, 3.0, 3.5)),
    "cpu": BertPreset(layers=(2, 3, 4, 5), heads=(2, 4, 6, 8), hidden=(64, 96, 128, 160),
                      mlp_ratios=(1.0, 2.0, 3.0, 4.0)),
}


def effective_hidden_size(hidden: int, heads: int) -> int:
    """Return ``hidden`` rounded to the nearest multiple of ``heads``, halves rounding up.

    Example:
        >>> effective_hidden_size(256, 7), effective_hidden_size(160, 10)
        (259, 160)

    Raises:
        ValueError: If the rounded size is 0, because ``hidden`` is below half of ``heads``.
    """
    head_size = math.floor(hidden / heads + 0.5)
    if head_size < 1:
        raise ValueError(f"hidden size {hidden} is too small for {heads} heads; a hidden size needs at least "
                         f"one unit per head, so use a hidden size of at least {heads}")
    return head_size * heads


def intermediate_size(hidden: int, mlp_ratio: float) -> int:
    """Return the feed-forward size: ``hidden * mlp_ratio`` rounded to the nearest integer, halves up."""
    return max(1, math.floor(hidden * mlp_ratio + 0.5))
