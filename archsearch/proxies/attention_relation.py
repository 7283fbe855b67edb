"""Self-attention relation similarity between a transformer teacher and student (MiniLMv2 style).

Source: Wang et al., "MiniLMv2: Multi-Head Self-Attention Relation Distillation for Compressing
Pretrained Transformers", Findings of ACL 2021; AutoDistil (Xu et al., NeurIPS 2022) trains and
ranks its students with this loss on the last layer.

For a last-layer projection X (the queries, keys or values, ``B x T x D``), X is cut along D
into R relation heads X_1..X_R, and head r gives the relation distribution of query token i

    P_r[b, i, :] = softmax_j(X_r[b, i] . X_r[b, j] / sqrt(d_r)),

with padded tokens j masked out and d_r the width of head r. R is the teacher's head count by
default, so a student of any hidden size and head count yields R x T x T relations per
sequence, the same shape as the teacher's. The proxy's value is

    score = -(KL_QQ + KL_KK + KL_VV),
    KL_XX = mean over b, r and real tokens i of KL(P^teacher_r[b, i] || P^student_r[b, i]),

so it is 0 for identical relations and more negative for less similar ones (higher is
better). When R divides D, the heads are the equal MiniLMv2 split. Otherwise
``torch.tensor_split`` gives the first D mod R heads one more unit than the rest.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from archsearch.proxies.base import Proxy, ProxyResult
from archsearch.proxies.registry import register_proxy
from archsearch.proxies.text_base import TextTeacherOutputs, check_text_arguments
from archsearch.text_data import TextBatch
from archsearch.transformer_features import extract_transformer_features

SOURCE = ("Wang et al., MiniLMv2: Multi-Head Self-Attention Relation Distillation for Compressing Pretrained "
          "Transformers, Findings of ACL 2021")
RELATIONS = ("query", "key", "value")


def relation_log_probabilities(projection: torch.Tensor, relation_heads: int,
                               attention_mask: torch.Tensor) -> torch.Tensor:
    """Return the log relation distributions of ``projection`` (``B x T x D``) as ``B x R x T x T``, in float64.

    Padded key positions (mask 0) get probability 0 (log probability -inf).

    Raises:
        ValueError: If D is smaller than ``relation_heads``, so some head would be empty.
    """
    width = projection.shape[-1]
    if width < relation_heads:
        raise ValueError(f"cannot split a projection of shape {tuple(projection.shape)} into {relation_heads} "
                         f"relation heads; each head needs at least one unit, so use relation_heads <= {width}")
    heads = torch.tensor_split(projection.double(), relation_heads, dim=-1)
    padded_keys = ~attention_mask.bool()[:, None, :]
    relations = []
    for head in heads:
        scores = head @ head.transpose(-1, -2) / math.sqrt(head.shape[-1])
        relations.append(torch.log_softmax(scores.masked_fill(padded_keys, float("-inf")), dim=-1))
    return torch.stack(relations, dim=1)


def relation_kl(teacher_projection: torch.Tensor, student_projection: torch.Tensor, relation_heads: int,
                attention_mask: torch.Tensor) -> torch.Tensor:
    """Return the mean KL(teacher || student) of the relation distributions over sequences, heads and real tokens.

    Raises:
        ValueError: If the two projections cover different batch sizes or sequence lengths,
            or either is narrower than ``relation_heads``.
    """
    if teacher_projection.shape[:2] != student_projection.shape[:2]:
        raise ValueError(f"teacher projection {tuple(teacher_projection.shape)} and student projection "
                         f"{tuple(student_projection.shape)} cover different batches or sequence lengths; score the "
                         "student on the batch the teacher outputs were computed on")
    teacher_log = relation_log_probabilities(teacher_projection, relation_heads, attention_mask)
    student_log = relation_log_probabilities(student_projection, relation_heads, attention_mask)
    real_keys = attention_mask.bool()[:, None, None, :]
    # Padded keys have -inf on both sides; they add 0 * (anything) and are zeroed first to avoid inf - inf.
    difference = torch.where(real_keys, teacher_log - student_log, torch.zeros_like(teacher_log))
    per_query = (teacher_log.exp() * difference).sum(dim=-1)
    real_queries = attention_mask.to(per_query.dtype)[:, None, :]
    return (per_query * real_queries).sum() / (real_queries.sum() * relation_heads)


@register_proxy("minilm_relation")
class AttentionRelation(Proxy):
    """Minus the summed KL divergence of last-layer Q-Q, K-K and V-V relations; higher is closer to the teacher.

    The exact formula is in the module docstring. The student is scored in eval mode, so
    dropout is off and the score is deterministic for given weights.

    Args:
        relation_heads: Relation heads R; ``None`` uses the teacher's last-layer head count.

    Example:
        >>> proxy = proxies.create("minilm_relation")
        >>> proxy.score(student, batch, TextTeacherOutputs.compute(teacher, batch)).value
    """

    direction = "maximize"
    needs_teacher = True
    bn_mode = "eval"
    inputs = "text"
    source = SOURCE

    def __init__(self, relation_heads: int | None = None) -> None:
        if relation_heads is not None and (isinstance(relation_heads, bool) or not isinstance(relation_heads, int)
                                           or relation_heads < 1):
            raise ValueError(f"relation_heads must be a positive integer or None (the teacher's head count), "
                             f"got {relation_heads!r}")
        self.relation_heads = relation_heads

    def compute(self, model: nn.Module, batch: TextBatch, teacher: TextTeacherOutputs | None) -> ProxyResult:
        check_text_arguments(self.name, batch, teacher)
        with torch.no_grad():
            student = extract_transformer_features(model, batch)
        heads = self.relation_heads or teacher.features.num_heads
        details: dict[str, object] = {"relation_heads": heads}
        total = 0.0
        for relation in RELATIONS:
            value = float(relation_kl(getattr(teacher.features, relation), getattr(student, relation), heads,
                                      batch.attention_mask))
            details[f"kl_{relation}"] = value
            total += value
        return ProxyResult(-total, details)
