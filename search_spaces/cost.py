"""Parameter and multiply-accumulate counts and measured latency of a built network."""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

FLOP_METHODS = ("modules", "torch")

# Default timed and untimed forward passes of ``measure_latency``.
DEFAULT_LATENCY_REPEATS = 10
DEFAULT_LATENCY_WARMUP = 3


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


def count_meta_macs(model: nn.Module, example: torch.Tensor | None = None, **inputs: torch.Tensor) -> int:
    """Count the multiply-accumulates of one forward pass of a network built on the meta device.

    ``torch.utils.flop_counter.FlopCounterMode`` records every convolution and matrix
    product, including functional ones such as attention products, from the shapes alone:
    meta tensors have no data, so nothing is computed or allocated. Modules with a
    ``fused_attn`` flag (timm attention) are switched to their explicit matrix products for
    the count, because the counter records those products on every backend.

    Args:
        model: A network whose parameters are on the meta device (build it under
            ``with torch.device("meta"):``).
        example: The positional input, a meta tensor with a batch dimension of 1.
        inputs: Keyword inputs instead, such as ``input_ids`` for transformers models.

    Returns:
        Multiply-accumulates (the counter's FLOPs divided by 2).
    """
    for module in model.modules():
        if getattr(module, "fused_attn", None) is True:
            module.fused_attn = False
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        if example is None:
            model(**inputs)
        else:
            model(example, **inputs)
    return counter.get_total_flops() // 2


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


def check_latency_settings(batch_size: int, repeats: int, warmup: int, prefix: str = "") -> None:
    """Raise a ValueError that names the value when a latency measurement setting is invalid.

    Args:
        batch_size, repeats, warmup: As in ``measure_latency``.
        prefix: Put before each name in the message, so it names the caller's argument
            (``"latency_"`` gives ``latency_batch_size``).

    Raises:
        ValueError: If ``batch_size`` or ``repeats`` is not a positive integer, or ``warmup``
            is not a non-negative integer.
    """
    for name, value, minimum in (("batch_size", batch_size, 1), ("repeats", repeats, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            kind = "a positive integer" if minimum == 1 else "a non-negative integer"
            raise ValueError(f"{prefix}{name} must be {kind}, got {value!r}")


def measure_latency(model: nn.Module, input_shape: tuple[int, ...], *, batch_size: int = 1,
                    repeats: int = DEFAULT_LATENCY_REPEATS, warmup: int = DEFAULT_LATENCY_WARMUP,
                    device: str | torch.device | None = None,
                    memory_format: torch.memory_format | None = None, vocab_size: int | None = None) -> float:
    """Measure the median wall time of one forward pass of a batch, in milliseconds.

    The model runs ``warmup`` untimed forward passes, then ``repeats`` timed ones, in eval
    mode under ``torch.inference_mode``, on a batch of ``batch_size`` random inputs of
    ``input_shape``. Each timed pass is wall time from ``time.perf_counter``. On a CUDA
    device the timer waits for the GPU (``torch.cuda.synchronize``) before starting and
    before stopping. The median of the timed passes is returned. Every module's
    training mode is restored afterwards.

    The numbers depend on the machine, its load, torch's thread count
    (``torch.get_num_threads()``) and the batch size, so compare them only between
    measurements taken on the same machine under the same conditions.

    Args:
        model: The network. Its parameters must already be on ``device``. Its weights keep
            their memory layout, so convert them with ``model.to(memory_format=...)`` to match
            ``memory_format``.
        input_shape: Shape of one input without the batch dimension, such as (3, 32, 32).
            The inputs are float tensors unless ``vocab_size`` is set.
        batch_size: Inputs per forward pass.
        repeats: Timed forward passes; the median is taken over them.
        warmup: Untimed forward passes before the timed ones, which let allocators, caches
            and lazily chosen kernels settle.
        device: Where the inputs are made. Default: the device of the model's parameters, or
            the CPU for a model without parameters.
        memory_format: Layout of the input batch, such as ``torch.channels_last`` for image
            models scored in that layout. Default: ``torch.contiguous_format``.
        vocab_size: For models that take token ids (BERT students): the inputs are random
            token ids below this value, with ``input_shape`` ``(sequence_length,)``.

    Returns:
        The median time of one forward pass of the whole batch, in milliseconds.

    Raises:
        ValueError: If a setting is invalid, or the model's parameters are not on ``device``.
    """
    check_latency_settings(batch_size, repeats, warmup)
    shape = _check_input_shape(input_shape)
    target = _resolve_device(model, device)
    layout = _check_memory_format(memory_format, shape)
    # A private generator leaves the global random state, and so the scores a search draws
    # from it after this measurement, as it was.
    generator = torch.Generator().manual_seed(0)
    if vocab_size is not None:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}")
        example = torch.randint(0, vocab_size, (batch_size, *shape), generator=generator).to(target)
    else:
        example = torch.randn(batch_size, *shape, generator=generator).to(target, memory_format=layout)

    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                model(example)
            timings = [_time_forward(model, example, target) for _ in range(repeats)]
    finally:
        for module, training in modes:
            module.training = training
    return statistics.median(timings)


def _time_forward(model: nn.Module, example: torch.Tensor, device: torch.device) -> float:
    # NOTE: only CUDA is synchronised. Other asynchronous devices, such as MPS, would be
    # timed at kernel launch, not completion.
    _synchronize(device)
    start = time.perf_counter()
    model(example)
    _synchronize(device)
    return (time.perf_counter() - start) * 1000.0


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _check_input_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be a sequence of positive integers, got {input_shape!r}") from None
    if not shape or any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in shape):
        raise ValueError(f"input_shape must be a non-empty sequence of positive integers, got {input_shape!r}")
    return shape


def _resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    parameter = next(model.parameters(), None)
    model_device = parameter.device if parameter is not None else torch.device("cpu")
    if device is None:
        return model_device
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"invalid device {device!r}; use cpu, cuda or cuda:N") from None
    if parameter is not None and not _same_device(model_device, target):
        raise ValueError(f"the model's parameters are on {model_device}, but latency is requested on {target}; "
                         f"move the model with model.to({str(target)!r}) first")
    return target


def _same_device(first: torch.device, second: torch.device) -> bool:
    # torch.device("cuda") has no index; it means the current CUDA device.
    if first.type != second.type:
        return False
    if first.type != "cuda" or first.index == second.index:
        return True
    current = torch.cuda.current_device()
    first_index = current if first.index is None else first.index
    second_index = current if second.index is None else second.index
    return first_index == second_index


def _check_memory_format(memory_format: torch.memory_format | None, shape: tuple[int, ...]) -> torch.memory_format:
    if memory_format is None:
        return torch.contiguous_format
    dimensions = {torch.contiguous_format: None, torch.channels_last: 3, torch.channels_last_3d: 4}
    if not isinstance(memory_format, torch.memory_format) or memory_format not in dimensions:
        raise ValueError(f"invalid memory_format {memory_format!r}; use torch.contiguous_format, "
                         "torch.channels_last or torch.channels_last_3d")
    needed = dimensions[memory_format]
    if needed is not None and len(shape) != needed:
        raise ValueError(f"memory_format {memory_format} needs input_shape with {needed} dimensions "
                         f"(channels first), got {shape}")
    return memory_format
