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
from archsearch.proxies.text_base import TextTeacherOutputs
from archsearch.text_data import TextBatch
from search_spaces import SearchSpace
from search_spaces.cost import (DEFAULT_LATENCY_REPEATS, DEFAULT_LATENCY_WARMUP, check_latency_settings, count_flops,
                                 count_parameters, measure_latency)

logger = logging.getLogger("archsearch.evaluator")


@dataclass(frozen=True)
class CostLimits:
    """Upper limits on a candidate's cost; ``None`` means no limit.

    Attributes:
        max_params: Maximum number of parameters.
        max_flops: Maximum multiply-accumulates per input (the NAS convention for FLOPs).
        max_latency_ms: Maximum median time of one forward pass of a batch of
            ``latency_batch_size`` inputs, in milliseconds, on the evaluator's device
            (see ``search_spaces.cost.measure_latency``).
        latency_batch_size: Inputs per timed forward pass.
        latency_repeats: Timed forward passes; the median is compared with the limit.
        latency_warmup: Untimed forward passes before the timed ones.
    """

    max_params: float | None = None
    max_flops: float | None = None
    max_latency_ms: float | None = None
    latency_batch_size: int = 1
    latency_repeats: int = DEFAULT_LATENCY_REPEATS
    latency_warmup: int = DEFAULT_LATENCY_WARMUP

    def __post_init__(self) -> None:
        for name in ("max_params", "max_flops", "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or
                                      not value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        check_latency_settings(self.latency_batch_size, self.latency_repeats, self.latency_warmup, prefix="latency_")

    def violations(self, params: float, flops: float | None, latency_ms: float | None = None) -> list[str]:
        """Return a description of each limit that the cost exceeds; a ``None`` cost is not checked."""
        found = []
        # Counts with millions beside them, because the command line takes its limits in millions.
        if self.max_params is not None and params > self.max_params:
            found.append(f"params {_count_text(params)} > max_params {_count_text(self.max_params)}")
        if self.max_flops is not None and flops is not None and flops > self.max_flops:
            found.append(f"flops {_count_text(flops)} > max_flops {_count_text(self.max_flops)}")
        if self.max_latency_ms is not None and latency_ms is not None and latency_ms > self.max_latency_ms:
            measured, limit = _format_apart(latency_ms, self.max_latency_ms)
            found.append(f"latency {measured} ms > max_latency_ms {limit} ms")
        return found


def _count_text(count: float) -> str:
    return f"{count:.0f} ({count / 1e6:.3g} M)"


def _format_apart(value: float, limit: float) -> tuple[str, str]:
    # One decimal unless both numbers then read the same, as 10.04 and 10.0 would.
    for decimals in range(1, 7):
        value_text, limit_text = f"{value:.{decimals}f}", f"{limit:.{decimals}f}"
        if value_text != limit_text:
            break
    return value_text, limit_text


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
        batch: The scoring minibatch: a ``Batch`` of images, or a ``TextBatch`` of token ids
            for text spaces such as ``bert``.
        teacher: The teacher network, required if any proxy needs it. With a ``TextBatch``,
            a transformers encoder (``archsearch.hf_teachers.HFTeacher``).
        limits: Cost limits; a candidate over a limit is recorded as rejected and not scored.
            Latency is measured only when ``limits.max_latency_ms`` is set or
            ``record_latency`` is true, on the same device and in the same memory layout as
            the scoring.
        seed: Run seed; each candidate's weights are initialised from it and its canonical key.
        num_classes: Classifier outputs of built candidates (default: the space's).
        device: Where candidates are scored.
        channels_last: Score image models in the channels-last memory layout. ``None`` (the
            default) turns it on for 4-D inputs: on CPU it halves the forward time of a
            NAS-Bench-201 cell, mostly because average pooling and BatchNorm have
            vectorised channels-last kernels. Scores agree with the default layout up to
            float rounding.
        record_latency: Measure the latency of every candidate within the other limits, with
            the settings of ``limits``, even when ``limits.max_latency_ms`` is not set.
        teacher_outputs: The teacher's outputs on this batch, computed earlier (for example
            by another Evaluator's ``teacher_outputs``); used instead of running ``teacher``.
    """

    def __init__(self, space: SearchSpace, proxies: Sequence[Proxy], batch: Batch | TextBatch,
                 teacher: nn.Module | None = None,
                 limits: CostLimits = CostLimits(), seed: int = 0, num_classes: int | None = None,
                 device: str | torch.device = "cpu", channels_last: bool | None = None,
                 record_latency: bool = False,
                 teacher_outputs: TeacherOutputs | TextTeacherOutputs | None = None) -> None:
        if not proxies:
            raise ValueError("at least one proxy is needed; the first one is the objective")
        self.space = space
        self.proxies = list(proxies)
        self.device = torch.device(device)
        self.text = isinstance(batch, TextBatch)
        image_batch = not self.text and batch.inputs.dim() == 4
        if channels_last is None:
            channels_last = image_batch
        if channels_last and not image_batch:
            shape = tuple((batch.input_ids if self.text else batch.inputs).shape)
            raise ValueError(f"channels_last needs 4-D image inputs, but the batch inputs have shape {shape}; "
                             "pass channels_last=False")
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if self.text:
            self.batch: Batch | TextBatch = batch.to(self.device)
        else:
            self.batch = Batch(batch.inputs.to(self.device, memory_format=self.memory_format),
                               batch.labels.to(self.device))
        self.limits = limits
        self.record_latency = record_latency
        self.seed = seed
        self.num_classes = num_classes
        self.teacher_outputs: TeacherOutputs | TextTeacherOutputs | None = teacher_outputs
        if teacher_outputs is None and any(proxy.needs_teacher for proxy in self.proxies):
            if teacher is None:
                names = [proxy.name for proxy in self.proxies if proxy.needs_teacher]
                raise ValueError(f"proxies {names} compare with a teacher, but no teacher was given")
            outputs_class = TextTeacherOutputs if self.text else TeacherOutputs
            self.teacher_outputs = outputs_class.compute(teacher.to(self.device), self.batch)

    @property
    def objective_proxy(self) -> Proxy:
        return self.proxies[0]

    def evaluate(self, arch: Hashable) -> dict[str, Any]:
        """Score ``arch`` and return its record; failures are recorded, never raised."""
        start = time.perf_counter()
        canonical = self.space.canonical(arch)
        record: dict[str, Any] = {"arch": self.space.format(arch), "canonical": canonical, "status": "ok",
                                  "objective": None, "scores": {}, "details": {}, "params": None, "flops": None,
                                  "latency_ms": None, "error": None}
        try:
            torch.manual_seed(candidate_seed(self.seed, canonical))
            model = self.space.build(arch, num_classes=self.num_classes)
            model = model.to(self.device, memory_format=self.memory_format)
            record["params"] = count_parameters(model)
            if not self._within_limits(record, arch, model):
                record["status"] = "rejected"
            else:
                self._score(model, record)
        except Exception as error:  # noqa: BLE001 - any failure of one candidate is recorded, the search goes on
            record["status"] = "failed"
            record["objective"] = None
            record["error"] = f"{type(error).__name__}: {error}"
        record["seconds"] = time.perf_counter() - start
        return record

    def _within_limits(self, record: dict[str, Any], arch: Hashable, model: nn.Module) -> bool:
        # The checks run from cheapest to most expensive and stop at the first one that fails.
        # The parameter count is free, and FLOPs come from the space's closed form or else
        # from one forward pass. Latency needs warm-up and repeated passes, so it is measured
        # only when a latency limit is set or requested.
        violations = self.limits.violations(record["params"], None)
        if not violations:
            record["flops"] = self._count_flops(arch, model)
            violations = self.limits.violations(record["params"], record["flops"])
        if not violations and (self.limits.max_latency_ms is not None or self.record_latency):
            record["latency_ms"] = measure_latency(model, self._input_shape,
                                                   batch_size=self.limits.latency_batch_size,
                                                   repeats=self.limits.latency_repeats,
                                                   warmup=self.limits.latency_warmup, device=self.device,
                                                   memory_format=self.memory_format,
                                                   vocab_size=self._vocab_size(model))
            violations = self.limits.violations(record["params"], record["flops"], record["latency_ms"])
        record["error"] = "; ".join(violations) or None
        return not violations

    def _count_flops(self, arch: Hashable, model: nn.Module) -> int | None:
        flops = self.space.flops_from_definition(arch, self._input_shape, num_classes=self.num_classes)
        if flops is None and not self.text:
            flops = count_flops(model, self._input_shape)
        # NOTE: a text space without a closed-form count records no FLOPs, and a FLOP limit
        # is then not checked, because the hook counter feeds float inputs.
        return flops

    @property
    def _input_shape(self) -> tuple[int, ...]:
        if self.text:
            return (self.batch.sequence_length,)
        return tuple(self.batch.inputs.shape[1:])

    def _vocab_size(self, model: nn.Module) -> int | None:
        # Latency of a text student is timed on random token ids from its own embedding table.
        if not self.text:
            return None
        return model.get_input_embeddings().num_embeddings

    def _score(self, model: nn.Module, record: dict[str, Any]) -> None:
        # A failing objective fails the candidate, which the caller records. A failing extra
        # proxy only leaves its own score empty, with the reason in the details. The model
        # was built here and is thrown away afterwards, so the last proxy need not restore it.
        last = len(self.proxies) - 1
        objective_result = self.objective_proxy.score(model, self.batch, self.teacher_outputs, restore=last > 0)
        self._store_result(record, self.objective_proxy.name, objective_result)
        for index, proxy in enumerate(self.proxies[1:], 1):
            try:
                result = proxy.score(model, self.batch, self.teacher_outputs, restore=index < last)
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
