"""Pruning-at-initialisation saliencies as proxies: ``snip``, ``grasp`` and ``synflow``.

Each proxy sums a per-weight saliency over the weights of all convolution and linear layers, in
the zero-cost form of Abdelfattah, Mehrotra, Dudziak, Lane, "Zero-Cost Proxies for Lightweight
NAS", ICLR 2021.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from archsearch.proxies.base import Batch, Proxy, ProxyResult, TeacherOutputs
from archsearch.proxies.layers import (BATCH_NORM_TYPES, ZERO_COST_SOURCE, cross_entropy_loss,
                                       differentiable_weights, weight_gradients)
from archsearch.proxies.registry import register_proxy


@register_proxy("snip")
class Snip(Proxy):
    """Connection sensitivity: sum over conv and linear weights of |w * d(cross-entropy)/dw|.

    Sources: Lee, Ajanthan, Torr, "SNIP: Single-shot Network Pruning based on Connection
    Sensitivity", ICLR 2019; zero-cost form by Abdelfattah et al., ICLR 2021.
    """

    direction = "maximize"
    bn_mode = "train"
    source = ("Lee et al., SNIP: Single-shot Network Pruning based on Connection Sensitivity, ICLR 2019; "
              + ZERO_COST_SOURCE)

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
        weights = differentiable_weights(model)
        with torch.enable_grad():
            gradients = weight_gradients(cross_entropy_loss(model, batch), weights)
        with torch.no_grad():
            return float(sum((weight * gradient).double().abs().sum() for weight, gradient in zip(weights, gradients)))


@register_proxy("grasp")
class Grasp(Proxy):
    """Gradient signal preservation: sum over conv and linear weights of -w * (H g).

    g is d(cross-entropy)/dw on the batch and H the Hessian of the cross-entropy, so H g is
    the gradient of g_detached . g, taken by a second backward pass through the graph of g.
    A higher value predicts a better network, with the sign of the zero-cost paper. Attention
    runs with PyTorch's math kernel here, because the fused CPU kernels of
    ``scaled_dot_product_attention`` (used by timm ViTs) have no second derivative.

    Sources: Wang, Zhang, Grosse, "Picking Winning Tickets Before Training by Preserving
    Gradient Flow", ICLR 2020; zero-cost form by Abdelfattah et al., ICLR 2021.
    """

    direction = "maximize"
    bn_mode = "train"
    source = ("Wang et al., Picking Winning Tickets Before Training by Preserving Gradient Flow, ICLR 2020; "
              + ZERO_COST_SOURCE)

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
        weights = differentiable_weights(model)
        with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH):
            gradients = weight_gradients(cross_entropy_loss(model, batch), weights, create_graph=True)
            # The reference code runs the batch through the network again for the Hessian pass. Both
            # passes compute the same values in train mode, so one forward pass serves both.
            gradient_dot = sum((gradient.detach() * gradient).sum() for gradient in gradients
                               if gradient.requires_grad)
            if not isinstance(gradient_dot, torch.Tensor):
                return 0.0  # no weight reaches the loss, so every saliency is zero
            hessian_gradients = weight_gradients(gradient_dot, weights)
        with torch.no_grad():
            return float(sum((-weight * hessian_gradient).double().sum()
                             for weight, hessian_gradient in zip(weights, hessian_gradients)))


@register_proxy("synflow")
class Synflow(Proxy):
    """Synaptic flow: sum over conv and linear weights of |w * dR/dw|.

    R is the sum of the outputs of a float64 copy of the network whose parameters are
    replaced by their absolute values and whose BatchNorm layers are bypassed, run on one
    all-ones input of the batch's sample shape. The zero-cost reference code also turns
    BatchNorm into the identity in its copy for ``synflow``. The caller's model is not
    changed, because only the copy is touched.

    With every weight positive and a positive input, each ReLU passes its input unchanged,
    so R is a sum over all input-output paths of the product of the absolute weights on it.

    NOTE: timm's ``BatchNormAct2d`` layers are bypassed whole, with their activation. That
    is exact for ReLU, which is the identity on the positive values here, but not for
    activations such as SiLU or GELU.

    The result's ``details["log_synflow"]`` is the natural log of the score, the form that
    NASLib publishes.

    Sources: Tanaka, Kunin, Yamins, Ganguli, "Pruning neural networks without any data by
    iteratively conserving synaptic flow", NeurIPS 2020; zero-cost form by Abdelfattah et al.,
    ICLR 2021.
    """

    direction = "maximize"
    # BatchNorm is bypassed, so the mode only switches layers such as dropout, which eval turns off.
    bn_mode = "eval"
    source = ("Tanaka et al., Pruning neural networks without any data by iteratively conserving synaptic flow, "
              "NeurIPS 2020; " + ZERO_COST_SOURCE)

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> ProxyResult:
        # A copy, because converting to float64 replaces parameter tensors, which the state guard cannot undo.
        linearised = linearised_copy(model)
        weights = differentiable_weights(linearised)
        ones = torch.ones((1,) + tuple(batch.inputs.shape[1:]), dtype=torch.float64, device=batch.inputs.device)
        with torch.enable_grad():
            gradients = weight_gradients(linearised(ones).sum(), weights)
        with torch.no_grad():
            total = sum((weight * gradient).abs().sum() for weight, gradient in zip(weights, gradients))
        value = float(total)
        details = {"log_synflow": float(torch.log(total))} if value > 0 else {}
        return ProxyResult(value, details)


def linearised_copy(model: nn.Module) -> nn.Module:
    """Return a float64 copy of ``model`` with absolute-valued parameters and no BatchNorm."""
    clone = copy.deepcopy(model)
    _bypass_batch_norm(clone)
    clone.double()
    with torch.no_grad():
        for parameter in clone.parameters():
            parameter.abs_()
    return clone


def _bypass_batch_norm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, BATCH_NORM_TYPES):
            setattr(module, name, nn.Identity())
        else:
            _bypass_batch_norm(child)
