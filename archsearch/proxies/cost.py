"""Model size as a proxy: parameter count and multiply-accumulates."""

from __future__ import annotations

import torch.nn as nn

from archsearch.proxies.base import Batch, Proxy, TeacherOutputs
from archsearch.proxies.registry import register_proxy
from search_spaces.cost import count_flops, count_parameters


@register_proxy("params")
class Params(Proxy):
    """Parameter count in millions; larger networks tend to train to higher accuracy."""

    direction = "maximize"
    bn_mode = "eval"
    inputs = "any"
    source = "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (baseline)"

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
        return count_parameters(model) / 1e6


@register_proxy("flops")
class Flops(Proxy):
    """Multiply-accumulates per input in millions (see ``search_spaces.cost.count_flops``)."""

    direction = "maximize"
    bn_mode = "eval"
    source = "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (baseline)"

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
        return count_flops(model, tuple(batch.inputs.shape[1:])) / 1e6
