"""Tests of archsearch.distill: the KD loss, the trainer and the KD-versus-plain comparison.

Training runs use scikit-learn's digits (8x8 grey images resized to 3x32x32) and a tiny
NAS-Bench-201 student, so each run takes a few seconds on two CPU cores.
"""

from __future__ import annotations

import copy
import json
import logging
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import Subset, TensorDataset

import search_spaces
from archsearch.distill import (DistillReport, TrainConfig, TrainResult, compare_with_and_without_kd,
                                evaluate_accuracy, kd_loss, train_student)

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def digits() -> tuple[TensorDataset, TensorDataset]:
    """The digits train and test splits (1,437 and 360 images) as 3x32x32 tensors in [0, 1]."""
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=32, mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    labels = torch.tensor(data.target, dtype=torch.long)
    train_index, test_index = train_test_split(list(range(len(labels))), test_size=0.2, random_state=0,
                                               stratify=data.target)
    return (TensorDataset(images[train_index], labels[train_index]),
            TensorDataset(images[test_index], labels[test_index]))


@pytest.fixture(scope="module")
def small_digits(digits: tuple[TensorDataset, TensorDataset]) -> tuple[Subset, Subset]:
    """128 training and 64 test images, for tests of the mechanics rather than of learning."""
    train_set, test_set = digits
    return Subset(train_set, range(128)), Subset(test_set, range(64))


def build_student(num_classes: int = 10, seed: int = 0) -> nn.Module:
    space = search_spaces.create("nb201", channels=8, cells_per_stage=1)
    torch.manual_seed(seed)
    return space.build(space.parse(CELL), num_classes=num_classes)


def build_teacher(num_classes: int = 10, seed: int = 1) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, num_classes))


def state_dicts_equal(first: nn.Module, second: nn.Module) -> bool:
    first_state, second_state = first.state_dict(), second.state_dict()
    return first_state.keys() == second_state.keys() and all(
        torch.equal(first_state[key], second_state[key]) for key in first_state)


class ConstantModel(nn.Module):
    """Predicts class ``label`` for every input."""

    def __init__(self, label: int, num_classes: int = 10) -> None:
        super().__init__()
        self.label = label
        self.num_classes = num_classes
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], self.num_classes)
        logits[:, self.label] = self.scale
        return logits


# kd_loss


def test_kd_loss_alpha_zero_is_cross_entropy() -> None:
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 10), torch.randn(6, 10)
    labels = torch.randint(0, 10, (6,))
    loss = kd_loss(student, teacher, labels, temperature=3.0, alpha=0.0)
    assert torch.allclose(loss, F.cross_entropy(student, labels))


def test_kd_loss_alpha_one_equal_logits_is_zero() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 7)
    labels = torch.randint(0, 7, (5,))
    loss = kd_loss(logits, logits.clone(), labels, temperature=4.0, alpha=1.0)
    assert loss.abs().item() < 1e-6


def test_kd_loss_matches_hand_computation() -> None:
    student = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    teacher = [[2.0, 0.0, 1.0], [1.0, 1.0, 1.5]]
    labels = [1, 2]
    temperature, alpha = 2.0, 0.7

    def softmax(row: list[float], scale: float) -> list[float]:
        exps = [math.exp(value / scale) for value in row]
        return [value / sum(exps) for value in exps]

    cross_entropy = sum(-math.log(softmax(row, 1.0)[label]) for row, label in zip(student, labels)) / 2
    kl = 0.0
    for student_row, teacher_row in zip(student, teacher):
        p_student, p_teacher = softmax(student_row, temperature), softmax(teacher_row, temperature)
        kl += sum(t * (math.log(t) - math.log(s)) for t, s in zip(p_teacher, p_student))
    expected = (1 - alpha) * cross_entropy + alpha * temperature ** 2 * kl / 2

    loss = kd_loss(torch.tensor(student), torch.tensor(teacher), torch.tensor(labels),
                   temperature=temperature, alpha=alpha)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_no_gradient_into_teacher() -> None:
    torch.manual_seed(0)
    student = torch.randn(4, 10, requires_grad=True)
    teacher = torch.randn(4, 10, requires_grad=True)
    kd_loss(student, teacher, torch.randint(0, 10, (4,))).backward()
    assert student.grad is not None
    assert teacher.grad is None


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf"), True])
def test_kd_loss_rejects_temperature(temperature: float) -> None:
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(logits, logits, torch.zeros(2, dtype=torch.long), temperature=temperature)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_kd_loss_rejects_alpha(alpha: float) -> None:
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="alpha"):
        kd_loss(logits, logits, torch.zeros(2, dtype=torch.long), alpha=alpha)


