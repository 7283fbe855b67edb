"""Feature access for transformer encoders: hidden states, attention maps and the last layer's Q, K and V.

A supported model is a Hugging Face encoder, or a module that wraps one such as
``archsearch.hf_teachers.HFTeacher``: it accepts ``input_ids``, ``attention_mask``,
``output_hidden_states`` and ``output_attentions`` and returns ``hidden_states`` and
``attentions``, and its self-attention layers have ``nn.Linear`` modules named ``query``,
``key`` and ``value``, as in BERT, RoBERTa, ELECTRA and MiniLM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from archsearch.text_data import TextBatch


@dataclass
class TransformerFeatures:
    """One forward pass of a transformer encoder on a ``TextBatch``.

    Attributes:
        hidden_states: The embedding output and each layer's output, each ``B x T x D``.
        attentions: Each layer's attention probabilities, ``B x heads x T x T``; empty when the
            model does not return them (attention implementations other than eager).
        query: The last self-attention layer's query projection, ``B x T x D_attention``.
        key: Its key projection, the same shape.
        value: Its value projection, the same shape.
        num_heads: The attention head count of that layer.
        attention_mask: The batch's mask, ``B x T``, 1 for real tokens.

    Example:
        >>> features = extract_transformer_features(model, batch)
        >>> features.last_hidden_state.shape
        torch.Size([8, 32, 384])
    """

    hidden_states: tuple[torch.Tensor, ...]
    attentions: tuple[torch.Tensor, ...]
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    num_heads: int
    attention_mask: torch.Tensor

    @property
    def last_hidden_state(self) -> torch.Tensor:
        """The last layer's output, ``B x T x D``."""
        return self.hidden_states[-1]

    def detach(self) -> "TransformerFeatures":
        """Return a copy whose tensors are detached from the autograd graph."""
        return TransformerFeatures(
            hidden_states=tuple(state.detach() for state in self.hidden_states),
            attentions=tuple(attention.detach() for attention in self.attentions),
            query=self.query.detach(), key=self.key.detach(), value=self.value.detach(),
            num_heads=self.num_heads, attention_mask=self.attention_mask.detach())


def last_self_attention(model: nn.Module) -> nn.Module:
    """Return the last module of ``model`` with ``nn.Linear`` children named ``query``, ``key`` and ``value``.

    Raises:
        ValueError: If ``model`` has no such module.
    """
    found = None
    for module in model.modules():
        if all(isinstance(getattr(module, name, None), nn.Linear) for name in ("query", "key", "value")):
            found = module
    if found is None:
        raise ValueError(f"{type(model).__name__} has no self-attention module with query, key and value linear "
                         "layers; archsearch reads Q, K and V from BERT-style encoders (BERT, RoBERTa, ELECTRA, "
                         "MiniLM)")
    return found


def extract_transformer_features(model: nn.Module, batch: TextBatch) -> TransformerFeatures:
    """Run ``model`` once on ``batch`` and return its hidden states, attentions and last-layer Q, K and V.

    Raises:
        ValueError: If the batch contains token ids the model cannot embed, is longer than its
            position table, has a sequence without real tokens, or the model does not return
            hidden states.
    """
    check_text_inputs(model, batch)
    attention = last_self_attention(model)
    projections: dict[str, torch.Tensor] = {}

    def capture(name: str):
        def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
            projections[name] = output

        return hook

    handles = [getattr(attention, name).register_forward_hook(capture(name)) for name in ("query", "key", "value")]
    try:
        outputs = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True,
                        output_attentions=True, return_dict=True)
    finally:
        for handle in handles:
            handle.remove()

    hidden_states = getattr(outputs, "hidden_states", None)
    if not hidden_states:
        raise ValueError(f"{type(model).__name__} returned no hidden states with output_hidden_states=True; use a "
                         "Hugging Face encoder")
    attentions = getattr(outputs, "attentions", None) or ()
    num_heads = getattr(attention, "num_attention_heads", None)
    if num_heads is None:
        num_heads = _config_of(model).num_attention_heads
    return TransformerFeatures(hidden_states=tuple(hidden_states), attentions=tuple(attentions),
                               query=projections["query"], key=projections["key"], value=projections["value"],
                               num_heads=int(num_heads), attention_mask=batch.attention_mask)


def check_text_inputs(model: nn.Module, batch: TextBatch) -> None:
    """Raise a ValueError if ``model`` cannot read ``batch``: token ids, length or empty sequences."""
    if not isinstance(batch, TextBatch):
        raise ValueError(f"transformer features need a TextBatch of token ids, got {type(batch).__name__}; build "
                         "one with archsearch.text_data.load_text_batches")
    if not bool((batch.attention_mask.sum(dim=1) > 0).all()):
        raise ValueError("a sequence of the batch has no real token (its attention_mask row is all zeros)")
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is None and hasattr(model, "encoder") and hasattr(model.encoder, "get_input_embeddings"):
        embeddings = model.encoder.get_input_embeddings()
    if isinstance(embeddings, nn.Embedding):
        largest = int(batch.input_ids.max())
        if largest >= embeddings.num_embeddings:
            raise ValueError(f"the batch contains token id {largest}, but {type(model).__name__} embeds only "
                             f"{embeddings.num_embeddings} tokens; build the student with the teacher tokenizer's "
                             "vocab_size (HFTeacher.student_space_options())")
    positions = getattr(_config_of(model), "max_position_embeddings", None)
    if positions is not None and batch.sequence_length > positions:
        raise ValueError(f"the batch has sequences of {batch.sequence_length} tokens, but {type(model).__name__} has "
                         f"{positions} position embeddings; use a sequence_length of at most {positions}")


def _config_of(model: nn.Module):
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError(f"{type(model).__name__} has no transformers config; use a Hugging Face encoder")
    return config
