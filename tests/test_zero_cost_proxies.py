"""Zero-cost proxies: hand-checked values, state restoration, determinism, failures and published rankings."""

from __future__ import annotations

import gc
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import search_spaces
from archsearch import proxies
from archsearch.proxies import Batch, ProxyError, TeacherOutputs
from archsearch.proxies.cka import kernel_cka, minibatch_cka, unbiased_hsic
from archsearch.proxies.naswot import JACOBIAN_EIGENVALUE_OFFSET, activation_code_kernel, jacobian_correlation_score

TEACHER_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
STUDENT_CELL = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
EMPTY_CELL = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"

ZERO_COST = ["nwot", "synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "zen", "l2_norm",
             "kernel_cka", "minibatch_cka"]
TEACHER_PROXIES = {"kernel_cka", "minibatch_cka"}


@pytest.fixture(scope="module", autouse=True)
def single_intra_op_thread():
    # These models are small, so intra-op threads only add synchronisation. On a shared 2-core
    # machine that synchronisation made this file about 10 times slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def space():
    return search_spaces.create("nb201", channels=8, cells_per_stage=1)


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    return Batch(torch.randn(16, 3, 16, 16, generator=generator), torch.randint(0, 10, (16,), generator=generator))


@pytest.fixture(scope="module")
def teacher_outputs(space, batch):
    torch.manual_seed(1)
    return TeacherOutputs.compute(space.build(TEACHER_CELL), batch)