def test_kd_loss_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError) as error:
        kd_loss(torch.zeros(4, 10), torch.zeros(4, 5), torch.zeros(4, dtype=torch.long))
    assert "(4, 10)" in str(error.value)
    assert "(4, 5)" in str(error.value)


# TrainConfig


def test_train_config_defaults() -> None:
    config = TrainConfig()
    assert config.epochs == 15
    assert config.batch_size == 64
    assert config.device == "cpu"


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("epochs", 1.5), ("epochs", True), ("batch_size", 0), ("lr", 0.0), ("lr", -0.1),
    ("lr", float("nan")), ("momentum", 0.0), ("momentum", 1.0), ("weight_decay", -1e-4),
    ("temperature", 0.0), ("alpha", 2.0), ("seed", -1), ("seed", 0.5), ("device", "gpu"), ("device", 3),
])
def test_train_config_rejects_invalid_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field) as error:
        TrainConfig(**{field: value})
    assert repr(value) in str(error.value)


# train_student and evaluate_accuracy


def test_train_student_learns_digits(digits: tuple[TensorDataset, TensorDataset]) -> None:
    train_set, test_set = digits
    student = build_student()
    result = train_student(student, train_set, test_set, config=TrainConfig(epochs=2))

    assert isinstance(result, TrainResult)
    # Chance is 10%. Two epochs of this student reach about 50% on this split.
    assert result.test_accuracy > 30.0
    assert [entry["epoch"] for entry in result.history] == [1, 2]
    assert set(result.history[0]) == {"epoch", "loss", "train_accuracy", "seconds"}
    assert result.history[1]["loss"] < result.history[0]["loss"]
    assert result.history[1]["train_accuracy"] > 30.0
    assert result.seconds >= sum(entry["seconds"] for entry in result.history)
    assert not student.training


def test_train_student_is_deterministic(small_digits: tuple[Subset, Subset]) -> None:
    train_set, test_set = small_digits
    initial = build_student()
    first, second = copy.deepcopy(initial), copy.deepcopy(initial)
    config = TrainConfig(epochs=2, batch_size=32)
    first_result = train_student(first, train_set, test_set, config=config)
    second_result = train_student(second, train_set, test_set, config=config)

    assert first_result.test_accuracy == second_result.test_accuracy
    assert [e["loss"] for e in first_result.history] == [e["loss"] for e in second_result.history]
    assert state_dicts_equal(first, second)


def test_train_student_seed_changes_run(small_digits: tuple[Subset, Subset]) -> None:
    train_set, test_set = small_digits
    initial = build_student()
    first, second = copy.deepcopy(initial), copy.deepcopy(initial)
    train_student(first, train_set, test_set, config=TrainConfig(epochs=1, seed=0))
    train_student(second, train_set, test_set, config=TrainConfig(epochs=1, seed=1))
    assert not state_dicts_equal(first, second)


def test_train_student_with_teacher(small_digits: tuple[Subset, Subset]) -> None:
    train_set, test_set = small_digits
    student, teacher = build_student(), build_teacher()
    teacher.train()
    teacher_before = copy.deepcopy(teacher)

    result = train_student(student, train_set, test_set, teacher=teacher, config=TrainConfig(epochs=1),
                           progress=True)

    assert len(result.history) == 1
    assert math.isfinite(result.history[0]["loss"])
    assert teacher.training
    assert state_dicts_equal(teacher, teacher_before)


