"""Train a student with or without a teacher, and compare the two.

Training uses SGD with Nesterov momentum and a cosine learning-rate schedule stepped once
per batch. With a teacher the loss is ``kd_loss``, otherwise cross-entropy.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from archsearch.distill.losses import kd_loss, validate_alpha, validate_temperature

logger = logging.getLogger("archsearch.distill")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"TrainConfig.{name} must be an integer >= {minimum}, got {value!r}")


def _check_float(name: str, value: Any, low: float, high: float, *, low_inclusive: bool,
                 high_inclusive: bool) -> None:
    in_range = False
    if not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value):
        above_low = value >= low if low_inclusive else value > low
        below_high = value <= high if high_inclusive else value < high
        in_range = above_low and below_high
    if not in_range:
        interval = f"{'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"
        raise ValueError(f"TrainConfig.{name} must be a number in {interval}, got {value!r}")


@dataclass
class TrainConfig:
    """Hyperparameters of one training run.

    Attributes:
        epochs: Passes over the training set.
        batch_size: Images per optimisation step.
        lr: Initial learning rate. It decays to 0 along a cosine over all steps.
        momentum: Nesterov momentum of SGD, in (0, 1).
        weight_decay: L2 penalty applied to all parameters, >= 0.
        temperature: Softmax temperature of the distillation loss, > 0.
        alpha: Weight of the distillation term against cross-entropy, in [0, 1].
        seed: Seed of the global torch RNG and of the data order.
        device: Torch device string such as ``"cpu"`` or ``"cuda:0"``. Only the syntax is
            checked here, so an unavailable device fails when training starts.

    Raises:
        ValueError: If a field is out of range. The message names the field and its value.

    Example:
        >>> config = TrainConfig(epochs=2, batch_size=32, lr=0.1)
    """

    epochs: int = 15
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    temperature: float = 4.0
    alpha: float = 0.9
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_float("lr", self.lr, 0.0, math.inf, low_inclusive=False, high_inclusive=False)
        # PyTorch's Nesterov SGD requires a momentum above zero.
        _check_float("momentum", self.momentum, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        _check_float("weight_decay", self.weight_decay, 0.0, math.inf, low_inclusive=True, high_inclusive=False)
        validate_temperature(self.temperature)
        validate_alpha(self.alpha)
        _check_int("seed", self.seed, 0)
        if not isinstance(self.device, str):
            raise ValueError(f"TrainConfig.device must be a device string such as 'cpu' or 'cuda:0', "
                             f"got {self.device!r}")
        try:
            torch.device(self.device)
        except RuntimeError as error:
            raise ValueError(f"TrainConfig.device {self.device!r} is not a valid torch device; "
                             f"use for example 'cpu' or 'cuda:0' ({error})") from error


@dataclass
class TrainResult:
    """The outcome of one training run.

    Attributes:
        test_accuracy: Top-1 accuracy on the test set after the last epoch, in percent.
        history: One dict per epoch with ``epoch`` (from 1), ``loss`` (mean training loss),
            ``train_accuracy`` (percent, measured in training mode while the weights change)
            and ``seconds``.
        seconds: Wall time of the whole run, training and the final evaluation.
        model: The trained network; left out of ``DistillReport.to_dict``.
    """

    test_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the result without the model, as values that ``json.dumps`` accepts."""
        return {"test_accuracy": self.test_accuracy, "history": [dict(row) for row in self.history],
                "seconds": self.seconds}


