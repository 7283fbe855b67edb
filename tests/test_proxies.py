"""Proxies: DisWOT terms, CKA, cost proxies, the registry, state restoration and failures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import search_spaces
from search_spaces.cost import count_flops
from archsearch import proxies
from archsearch.evaluator import Evaluator
from archsearch.proxies import Batch, Proxy, ProxyError, TeacherOutputs
from archsearch.proxies.cka import linear_cka
from archsearch.proxies.diswot import channel_semantic_distance, relation_distance, semantic_distance

TEACHER_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
STUDENT_CELL = "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"


@pytest.fixture(scope="module")
def space():
    return search_spaces.create("nb201", channels=8, cells_per_stage=1)


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    return Batch(torch.randn(16, 3, 32, 32, generator=generator), torch.randint(0, 10, (16,), generator=generator))


@pytest.fixture(scope="module")
def teacher_outputs(space, batch):
    torch.manual_seed(1)
    return TeacherOutputs.compute(space.build(TEACHER_CELL), batch)


def explicit_semantic_distance(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    classes, channels = teacher.shape
    teacher_outer = F.normalize(torch.einsum("ki,kj->kij", teacher, teacher), dim=2)
    student_outer = F.normalize(torch.einsum("ki,kj->kij", student, student), dim=2)
    return (teacher_outer - student_outer).pow(2).sum() / (channels * classes)


def test_registry_lists_directions():
    names = proxies.list()
    for name in ("diswot", "diswot_semantic", "diswot_relation", "cka", "params", "flops"):
        assert name in names
        assert proxies.proxy_class(name).direction in ("maximize", "minimize")


def test_registry_unknown_name():
    with pytest.raises(ValueError, match="unknown proxy 'naswot'; valid names: cka, diswot"):
        proxies.create("naswot")


def test_semantic_closed_form_matches_outer_products():
    generator = torch.Generator().manual_seed(0)
    teacher = torch.randn(10, 64, generator=generator, dtype=torch.float64)
    student = torch.randn(10, 64, generator=generator, dtype=torch.float64)
    student[2, 5] = 0.0  # a zero entry gives a zero row in the normalised outer product
    expected = explicit_semantic_distance(teacher, student)
    assert float(channel_semantic_distance(teacher, student)) == pytest.approx(float(expected), rel=1e-9)


def test_semantic_distance_zero_for_same_gradient():
    gradient = torch.randn(10, 32)
    assert float(channel_semantic_distance(gradient, 3.0 * gradient)) == pytest.approx(0.0, abs=1e-9)


def test_semantic_form_recorded_when_widths_differ():
    distance, form = semantic_distance(torch.randn(10, 64), torch.randn(10, 32))
    assert form == "class_gram"
    assert math.isfinite(float(distance))
    assert semantic_distance(torch.randn(10, 64), torch.randn(10, 64))[1] == "channel"


def test_semantic_class_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(10, 64\).*\(100, 64\)"):
        semantic_distance(torch.randn(10, 64), torch.randn(100, 64))


def test_relation_distance_any_shapes():
    maps = torch.randn(8, 16, 4, 4)
    assert float(relation_distance(maps, maps)) == pytest.approx(0.0, abs=1e-12)
    other = torch.randn(8, 3, 7, 7)
    value = float(relation_distance(maps, other))
    gram_a = F.normalize(maps.flatten(1).double() @ maps.flatten(1).double().T, dim=1)
    gram_b = F.normalize(other.flatten(1).double() @ other.flatten(1).double().T, dim=1)
    assert value == pytest.approx(float((gram_a - gram_b).pow(2).sum() / 64), rel=1e-9)
    with pytest.raises(ValueError, match=r"different batches.*\(8, 16, 4, 4\).*\(4, 16, 4, 4\)"):
        relation_distance(maps, torch.randn(4, 16, 4, 4))


def test_linear_cka_properties():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(50, 20, generator=generator, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(20, 20, generator=generator, dtype=torch.float64))
    assert float(linear_cka(x, x)) == pytest.approx(1.0)
    assert float(linear_cka(x, 5.0 * x @ rotation)) == pytest.approx(1.0)
    y = torch.randn(50, 7, generator=generator, dtype=torch.float64)
    xc, yc = (x - x.mean(0)).numpy(), (y - y.mean(0)).numpy()
    expected = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert float(linear_cka(x, y)) == pytest.approx(expected, rel=1e-9)


def test_diswot_score_details(space, batch, teacher_outputs):
    torch.manual_seed(2)
    result = proxies.create("diswot").score(space.build(STUDENT_CELL), batch, teacher_outputs)
    assert result.value == pytest.approx(-(result.details["semantic_distance"] + result.details["relation_distance"]))
    assert result.details["semantic_form"] == "channel"


def test_diswot_needs_teacher(space, batch):
    with pytest.raises(ValueError, match="compares the student with a teacher"):
        proxies.create("diswot").score(space.build(STUDENT_CELL), batch)


def test_diswot_width_mismatch_uses_class_gram(batch, teacher_outputs):
    wide = search_spaces.create("nb201", channels=4, cells_per_stage=1)
    result = proxies.create("diswot_semantic").score(wide.build(STUDENT_CELL), batch, teacher_outputs)
    assert result.details["semantic_form"] == "class_gram"


def _snapshot(model: nn.Module):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
            {n: m.training for n, m in model.named_modules()},
            {n: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
             for n, m in model.named_modules()},
            {n: p.requires_grad for n, p in model.named_parameters()})


@pytest.mark.parametrize("name", ["diswot", "diswot_semantic", "diswot_relation", "cka", "params", "flops"])
def test_scoring_leaves_model_unchanged(name, space, batch, teacher_outputs):
    torch.manual_seed(3)
    model = space.build(STUDENT_CELL).eval()
    model(batch.inputs).sum().backward()  # existing gradients must survive
    model.stem.register_forward_hook(lambda *args: None)
    model.classifier.bias.requires_grad_(False)
    before = _snapshot(model)
    proxies.create(name).score(model, batch, teacher_outputs)
    after = _snapshot(model)
    for key in before[0]:
        assert torch.equal(before[0][key], after[0][key]), key
    for key in before[1]:
        assert (before[1][key] is None) == (after[1][key] is None) and (
            before[1][key] is None or torch.equal(before[1][key], after[1][key])), key
    assert before[2] == after[2]
    assert before[3] == after[3]
    assert before[4] == after[4]


class DoublingProxy(Proxy):
    """Scores the stem weight sum, then doubles the weights: a proxy that changes its model."""

    name = "doubling_for_tests"

    def compute(self, model, batch, teacher):
        weight = model.stem[0].weight
        value = float(weight.sum())
        with torch.no_grad():
            weight.mul_(2)
        return value


def test_restore_false_keeps_changes(space, batch):
    model = space.build(STUDENT_CELL)
    before = model.stem[0].weight.clone()
    DoublingProxy().score(model, batch)
    assert torch.equal(model.stem[0].weight, before)
    DoublingProxy().score(model, batch, restore=False)
    assert torch.equal(model.stem[0].weight, 2 * before)


def test_evaluator_restores_between_proxies(space, batch):
    first, second, third = DoublingProxy(), DoublingProxy(), DoublingProxy()
    second.name, third.name = "second", "third"
    record = Evaluator(space, [first, second, third], batch).evaluate(STUDENT_CELL)
    assert record["status"] == "ok"
    assert record["scores"]["doubling_for_tests"] == record["scores"]["second"] == record["scores"]["third"]


def test_evaluator_flops_match_count(space, batch):
    record = Evaluator(space, [proxies.create("params")], batch).evaluate(STUDENT_CELL)
    assert record["flops"] == count_flops(space.build(STUDENT_CELL), tuple(batch.inputs.shape[1:]))


def test_scoring_is_deterministic(space, batch, teacher_outputs):
    values = []
    for _ in range(2):
        torch.manual_seed(4)
        values.append(proxies.create("diswot").score(space.build(STUDENT_CELL), batch, teacher_outputs).value)
    assert values[0] == values[1]


class NaNProxy(Proxy):
    name = "nan_for_tests"

    def compute(self, model, batch, teacher):
        model.train()  # the state change must be undone even though the score fails
        return float("nan")


def test_non_finite_score_raises_proxy_error(space, batch):
    model = space.build(STUDENT_CELL).eval()
    with pytest.raises(ProxyError, match="non-finite score"):
        NaNProxy().score(model, batch)
    assert not model.training


def test_nan_weights_fail_diswot(space, batch, teacher_outputs):
    model = space.build(STUDENT_CELL)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    with pytest.raises(ProxyError):
        proxies.create("diswot").score(model, batch, teacher_outputs)


class CountingTeacher(nn.Module):
    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.calls = 0

    def forward_features(self, x):
        self.calls += 1
        return self.network.forward_features(x)

    def forward_head(self, features, pre_logits=False):
        return self.network.forward_head(features, pre_logits=pre_logits)

    def get_classifier(self):
        return self.network.get_classifier()


def test_teacher_runs_once_per_batch(space, batch):
    teacher = CountingTeacher(space.build(TEACHER_CELL))
    evaluator = Evaluator(space, [proxies.create("diswot"), proxies.create("cka")], batch, teacher=teacher)
    for cell in (STUDENT_CELL, TEACHER_CELL, "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"):
        assert evaluator.evaluate(cell)["status"] == "ok"
    assert teacher.calls == 1


def test_failing_extra_proxy_keeps_candidate(space, batch):
    evaluator = Evaluator(space, [proxies.create("params"), NaNProxy()], batch)
    record = evaluator.evaluate(STUDENT_CELL)
    assert record["status"] == "ok"
    assert record["scores"]["nan_for_tests"] is None
    assert "non-finite" in record["details"]["nan_for_tests"]["error"]


def test_zero_output_network_is_recorded_failure(space, batch):
    # Node 2 receives nothing, so every cell outputs zeros and the embedding is constant: CKA is NaN.
    evaluator = Evaluator(space, [proxies.create("cka")], batch, teacher=space.build(TEACHER_CELL))
    record = evaluator.evaluate("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")
    assert record["status"] == "failed"
    assert record["objective"] is None
    assert "non-finite" in record["error"]


def test_batch_validation():
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        Batch(torch.zeros(3, 3, 8, 8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 samples"):
        Batch(torch.zeros(1, 3, 8, 8), torch.zeros(1, dtype=torch.long))


def test_input_independent_student_fails_diswot(space, batch, teacher_outputs):
    # Node 1 receives nothing and node 3 reads only node 1, so the network ignores its input.
    model = space.build("|none~0|+|nor_conv_1x1~0|none~1|+|none~0|avg_pool_3x3~1|none~2|")
    with pytest.raises(ProxyError, match="same for every input"):
        proxies.create("diswot").score(model, batch, teacher_outputs)


@pytest.mark.parametrize("name", ["nwot", "diswot", "snip"])
def test_channels_last_scores_match_default_layout(name, space, batch):
    teacher = space.build(TEACHER_CELL)
    scores = []
    for channels_last in (False, True):
        evaluator = Evaluator(space, [proxies.create(name)], batch, teacher=teacher, channels_last=channels_last)
        scores.append(evaluator.evaluate(STUDENT_CELL)["scores"][name])
    assert scores[1] == pytest.approx(scores[0], rel=1e-4)


def test_channels_last_needs_image_inputs(space):
    batch = Batch(torch.randn(4, 10), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="channels_last needs 4-D image inputs.*channels_last=False"):
        Evaluator(space, [proxies.create("params")], batch, channels_last=True)
    assert Evaluator(space, [proxies.create("params")], batch).memory_format == torch.contiguous_format
