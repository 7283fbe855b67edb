"""Tests of archsearch.exporting: the export directory, its spec and loading it back."""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

import search_spaces
from archsearch.exporting import SPEC_FORMAT, SPEC_VERSION, export_student, load_student, read_spec

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
OTHER_CELL = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
SPACE_CONFIG = {"num_classes": 10, "input_size": 32, "channels": 8, "cells_per_stage": 1, "in_channels": 3}


@pytest.fixture(scope="module")
def digit_images() -> tuple[torch.Tensor, torch.Tensor]:
    """The first 96 digits as 3x32x32 tensors in [0, 1], with their labels."""
    data = load_digits()
    images = torch.tensor(data.images[:96], dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=32, mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    return images, torch.tensor(data.target[:96], dtype=torch.long)


@pytest.fixture(scope="module")
def trained_student(digit_images: tuple[torch.Tensor, torch.Tensor]) -> nn.Module:
    """A tiny NB201 student after a few SGD steps, so its BatchNorm buffers differ from the defaults."""
    images, labels = digit_images
    space = search_spaces.create("nb201", **SPACE_CONFIG)
    torch.manual_seed(0)
    model = space.build(space.parse(CELL))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for start in range(0, len(images), 32):
        loss = F.cross_entropy(model(images[start:start + 32]), labels[start:start + 32])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def export(model: nn.Module, out_dir: Path, **overrides: object) -> Path:
    arguments = {"space_name": "nb201", "space_config": SPACE_CONFIG, "arch": CELL, "num_classes": 10,
                 "out_dir": out_dir, "extra": {"kd_accuracy": 91.5, "plain_accuracy": 89.0}}
    arguments.update(overrides)
    return export_student(model, **arguments)


def test_round_trip_outputs_identical(trained_student: nn.Module, digit_images: tuple[torch.Tensor, torch.Tensor],
                                      tmp_path: Path) -> None:
    images, _ = digit_images
    assert trained_student.stem[1].running_mean.abs().sum() > 0

    out_dir = export(trained_student, tmp_path / "student")
    loaded = load_student(out_dir)

    assert not loaded.training
    trained_student.eval()
    with torch.no_grad():
        expected = trained_student(images)
        assert torch.equal(loaded(images), expected)
    for key, value in trained_student.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_torchscript_outputs_identical(trained_student: nn.Module,
                                       digit_images: tuple[torch.Tensor, torch.Tensor], tmp_path: Path) -> None:
    images, _ = digit_images
    out_dir = export(trained_student, tmp_path / "student")
    with warnings.catch_warnings():
        # torch.jit.load warns that TorchScript is deprecated.
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(str(out_dir / "model.torchscript.pt"))

    trained_student.eval()
    with torch.no_grad():
        assert torch.equal(scripted(images), trained_student(images))


def test_export_keeps_model_mode(trained_student: nn.Module, tmp_path: Path) -> None:
    trained_student.train()
    export(trained_student, tmp_path / "student")
    assert trained_student.training

    trained_student.eval()
    export(trained_student, tmp_path / "student")
    assert not trained_student.training


def test_spec_contents(trained_student: nn.Module, tmp_path: Path) -> None:
    out_dir = export(trained_student, tmp_path / "nested" / "student")
    spec = read_spec(out_dir)

    assert spec["format"] == SPEC_FORMAT == "archsearch-student"
    assert spec["version"] == SPEC_VERSION == 1
    assert spec["space"] == "nb201"
    assert spec["space_config"] == SPACE_CONFIG
    assert spec["arch"] == CELL
    assert spec["num_classes"] == 10
    assert spec["input_shape"] == [3, 32, 32]
    assert spec["versions"]["torch"] == torch.__version__
    assert "archsearch" in spec["versions"]
    assert spec["extra"] == {"kd_accuracy": 91.5, "plain_accuracy": 89.0}

    created = datetime.fromisoformat(spec["created_utc"])
    assert created.utcoffset() == timedelta(0)

    assert spec["files"] == {"weights": "model.safetensors", "torchscript": "model.torchscript.pt"}
    for role, name in spec["files"].items():
        assert spec["sha256"][role] == hashlib.sha256((out_dir / name).read_bytes()).hexdigest()
    assert json.loads((out_dir / "student.json").read_text()) == spec


def test_export_stores_canonical_arch(trained_student: nn.Module, tmp_path: Path) -> None:
    space = search_spaces.create("nb201", **SPACE_CONFIG)
    out_dir = export(trained_student, tmp_path / "student", arch=space.parse(CELL))
    assert read_spec(out_dir)["arch"] == CELL


def test_export_overwrites_previous(trained_student: nn.Module, tmp_path: Path) -> None:
    out_dir = tmp_path / "student"
    export(trained_student, out_dir, extra={"run": 1})
    export(trained_student, out_dir, extra={"run": 2})

    assert read_spec(out_dir)["extra"] == {"run": 2}
    assert sorted(path.name for path in out_dir.iterdir()) == ["model.safetensors", "model.torchscript.pt",
                                                               "student.json"]
    assert isinstance(load_student(out_dir), nn.Module)


def test_export_rejects_other_arch(trained_student: nn.Module, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not match arch"):
        export(trained_student, tmp_path / "student", arch=OTHER_CELL)
    assert not (tmp_path / "student").exists()


def test_export_rejects_other_num_classes(trained_student: nn.Module, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="classifier.weight"):
        export(trained_student, tmp_path / "student", num_classes=5)


def test_export_rejects_non_json_extra(trained_student: nn.Module, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="extra must be JSON-serialisable"):
        export(trained_student, tmp_path / "student", extra={"accuracy": torch.tensor(1.0)})
    assert not (tmp_path / "student").exists()


def test_load_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(FileNotFoundError) as error:
        load_student(missing)
    assert str(missing) in str(error.value)
    assert "archsearch export" in str(error.value)


def test_load_directory_without_spec(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="student.json"):
        load_student(tmp_path)


def test_load_missing_weights(trained_student: nn.Module, tmp_path: Path) -> None:
    out_dir = export(trained_student, tmp_path / "student")
    (out_dir / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_student(out_dir)


def test_load_corrupted_weights(trained_student: nn.Module, tmp_path: Path) -> None:
    out_dir = export(trained_student, tmp_path / "student")
    weights = out_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the spec"):
        load_student(out_dir)


def rewrite_spec(out_dir: Path, **changes: object) -> None:
    spec_path = out_dir / "student.json"
    spec = json.loads(spec_path.read_text())
    spec.update(changes)
    spec_path.write_text(json.dumps(spec))


def test_load_newer_version(trained_student: nn.Module, tmp_path: Path) -> None:
    out_dir = export(trained_student, tmp_path / "student")
    rewrite_spec(out_dir, version=SPEC_VERSION + 1)
    with pytest.raises(ValueError) as error:
        load_student(out_dir)
    assert f"version {SPEC_VERSION + 1}" in str(error.value)
    assert f"up to {SPEC_VERSION}" in str(error.value)


def test_load_unknown_format(trained_student: nn.Module, tmp_path: Path) -> None:
    out_dir = export(trained_student, tmp_path / "student")
    rewrite_spec(out_dir, format="other-tool")
    with pytest.raises(ValueError, match="other-tool"):
        load_student(out_dir)


def test_load_spec_missing_keys(trained_student: nn.Module, tmp_path: Path) -> None:
    out_dir = export(trained_student, tmp_path / "student")
    spec_path = out_dir / "student.json"
    spec = json.loads(spec_path.read_text())
    del spec["arch"]
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"\[.arch.\]"):
        read_spec(out_dir)


def test_load_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "student.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_spec(tmp_path)
