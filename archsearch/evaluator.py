"""Score one candidate: build it, check its cost limits, run the proxies, and describe the result."""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import torch
import torch.nn as nn

from archsearch.proxies import MAXIMIZE, Batch, Proxy, TeacherOutputs
from search_spaces import SearchSpace
from search_spaces.cost import count_flops, count_parameters

logger = logging.getLogger("archsearch.evaluator")


@dataclass(frozen=True)
class CostLimits:
    """Upper limits on a candidate's cost; ``None`` means no limit.

    Attributes:
        max_params: Maximum number of parameters.
        max_flops: Maximum multiply-accumulates per input (the NAS convention for FLOPs).
    """

    max_params: float | None = None
    max_flops: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_params", "max_flops"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")

    def violations(self, params: float, flops: float | None) -> list[str]:
        """Return a description of each limit that the cost exceeds."""
        found = []
        if self.max_params is not None and params > self.max_params:
            found.append(f"params {params:.0f} > max_params {self.max_params:.0f}")
        if self.max_flops is not None and flops is not None and flops > self.max_flops:
            found.append(f"flops {flops:.0f} > max_flops {self.max_flops:.0f}")
        return found


def candidate_seed(run_seed: int, canonical: str) -> int:
    """Return the weight-initialisation seed of a candidate: stable across processes and resumes."""
    return zlib.crc32(f"{run_seed}:{canonical}".encode()) & 0x7FFFFFFF


class Evaluator:
    """Score candidates of ``space`` with ``proxies`` on one fixed batch.

    Teacher outputs are computed once, when the evaluator is created, and shared by every
    candidate. The first proxy is the objective; the others are recorded beside it.

    Args:
        space: The search space that builds candidates.
        proxies: The objective proxy first, then any extra proxies to record.
        batch: The scoring minibatch.
        teacher: The teacher network, required if any proxy needs it.
        limits: Cost limits; a candidate over a limit is recorded as rejected and not scored.
        seed: Run seed; each candidate's weights are initialised from it and its canonical key.
        num_classes: Classifier outputs of built candidates (default: the space's).
        device: Where candidates are scored.
        channels_last: Score image models in the channels-last memory layout. ``None`` (the
            default) turns it on for 4-D inputs: on CPU it halves the forward time of a
            NAS-Bench-201 cell, mostly because average pooling and BatchNorm have
            vectorised channels-last kernels. Scores agree with the default layout up to
            float rounding.
    """

    def __init__(self, space: SearchSpace, proxies: Sequence[Proxy], batch: Batch, teacher: nn.Module | None = None,
                 limits: CostLimits = CostLimits(), seed: int = 0, num_classes: int | None = None,
                 device: str | torch.device = "cpu", channels_last: bool | None = None) -> None:
        if not proxies:
            raise ValueError("at least one proxy is needed; the first one is the objective")
        self.space = space
        self.proxies = list(proxies)
        self.device = torch.device(device)
        if channels_last is None:
            channels_last = batch.inputs.dim() == 4
        if channels_last and batch.inputs.dim() != 4:
            raise ValueError(f"channels_last needs 4-D image inputs, but the batch inputs have shape "
                             f"{tuple(batch.inputs.shape)}; pass channels_last=False")
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.batch = Batch(batch.inputs.to(self.device, memory_format=self.memory_format),
                           batch.labels.to(self.device))
        self.limits = limits
        self.seed = seed
        self.num_classes = num_classes
        self.teacher_outputs: TeacherOutputs | None = None
        if any(proxy.needs_teacher for proxy in self.proxies):
            if teacher is None:
                names = [proxy.name for proxy in self.proxies if proxy.needs_teacher]
                raise ValueError(f"proxies {names} compare with a teacher, but no teacher was given")
            self.teacher_outputs = TeacherOutputs.compute(teacher.to(self.device), self.batch)

    @property
    def objective_proxy(self) -> Proxy:
        return self.proxies[0]

    def evaluate(self, arch: Hashable) -> dict[str, Any]:
        """Score ``arch`` and return its record; failures are recorded, never raised."""
        start = time.perf_counter()
        canonical = self.space.canonical(arch)
        record: dict[str, Any] = {"arch": self.space.format(arch), "canonical": canonical, "status": "ok",
                                  "objective": None, "scores": {}, "details": {}, "params": None, "flops": None,
                                  "error": None}
        try:
            torch.manual_seed(candidate_seed(self.seed, canonical))
            model = self.space.build(arch, num_classes=self.num_classes)
            model = model.to(self.device, memory_format=self.memory_format)
            record["params"] = count_parameters(model)
            if not self._within_limits(record, model):
                record["status"] = "rejected"
            else:
                self._score(model, record)
        except Exception as error:  # noqa: BLE001 - any failure of one candidate is recorded, the search goes on
            record["status"] = "failed"
            record["objective"] = None
            record["error"] = f"{type(error).__name__}: {error}"
        record["seconds"] = time.perf_counter() - start
        return record

    def _within_limits(self, record: dict[str, Any], model: nn.Module) -> bool:
        # Parameters are counted first because that is free; FLOPs need a forward pass.
        if self.limits.violations(record["params"], None):
            record["error"] = "; ".join(self.limits.violations(record["params"], None))
            return False
        record["flops"] = count_flops(model, tuple(self.batch.inputs.shape[1:]))
        violations = self.limits.violations(record["params"], record["flops"])
        record["error"] = "; ".join(violations) or None
        return not violations

    def _score(self, model: nn.Module, record: dict[str, Any]) -> None:
        # A failing objective fails the candidate, which the caller records. A failing extra
        # proxy only leaves its own score empty, with the reason in the details.
        objective_result = self.objective_proxy.score(model, self.batch, self.teacher_outputs)
        self._store_result(record, self.objective_proxy.name, objective_result)
        for proxy in self.proxies[1:]:
            try:
                result = proxy.score(model, self.batch, self.teacher_outputs)
            except Exception as error:  # noqa: BLE001 - recorded with the candidate
                record["scores"][proxy.name] = None
                record["details"][proxy.name] = {"error": f"{type(error).__name__}: {error}"}
                continue
            self._store_result(record, proxy.name, result)
        value = objective_result.value
        record["objective"] = value if self.objective_proxy.direction == MAXIMIZE else -value

    @staticmethod
    def _store_result(record: dict[str, Any], name: str, result) -> None:
        record["scores"][name] = result.value
        if result.details:
            record["details"][name] = result.details
