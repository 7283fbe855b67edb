"""Feature access for any network that follows the timm feature protocol.

A supported model has ``forward_features(x)`` (the features before global pooling),
``forward_head(features, pre_logits=False)`` (pooling and classifier; with ``pre_logits``
the pooled embedding) and ``get_classifier()`` (the final ``nn.Linear``). NAS-Bench-201
networks, the demo teacher, timm CNNs and timm Vision Transformers follow it.

A CNN's ``forward_features`` returns a ``B x C x H x W`` map. A Vision Transformer's returns
``B x N x D`` tokens: the prefix tokens (class token, and the distillation or register tokens
of DeiT-style models) followed by one token per patch. ``extract_features`` turns the patch
tokens into a ``B x D x H x W`` map, so proxies compare the two families the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn


@dataclass
class Features:
    """One forward pass, split at the points that proxies compare.

    Attributes:
        feature_map: The features before global pooling as ``B x C x H x W``. For a Vision
            Transformer these are the patch tokens of the last block (after its final norm),
            without the prefix tokens, arranged on the patch grid.
        embedding: The pooled penultimate representation, ``B x C``.
        logits: The classifier output, ``B x K``.
    """

    feature_map: torch.Tensor
    embedding: torch.Tensor
    logits: torch.Tensor


def check_feature_protocol(model: nn.Module, role: str = "model") -> None:
    """Raise a ValueError unless ``model`` has the methods that feature access needs."""
    missing = [name for name in ("forward_features", "forward_head", "get_classifier") if not hasattr(model, name)]
    if missing:
        raise ValueError(f"{role} {type(model).__name__} lacks {', '.join(missing)}; archsearch reads features "
                         "through the timm protocol (forward_features, forward_head(pre_logits=...), get_classifier)")


def extract_features(model: nn.Module, inputs: torch.Tensor) -> Features:
    """Run ``model`` once on ``inputs`` and return its feature map, embedding and logits.

    With a single linear classifier, it is applied to the returned embedding, so gradients
    of a loss on ``logits`` reach the classifier weight through ``embedding``. A model with
    several heads, such as timm's distilled DeiT (class-token and distillation-token heads),
    gets its logits from its own ``forward_head``.

    Raises:
        ValueError: If the model lacks the feature protocol, or its tokens cannot be arranged
            on a patch grid (see ``tokens_to_feature_map``).
    """
    check_feature_protocol(model)
    output = model.forward_features(inputs)
    embedding = model.forward_head(output, pre_logits=True)
    if isinstance(model.get_classifier(), (tuple, list)):
        logits = model.forward_head(output)
        if not isinstance(logits, torch.Tensor):
            raise ValueError(f"{type(model).__name__}.forward_head returned {type(logits).__name__}, not one tensor "
                             "of logits; switch off distilled training (set_distilled_training(False))")
    else:
        logits = classifier_of(model)(embedding)
    if output.dim() == 3:
        output = tokens_to_feature_map(model, output, tuple(inputs.shape[-2:]))
    return Features(feature_map=output, embedding=embedding, logits=logits)


def prefix_token_count(model: nn.Module, token_count: int) -> int:
    """Return how many tokens precede the patch tokens in the output of ``model``.

    timm's Vision Transformers store it as ``num_prefix_tokens``: 1 with a class token, 2 for
    distilled DeiT (class and distillation token), plus any register tokens. For a model
    without the attribute, the count is ``token_count`` minus the largest square not above it,
    which assumes a square patch grid and fewer than 2 sqrt(patches) + 1 prefix tokens.

    Raises:
        ValueError: If ``num_prefix_tokens`` is not an integer from 0 to ``token_count - 1``.
    """
    count = getattr(model, "num_prefix_tokens", None)
    if count is None:
        return token_count - math.isqrt(token_count) ** 2
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < token_count:
        raise ValueError(f"{type(model).__name__}.num_prefix_tokens is {count!r}, but its output has {token_count} "
                         "tokens; expected an integer from 0 to one less than the token count")
    return count


def tokens_to_feature_map(model: nn.Module, tokens: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Return the patch tokens of ``tokens`` (``B x N x D``) as a ``B x D x H x W`` map.

    The prefix tokens are dropped (see ``prefix_token_count``). The grid is the one that
    ``model.patch_embed`` reports for ``image_size`` when the model has a timm patch
    embedding, else a square grid.

    Raises:
        ValueError: If the patch count does not fill that grid, or is not a square when the
            model has no patch embedding to ask.
    """
    batch, token_count, width = tokens.shape
    prefix = prefix_token_count(model, token_count)
    patches = token_count - prefix
    grid = _patch_grid(model, image_size)
    if grid is None:
        side = math.isqrt(patches)
        if side * side != patches:
            raise ValueError(f"cannot arrange the {patches} patch tokens of {type(model).__name__} (tokens "
                             f"{tuple(tokens.shape)}, {prefix} prefix tokens) on a square grid; give the model a "
                             "timm patch_embed that reports its grid")
        grid = (side, side)
    if grid[0] * grid[1] != patches:
        raise ValueError(f"{type(model).__name__} has a {grid[0]} x {grid[1]} patch grid for input {image_size}, but "
                         f"its tokens {tuple(tokens.shape)} hold {patches} patch tokens after {prefix} prefix tokens")
    return tokens[:, prefix:].reshape(batch, grid[0], grid[1], width).permute(0, 3, 1, 2)


