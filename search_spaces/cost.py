"""Parameter and multiply-accumulate counts of a built network."""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

FLOP_METHODS = ("modules", "torch")


def count_parameters(model: nn.Module) -> int:
    """Return the number of parameters of ``model``, trainable or not."""
    return sum(parameter.numel() for parameter in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1, method: str = "modules") -> int:
    """Count the multiply-accumulates (MACs) of one forward pass, per input.

    NAS papers and NAS-Bench-201 report "FLOPs" as multiply-accumulates, and so does this.
    Two methods:

    - ``"modules"`` (default): forward hooks on ``nn.Conv*`` and ``nn.Linear`` layers add
      up their MACs. It is fast (one plain forward pass) but misses matrix products
      written as functions, such as the attention products of a transformer.
    - ``"torch"``: ``torch.utils.flop_counter.FlopCounterMode``, which counts every
      convolution and matrix product, including functional ones, and counts 2 FLOPs per
      MAC (this returns half of its count). It is about 20 times slower on small CNNs.

    Neither counts normalisation, activations, pooling or element-wise additions.
    The model runs in eval mode under ``torch.no_grad`` and its mode is restored afterwards.

    Raises:
        ValueError: If ``method`` is unknown.
    """
    if method not in FLOP_METHODS:
        raise ValueError(f"unknown FLOP counting method {method!r}; valid methods: {', '.join(FLOP_METHODS)}")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    example = torch.zeros(batch_size, *input_shape, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if method == "torch":
                counter = FlopCounterMode(display=False)
                with counter:
                    model(example)
                return counter.get_total_flops() // (2 * batch_size)
            return _count_module_macs(model, example) // batch_size
    finally:
        model.train(was_training)


def _count_module_macs(model: nn.Module, example: torch.Tensor) -> int:
    total = 0

    def convolution_hook(module: nn.modules.conv._ConvNd, inputs, output) -> None:
        nonlocal total
        kernel_volume = 1
        for size in module.kernel_size:
            kernel_volume *= size
        total += output.numel() * (module.in_channels // module.groups) * kernel_volume

    def linear_hook(module: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            handles.append(module.register_forward_hook(convolution_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        model(example)
    finally:
        for handle in handles:
            handle.remove()
    return total
