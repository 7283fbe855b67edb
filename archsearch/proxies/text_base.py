"""The text-side counterparts of ``Batch`` and ``TeacherOutputs`` for transformer proxies.

Image proxies take a ``Batch`` of images and labels and ``TeacherOutputs`` of a timm-style
teacher. Transformer proxies take an ``archsearch.text_data.TextBatch`` and the
``TextTeacherOutputs`` below, through the same ``Proxy.score``, which restores the student's
state afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from archsearch.proxies.state import preserved_state
from archsearch.text_data import TextBatch
from archsearch.transformer_features import TransformerFeatures, extract_transformer_features


@dataclass
class TextTeacherOutputs:
    """A transformer teacher's features on one ``TextBatch``, computed once and shared by all candidates.

    Attributes:
        features: Detached hidden states, attentions and last-layer Q, K and V, with the
            teacher in eval mode.

    Example:
        >>> teacher = load_hf_teacher("hf:/models/all-MiniLM-L6-v2")
        >>> outputs = TextTeacherOutputs.compute(teacher, batch)
        >>> proxies.create("minilm_relation").score(student, batch, outputs)
    """

    features: TransformerFeatures

    @classmethod
    def compute(cls, teacher: nn.Module, batch: TextBatch) -> "TextTeacherOutputs":
        """Run ``teacher`` once on ``batch`` in eval mode without gradients, leaving its state unchanged."""
        with preserved_state(teacher):
            teacher.eval()
            with torch.no_grad():
                features = extract_transformer_features(teacher, batch)
        return cls(features=features.detach())


def check_text_arguments(proxy_name: str, batch: Any, teacher: Any) -> None:
    """Raise a ValueError unless ``batch`` is a ``TextBatch`` and ``teacher`` contains features of the same shape."""
    if not isinstance(batch, TextBatch):
        raise ValueError(f"proxy {proxy_name!r} scores transformer students on a TextBatch, got "
                         f"{type(batch).__name__}; build one with archsearch.text_data.load_text_batches")
    if not isinstance(teacher, TextTeacherOutputs):
        raise ValueError(f"proxy {proxy_name!r} needs TextTeacherOutputs (TextTeacherOutputs.compute(teacher, batch)), "
                         f"got {type(teacher).__name__}")
    teacher_shape = tuple(teacher.features.attention_mask.shape)
    if teacher_shape != tuple(batch.input_ids.shape):
        raise ValueError(f"the teacher outputs cover a batch of shape {teacher_shape}, but the student batch has shape "
                         f"{tuple(batch.input_ids.shape)}; compute TextTeacherOutputs on the batch that is scored")
    if not torch.equal(teacher.features.attention_mask.to(batch.attention_mask.device), batch.attention_mask):
        raise ValueError("the teacher outputs were computed on another batch (the attention masks differ); compute "
                         "TextTeacherOutputs on the batch that is scored")
