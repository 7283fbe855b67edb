"""Work on a finished run: distil its best student, export it, load the run."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

import search_spaces
from archsearch.api import resolve_device
from archsearch.distill import TrainConfig, compare_with_and_without_kd
from archsearch.evaluator import candidate_seed
from archsearch.exporting import export_student
from archsearch.scoring_setup import TEXT, input_kind, prepare_space
from archsearch.store import RunStore
from archsearch.teachers import load_teacher

logger = logging.getLogger("archsearch.pipeline")

DISTILL_REPORT = "distill.json"
DISTILLED_WEIGHTS = "student_kd.safetensors"


def load_run(run_dir: str | Path) -> RunStore:
    """Open the run directory ``run_dir`` (see ``archsearch.store.RunStore``)."""
    return RunStore.open(run_dir)


def _best_record(run: RunStore) -> dict[str, Any]:
    best = run.best
    if best is None:
        raise ValueError(f"run {run.run_dir} has no scored candidate (every one failed or was rejected); "
                         "run or resume the search first")
    return best


def _build_best(run: RunStore):
    """Rebuild the run's space, data and best student, initialised exactly as it was scored."""
    config = run.config
    best = _best_record(run)
    space = search_spaces.create(config["space"], **config["space_config"])
    if input_kind(space) == TEXT:
        # NOTE: students of text spaces can be searched and scored, but distilling and exporting
        # them are not written yet.
        raise ValueError(f"run {run.run_dir} searched the text space {config['space']!r}; distill and export work on "
                         "image students only, so build this student in Python with search_spaces.create("
                         f"{config['space']!r}, **run.config['space_config']).build(run.best['arch'])")
    space, splits = prepare_space(config["space"], config["space_config"], config["data"])
    torch.manual_seed(candidate_seed(config["seed"], best["canonical"]))
    student = space.build(space.parse(best["arch"]), num_classes=splits.num_classes)
    return space, splits, best, student


def distill(run_dir: str | Path, *, epochs: int = 15, batch_size: int = 64, lr: float = 0.05,
            temperature: float = 4.0, alpha: float = 0.9, seed: int | None = None, device: str | None = None,
            progress: bool = False) -> dict[str, Any]:
    """Train the run's best student with classic KD and, for comparison, without KD.

    Both runs start from the same weights and see the same data in the same order. The
    report is written to ``RUN_DIR/distill.json`` and the distilled weights to
    ``RUN_DIR/student_kd.safetensors``, which ``export`` then uses.

    Returns:
        The report: ``arch``, ``kd_accuracy``, ``plain_accuracy``, ``teacher_accuracy`` (test
        accuracies in percent), the training settings and per-epoch histories, and ``path``.

    Example:
        >>> report = archsearch.distill("archsearch-runs/my-run", epochs=10)
        >>> report["kd_accuracy"] - report["plain_accuracy"]
    """
    run = RunStore.open(run_dir)
    config = run.config
    space, splits, best, student = _build_best(run)
    device_object = resolve_device(device)
    teacher = load_teacher(config["teacher"], splits, checkpoint=config.get("teacher_checkpoint"),
                           device=device_object)
    train_config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, temperature=temperature, alpha=alpha,
                               seed=config["seed"] if seed is None else seed, device=str(device_object))
    logger.info("Distilling %s for %d epochs, with and without KD.", best["arch"], epochs)
    report = compare_with_and_without_kd(student, teacher, splits.train, splits.test, config=train_config,
                                         progress=progress)

    weights_path = run.run_dir / DISTILLED_WEIGHTS
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in report.kd.model.state_dict().items()}
    save_file(state, str(weights_path))
    result = {"arch": best["arch"], "canonical": best["canonical"], "data": splits.name, **report.to_dict(),
              "weights": DISTILLED_WEIGHTS}
    report_path = run.run_dir / DISTILL_REPORT
    report_path.write_text(json.dumps(result, indent=2) + "\n")
    result["path"] = str(report_path)
    return result


def export(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Export the run's best student to ``out_dir``: JSON spec, safetensors weights and TorchScript.

    If ``archsearch distill`` has run, the distilled weights are exported; otherwise the
    student is exported at its initialisation, with a warning.

    Example:
        >>> archsearch.export("archsearch-runs/my-run", "students/best")
        >>> model = archsearch.load_student("students/best")
    """
    run = RunStore.open(run_dir)
    space, splits, best, student = _build_best(run)
    extra: dict[str, Any] = {"run_dir": str(run.run_dir), "canonical": best["canonical"],
                             "scores": best["scores"], "data": splits.name}
    weights_path = run.run_dir / DISTILLED_WEIGHTS
    report_path = run.run_dir / DISTILL_REPORT
    if weights_path.is_file():
        student.load_state_dict(load_file(str(weights_path)))
        if report_path.is_file():
            report = json.loads(report_path.read_text())
            extra["distillation"] = {key: report[key] for key in ("kd_accuracy", "plain_accuracy",
                                                                  "teacher_accuracy") if key in report}
        extra["weights"] = "distilled"
    else:
        logger.warning("No distilled weights in %s; exporting the untrained student. Run `archsearch distill %s` "
                       "first to export a trained one.", run.run_dir, run.run_dir)
        extra["weights"] = "initialisation"
    return export_student(student, space_name=run.config["space"], space_config=space.config(), arch=best["arch"],
                          num_classes=splits.num_classes, out_dir=out_dir, extra=extra)