def _check_dataset(dataset: Dataset, name: str) -> None:
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise ValueError(f"{name} must be a map-style dataset with __len__ and __getitem__, "
                         f"got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError(f"{name} is empty; pass a dataset with at least one (image, label) sample")


def _count_outputs(model: nn.Module, example: torch.Tensor) -> int:
    """Return the logits width of ``model`` on one example, leaving its mode unchanged."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return int(model(example).shape[-1])
    finally:
        model.train(was_training)


def _check_class_counts(student: nn.Module, teacher: nn.Module, train_set: Dataset, device: torch.device) -> None:
    # One eval-mode forward pass up front, so a mismatch fails before any weight or
    # BatchNorm statistic of the student changes.
    example = torch.as_tensor(train_set[0][0]).unsqueeze(0).to(device)
    student_classes = _count_outputs(student, example)
    teacher_classes = _count_outputs(teacher, example)
    if student_classes != teacher_classes:
        raise ValueError(f"the student predicts {student_classes} classes but the teacher predicts "
                         f"{teacher_classes}; build the student with num_classes={teacher_classes}")


def _train_one_epoch(student: nn.Module, teacher: nn.Module | None, loader: DataLoader,
                     optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                     config: TrainConfig, progress_bar: tqdm) -> tuple[float, float]:
    """Run one epoch and return the mean loss and the training accuracy in percent."""
    device = torch.device(config.device)
    student.train()
    # Sums stay on the device so that the loop does not synchronise on every batch.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for images, labels in loader:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        logits = student(images)
        if teacher is None:
            loss = F.cross_entropy(logits, labels)
        else:
            with torch.no_grad():
                teacher_logits = teacher(images)
            loss = kd_loss(logits, teacher_logits, labels, temperature=config.temperature, alpha=config.alpha)

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()

        loss_sum += loss.detach() * labels.shape[0]
        correct += (logits.detach().argmax(dim=-1) == labels).sum()
        seen += labels.shape[0]
        progress_bar.update(1)
    return loss_sum.item() / seen, 100.0 * correct.item() / seen


def train_student(student: nn.Module, train_set: Dataset, test_set: Dataset, *, teacher: nn.Module | None = None,
                  config: TrainConfig | None = None, progress: bool = False) -> TrainResult:
    """Train ``student`` in place, with knowledge distillation when a teacher is given.

    The student and teacher are moved to ``config.device``. The teacher runs in eval mode
    under ``torch.no_grad()`` and gets its previous mode back at the end. The student is
    left in eval mode. The global torch seed and the data order both come from
    ``config.seed``, so two runs with equal seeds and initial weights match on CPU.

    Args:
        student: The network to train. Its output is logits of shape (batch, classes).
        train_set: Map-style dataset of (image tensor, integer label) pairs.
        test_set: Dataset of the same form, evaluated once after the last epoch.
        teacher: Optional teacher with the same number of classes.
        config: Hyperparameters; ``TrainConfig()`` when omitted.
        progress: Show a tqdm progress bar over all batches.

    Returns:
        The test accuracy, the per-epoch history and the wall time.

    Raises:
        ValueError: If a dataset is empty or the teacher and student class counts differ.
        RuntimeError: If the mean loss of an epoch is not finite, which usually means that
            ``config.lr`` is too high.

    Example:
        >>> result = train_student(student, train_set, test_set, teacher=teacher,
        ...                        config=TrainConfig(epochs=2))
        >>> result.test_accuracy
    """
    config = TrainConfig() if config is None else config
    _check_dataset(train_set, "train_set")
    _check_dataset(test_set, "test_set")
    device = torch.device(config.device)
    start = time.perf_counter()

    student.to(device)
    teacher_was_training = False
    if teacher is not None:
        teacher.to(device)
        teacher_was_training = teacher.training
        _check_class_counts(student, teacher, train_set, device)
        teacher.eval()

    # NOTE: runs on CUDA can still differ slightly between calls, because some cuDNN kernels
    # are nondeterministic unless torch.use_deterministic_algorithms(True) is set.
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator,
                        pin_memory=device.type == "cuda")
    optimizer = torch.optim.SGD(student.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * len(loader))

    history: list[dict[str, float]] = []
    mode = "KD" if teacher is not None else "plain"
    try:
        with tqdm(total=config.epochs * len(loader), desc=f"{mode} training", unit="batch",
                  disable=not progress) as progress_bar:
            for epoch in range(1, config.epochs + 1):
                epoch_start = time.perf_counter()
                loss, train_accuracy = _train_one_epoch(student, teacher, loader, optimizer, scheduler, config,
                                                        progress_bar)
                seconds = time.perf_counter() - epoch_start
                if not math.isfinite(loss):
                    raise RuntimeError(f"{mode} training diverged: the mean loss of epoch {epoch} is {loss}; "
                                       f"lower TrainConfig.lr (now {config.lr})")
                history.append({"epoch": epoch, "loss": loss, "train_accuracy": train_accuracy, "seconds": seconds})
                logger.info("%s epoch %d/%d: loss %.4f, train accuracy %.2f%%, %.1f s", mode, epoch, config.epochs,
                            loss, train_accuracy, seconds)
                progress_bar.set_postfix(epoch=epoch, loss=f"{loss:.3f}")
    finally:
        if teacher is not None:
            teacher.train(teacher_was_training)

    test_accuracy = evaluate_accuracy(student, test_set, device=config.device)
    student.eval()
    logger.info("%s training finished: test accuracy %.2f%%", mode, test_accuracy)
    return TrainResult(test_accuracy=test_accuracy, history=history, seconds=time.perf_counter() - start,
                       model=student)


def evaluate_accuracy(model: nn.Module, dataset: Dataset, batch_size: int = 256, device: str = "cpu") -> float:
    """Measure the top-1 accuracy of ``model`` on ``dataset`` in percent.

    The model is moved to ``device`` and run in eval mode under ``torch.no_grad()``. Its
    previous train/eval mode is restored afterwards.

    Raises:
        ValueError: If the dataset is empty or ``batch_size`` is not a positive integer.

    Example:
        >>> evaluate_accuracy(model, test_set)
        87.5
    """
    _check_dataset(dataset, "dataset")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    target = torch.device(device)
    model.to(target)
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.no_grad():
            for images, labels in DataLoader(dataset, batch_size=batch_size, shuffle=False):
                predictions = model(images.to(target)).argmax(dim=-1)
                correct += int((predictions == labels.to(target)).sum().item())
    finally:
        model.train(was_training)
    return 100.0 * correct / len(dataset)


@dataclass
class DistillReport:
    """Test accuracies of one student trained with and without its teacher.

    Attributes:
        kd_accuracy: Test accuracy of the student trained with knowledge distillation, in percent.
        plain_accuracy: Test accuracy of the student trained on the labels only, in percent.
        teacher_accuracy: Test accuracy of the teacher, in percent.
        kd: The full result of the distillation run.
        plain: The full result of the label-only run.
        config: The configuration shared by both runs.
    """

    kd_accuracy: float
    plain_accuracy: float
    teacher_accuracy: float
    kd: TrainResult
    plain: TrainResult
    config: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        """Return the report as nested dicts and lists that ``json.dumps`` accepts (without the models)."""
        return {"kd_accuracy": self.kd_accuracy, "plain_accuracy": self.plain_accuracy,
                "teacher_accuracy": self.teacher_accuracy, "kd": self.kd.to_dict(), "plain": self.plain.to_dict(),
                "config": asdict(self.config)}


def compare_with_and_without_kd(student: nn.Module, teacher: nn.Module, train_set: Dataset, test_set: Dataset,
                                config: TrainConfig | None = None, progress: bool = False) -> DistillReport:
    """Train two copies of ``student``, one distilled from ``teacher`` and one on labels only.

    Both copies start from the weights of ``student``, which stays unchanged, and both runs
    use the same seed and data order, so the accuracy gap measures the effect of the teacher.

    Args:
        student: The initial student. It is deep-copied once per run.
        teacher: The teacher for the distillation run. Its test accuracy is reported too.
        train_set: Map-style dataset of (image tensor, integer label) pairs.
        test_set: Dataset of the same form.
        config: Hyperparameters of both runs; ``TrainConfig()`` when omitted.
        progress: Show tqdm progress bars.

    Returns:
        The report with both runs and the teacher's accuracy.

    Example:
        >>> report = compare_with_and_without_kd(student, teacher, train_set, test_set, TrainConfig(epochs=5))
        >>> report.kd_accuracy - report.plain_accuracy
    """
    config = TrainConfig() if config is None else config
    teacher_accuracy = evaluate_accuracy(teacher, test_set, device=config.device)
    logger.info("teacher test accuracy %.2f%%", teacher_accuracy)

    kd = train_student(copy.deepcopy(student), train_set, test_set, teacher=teacher, config=config,
                       progress=progress)
    plain = train_student(copy.deepcopy(student), train_set, test_set, teacher=None, config=config,
                          progress=progress)
    logger.info("test accuracy with KD %.2f%%, without KD %.2f%%, teacher %.2f%%", kd.test_accuracy,
                plain.test_accuracy, teacher_accuracy)
    return DistillReport(kd_accuracy=kd.test_accuracy, plain_accuracy=plain.test_accuracy,
                         teacher_accuracy=teacher_accuracy, kd=kd, plain=plain, config=config)
