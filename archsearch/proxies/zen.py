"""Zen-score: the expressivity of a Gaussian-initialised network, from its response to a small input change.

Source: Lin, Wang, Sun, Chen, Sun, Qian, Li, Jin, "Zen-NAS: A Zero-Shot NAS for
High-Performance Image Recognition", ICCV 2021.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from archsearch.features import check_feature_protocol
from archsearch.proxies.base import Batch, Proxy, ProxyResult, TeacherOutputs
from archsearch.proxies.layers import BATCH_NORM_TYPES, weighted_layers
from archsearch.proxies.registry import register_proxy

_AFFINE_NORM_TYPES = BATCH_NORM_TYPES + (nn.GroupNorm,)


def gaussian_initialise(model: nn.Module, generator: torch.Generator) -> None:
    """Draw conv and linear weights from N(0, 1) and reset biases and norm-layer affine terms.

    Biases become 0; BatchNorm and GroupNorm scales become 1 and their shifts 0. This is the
    initialisation under which Zen-NAS defines the score.
    """
    with torch.no_grad():
        for layer in weighted_layers(model):
            layer.weight.normal_(0.0, 1.0, generator=generator)
            if layer.bias is not None:
                layer.bias.zero_()
        for module in model.modules():
            if isinstance(module, _AFFINE_NORM_TYPES) and module.weight is not None:
                module.weight.fill_(1.0)
                module.bias.zero_()


def batch_variance_hook(variances: list[torch.Tensor]):
    """Return a forward hook that appends the mean over channels of a norm layer's input batch variance."""

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = inputs[0]
        per_channel = x.transpose(0, 1).reshape(x.shape[1], -1).double().var(dim=1, unbiased=False)
        variances.append(per_channel.mean())

    return hook


@register_proxy("zen")
class Zen(Proxy):
    """Zen-score: log E|f(x) - f(x + gamma * e)| plus the sum over BatchNorm layers of log sigma.

    f is the feature map before global pooling (``forward_features``). x and e are Gaussian
    inputs of the batch's shape, so the batch's values are not used. The network's weights
    are first redrawn from N(0, 1), as the definition requires. Both draws come from a
    generator seeded with ``seed``, so the score depends only on the architecture, the
    batch's shape and ``seed``. The difference is the entrywise L1 norm per sample,
    averaged over the batch, as in the authors' code.

    sigma of a BatchNorm layer is the square root of the mean over channels of its input's
    batch variance on the unperturbed pass, the statistic the layer normalises by in train
    mode. Layers whose input has zero variance are left out: their output is constant, and
    in NAS-Bench-201 they sit on branches fed by a node that no edge reaches.

    NOTE: the authors' code reads ``running_var`` after both passes instead. At the default
    momentum of 0.1 that blends in the initial value 1, which lowers log sigma by about
    0.83 per layer when the variance is large, so its scores are not comparable with these.

    Args:
        seed: Seed of the weight and input draws.
        mixup_gamma: Scale gamma of the input perturbation.

    Source: Lin et al., "Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition",
    ICCV 2021.
    """

    direction = "maximize"
    bn_mode = "train"
    source = "Lin et al., Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition, ICCV 2021"

    def __init__(self, seed: int = 0, mixup_gamma: float = 0.01) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if isinstance(mixup_gamma, bool) or not isinstance(mixup_gamma, (int, float)) \
                or not (0.0 < mixup_gamma and math.isfinite(mixup_gamma)):
            raise ValueError(f"mixup_gamma must be a positive number, got {mixup_gamma!r}; the authors use 0.01")
        self.seed = seed
        self.mixup_gamma = float(mixup_gamma)

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> ProxyResult:
        check_feature_protocol(model)
        device = batch.inputs.device
        generator = torch.Generator(device=device).manual_seed(self.seed)
        shape = tuple(batch.inputs.shape)
        dtype = batch.inputs.dtype if batch.inputs.is_floating_point() else torch.float32

        variances: list[torch.Tensor] = []
        with torch.no_grad():
            gaussian_initialise(model, generator)
            inputs = torch.randn(shape, generator=generator, device=device, dtype=dtype)
            noise = torch.randn(shape, generator=generator, device=device, dtype=dtype)

            handles = [module.register_forward_hook(batch_variance_hook(variances))
                       for module in model.modules() if isinstance(module, BATCH_NORM_TYPES)]
            try:
                clean = model.forward_features(inputs)
            finally:
                for handle in handles:
                    handle.remove()
            perturbed = model.forward_features(inputs + self.mixup_gamma * noise)

        difference = (clean - perturbed).double().abs().flatten(1).sum(1).mean()
        log_difference = float(torch.log(difference))
        nonzero = [variance for variance in variances if variance > 0]
        log_bn_scale = float(sum(0.5 * torch.log(variance) for variance in nonzero)) if nonzero else 0.0
        return ProxyResult(log_difference + log_bn_scale,
                           {"log_difference": log_difference, "log_bn_scale": log_bn_scale,
                            "batch_norm_layers": len(nonzero),
                            "constant_input_batch_norm_layers": len(variances) - len(nonzero)})
