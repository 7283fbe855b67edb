"""DisWOT: teacher-student similarity of a randomly initialised student.

Source: Dong, Li and Wei, "DisWOT: Student Architecture Search for Distillation WithOut
Training", CVPR 2023. Both terms are distances on one minibatch; the proxies return their
negation, so a higher score means a student closer to the teacher.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from archsearch.features import classifier_of, classifier_weight_gradient, extract_features
from archsearch.proxies.base import Batch, Proxy, ProxyError, ProxyResult, TeacherOutputs
from archsearch.proxies.registry import register_proxy

SOURCE = "Dong, Li and Wei, DisWOT: Student Architecture Search for Distillation WithOut Training, CVPR 2023"


def channel_semantic_distance(teacher_gradient: torch.Tensor, student_gradient: torch.Tensor) -> torch.Tensor:
    """Return the semantic distance between two K x C classifier-weight gradients.

    For each class k the C x C outer product of gradient row k with itself is L2-normalised
    row by row, and the squared differences between teacher and student are summed and
    divided by C*K. Row i of the normalised product is ``sign(g_i) * g / ||g||`` (zero
    where ``g_i`` is zero), so the sum is computed in O(K*C) without forming the K x C x C
    tensor.
    """
    teacher_signs = torch.sign(teacher_gradient.double())
    student_signs = torch.sign(student_gradient.double())
    cosine = F.cosine_similarity(teacher_gradient.double(), student_gradient.double(), dim=1, eps=1e-300)
    per_class = (teacher_signs.abs().sum(1) + student_signs.abs().sum(1)
                 - 2.0 * cosine * (teacher_signs * student_signs).sum(1))
    classes, channels = teacher_gradient.shape
    return per_class.sum() / (channels * classes)


def class_gram_semantic_distance(teacher_gradient: torch.Tensor, student_gradient: torch.Tensor) -> torch.Tensor:
    """Return a width-free semantic distance: compare the K x K Gram matrices of the gradient rows.

    Used when teacher and student classifiers have different input widths C, where the
    channel form cannot be computed.
    """
    return normalized_gram_distance(teacher_gradient, student_gradient)


def normalized_gram_distance(teacher_rows: torch.Tensor, student_rows: torch.Tensor) -> torch.Tensor:
    """Return ||N(T T^T) - N(S S^T)||^2 / n^2, where N L2-normalises each row and n is the row count."""
    teacher_gram = F.normalize(teacher_rows.double() @ teacher_rows.double().T, p=2, dim=1)
    student_gram = F.normalize(student_rows.double() @ student_rows.double().T, p=2, dim=1)
    count = teacher_rows.shape[0]
    return (teacher_gram - student_gram).pow(2).sum() / (count * count)


def relation_distance(teacher_map: torch.Tensor, student_map: torch.Tensor) -> torch.Tensor:
    """Return the relation distance of two feature maps of the same batch, any shapes.

    Each sample's features are flattened, the B x B Gram matrix over the batch is
    L2-normalised row by row, and the squared differences are summed and divided by B^2.
    """
    if teacher_map.shape[0] != student_map.shape[0]:
        raise ValueError(f"teacher and student feature maps cover different batches: "
                         f"{tuple(teacher_map.shape)} and {tuple(student_map.shape)}")
    return normalized_gram_distance(teacher_map.flatten(1), student_map.flatten(1))


def semantic_distance(teacher_gradient: torch.Tensor, student_gradient: torch.Tensor) -> tuple[torch.Tensor, str]:
    """Return the semantic distance and the form used: ``"channel"`` (equal widths) or ``"class_gram"``.

    Raises:
        ValueError: If teacher and student have different class counts.
    """
    if teacher_gradient.shape[0] != student_gradient.shape[0]:
        raise ValueError(f"teacher and student classifiers have different class counts: teacher weight "
                         f"{tuple(teacher_gradient.shape)}, student weight {tuple(student_gradient.shape)}; "
                         "build the student with the teacher's number of classes")
    if teacher_gradient.shape == student_gradient.shape:
        return channel_semantic_distance(teacher_gradient, student_gradient), "channel"
    return class_gram_semantic_distance(teacher_gradient, student_gradient), "class_gram"


def check_input_dependent(feature_map: torch.Tensor) -> None:
    """Raise ``ProxyError`` if every sample of the batch has the same features.

    A network that ignores its input (for example a NAS-Bench-201 cell whose output node
    only receives zeros) has zero Gram matrices and zero classifier gradients. Both DisWOT
    distances then take a constant value that is smaller than that of most real networks,
    so such a network would win the search while being unable to learn.
    """
    flat = feature_map.flatten(1)
    if torch.equal(flat, flat[:1].expand_as(flat)):
        raise ProxyError("the student's features are the same for every input (the network ignores its input), "
                         "so the DisWOT distances are meaningless")


class _DisWOTBase(Proxy):
    direction = "maximize"
    needs_teacher = True
    bn_mode = "train"
    source = SOURCE
    use_semantic = True
    use_relation = True

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> ProxyResult:
        # Only the classifier gradient needs autograd, and it depends on the embedding alone,
        # so the body runs without building a graph.
        with torch.no_grad():
            features = extract_features(model, batch.inputs)
        check_input_dependent(features.feature_map)
        details: dict[str, object] = {}
        total = 0.0

        if self.use_semantic:
            student_gradient = classifier_weight_gradient(classifier_of(model), features.embedding, batch.labels)
            semantic, form = semantic_distance(teacher.classifier_gradient, student_gradient)
            details["semantic_distance"] = float(semantic)
            details["semantic_form"] = form
            total += float(semantic)

        if self.use_relation:
            relation = relation_distance(teacher.features.feature_map, features.feature_map)
            details["relation_distance"] = float(relation)
            total += float(relation)

        return ProxyResult(-total, details)


@register_proxy("diswot")
class DisWOT(_DisWOTBase):
    """DisWOT score: -(semantic distance + relation distance), the two terms unweighted."""


@register_proxy("diswot_semantic")
class DisWOTSemantic(_DisWOTBase):
    """DisWOT semantic term alone: minus the distance between classifier-gradient correlations."""

    use_relation = False


@register_proxy("diswot_relation")
class DisWOTRelation(_DisWOTBase):
    """DisWOT relation term alone: minus the distance between normalised sample Gram matrices."""

    use_semantic = False
