"""Scores from "Neural Architecture Search without Training": ``nwot`` and ``jacob_cov``.

``nwot`` is the activation-code kernel of the ICML 2021 version (Mellor, Turner, Storkey,
Crowley). ``jacob_cov`` is the input-Jacobian correlation score of the first version of the 2020
preprint, in the zero-cost form of Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn as nn

from archsearch.proxies.base import Batch, Proxy, ProxyError, ProxyResult, TeacherOutputs
from archsearch.proxies.layers import ZERO_COST_SOURCE
from archsearch.proxies.registry import register_proxy

NASWOT_SOURCE = "Mellor, Turner, Storkey, Crowley, Neural Architecture Search without Training, ICML 2021"

# Added to each eigenvalue of the Jacobian correlation matrix so that a singular matrix stays finite.
JACOBIAN_EIGENVALUE_OFFSET = 1e-5


def activation_code_kernel(codes: torch.Tensor) -> torch.Tensor:
    """Return the float64 kernel c c^T + (1 - c)(1 - c)^T of binary codes ``c`` (samples x units).

    Entry (i, j) counts the units on which samples i and j agree, so it is the number of
    units minus their Hamming distance. Expanding the products gives
    units - |c_i| - |c_j| + 2 c_i . c_j, which needs one matrix product instead of two.
    """
    codes = codes.float() if codes.dtype != torch.float64 else codes
    # float32 products of 0/1 codes are exact integers up to 2**24 units per layer, and the sum is kept in float64.
    agreements = (codes @ codes.T).double()
    # For 0/1 codes c_i . c_i = |c_i|, so the diagonal gives the active counts without another pass over the codes.
    active = agreements.diagonal()
    return codes.shape[1] - active[:, None] - active[None, :] + 2.0 * agreements


def units_by_sample(output: torch.Tensor) -> torch.Tensor:
    """Return ``output`` as a samples x units matrix, without a copy where the layout allows.

    The code kernel sums over units, so their order does not matter: a channels-last
    feature map is read in its memory order instead of being copied into NCHW order.
    """
    if output.dim() == 4 and not output.is_contiguous() and output.is_contiguous(memory_format=torch.channels_last):
        return output.permute(0, 2, 3, 1).reshape(output.shape[0], -1)
    return output.reshape(output.shape[0], -1)


def activation_code_log_determinant(kernel: torch.Tensor) -> torch.Tensor:
    """Return log|det K| of the summed code kernel, the NASWOT score."""
    return torch.linalg.slogdet(kernel).logabsdet


@register_proxy("nwot")
class NASWOT(Proxy):
    """NASWOT: log|det K| of the kernel of binary ReLU codes over the batch.

    For every ``nn.ReLU`` module the code of a sample is the flattened indicator of positive
    units. The kernel counts the units on which two samples agree and is summed over all
    ReLUs. The codes are taken from the ReLU outputs, because relu(x) > 0 exactly when
    x > 0: they equal the reference's codes from the inputs, and they stay correct for
    in-place ReLUs, whose forward hooks receive an input that is already overwritten. A ReLU
    applied several times in one forward pass contributes once per call.

    A higher score means the network separates the samples into more distinct linear
    regions. The network runs in train mode, as in the reference code.

    Source: Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without Training",
    ICML 2021.
    """

    direction = "maximize"
    bn_mode = "train"
    source = NASWOT_SOURCE

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> ProxyResult:
        relus = [module for module in model.modules() if isinstance(module, nn.ReLU)]
        if not relus:
            raise ValueError(f"{type(model).__name__} has no nn.ReLU module; nwot reads binary codes from "
                             "nn.ReLU layers, so it cannot score networks with functional or other activations")
        size = batch.inputs.shape[0]
        kernel = torch.zeros(size, size, dtype=torch.float64, device=batch.inputs.device)

        # ReLUs that read the same unchanged tensor produce the same codes, so each distinct
        # input is reduced once. In NAS-Bench-201 every edge that leaves a node starts with a
        # ReLU of that node, which saves up to half of the kernel products. The version
        # counter catches a tensor changed in place between two ReLUs (a residual `out += x`).
        reduced: dict[int, tuple[weakref.ref, int, torch.Tensor]] = {}

        def add_codes(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            nonlocal kernel
            source = inputs[0]
            known = reduced.get(id(source))
            if known is not None and known[0]() is source and known[1] == source._version:
                contribution = known[2]
            else:
                # ReLU outputs are >= 0, so their sign is the 0/1 code in one pass (NaN stays NaN).
                contribution = activation_code_kernel(torch.sign(units_by_sample(output)))
                reduced[id(source)] = (weakref.ref(source), source._version, contribution)
            kernel = kernel + contribution

        handles = [relu.register_forward_hook(add_codes) for relu in relus]
        try:
            # no_grad rather than inference_mode: inference tensors have no version counter.
            with torch.no_grad():
                model(batch.inputs)
        finally:
            for handle in handles:
                handle.remove()
        return ProxyResult(float(activation_code_log_determinant(kernel)), {"relu_modules": len(relus)})


def jacobian_correlation_score(jacobians: torch.Tensor) -> torch.Tensor:
    """Return -sum_i (log(v_i + k) + 1 / (v_i + k)) over the eigenvalues v_i of the correlation matrix.

    ``jacobians`` contains one flattened Jacobian per row; k is ``JACOBIAN_EIGENVALUE_OFFSET``.
    The score is highest when the per-sample Jacobians are uncorrelated (all eigenvalues 1).

    Raises:
        ProxyError: If the correlation matrix is not finite, for example when a sample's
            Jacobian is constant.
    """
    correlation = torch.corrcoef(jacobians.flatten(1).double())
    if not torch.isfinite(correlation).all():
        raise ProxyError("the Jacobian correlation matrix is not finite: a sample's input Jacobian is constant "
                         "(for example zero), so jacob_cov is undefined for this network")
    eigenvalues = torch.linalg.eigvalsh(correlation) + JACOBIAN_EIGENVALUE_OFFSET
    return -(torch.log(eigenvalues) + 1.0 / eigenvalues).sum()


@register_proxy("jacob_cov")
class JacobianCovariance(Proxy):
    """Correlation of the input Jacobians of the batch's samples; higher means less correlated.

    The Jacobian of sample i is d(sum of all logits)/d(input i), the form of the zero-cost
    reference code. With BatchNorm in train mode it also carries the batch-statistics terms
    that couple the samples.

    Sources: Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without Training",
    arXiv:2006.04647 v1, 2020; zero-cost form by Abdelfattah et al., ICLR 2021.
    """

    direction = "maximize"
    bn_mode = "train"
    source = "Mellor et al., Neural Architecture Search without Training, arXiv:2006.04647v1, 2020; " + ZERO_COST_SOURCE

    def compute(self, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
        inputs = batch.inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            total = model(inputs).sum()
            jacobians = None
            if total.requires_grad:
                (jacobians,) = torch.autograd.grad(total, inputs, allow_unused=True)
        if jacobians is None:
            raise ProxyError("the network's output does not depend on its input, so jacob_cov is undefined")
        return float(jacobian_correlation_score(jacobians))
