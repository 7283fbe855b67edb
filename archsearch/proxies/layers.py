"""Layer types and weight gradients shared by the zero-cost proxies.

The zero-cost proxies of Abdelfattah et al. ("Zero-Cost Proxies for Lightweight NAS", ICLR 2021)
sum per-weight saliencies over the weights of convolution and linear layers only; biases and
normalisation parameters are left out.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from archsearch.proxies.base import Batch

ZERO_COST_SOURCE = "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021"

WEIGHTED_LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
BATCH_NORM_TYPES: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """Return the convolution and linear layers of ``model`` in ``model.modules()`` order.

    Raises:
        ValueError: If ``model`` has no such layer.
    """
    layers = [module for module in model.modules() if isinstance(module, WEIGHTED_LAYER_TYPES)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv1d/2d/3d or Linear layer; the gradient-based "
                         "proxies score the weights of those layers")
    return layers


def differentiable_weights(model: nn.Module) -> list[nn.Parameter]:
    """Return the conv and linear weights of ``model`` with ``requires_grad`` switched on.

    A frozen weight still gets a saliency, so the flag is set on every weight. ``Proxy.score``
    restores the caller's flags afterwards.
    """
    weights = [layer.weight for layer in weighted_layers(model)]
    for weight in weights:
        weight.requires_grad_(True)
    return weights


def cross_entropy_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Run ``model`` on the batch and return the mean cross-entropy of its logits.

    Raises:
        ValueError: If the output is not a ``batch x classes`` tensor of logits.
    """
    logits = model(batch.inputs)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"{type(model).__name__} returned {shape}, but cross-entropy needs a batch x classes "
                         "tensor of logits; build the model with a linear classifier head")
    return F.cross_entropy(logits, batch.labels)


def weight_gradients(output: torch.Tensor, weights: list[nn.Parameter],
                     create_graph: bool = False) -> list[torch.Tensor]:
    """Return d(output)/d(weight) for each weight, zeros for weights that ``output`` does not use.

    ``torch.autograd.grad`` leaves ``.grad`` untouched, so no reference cycle between a
    parameter and a graph-carrying gradient can form, even with ``create_graph``.
    NAS-Bench-201 cells build operations on edges that cannot reach the output, and
    those weights get zero gradients.
    """
    gradients = torch.autograd.grad(output, weights, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(weight) if gradient is None else gradient
            for weight, gradient in zip(weights, gradients)]
