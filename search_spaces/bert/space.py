"""The BERT student space: layers, hidden size, attention heads and MLP ratio of a BERT encoder."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Sequence

import torch
import torch.nn as nn

from search_spaces.base import Dimension
from search_spaces.bert.presets import PRESETS, BertPreset, effective_hidden_size, intermediate_size
from search_spaces.categorical import CategoricalSpace, Choices
from search_spaces.cost import count_meta_macs, count_parameters
from search_spaces.options import int_choices, positive_int
from search_spaces.registry import register_space

DIMENSION_NAMES = ("layers", "hidden", "heads", "mlp_ratio")
DEFAULT_PRESET = "tiny"
# The vocabulary and position table of BERT-base uncased, which the MiniLM and BERT teachers share.
DEFAULT_VOCAB_SIZE = 30522
DEFAULT_MAX_POSITION_EMBEDDINGS = 512
DEFAULT_SEQUENCE_LENGTH = 128



@register_space("bert")
class BertSpace(CategoricalSpace):
    """BERT encoders (``transformers.BertModel``) with a choice of depth, width, heads and MLP ratio.

    An architecture has four decisions: ``layers`` (transformer layers), ``hidden`` (hidden
    size), ``heads`` (attention heads) and ``mlp_ratio`` (feed-forward size divided by the
    hidden size). The presets ``"base"``, ``"small"`` and ``"tiny"`` are the three AutoDistil
    sub-spaces with 256 students each, and ``"cpu"`` a smaller one for searches on a CPU
    (see ``search_spaces.bert.presets``). Passing
    ``layers``, ``hidden``, ``heads`` or ``mlp_ratios`` replaces that decision's preset
    choices, and ``preset=None`` with all four gives a fully custom space.

    A student is built with the hidden size rounded to the nearest multiple of its heads and a
    feed-forward size of ``round(hidden * mlp_ratio)`` on the rounded hidden size, because a
    BERT layer splits its hidden size evenly across the heads. ``canonical`` returns these
    built sizes, so choices that round to the same network share one key.

    The string form is ``L<layers>_H<hidden>_A<heads>_R<mlp_ratio>``, for example
    ``"L7_H160_A10_R3.5"``. The mapping form has the keys ``layers``, ``hidden``, ``heads``
    and ``mlp_ratio``, which are also the dimension names.

    Built students have no task head by default: ``build`` returns a ``BertModel`` without
    the pooler, which is what task-agnostic distillation compares. With ``num_classes`` above
    0 it returns a ``BertForSequenceClassification``. Both use eager attention, so a forward
    pass with ``output_attentions=True`` returns attention maps, and ``output_hidden_states``
    returns every layer's hidden states.

    ``input_shape`` is ``(sequence_length,)``: one input is a sequence of token ids, not an
    image. ``cost`` counts FLOPs for one sequence of that length.

    Args:
        preset: ``"base"``, ``"small"``, ``"tiny"``, ``"cpu"`` or ``None`` (every decision given).
        layers: Layer-count choices, replacing the preset's.
        hidden: Hidden-size choices, replacing the preset's.
        heads: Head-count choices, replacing the preset's.
        mlp_ratios: MLP-ratio choices (positive numbers), replacing the preset's.
        vocab_size: Token embeddings; use the teacher tokenizer's size (``len(tokenizer)``).
        max_position_embeddings: Maximum sequence length of the position table.
        sequence_length: Tokens per input for ``input_shape`` and the FLOP count.
        num_classes: Sequence-classification labels; 0 builds the encoder alone.

    Example:
        >>> space = BertSpace(preset="tiny")
        >>> space.size
        256
        >>> model = space.build("L4_H128_A8_R2")
        >>> outputs = model(input_ids=torch.ones(2, 16, dtype=torch.long), output_attentions=True)
        >>> custom = BertSpace(preset=None, layers=(1, 2), hidden=(32, 64), heads=(2, 4), mlp_ratios=(2.0,))
    """

    name = "bert"
    string_form = "L<layers>_H<hidden>_A<heads>_R<mlp_ratio>"
    string_pattern = re.compile(r"L(\d+)_H(\d+)_A(\d+)_R(\d+(?:\.\d+)?)")

    def __init__(self, preset: str | None = DEFAULT_PRESET, layers: Sequence[int] | None = None,
                 hidden: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                 mlp_ratios: Sequence[float] | None = None, vocab_size: int = DEFAULT_VOCAB_SIZE,
                 max_position_embeddings: int = DEFAULT_MAX_POSITION_EMBEDDINGS,
                 sequence_length: int = DEFAULT_SEQUENCE_LENGTH, num_classes: int = 0) -> None:
        base = _preset_choices(preset, layers=layers, hidden=hidden, heads=heads, mlp_ratios=mlp_ratios)
        self.layer_choices = int_choices("layers", layers if layers is not None else base.layers)
        self.hidden_choices = int_choices("hidden", hidden if hidden is not None else base.hidden)
        self.head_choices = int_choices("heads", heads if heads is not None else base.heads)
        self.mlp_ratio_choices = _ratio_choices(mlp_ratios if mlp_ratios is not None else base.mlp_ratios)
        too_small = [(size, count) for size in self.hidden_choices for count in self.head_choices
                     if size < count]
        if too_small:
            size, count = too_small[0]
            raise ValueError(f"hidden size {size} is smaller than the head count {count}; every hidden choice must "
                             f"be at least the largest head count ({max(self.head_choices)})")

        self.vocab_size = positive_int("vocab_size", vocab_size)
        self.max_position_embeddings = positive_int("max_position_embeddings", max_position_embeddings)
        self.sequence_length = positive_int("sequence_length", sequence_length)
        if self.sequence_length > self.max_position_embeddings:
            raise ValueError(f"sequence_length {self.sequence_length} exceeds max_position_embeddings "
                             f"{self.max_position_embeddings}; use a sequence_length of at most "
                             f"{self.max_position_embeddings}")
        self._num_classes = _class_count(num_classes)
        chosen = BertPreset(layers=self.layer_choices, heads=self.head_choices, hidden=self.hidden_choices,
                            mlp_ratios=self.mlp_ratio_choices)
        # A preset with a replaced decision is reported as a custom space, so config() lists every choice.
        self.preset = preset if preset is not None and PRESETS[preset] == chosen else None
        self._dimensions = tuple(Dimension(name, choices) for name, choices in zip(
            DIMENSION_NAMES, (self.layer_choices, self.hidden_choices, self.head_choices, self.mlp_ratio_choices)))

    @property
    def input_shape(self) -> tuple[int]:
        """Shape ``(sequence_length,)`` of one input: a sequence of token ids."""
        return (self.sequence_length,)

    def config(self) -> dict[str, Any]:
        options: dict[str, Any] = {"preset": self.preset}
        if self.preset is None:
            options.update({"layers": list(self.layer_choices), "hidden": list(self.hidden_choices),
                            "heads": list(self.head_choices), "mlp_ratios": list(self.mlp_ratio_choices)})
        options.update({"vocab_size": self.vocab_size, "max_position_embeddings": self.max_position_embeddings,
                        "sequence_length": self.sequence_length, "num_classes": self._num_classes})
        return options

    def convert_groups(self, groups: Sequence[str]) -> Sequence[Any]:
        layers, hidden, heads, ratio = groups
        return [int(layers), int(hidden), int(heads), float(ratio)]

    def format_values(self, values: Choices) -> str:
        layers, hidden, heads, ratio = values
        return f"L{layers}_H{hidden}_A{heads}_R{ratio:g}"

    def canonical(self, arch: Any) -> str:
        """Return the built sizes ``L<layers>_H<hidden>_A<heads>_F<feed-forward size>``.

        Example:
            >>> BertSpace(preset="small").canonical("L9_H256_A7_R2.5")
            'L9_H259_A7_F648'
        """
        sizes = self.network_sizes(arch)
        return (f"L{sizes['num_hidden_layers']}_H{sizes['hidden_size']}_A{sizes['num_attention_heads']}"
                f"_F{sizes['intermediate_size']}")

    def network_sizes(self, arch: Any) -> dict[str, int]:
        """Return the ``BertConfig`` sizes that ``build`` uses for ``arch``, after rounding."""
        layers, hidden, heads, ratio = self.parse(arch)
        built_hidden = effective_hidden_size(hidden, heads)
        return {"num_hidden_layers": layers, "hidden_size": built_hidden, "num_attention_heads": heads,
                "intermediate_size": intermediate_size(built_hidden, ratio)}

    def bert_config(self, arch: Any, num_classes: int | None = None) -> Any:
        """Return the ``transformers.BertConfig`` of ``arch`` with eager attention."""
        # transformers is imported here, not at module level, so `import search_spaces` stays fast.
        from transformers import BertConfig

        classes = self._classes(num_classes)
        config = BertConfig(vocab_size=self.vocab_size, max_position_embeddings=self.max_position_embeddings,
                            attn_implementation="eager", **self.network_sizes(arch))
        if classes:
            config.num_labels = classes
        return config

    def build(self, arch: Any, num_classes: int | None = None) -> nn.Module:
        """Build a randomly initialised ``BertModel``, or ``BertForSequenceClassification`` with classes."""
        from transformers import BertForSequenceClassification, BertModel

        config = self.bert_config(arch, num_classes)
        if self._classes(num_classes):
            return BertForSequenceClassification(config)
        return BertModel(config, add_pooling_layer=False)

    def cost(self, arch: Any, num_classes: int | None = None) -> dict[str, float]:
        """Count parameters and the multiply-accumulates of one sequence of ``sequence_length`` tokens.

        The network is built on the meta device, so nothing is computed or allocated.
        Parameters include the token embeddings, which dominate small students. The FLOPs are
        those of ``flops_from_definition``.
        """
        with torch.device("meta"):
            model = self.build(arch, num_classes=num_classes)
        return {"params": float(count_parameters(model)),
                "flops": float(_count_meta_macs(model, self.sequence_length))}

    def flops_from_definition(self, arch: Any, input_shape: tuple[int, ...],
                              num_classes: int | None = None) -> int | None:
        """Count the multiply-accumulates of one sequence of ``input_shape[0]`` tokens.

        ``torch.utils.flop_counter.FlopCounterMode`` counts every matrix product of a forward
        pass of the network built on the meta device, including the two attention products
        per layer. The embedding lookups, normalisation and softmax are not counted. Returns
        ``None`` for a shape that is not ``(sequence_length,)`` within the position table.
        """
        if len(input_shape) != 1 or not 1 <= input_shape[0] <= self.max_position_embeddings:
            return None
        with torch.device("meta"):
            model = self.build(arch, num_classes=num_classes)
        return _count_meta_macs(model, input_shape[0])

    def minimum_cost(self, num_classes: int | None = None) -> dict[str, float]:
        # Parameters and FLOPs grow with the layers, the built hidden size and the MLP ratio, and
        # the head count only acts through the rounding of the hidden size. So the cheapest
        # student pairs the fewest layers and smallest ratio with the smallest built hidden size.
        hidden, heads = min(((size, count) for size in self.hidden_choices for count in self.head_choices),
                            key=lambda pair: (effective_hidden_size(*pair), pair))
        smallest = (min(self.layer_choices), hidden, heads, min(self.mlp_ratio_choices))
        return self.cost(smallest, num_classes=num_classes)

    def _check_value(self, dimension: Dimension, value: Any, text: str | None) -> Any:
        # A ratio given as an int (3 for 3.0), for example in JSON, matches its float choice.
        if dimension.name == "mlp_ratio" and isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = float(value)
        return super()._check_value(dimension, value, text)

    def _classes(self, num_classes: int | None) -> int:
        return self._num_classes if num_classes is None else _class_count(num_classes)


def _preset_choices(preset: str | None, **choices: Sequence[Any] | None) -> BertPreset:
    if preset is None:
        missing = [name for name, value in choices.items() if value is None]
        if missing:
            raise ValueError(f"preset=None needs every decision's choices, but {', '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} missing; pass them or choose a preset "
                             f"({', '.join(PRESETS)})")
        return BertPreset((), (), (), ())
    if preset not in PRESETS:
        raise ValueError(f"unknown bert preset {preset!r}; valid presets: {', '.join(PRESETS)}, or None (null in "
                         "--space-option) with layers, hidden, heads and mlp_ratios given")
    return PRESETS[preset]


def _class_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"num_classes must be 0 (encoder without a head) or a positive integer, got {value!r}")
    return int(value)


def _ratio_choices(value: Any) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(f"mlp_ratios must be a non-empty sequence of positive numbers, got {value!r}")
    ratios = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Real) or not (0 < item < math.inf):
            raise ValueError(f"each choice of mlp_ratios must be a positive number, got {item!r}")
        ratios.append(float(item))
    duplicates = sorted({ratio for ratio in ratios if ratios.count(ratio) > 1})
    if duplicates:
        raise ValueError(f"mlp_ratios lists {', '.join(f'{ratio:g}' for ratio in duplicates)} more than once; "
                         f"give each choice once, got {ratios}")
    return tuple(ratios)


def _count_meta_macs(model: nn.Module, sequence_length: int) -> int:
    return count_meta_macs(model, input_ids=torch.zeros(1, sequence_length, dtype=torch.long, device="meta"))
