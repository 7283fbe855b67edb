"""Centred kernel alignment between teacher and student representations: linear, RBF and minibatch.

Sources: Kornblith, Norouzi, Lee and Hinton, "Similarity of Neural Network Representations
Revisited", ICML 2019 (linear and RBF CKA); Nguyen, Raghu and Kornblith, "Do Wide and Deep
Networks Learn the Same Things?", ICLR 2021 (minibatch CKA).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from archsearch.features import extract_features
from archsearch.proxies.base import Batch, Proxy, ProxyResult, TeacherOutputs
from archsearch.proxies.registry import register_proxy


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Return linear CKA of ``x`` (n x p) and ``y`` (n x q), a value in [0, 1].

    Both are centred over the n samples; the value is ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F),
    computed in float64. It is NaN when either input is constant over the samples.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA compares the same samples, but the inputs have shapes {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    x = x.flatten(1).double()
    y = y.flatten(1).double()
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    cross = torch.linalg.matrix_norm(y.T @ x) ** 2
    return cross / (torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y))


@register_proxy("cka")
class LinearCKA(Proxy):
    """Linear CKA between the teacher's and the student's penultimate embeddings; higher is closer."""

    direction = "maximize"
    needs_teacher = True
    bn_mode = "train"
    source = "Kornblith et al., Similarity of Neural Network Representations Revisited, ICML 2019"

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> ProxyResult:
        with torch.no_grad():
            features = extract_features(model, batch.inputs)
        return ProxyResult(float(linear_cka(teacher.features.embedding, features.embedding)))


def _check_same_samples(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA compares the same samples, but the inputs have shapes {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")


def rbf_kernel(x: torch.Tensor, sigma_fraction: float = 0.5) -> torch.Tensor:
    """Return the n x n RBF kernel exp(-d_ij^2 / (2 sigma^2)) of the rows of ``x``, in float64.

    sigma is ``sigma_fraction`` times the median Euclidean distance between distinct rows
    (the median of the n(n-1)/2 pairs, averaging the middle two for an even count). The
    kernel is NaN when all rows are equal, because sigma is then 0.
    """
    x = x.flatten(1).double()
    squared_distances = torch.cdist(x, x).pow(2)
    rows, columns = torch.triu_indices(x.shape[0], x.shape[0], offset=1, device=x.device)
    sigma = sigma_fraction * _median(squared_distances[rows, columns].sqrt())
    return torch.exp(-squared_distances / (2.0 * sigma * sigma))


def _median(values: torch.Tensor) -> torch.Tensor:
    # torch.median returns the lower middle value and torch.quantile rejects inputs above 2**24 elements.
    ordered = values.sort().values
    middle = ordered.numel() // 2
    return ordered[middle] if ordered.numel() % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def centered_hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Return the biased HSIC estimate tr(K H L H) / (n - 1)^2 with H = I - 11^T / n."""
    count = k.shape[0]
    centred_k = k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()
    centred_l = l - l.mean(0, keepdim=True) - l.mean(1, keepdim=True) + l.mean()
    # tr(KHLH) = tr((HKH)(HLH)) because H is idempotent, and for symmetric matrices the trace of a
    # product is the sum of the elementwise product.
    return (centred_k * centred_l).sum() / (count - 1) ** 2


def kernel_cka(x: torch.Tensor, y: torch.Tensor, sigma_fraction: float = 0.5) -> torch.Tensor:
    """Return RBF-kernel CKA of ``x`` (n x p) and ``y`` (n x q): HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).

    Each input gets its own bandwidth (see ``rbf_kernel``). The value lies in [0, 1], is 1
    when ``x`` and ``y`` are equal, and is NaN when either input has all rows equal.
    """
    _check_same_samples(x, y)
    k = rbf_kernel(x, sigma_fraction)
    l = rbf_kernel(y, sigma_fraction)
    return centered_hsic(k, l) / torch.sqrt(centered_hsic(k, k) * centered_hsic(l, l))


