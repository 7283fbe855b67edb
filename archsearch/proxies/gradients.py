"""Gradient and weight-size proxies: ``grad_norm``, ``fisher`` and ``l2_norm``.

All three are the zero-cost forms of Abdelfattah, Mehrotra, Dudziak, Lane, "Zero-Cost Proxies
for Lightweight NAS", ICLR 2021: one cross-entropy backward pass on one minibatch (none for
``l2_norm``), summed over the convolution and linear layers.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from archsearch.proxies.base import Batch, Proxy, TeacherOutputs
from archsearch.proxies.layers import (ZERO_COST_SOURCE, cross_entropy_loss, differentiable_weights,
                                       weight_gradients, weighted_layers)
from archsearch.proxies.registry import register_proxy


@register_proxy("grad_norm")
class GradNorm(Proxy):
    """Sum over conv and linear layers of the L2 norm of d(cross-entropy)/d(weight).

    Source: Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021.
    """

    direction = "maximize"
    bn_mode = "train"
    source = ZERO_COST_SOURCE

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
        weights = differentiable_weights(model)
        with torch.enable_grad():
            gradients = weight_gradients(cross_entropy_loss(model, batch), weights)
        return float(sum(gradient.double().norm() for gradient in gradients))


@register_proxy("fisher")
class Fisher(Proxy):
    """Fisher information of the output channels of every conv and linear layer, summed.

    For channel k of a layer's output z, with g_nk the sum over positions of
    z * d(cross-entropy)/dz for sample n, the channel's score is 0.5 * mean_n g_nk^2.
    Turner et al. define it on the activations they prune; like the zero-cost reference
    code, this proxy takes the conv and linear outputs (before BatchNorm and ReLU).

    g_nk is read as the gradient of a per-sample, per-channel multiplier of ones applied to
    the layer output by a forward hook, which leaves the forward values unchanged and stores
    no activation copies.

    The zero-cost reference code spreads each channel's score over the channel's weights
    before summing, which multiplies it by the layer's fan-in (input channels times kernel
    area). This proxy does the same by default, so that its rankings reproduce the published
    scores; ``weight_by_fan_in=False`` counts each channel once.

    Args:
        weight_by_fan_in: Multiply each channel's score by its layer's fan-in (default), as
            the zero-cost reference code does.

    Sources: Theis, Korshunova, Tejani, Huszar, "Faster gaze prediction with dense networks and
    Fisher pruning", 2018; Turner, Crowley, O'Boyle, Storkey, Gray, "BlockSwap: Fisher-guided
    Block Substitution for Network Compression on a Budget", ICLR 2020; zero-cost form by
    Abdelfattah et al., ICLR 2021.
    """

    direction = "maximize"
    bn_mode = "train"
    source = ("Theis et al., Faster gaze prediction with dense networks and Fisher pruning, 2018; "
              "Turner et al., BlockSwap, ICLR 2020; " + ZERO_COST_SOURCE)

    def __init__(self, weight_by_fan_in: bool = True) -> None:
        if not isinstance(weight_by_fan_in, bool):
            raise ValueError(f"weight_by_fan_in must be True or False, got {weight_by_fan_in!r}")
        self.weight_by_fan_in = weight_by_fan_in

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
        multipliers: list[torch.Tensor] = []
        fan_ins: list[int] = []
        handles = [layer.register_forward_hook(_channel_multiplier_hook(multipliers, fan_ins))
                   for layer in weighted_layers(model)]
        try:
            with torch.enable_grad():
                loss = cross_entropy_loss(model, batch)
                channel_sums = torch.autograd.grad(loss, multipliers, allow_unused=True)
        finally:
            for handle in handles:
                handle.remove()

        total = 0.0
        for channel_sum, fan_in in zip(channel_sums, fan_ins):
            if channel_sum is not None:
                layer_score = float(0.5 * channel_sum.double().pow(2).flatten(1).mean(0).sum())
                total += layer_score * fan_in if self.weight_by_fan_in else layer_score
        return total


def _channel_multiplier_hook(multipliers: list[torch.Tensor], fan_ins: list[int]):
    """Return a forward hook that multiplies a layer's output by ones of shape samples x channels.

    The gradient of the loss with respect to those ones is the sum over positions of
    output * d(loss)/d(output), per sample and channel. Conv outputs have channels on
    dimension 1, linear outputs on the last dimension. The hook also records the layer's
    fan-in (the size of one output channel's weights).
    """

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        shape = [1] * output.dim()
        shape[0] = output.shape[0]
        channel_dim = output.dim() - 1 if isinstance(module, nn.Linear) else 1
        shape[channel_dim] = output.shape[channel_dim]
        multiplier = torch.ones(shape, dtype=output.dtype, device=output.device, requires_grad=True)
        multipliers.append(multiplier)
        fan_ins.append(module.weight.shape[1:].numel())
        return output * multiplier

    return hook


@register_proxy("l2_norm")
class L2Norm(Proxy):
    """Sum over conv and linear layers of the L2 norm of the layer's weight.

    Biases and normalisation parameters are left out.

    Source: NASLib's zero-cost predictors (github.com/automl/NASLib, measure ``l2_norm``),
    a baseline beside the proxies of Abdelfattah et al., ICLR 2021.
    """

    direction = "maximize"
    bn_mode = "eval"
    source = "NASLib zero-cost predictors (github.com/automl/NASLib), after " + ZERO_COST_SOURCE

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
        with torch.no_grad():
            return float(sum(layer.weight.double().norm() for layer in weighted_layers(model)))
