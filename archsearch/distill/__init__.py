"""Knowledge distillation: the KD loss, the student trainer and the KD-versus-plain comparison.

Example:
    >>> from archsearch.distill import TrainConfig, compare_with_and_without_kd
    >>> report = compare_with_and_without_kd(student, teacher, train_set, test_set, TrainConfig(epochs=15))
    >>> report.to_dict()
"""

from archsearch.distill.losses import kd_loss
from archsearch.distill.trainer import (DistillReport, TrainConfig, TrainResult, compare_with_and_without_kd,
                                        evaluate_accuracy, train_student)

__all__ = ["DistillReport", "TrainConfig", "TrainResult", "compare_with_and_without_kd", "evaluate_accuracy",
           "kd_loss", "train_student"]