def test_train_student_rejects_class_mismatch(small_digits: tuple[Subset, Subset]) -> None:
    train_set, test_set = small_digits
    student = build_student(num_classes=10)
    student_before = copy.deepcopy(student)
    with pytest.raises(ValueError) as error:
        train_student(student, train_set, test_set, teacher=build_teacher(num_classes=5),
                      config=TrainConfig(epochs=1))
    assert "10" in str(error.value)
    assert "5" in str(error.value)
    assert state_dicts_equal(student, student_before)


def test_train_student_rejects_empty_dataset(small_digits: tuple[Subset, Subset]) -> None:
    train_set, test_set = small_digits
    with pytest.raises(ValueError, match="train_set is empty"):
        train_student(build_student(), Subset(train_set, []), test_set, config=TrainConfig(epochs=1))


def test_train_student_reports_divergence(small_digits: tuple[Subset, Subset]) -> None:
    train_set, test_set = small_digits
    with pytest.raises(RuntimeError, match="diverged"):
        train_student(build_student(), Subset(train_set, range(64)), test_set,
                      config=TrainConfig(epochs=1, batch_size=16, lr=1e12))


def test_train_student_logs_each_epoch(small_digits: tuple[Subset, Subset], caplog: pytest.LogCaptureFixture) -> None:
    train_set, test_set = small_digits
    with caplog.at_level(logging.INFO, logger="archsearch.distill"):
        train_student(build_student(), train_set, test_set, config=TrainConfig(epochs=2, batch_size=64))
    epoch_lines = [record.getMessage() for record in caplog.records if " epoch " in record.getMessage()]
    assert len(epoch_lines) == 2
    assert "epoch 2/2" in epoch_lines[1]
    assert "train accuracy" in epoch_lines[1]


def test_evaluate_accuracy_counts_correct(small_digits: tuple[Subset, Subset]) -> None:
    _, test_set = small_digits
    labels = torch.stack([test_set[i][1] for i in range(len(test_set))])
    model = ConstantModel(label=3)
    model.train()
    expected = 100.0 * (labels == 3).sum().item() / len(labels)

    assert evaluate_accuracy(model, test_set, batch_size=10) == pytest.approx(expected)
    assert model.training


def test_evaluate_accuracy_rejects_bad_batch_size(small_digits: tuple[Subset, Subset]) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_accuracy(ConstantModel(label=0), small_digits[1], batch_size=0)


# compare_with_and_without_kd


def test_compare_alpha_zero_runs_match(small_digits: tuple[Subset, Subset]) -> None:
    # With alpha=0 the KD loss equals cross-entropy, so equal histories show that both runs
    # start from the same weights and see the same batches.
    train_set, test_set = small_digits
    student, teacher = build_student(), build_teacher()
    student_before = copy.deepcopy(student)

    report = compare_with_and_without_kd(student, teacher, train_set, test_set,
                                         TrainConfig(epochs=1, batch_size=32, alpha=0.0))

    assert report.kd.history[0]["loss"] == report.plain.history[0]["loss"]
    assert report.kd_accuracy == report.plain_accuracy
    assert state_dicts_equal(student, student_before)


def test_compare_reports_both_runs(small_digits: tuple[Subset, Subset]) -> None:
    train_set, test_set = small_digits
    student, teacher = build_student(), build_teacher()
    student_before = copy.deepcopy(student)
    config = TrainConfig(epochs=1, batch_size=32)

    report = compare_with_and_without_kd(student, teacher, train_set, test_set, config)

    assert isinstance(report, DistillReport)
    assert state_dicts_equal(student, student_before)
    assert report.kd.history[0]["loss"] != report.plain.history[0]["loss"]
    assert report.kd_accuracy == report.kd.test_accuracy
    assert report.plain_accuracy == report.plain.test_accuracy
    assert report.teacher_accuracy == evaluate_accuracy(teacher, test_set)
    assert report.config == config

    data = json.loads(json.dumps(report.to_dict()))
    assert data["kd_accuracy"] == report.kd_accuracy
    assert data["config"]["alpha"] == 0.9
    assert len(data["plain"]["history"]) == 1
