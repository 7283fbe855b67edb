"""Feature access for any network that follows the timm feature protocol.

A supported model has ``forward_features(x)`` (the feature map before global pooling),
``forward_head(features, pre_logits=False)`` (pooling and classifier; with ``pre_logits``
the pooled embedding) and ``get_classifier()`` (the final ``nn.Linear``). NAS-Bench-201
networks, the demo teacher and timm CNNs follow it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class Features:
    """One forward pass, split at the points that proxies compare.

    Attributes:
        feature_map: The output before global pooling, ``B x C x H x W`` for CNNs.
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

    The classifier is applied to the returned embedding, so gradients of a loss on
    ``logits`` reach the classifier weight through ``embedding``.
    """
    check_feature_protocol(model)
    feature_map = model.forward_features(inputs)
    embedding = model.forward_head(feature_map, pre_logits=True)
    logits = classifier_of(model)(embedding)
    return Features(feature_map=feature_map, embedding=embedding, logits=logits)


def classifier_of(model: nn.Module) -> nn.Linear:
    """Return the final linear classifier of ``model``.

    Raises:
        ValueError: If the classifier is not an ``nn.Linear`` (for example a model built
            with ``num_classes=0``).
    """
    check_feature_protocol(model)
    classifier = model.get_classifier()
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