def _patch_grid(model: nn.Module, image_size: tuple[int, int]) -> tuple[int, int] | None:
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is None:
        return None
    if hasattr(patch_embed, "dynamic_feat_size"):
        return tuple(patch_embed.dynamic_feat_size(image_size))
    grid_size = getattr(patch_embed, "grid_size", None)
    return None if grid_size is None else tuple(grid_size)


def stage_features(model: nn.Module, inputs: torch.Tensor,
                   indices: int | Sequence[int] | None = None) -> list[torch.Tensor]:
    """Run ``model`` once and return the outputs of chosen blocks or stages as ``B x C x H x W`` maps.

    A timm model is read through ``forward_intermediates``: for a Vision Transformer these are
    transformer block outputs, with prefix tokens dropped and patch tokens on the patch grid,
    and for a timm CNN stage outputs. The NAS-Bench-201 and CIFAR ResNet networks of this
    project are read through ``forward_stages`` (one output per stage).

    Args:
        model: A model with ``forward_intermediates`` or ``forward_stages``.
        inputs: A ``B x C x H x W`` batch of images.
        indices: The last ``indices`` blocks or stages when an int, those at the given
            positions when a sequence (negative positions count from the end), or all of them
            when ``None``.

    Raises:
        ValueError: If ``model`` has neither method, or a position is out of range for a
            ``forward_stages`` model.

    Example:
        >>> vit = search_spaces.create("vit", input_size=32).build("d4_w192_h3_m2.0_p8")
        >>> maps = stage_features(vit, torch.randn(2, 3, 32, 32), indices=[0, -1])
        >>> [tuple(m.shape) for m in maps]
        [(2, 192, 4, 4), (2, 192, 4, 4)]
    """
    selection = list(indices) if isinstance(indices, Sequence) else indices
    if hasattr(model, "forward_intermediates"):
        outputs = model.forward_intermediates(inputs, indices=selection, intermediates_only=True)
        return [tokens_to_feature_map(model, output, tuple(inputs.shape[-2:])) if output.dim() == 3 else output
                for output in outputs]
    if hasattr(model, "forward_stages"):
        outputs = model.forward_stages(inputs)
        return [outputs[position] for position in _stage_positions(selection, len(outputs))]
    raise ValueError(f"{type(model).__name__} has neither forward_intermediates nor forward_stages, so its "
                     "per-stage features cannot be read; read the final feature map with extract_features")


def _stage_positions(selection: int | list[int] | None, count: int) -> list[int]:
    if selection is None:
        return list(range(count))
    if isinstance(selection, int):
        if not 1 <= selection <= count:
            raise ValueError(f"cannot take the last {selection} of {count} stages; pass a count from 1 to {count}")
        return list(range(count - selection, count))
    invalid = [position for position in selection if not -count <= position < count]
    if invalid:
        raise ValueError(f"stage position(s) {invalid} out of range for {count} stages; valid positions: "
                         f"{-count} to {count - 1}")
    return [position % count for position in selection]


def classifier_of(model: nn.Module) -> nn.Linear:
    """Return the final linear classifier of ``model``.

    For a model whose ``get_classifier()`` returns several heads (timm's distilled DeiT
    returns the class-token head and the distillation head), this is the first head.

    NOTE: distilled DeiT averages the two heads' logits, so a classifier-weight gradient taken
    with the first head on the averaged embedding approximates, and does not equal, the
    gradient of that head inside the model.

    Raises:
        ValueError: If the classifier is not an ``nn.Linear`` (for example a model built
            with ``num_classes=0``).
    """
    check_feature_protocol(model)
    classifier = model.get_classifier()
    if isinstance(classifier, (tuple, list)) and classifier:
        classifier = classifier[0]
    if not isinstance(classifier, nn.Linear):
        raise ValueError(f"the classifier of {type(model).__name__} is {type(classifier).__name__}, not nn.Linear; "
                         "build the model with a linear head (num_classes > 0)")
    return classifier


def classifier_weight_gradient(classifier: nn.Linear, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return d(cross-entropy)/d(weight) of ``classifier`` on a detached ``embedding``.

    The gradient of the classifier weight depends only on the embedding and the labels, so
    this backward pass stops at the classifier instead of running through the whole network,
    and it gives the same K x C matrix as a full backward pass.
    """
    weight = classifier.weight.detach().requires_grad_(True)
    bias = None if classifier.bias is None else classifier.bias.detach()
    with torch.enable_grad():
        logits = nn.functional.linear(embedding.detach().float(), weight.float(), None if bias is None else bias.float())
        loss = nn.functional.cross_entropy(logits, labels)
        (gradient,) = torch.autograd.grad(loss, weight)
    return gradient
