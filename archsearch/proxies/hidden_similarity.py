"""Similarity of a transformer teacher's and student's pooled last hidden states over one batch.

Each sequence's last hidden state (``T x D``) is pooled to one D-vector: the mean over its
real tokens (``pooling="mean"``, as sentence-transformers pools MiniLM) or the first token
(``pooling="cls"``). Both proxies compare the resulting ``B x D_teacher`` and
``B x D_student`` matrices across samples, so the hidden sizes may differ.

- ``hidden_relation``: the DisWOT relation term on the pooled states,
  ``-||N(T T^T) - N(S S^T)||_F^2 / B^2`` with N normalising each row to unit L2 norm (Dong, Li
  and Wei, CVPR 2023). 0 is identical; higher is closer.
- ``hidden_cka``: linear CKA of the pooled states (Kornblith et al., ICML 2019), in [0, 1];
  higher is closer.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from archsearch.proxies.base import Proxy, ProxyResult
from archsearch.proxies.cka import linear_cka
from archsearch.proxies.diswot import normalized_gram_distance
from archsearch.proxies.diswot import SOURCE as DISWOT_SOURCE
from archsearch.proxies.registry import register_proxy
from archsearch.proxies.text_base import TextTeacherOutputs, check_text_arguments
from archsearch.text_data import TextBatch
from archsearch.transformer_features import extract_transformer_features

POOLING_MODES = ("mean", "cls")


def pool_hidden_state(hidden_state: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """Return one vector per sequence of ``hidden_state`` (``B x T x D``) as ``B x D``, in float64.

    Raises:
        ValueError: If ``pooling`` is unknown or the mask does not match the hidden state.
    """
    if pooling not in POOLING_MODES:
        raise ValueError(f"unknown pooling {pooling!r}; valid modes: {', '.join(POOLING_MODES)}")
    if hidden_state.shape[:2] != attention_mask.shape:
        raise ValueError(f"hidden state {tuple(hidden_state.shape)} does not match attention mask "
                         f"{tuple(attention_mask.shape)}; both must be batch x sequence_length")
    hidden_state = hidden_state.double()
    if pooling == "cls":
        return hidden_state[:, 0]
    weights = attention_mask.to(hidden_state.dtype).unsqueeze(-1)
    return (hidden_state * weights).sum(dim=1) / weights.sum(dim=1)


def _check_same_samples(teacher_pooled: torch.Tensor, student_pooled: torch.Tensor) -> None:
    if teacher_pooled.shape[0] != student_pooled.shape[0]:
        raise ValueError(f"teacher features {tuple(teacher_pooled.shape)} and student features "
                         f"{tuple(student_pooled.shape)} cover different numbers of samples; score the student on "
                         "the batch the teacher outputs were computed on")


class _PooledHiddenProxy(Proxy):
    direction = "maximize"
    needs_teacher = True
    bn_mode = "eval"
    inputs = "text"

    def __init__(self, pooling: str = "mean") -> None:
        if pooling not in POOLING_MODES:
            raise ValueError(f"unknown pooling {pooling!r}; valid modes: {', '.join(POOLING_MODES)}")
        self.pooling = pooling

    def pooled_pair(self, model: nn.Module, batch: TextBatch,
                    teacher: TextTeacherOutputs | None) -> tuple[torch.Tensor, torch.Tensor]:
        check_text_arguments(self.name, batch, teacher)
        with torch.no_grad():
            student = extract_transformer_features(model, batch)
        teacher_pooled = pool_hidden_state(teacher.features.last_hidden_state, batch.attention_mask, self.pooling)
        student_pooled = pool_hidden_state(student.last_hidden_state, batch.attention_mask, self.pooling)
        _check_same_samples(teacher_pooled, student_pooled)
        return teacher_pooled, student_pooled


@register_proxy("hidden_relation")
class HiddenRelation(_PooledHiddenProxy):
    """Minus the DisWOT relation distance between pooled last hidden states; higher is closer.

    Args:
        pooling: ``"mean"`` over real tokens or ``"cls"`` (the first token).

    Example:
        >>> proxies.create("hidden_relation").score(student, batch, TextTeacherOutputs.compute(teacher, batch))
    """

    source = DISWOT_SOURCE

    def compute(self, model: nn.Module, batch: TextBatch, teacher: TextTeacherOutputs | None) -> ProxyResult:
        teacher_pooled, student_pooled = self.pooled_pair(model, batch, teacher)
        distance = normalized_gram_distance(teacher_pooled, student_pooled)
        return ProxyResult(-float(distance), {"relation_distance": float(distance), "pooling": self.pooling})


@register_proxy("hidden_cka")
class HiddenCKA(_PooledHiddenProxy):
    """Linear CKA between pooled last hidden states of teacher and student; higher is closer.

    Args:
        pooling: ``"mean"`` over real tokens or ``"cls"`` (the first token).

    Example:
        >>> proxies.create("hidden_cka", pooling="cls").score(student, batch, teacher_outputs)
    """

    source = "Kornblith et al., Similarity of Neural Network Representations Revisited, ICML 2019"

    def compute(self, model: nn.Module, batch: TextBatch, teacher: TextTeacherOutputs | None) -> ProxyResult:
        teacher_pooled, student_pooled = self.pooled_pair(model, batch, teacher)
        return ProxyResult(float(linear_cka(teacher_pooled, student_pooled)), {"pooling": self.pooling})
