"""The proxy interface: a training-free score of one network on one minibatch."""

from __future__ import annotations

import abc
import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn as nn

from archsearch.features import Features, classifier_of, classifier_weight_gradient, extract_features
from archsearch.proxies.state import preserved_state

MAXIMIZE = "maximize"
MINIMIZE = "minimize"


class ProxyError(RuntimeError):
    """A proxy could not produce a finite score for this network; the search records it and goes on."""


@dataclass
class Batch:
    """One minibatch of inputs and integer labels."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.inputs.shape[0] != self.labels.shape[0]:
            raise ValueError(f"batch has {self.inputs.shape[0]} inputs but {self.labels.shape[0]} labels")
        if self.inputs.shape[0] < 2:
            raise ValueError(f"a scoring batch needs at least 2 samples, got {self.inputs.shape[0]}")

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.inputs.to(device), self.labels.to(device))


@dataclass
class TeacherOutputs:
    """Teacher outputs on one batch, computed once and shared by all candidates.

    Attributes:
        features: Detached feature map, embedding and logits, with the teacher in eval mode.
        classifier_gradient: d(cross-entropy)/d(classifier weight) on the batch, ``K x C``.
    """

    features: Features
    classifier_gradient: torch.Tensor

    @classmethod
    def compute(cls, teacher: nn.Module, batch: Batch) -> "TeacherOutputs":
        """Run ``teacher`` once on ``batch`` in eval mode, leaving its state unchanged."""
        with preserved_state(teacher):
            teacher.eval()
            with torch.no_grad():
                features = extract_features(teacher, batch.inputs)
            gradient = classifier_weight_gradient(classifier_of(teacher), features.embedding, batch.labels)
        detached = Features(features.feature_map.detach(), features.embedding.detach(), features.logits.detach())
        return cls(features=detached, classifier_gradient=gradient.detach())


@dataclass
class ProxyResult:
    """A proxy's score and the details behind it (sub-terms, the form used)."""

    value: float
    details: dict[str, Any] = field(default_factory=dict)


class Proxy(abc.ABC):
    """A training-free score of a (usually randomly initialised) network.

    Subclasses set the class attributes and implement ``compute``; ``score`` wraps it so the
    model is left exactly as it was and a NaN or infinite value becomes a ``ProxyError``.

    Attributes:
        name: Registry name.
        direction: ``"maximize"`` if a higher score predicts a better student, else ``"minimize"``.
        needs_teacher: Whether ``compute`` reads ``TeacherOutputs``.
        bn_mode: ``"train"`` (batch statistics) or ``"eval"``: the mode the network is scored in.
        inputs: ``"images"`` (a ``Batch`` of image tensors), ``"text"`` (a ``TextBatch`` of
            token ids) or ``"any"``: the scoring batches the proxy reads.
        source: The paper the score comes from.

    Example:
        >>> class WeightNorm(Proxy):
        ...     name = "weight_norm"
        ...     def compute(self, model, batch, teacher):
        ...         return sum(p.norm().item() for p in model.parameters())
    """

    name: ClassVar[str] = ""
    direction: ClassVar[str] = MAXIMIZE
    needs_teacher: ClassVar[bool] = False
    bn_mode: ClassVar[str] = "train"
    inputs: ClassVar[str] = "images"
    source: ClassVar[str] = ""

    @abc.abstractmethod
    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float | ProxyResult:
        """Score ``model`` on ``batch``; may change the model's state, which ``score`` restores."""

    def score(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None = None, *,
              restore: bool = True) -> ProxyResult:
        """Score ``model`` on ``batch`` and restore its state.

        Args:
            model: The network to score.
            batch: Inputs and labels.
            teacher: Teacher outputs on the same batch, for proxies that compare with a teacher.
            restore: Snapshot the model's weights, buffers, gradients, modes and hooks, and
                restore them afterwards (the default). Pass ``False`` only when the model is
                thrown away after this call: it saves copying every tensor, and the model is
                left in whatever state the proxy put it in.

        Raises:
            ValueError: If the proxy needs teacher outputs and none are given.
            ProxyError: If the score is NaN or infinite.
        """
        if self.needs_teacher and teacher is None:
            raise ValueError(f"proxy {self.name!r} compares the student with a teacher; pass TeacherOutputs "
                             "(TeacherOutputs.compute(teacher, batch))")
        with preserved_state(model) if restore else contextlib.nullcontext(model):
            model.train(self.bn_mode == "train")
            result = self.compute(model, batch, teacher)
        if not isinstance(result, ProxyResult):
            result = ProxyResult(float(result))
        if not math.isfinite(result.value):
            raise ProxyError(f"proxy {self.name!r} returned a non-finite score ({result.value})")
        return result

    def better(self, a: float, b: float) -> bool:
        """Return whether score ``a`` is strictly better than ``b`` in this proxy's direction."""
        return a > b if self.direction == MAXIMIZE else a < b

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, direction={self.direction!r})"
