"""A context manager that puts a model back exactly as it was after a proxy has scored it."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn as nn

# The per-module hook dictionaries of torch.nn.Module; a proxy may register hooks in any of them.
_HOOK_ATTRIBUTES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                    "_state_dict_hooks", "_load_state_dict_pre_hooks")

# transformers 5 (checked with 5.25) installs output-capturing hooks on the first forward pass and sets
# this attribute. Restoring it with the hooks makes the next forward pass install them again.
_LAZY_HOOK_FLAGS = ("_output_capturing_hooks_installed",)
_UNSET = object()


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Restore weights, buffers, gradients, ``requires_grad``, train/eval modes and hooks on exit.

    Proxies run forward and backward passes in train mode, which updates BatchNorm running
    statistics and fills ``.grad``; this undoes all of it, also when the proxy raises.
    """
    # One walk over the modules serves every snapshot below. Searches score thousands of
    # candidates, and repeated walks and state_dict() calls used to cost more than the copies.
    modules = [module for _, module in model.named_modules(remove_duplicate=True)]
    parameters = _unique([p for module in modules for p in module._parameters.values() if p is not None])
    buffers = _unique([b for module in modules for b in module._buffers.values() if b is not None])

    with torch.no_grad():
        values = [tensor.detach().clone() for tensor in parameters + buffers]
    gradients = [None if p.grad is None else p.grad.detach().clone() for p in parameters]
    requires_grad = [p.requires_grad for p in parameters]
    modes = [module.training for module in modules]
    hooks = [{attribute: set(getattr(module, attribute, {}).keys()) for attribute in _HOOK_ATTRIBUTES}
             for module in modules]
    hook_flags = [{flag: module.__dict__.get(flag, _UNSET) for flag in _LAZY_HOOK_FLAGS} for module in modules]
    try:
        yield model
    finally:
        with torch.no_grad():
            for tensor, saved in zip(parameters + buffers, values):
                tensor.copy_(saved)
        for parameter, flag, gradient in zip(parameters, requires_grad, gradients):
            parameter.requires_grad_(flag)
            parameter.grad = gradient
        for module, training, registered_before, flags in zip(modules, modes, hooks, hook_flags):
            module.training = training
            _remove_new_hooks(module, registered_before)
            _restore_flags(module, flags)


def _unique(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    # A tensor shared by two modules (tied weights) is saved and restored once.
    seen: set[int] = set()
    unique = []
    for tensor in tensors:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            unique.append(tensor)
    return unique


def _remove_new_hooks(module: nn.Module, registered_before: dict[str, set]) -> None:
    for attribute, keys in registered_before.items():
        registered = getattr(module, attribute, None)
        if registered is None:
            continue
        for key in [key for key in registered if key not in keys]:
            del registered[key]


def _restore_flags(module: nn.Module, flags: dict[str, object]) -> None:
    for flag, value in flags.items():
        if value is _UNSET:
            module.__dict__.pop(flag, None)
        else:
            module.__dict__[flag] = value
