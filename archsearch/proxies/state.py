"""A context manager that puts a model back exactly as it was after a proxy has scored it."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn as nn

# The per-module hook dictionaries of torch.nn.Module; a proxy may register hooks in any of them.
_HOOK_ATTRIBUTES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                    "_state_dict_hooks", "_load_state_dict_pre_hooks")


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Restore weights, buffers, gradients, ``requires_grad``, train/eval modes and hooks on exit.

    Proxies run forward and backward passes in train mode, which updates BatchNorm running
    statistics and fills ``.grad``; this undoes all of it, also when the proxy raises.
    """
    tensors = {name: tensor.detach().clone() for name, tensor in model.state_dict(keep_vars=True).items()
               if isinstance(tensor, torch.Tensor)}
    parameters = dict(model.named_parameters())
    gradients = {name: None if p.grad is None else p.grad.detach().clone() for name, p in parameters.items()}
    requires_grad = {name: p.requires_grad for name, p in parameters.items()}
    modes = {name: module.training for name, module in model.named_modules()}
    hooks = {name: {attribute: set(getattr(module, attribute, {}).keys()) for attribute in _HOOK_ATTRIBUTES}
             for name, module in model.named_modules()}
    try:
        yield model
    finally:
        _restore(model, tensors, gradients, requires_grad, modes, hooks)


def _restore(model, tensors, gradients, requires_grad, modes, hooks) -> None:
    current = model.state_dict(keep_vars=True)
    with torch.no_grad():
        for name, saved in tensors.items():
            current[name].copy_(saved)

    for name, parameter in model.named_parameters():
        parameter.requires_grad_(requires_grad[name])
        parameter.grad = gradients[name]

    for name, module in model.named_modules():
        module.training = modes.get(name, module.training)
        for attribute, keys in hooks.get(name, {}).items():
            registered = getattr(module, attribute, None)
            if registered is None:
                continue
            for key in [key for key in registered if key not in keys]:
                del registered[key]