def unbiased_hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Return the unbiased HSIC estimator of Song et al. (JMLR 2012) for n x n kernels, n >= 4.

    With K~ and L~ the kernels with zeroed diagonals, the estimate is
    [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2)) - 2 / (n-2) 1^T K~ L~ 1] / (n (n-3)).

    Raises:
        ValueError: If n < 4, where the estimator is undefined.
    """
    count = k.shape[0]
    if count < 4:
        raise ValueError(f"the unbiased HSIC estimator needs at least 4 samples, got {count}")
    k = k.double().clone()
    l = l.double().clone()
    k.fill_diagonal_(0.0)
    l.fill_diagonal_(0.0)
    trace_term = (k * l.T).sum()
    sum_term = k.sum() * l.sum() / ((count - 1) * (count - 2))
    cross_term = 2.0 / (count - 2) * (k.sum(0) @ l.sum(1))
    return (trace_term + sum_term - cross_term) / (count * (count - 3))


def _check_minibatch_size(minibatch_size: int) -> None:
    if isinstance(minibatch_size, bool) or not isinstance(minibatch_size, int) or minibatch_size < 4:
        raise ValueError(f"minibatch_size must be an integer of at least 4 (the unbiased HSIC estimator's "
                         f"minimum), got {minibatch_size!r}")


def minibatch_cka(x: torch.Tensor, y: torch.Tensor, minibatch_size: int = 16) -> torch.Tensor:
    """Return linear minibatch CKA of ``x`` (n x p) and ``y`` (n x q).

    The rows are split into consecutive minibatches of ``minibatch_size``. The unbiased HSIC
    of (K, L), (K, K) and (L, L), with linear kernels, is averaged over the minibatches, and
    CKA is formed from the three averages. The last n mod ``minibatch_size`` rows are left
    out. With ``minibatch_size == n`` this is the unbiased CKA of the whole batch.

    Raises:
        ValueError: If ``minibatch_size`` is below 4 or above n.
    """
    _check_same_samples(x, y)
    count = x.shape[0]
    _check_minibatch_size(minibatch_size)
    if minibatch_size > count:
        raise ValueError(f"minibatch_size {minibatch_size} exceeds the {count} samples; use a minibatch_size "
                         f"of at most {count} or a larger batch")
    x = x.flatten(1).double()
    y = y.flatten(1).double()
    cross = x.new_zeros(())
    self_x = x.new_zeros(())
    self_y = x.new_zeros(())
    minibatches = count // minibatch_size
    for index in range(minibatches):
        rows = slice(index * minibatch_size, (index + 1) * minibatch_size)
        k = x[rows] @ x[rows].T
        l = y[rows] @ y[rows].T
        cross = cross + unbiased_hsic(k, l)
        self_x = self_x + unbiased_hsic(k, k)
        self_y = self_y + unbiased_hsic(l, l)
    # The common factor 1 / minibatches of the three averages cancels in the ratio.
    return cross / torch.sqrt(self_x * self_y)


def _student_embedding(model: nn.Module, batch: Batch) -> torch.Tensor:
    with torch.no_grad():
        return extract_features(model, batch.inputs).embedding


@register_proxy("kernel_cka")
class KernelCKA(Proxy):
    """RBF-kernel CKA between the teacher's and the student's penultimate embeddings; higher is closer.

    Args:
        sigma_fraction: RBF bandwidth as a fraction of the median pairwise distance of each
            embedding.

    Source: Kornblith, Norouzi, Lee, Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019.
    """

    direction = "maximize"
    needs_teacher = True
    bn_mode = "train"
    source = "Kornblith et al., Similarity of Neural Network Representations Revisited, ICML 2019"

    def __init__(self, sigma_fraction: float = 0.5) -> None:
        if isinstance(sigma_fraction, bool) or not isinstance(sigma_fraction, (int, float)) \
                or not (0.0 < sigma_fraction < float("inf")):
            raise ValueError(f"sigma_fraction must be a positive number, got {sigma_fraction!r}; "
                             "Kornblith et al. use fractions such as 0.2, 0.4 and 0.8")
        self.sigma_fraction = float(sigma_fraction)

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> ProxyResult:
        embedding = _student_embedding(model, batch)
        return ProxyResult(float(kernel_cka(teacher.features.embedding, embedding, self.sigma_fraction)))


@register_proxy("minibatch_cka")
class MinibatchCKA(Proxy):
    """Linear minibatch CKA between the teacher's and the student's penultimate embeddings.

    The batch must hold at least ``minibatch_size`` samples; see ``minibatch_cka``.

    Args:
        minibatch_size: Samples per minibatch, at least 4.

    Source: Nguyen, Raghu, Kornblith, "Do Wide and Deep Networks Learn the Same Things?
    Uncovering How Neural Network Representations Vary with Width and Depth", ICLR 2021.
    """

    direction = "maximize"
    needs_teacher = True
    bn_mode = "train"
    source = ("Nguyen, Raghu, Kornblith, Do Wide and Deep Networks Learn the Same Things? "
              "Uncovering How Neural Network Representations Vary with Width and Depth, ICLR 2021")

    def __init__(self, minibatch_size: int = 16) -> None:
        _check_minibatch_size(minibatch_size)
        self.minibatch_size = minibatch_size

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> ProxyResult:
        embedding = _student_embedding(model, batch)
        value = minibatch_cka(teacher.features.embedding, embedding, self.minibatch_size)
        minibatches = batch.inputs.shape[0] // self.minibatch_size
        return ProxyResult(float(value), {"minibatches": minibatches,
                                          "samples_used": minibatches * self.minibatch_size})
