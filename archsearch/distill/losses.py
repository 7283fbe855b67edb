"""Knowledge-distillation losses."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def validate_temperature(temperature: float) -> float:
    """Return ``temperature`` as a float, or raise ValueError unless it is finite and positive."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}; "
                         "typical values are 1 to 8")
    return float(temperature)


def validate_alpha(alpha: float) -> float:
    """Return ``alpha`` as a float, or raise ValueError unless 0 <= alpha <= 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number between 0 and 1, got {alpha!r}; "
                         "0 trains on the labels only, 1 on the teacher only")
    return float(alpha)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *,
            temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """Compute the knowledge-distillation loss of Hinton, Vinyals and Dean (2015).

    The loss is ``(1 - alpha) * CE(student, labels) + alpha * T**2 * KL(p_t || p_s)``, where
    ``p_t`` and ``p_s`` are the softmax of the teacher and student logits divided by the
    temperature ``T``, and the KL divergence is summed over classes and averaged over the
    batch. The ``T**2`` factor keeps the soft-target gradients at the same scale as the
    label gradients when ``T`` changes ("Distilling the Knowledge in a Neural Network",
    arXiv:1503.02531).

    Args:
        student_logits: Student outputs of shape (batch, classes).
        teacher_logits: Teacher outputs of the same shape. They are detached, so the loss
            never backpropagates into the teacher.
        labels: Class indices of shape (batch,).
        temperature: Softmax temperature T, > 0.
        alpha: Weight of the distillation term, in [0, 1].

    Returns:
        A scalar tensor.

    Raises:
        ValueError: If the temperature or alpha is out of range, or the logits' shapes differ.

    Example:
        >>> student, teacher = torch.randn(8, 10), torch.randn(8, 10)
        >>> loss = kd_loss(student, teacher, torch.randint(0, 10, (8,)), temperature=4.0, alpha=0.9)
    """
    temperature = validate_temperature(temperature)
    alpha = validate_alpha(alpha)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits of shape {tuple(student_logits.shape)} and teacher logits of shape "
                         f"{tuple(teacher_logits.shape)} differ; both need shape (batch, classes) with the "
                         "same classes")

    hard_loss = F.cross_entropy(student_logits, labels)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    soft_loss = F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)
    return (1.0 - alpha) * hard_loss + alpha * temperature ** 2 * soft_loss