def build(space, cell: str = STUDENT_CELL, seed: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return space.build(cell)


def score(name: str, model: nn.Module, batch: Batch, teacher: TeacherOutputs | None) -> float:
    return proxies.create(name).score(model, batch, teacher if name in TEACHER_PROXIES else None).value


# Registry


def test_registry_lists_zero_cost_proxies():
    names = proxies.list()
    for name in ZERO_COST:
        assert name in names


@pytest.mark.parametrize("name", ZERO_COST)
def test_registry_attributes(name):
    proxy_class = proxies.proxy_class(name)
    assert proxy_class.direction == "maximize"
    assert proxy_class.bn_mode in ("train", "eval")
    assert proxy_class.source
    assert proxy_class.needs_teacher == (name in TEACHER_PROXIES)
    assert proxy_class.__doc__ and "Source" in proxy_class.__doc__


def test_constructor_options_validated():
    with pytest.raises(ValueError, match="seed must be an integer"):
        proxies.create("zen", seed="0")
    with pytest.raises(ValueError, match="mixup_gamma must be a positive number"):
        proxies.create("zen", mixup_gamma=0.0)
    with pytest.raises(ValueError, match="sigma_fraction must be a positive number"):
        proxies.create("kernel_cka", sigma_fraction=-1.0)
    with pytest.raises(ValueError, match="minibatch_size must be an integer of at least 4"):
        proxies.create("minibatch_cka", minibatch_size=3)
    with pytest.raises(ValueError, match="weight_by_fan_in must be True or False"):
        proxies.create("fisher", weight_by_fan_in=1)
    with pytest.raises(ValueError, match="unknown option"):
        proxies.create("nwot", seed=1)


# State restoration, determinism, failures


def _snapshot(model: nn.Module) -> dict[str, object]:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "dtypes": {k: v.dtype for k, v in model.state_dict().items()},
        "parameter_ids": {n: id(p) for n, p in model.named_parameters()},
        "module_ids": {n: id(m) for n, m in model.named_modules()},
        "grads": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "hooks": {n: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                  for n, m in model.named_modules()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
    }


@pytest.mark.parametrize("name", ZERO_COST)
def test_scoring_leaves_model_unchanged(name, space, batch, teacher_outputs):
    model = build(space).eval()
    model(batch.inputs).sum().backward()  # existing gradients must survive
    model.stem.register_forward_hook(lambda *args: None)
    model.classifier.bias.requires_grad_(False)
    model.stages[0][0].edges["1_0"][1].weight.requires_grad_(False)
    before = _snapshot(model)

    score(name, model, batch, teacher_outputs)

    after = _snapshot(model)
    for key, tensor in before["state"].items():
        assert torch.equal(tensor, after["state"][key]), key
    assert before["dtypes"] == after["dtypes"]
    assert before["parameter_ids"] == after["parameter_ids"]
    assert before["module_ids"] == after["module_ids"]
    for key, gradient in before["grads"].items():
        assert (gradient is None) == (after["grads"][key] is None), key
        assert gradient is None or torch.equal(gradient, after["grads"][key]), key
    assert before["modes"] == after["modes"]
    assert before["hooks"] == after["hooks"]
    assert before["requires_grad"] == after["requires_grad"]


@pytest.mark.parametrize("name", ZERO_COST)
def test_scoring_is_deterministic(name, space, batch, teacher_outputs):
    first = score(name, build(space), batch, teacher_outputs)
    second = score(name, build(space), batch, teacher_outputs)
    model = build(space)
    repeated = [score(name, model, batch, teacher_outputs) for _ in range(2)]
    assert math.isfinite(first)
    assert first == second
    assert repeated == [first, first]


@pytest.mark.parametrize("name", [name for name in ZERO_COST if name != "zen"])
def test_nan_weights_raise_proxy_error(name, space, batch, teacher_outputs):
    model = build(space)
    with torch.no_grad():
        model.stem[0].weight.fill_(float("nan"))
    with pytest.raises(ProxyError):
        score(name, model, batch, teacher_outputs)


@pytest.mark.parametrize("name", ["zen", "nwot", "jacob_cov"])
def test_input_independent_network_raises_proxy_error(name, space, batch):
    # Every cell outputs zeros, so the features do not depend on the input.
    with pytest.raises(ProxyError):
        score(name, build(space, EMPTY_CELL), batch, None)


def _live_tensor_count() -> int:
    gc.collect()
    # isinstance on some module-level objects trips torch's deprecation warnings, which are irrelevant here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(1 for item in gc.get_objects() if isinstance(item, torch.Tensor))


@pytest.mark.parametrize("name", [name for name in ZERO_COST if name not in TEACHER_PROXIES])
def test_repeated_scoring_keeps_no_tensors(name, space, batch):
    model = build(space)
    proxy = proxies.create(name)
    proxy.score(model, batch)
    before = _live_tensor_count()
    for _ in range(5):
        proxy.score(model, batch)
    assert _live_tensor_count() == before


@pytest.mark.parametrize("name", sorted(TEACHER_PROXIES | {"diswot", "cka"}))
def test_repeated_teacher_scoring_keeps_no_tensors(name, space, batch, teacher_outputs):
    model = build(space)
    proxy = proxies.create(name)
    proxy.score(model, batch, teacher_outputs)
    before = _live_tensor_count()
    for _ in range(5):
        proxy.score(model, batch, teacher_outputs)
    assert _live_tensor_count() == before


# nwot


def _explicit_nwot(model: nn.Module, inputs: torch.Tensor) -> float:
    # One kernel term per ReLU call, with no sharing between calls.
    kernel = torch.zeros(inputs.shape[0], inputs.shape[0], dtype=torch.float64)

    def hook(module, module_inputs, output):
        nonlocal kernel
        codes = (output.reshape(inputs.shape[0], -1) > 0).double()
        kernel = kernel + codes @ codes.T + (1 - codes) @ (1 - codes).T

    handles = [module.register_forward_hook(hook) for module in model.modules() if isinstance(module, nn.ReLU)]
    with torch.no_grad():
        model.train()(inputs)
    for handle in handles:
        handle.remove()
    return float(torch.linalg.slogdet(kernel).logabsdet)


class _SharedInputBlock(nn.Module):
    """Two ReLUs read one tensor, which is then changed in place and read by a third ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu_a, self.relu_b, self.relu_c = nn.ReLU(), nn.ReLU(), nn.ReLU(inplace=True)
        self.shift = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        hidden = self.conv(x)
        total = self.relu_a(hidden) + self.relu_b(hidden)
        hidden += self.shift(x)  # the residual update that a cache keyed on the tensor alone would miss
        return (total + self.relu_c(hidden)).mean((2, 3))


def test_nwot_shared_inputs_match_kernel(batch):
    torch.manual_seed(0)
    model = _SharedInputBlock()
    expected = _explicit_nwot(model, batch.inputs)
    assert proxies.create("nwot").score(model, batch).value == pytest.approx(expected, rel=1e-12)


def test_activation_code_kernel_counts_agreements():
    generator = torch.Generator().manual_seed(0)
    codes = torch.rand(6, 40, generator=generator) > 0.5
    c = codes.double()
    expected = c @ c.T + (1 - c) @ (1 - c).T
    assert torch.equal(activation_code_kernel(codes), expected)


def test_nwot_hand_computed_kernel():
    # Identity layers: the first ReLU receives the inputs, the second relu(inputs), which has the same codes.
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[2].weight.copy_(torch.eye(2))
    inputs = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    # Codes (1,1), (1,0), (0,0) agree on [[2,1,0],[1,2,1],[0,1,2]] units per ReLU, determinant 4;
    # two ReLUs double the 3 x 3 kernel, so the determinant is 2**3 * 4 = 32.
    result = proxies.create("nwot").score(model, Batch(inputs, torch.zeros(3, dtype=torch.long)))
    assert result.value == pytest.approx(math.log(32.0), rel=1e-12)
    assert result.details["relu_modules"] == 2


def test_nwot_without_relu_modules_is_rejected():
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    batch = Batch(torch.randn(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="has no nn.ReLU module"):
        proxies.create("nwot").score(model, batch)


# Pruning saliencies and gradient proxies, checked against explicit autograd on a small network


def _small_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 5, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3))


@pytest.fixture(scope="module")
def small_batch():
    generator = torch.Generator().manual_seed(1)
    return Batch(torch.randn(8, 3, 6, 6, generator=generator), torch.randint(0, 3, (8,), generator=generator))


def _weights(model: nn.Module) -> list[nn.Parameter]:
    return [model[0].weight, model[3].weight, model[6].weight]


def _loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    return F.cross_entropy(model(batch.inputs), batch.labels)


def test_snip_and_grad_norm_match_autograd(small_batch):
    model = _small_network().train()
    gradients = torch.autograd.grad(_loss(model, small_batch), _weights(model))
    snip = sum(float((w.detach() * g).abs().sum()) for w, g in zip(_weights(model), gradients))
    grad_norm = sum(float(g.norm()) for g in gradients)
    assert proxies.create("snip").score(model, small_batch).value == pytest.approx(snip, rel=1e-5)
    assert proxies.create("grad_norm").score(model, small_batch).value == pytest.approx(grad_norm, rel=1e-5)


def test_grasp_matches_hessian_vector_product(small_batch):
    model = _small_network().train()
    weights = _weights(model)
    gradient = [g.detach() for g in torch.autograd.grad(_loss(model, small_batch), weights)]

    def loss_of(*values):
        replaced = dict(zip(["0.weight", "3.weight", "6.weight"], values))
        parameters = {**dict(model.named_parameters()), **replaced}
        buffers = dict(model.named_buffers())
        logits = torch.func.functional_call(model, {**parameters, **buffers}, (small_batch.inputs,))
        return F.cross_entropy(logits, small_batch.labels)

    _, hessian_gradient = torch.autograd.functional.hvp(loss_of, tuple(w.detach() for w in weights), tuple(gradient))
    expected = sum(float((-w.detach() * hg).sum()) for w, hg in zip(weights, hessian_gradient))
    assert proxies.create("grasp").score(model, small_batch).value == pytest.approx(expected, rel=1e-4)


def test_fisher_matches_stored_activations(small_batch):
    model = _small_network().train()
    outputs: list[torch.Tensor] = []

    def keep(module, inputs, output):
        output.retain_grad()
        outputs.append(output)

    handles = [model[i].register_forward_hook(keep) for i in (0, 3, 6)]
    _loss(model, small_batch).backward()
    for handle in handles:
        handle.remove()
    expected = 0.0
    expected_by_fan_in = 0.0
    for output, fan_in in zip(outputs, (3 * 3 * 3, 4, 5)):
        product = output.detach() * output.grad
        per_channel = product.flatten(2).sum(2) if product.dim() > 2 else product
        channel_score = float(0.5 * per_channel.pow(2).mean(0).sum())
        expected += channel_score
        expected_by_fan_in += fan_in * channel_score
    model.zero_grad()
    per_channel = proxies.create("fisher", weight_by_fan_in=False).score(model, small_batch).value
    assert per_channel == pytest.approx(expected, rel=1e-5)
    by_default = proxies.create("fisher").score(model, small_batch).value
    assert by_default == pytest.approx(expected_by_fan_in, rel=1e-5)


def test_synflow_equals_depth_times_path_sum():
    # Without biases each layer of a chain carries the whole synaptic flow R = 1^T |W2| |W1| 1,
    # and BatchNorm is bypassed, so the score is 2R.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        path_sum = float(model[3].weight.double().abs().sum(0) @ model[0].weight.double().abs().sum(1))
    batch = Batch(torch.randn(5, 3), torch.zeros(5, dtype=torch.long))
    result = proxies.create("synflow").score(model, batch)
    assert result.value == pytest.approx(2.0 * path_sum, rel=1e-12)
    assert result.details["log_synflow"] == pytest.approx(math.log(2.0 * path_sum), rel=1e-12)
    assert model[0].weight.dtype == torch.float32
    assert isinstance(model[1], nn.BatchNorm1d)


def test_l2_norm_hand_computed():
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=True), nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.fill_(3.0)
        model[3].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
    batch = Batch(torch.randn(2, 1, 1, 2), torch.zeros(2, dtype=torch.long))
    # Conv weight norm 3 plus linear weight norm 5; biases and BatchNorm are left out.
    assert proxies.create("l2_norm").score(model, batch).value == pytest.approx(8.0, rel=1e-12)


# jacob_cov


def test_jacobian_score_of_uncorrelated_rows():
    hadamard = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    for _ in range(2):
        hadamard = torch.kron(hadamard, torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
    rows = hadamard[1:]  # zero-mean, mutually orthogonal rows, so the correlation matrix is the identity
    eigenvalue = 1.0 + JACOBIAN_EIGENVALUE_OFFSET
    expected = -rows.shape[0] * (math.log(eigenvalue) + 1.0 / eigenvalue)
    assert float(jacobian_correlation_score(rows)) == pytest.approx(expected, rel=1e-9)


def test_jacobian_score_constant_row_raises():
    with pytest.raises(ProxyError, match="not finite"):
        jacobian_correlation_score(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [3.0, 1.0, 2.0]]))


# zen


def test_zen_ignores_initial_weights(space, batch):
    # The weights are redrawn from the proxy's seed, so the network's own initialisation does not matter.
    first = proxies.create("zen").score(build(space, seed=3), batch).value
    second = proxies.create("zen").score(build(space, seed=4), batch).value
    assert first == second
    assert proxies.create("zen", seed=1).score(build(space), batch).value != first


def test_zen_skips_constant_batch_norm_inputs(space, batch):
    # Node 1 receives no edge, so the 1x1 convolution on edge 2<-1 gets zeros, once in each of the 3 cells.
    cell = "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
    result = proxies.create("zen").score(build(space, cell), batch)
    assert math.isfinite(result.value)
    assert result.details["constant_input_batch_norm_layers"] == 3
    assert result.details["batch_norm_layers"] > 0


def test_zen_grows_with_width(batch):
    narrow = search_spaces.create("nb201", channels=4, cells_per_stage=1).build(STUDENT_CELL)
    wide = search_spaces.create("nb201", channels=16, cells_per_stage=1).build(STUDENT_CELL)
    zen = proxies.create("zen")
    assert zen.score(wide, batch).value > zen.score(narrow, batch).value


# Kernel and minibatch CKA


def test_kernel_cka_identical_inputs_is_one():
    x = torch.randn(32, 10, generator=torch.Generator().manual_seed(0))
    assert float(kernel_cka(x, x)) == pytest.approx(1.0, abs=1e-12)


def _explicit_rbf_cka(x: np.ndarray, y: np.ndarray, sigma_fraction: float) -> float:
    count = x.shape[0]
    centring = np.eye(count) - np.ones((count, count)) / count
    kernels = []
    for features in (x, y):
        distances = np.linalg.norm(features[:, None, :] - features[None, :, :], axis=2)
        sigma = sigma_fraction * np.median(distances[np.triu_indices(count, k=1)])
        kernels.append(np.exp(-distances ** 2 / (2.0 * sigma ** 2)))
    k, l = kernels

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return np.trace(a @ centring @ b @ centring) / (count - 1) ** 2

    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def test_kernel_cka_matches_explicit_formula():
    generator = np.random.default_rng(0)
    x = generator.normal(size=(20, 5))
    y = np.tanh(x @ generator.normal(size=(5, 3))) + 0.3 * generator.normal(size=(20, 3))
    for sigma_fraction in (0.2, 0.5, 1.0):
        expected = _explicit_rbf_cka(x, y, sigma_fraction)
        value = float(kernel_cka(torch.from_numpy(x), torch.from_numpy(y), sigma_fraction))
        assert value == pytest.approx(expected, rel=1e-10)


def test_kernel_cka_invariances_and_range():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 8, generator=generator, dtype=torch.float64)
    y = x @ torch.randn(8, 6, generator=generator, dtype=torch.float64) + 0.5 * torch.randn(40, 6, generator=generator,
                                                                                           dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, generator=generator, dtype=torch.float64))
    value = float(kernel_cka(x, y))
    assert 0.0 < value < 1.0
    # The bandwidth follows the median distance, so isotropic scaling and rotations leave the value unchanged.
    assert float(kernel_cka(x, 7.0 * y @ rotation)) == pytest.approx(value, rel=1e-9)
    assert float(kernel_cka(x, torch.randn(40, 6, generator=generator, dtype=torch.float64))) < value


def test_kernel_cka_constant_input_raises(space, batch, teacher_outputs):
    with pytest.raises(ProxyError):
        proxies.create("kernel_cka").score(build(space, EMPTY_CELL), batch, teacher_outputs)


def test_unbiased_hsic_matches_u_statistic():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(6, 2, generator=generator, dtype=torch.float64)
    k = (x @ x.T).numpy()
    l = (y @ y.T).numpy()
    n = 6
    # The U-statistic form of Song et al.: averages over tuples of distinct indices.
    pairs = sum(k[i, j] * l[i, j] for i, j in itertools.permutations(range(n), 2))
    triples = sum(k[i, j] * l[i, q] for i, j, q in itertools.permutations(range(n), 3))
    quadruples = sum(k[i, j] * l[q, r] for i, j, q, r in itertools.permutations(range(n), 4))
    expected = (pairs / math.perm(n, 2) + quadruples / math.perm(n, 4)
                - 2.0 * triples / math.perm(n, 3))
    assert float(unbiased_hsic(torch.from_numpy(k), torch.from_numpy(l))) == pytest.approx(expected, rel=1e-9)


def test_minibatch_cka_whole_batch_equals_unbiased_cka():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 5, generator=generator, dtype=torch.float64)
    y = x @ torch.randn(5, 4, generator=generator, dtype=torch.float64)
    k = x @ x.T
    l = y @ y.T
    expected = unbiased_hsic(k, l) / torch.sqrt(unbiased_hsic(k, k) * unbiased_hsic(l, l))
    assert float(minibatch_cka(x, y, minibatch_size=32)) == pytest.approx(float(expected), rel=1e-12)


def test_minibatch_cka_close_to_full_batch():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 16, generator=generator, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(16, 12, generator=generator, dtype=torch.float64)) \
        + 0.5 * torch.randn(2048, 12, generator=generator, dtype=torch.float64)
    full = float(minibatch_cka(x, y, minibatch_size=2048))
    assert 0.2 < full < 0.9
    assert float(minibatch_cka(x, y, minibatch_size=128)) == pytest.approx(full, abs=0.02)


def test_minibatch_cka_uses_whole_minibatches(space, batch, teacher_outputs):
    result = proxies.create("minibatch_cka", minibatch_size=6).score(build(space), batch, teacher_outputs)
    assert result.details == {"minibatches": 2, "samples_used": 12}


def test_minibatch_larger_than_batch_is_rejected(space, batch, teacher_outputs):
    with pytest.raises(ValueError, match="minibatch_size 32 exceeds the 16 samples"):
        proxies.create("minibatch_cka", minibatch_size=32).score(build(space), batch, teacher_outputs)


# Rankings against NASLib's published scores on NAS-Bench-201 / CIFAR-10


def _cifar_batch(shared_data, size: int) -> Batch:
    data = np.load(shared_data / "cifar" / "cifar10_test1000_jpeg.npz")
    images = torch.from_numpy(data["x"][:size]).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    return Batch((images - mean) / std, torch.from_numpy(data["y"][:size]).long())


def _published_rank_correlation(shared_data, name: str, column: str, cells: int) -> float:
    pandas = pytest.importorskip("pandas")
    stats = pytest.importorskip("scipy.stats")
    table = pandas.read_csv(shared_data / "nb201" / "naslib_zero_cost_725.csv")
    table = table[table["dataset"] == "cifar10"].sample(n=cells, random_state=1)
    batch = _cifar_batch(shared_data, 64)
    space = search_spaces.create("nb201", num_classes=10)
    proxy = proxies.create(name)
    scores = []
    for index, cell in zip(table["index"], table["arch"]):
        torch.manual_seed(int(index))
        scores.append(proxy.score(space.build(cell), batch).value)
    return stats.spearmanr(scores, table[column]).statistic


def test_synflow_ranks_like_published(shared_data):
    assert _published_rank_correlation(shared_data, "synflow", "synflow", cells=30) >= 0.9


def test_nwot_ranks_like_published(shared_data):
    assert _published_rank_correlation(shared_data, "nwot", "nwot", cells=30) >= 0.9
