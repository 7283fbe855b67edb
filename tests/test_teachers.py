"""Tests of archsearch.teachers: the demo teacher and its cache, checkpoints and timm teachers."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Iterator

import pytest
import timm
import torch
import torch.nn as nn
from safetensors.torch import save_file

from archsearch import teachers
from archsearch.data import DataSplits, load_data
from archsearch.teachers import (DemoTeacher, default_cache_dir, demo_cache_path, evaluate_accuracy, load_teacher,
                                 save_teacher)

TEACHER_LOGGER = "archsearch.teachers"


class RecordList(logging.Handler):
    """A logging handler that keeps the records, for fixtures wider than caplog's function scope."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread() -> Iterator[None]:
    """Train with one intra-op thread while this module runs.

    The demo teacher's convolutions are small. On a 2-core machine shared with another busy
    process, two threads trained it about five times slower than one thread (85-104 s
    against 15-22 s for the full recipe). Each parallel step waits for the thread that lost
    its core.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_data()


@pytest.fixture(scope="module")
def small_digits() -> DataSplits:
    return load_data(input_size=8)


@pytest.fixture(scope="module")
def trained_demo(digits: DataSplits, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train the demo teacher once for this module, into a fresh cache folder."""
    cache_dir = tmp_path_factory.mktemp("cache")
    handler = RecordList()
    logger = logging.getLogger(TEACHER_LOGGER)
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        start = time.perf_counter()
        teacher = load_teacher("demo", digits, cache_dir=cache_dir)
        seconds = time.perf_counter() - start
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    return {"teacher": teacher, "cache_dir": cache_dir, "records": handler.records, "seconds": seconds}


@pytest.fixture()
def fast_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the demo recipe to one epoch for tests of the cache logic, not of accuracy."""
    monkeypatch.setitem(teachers.DEMO_RECIPE, "epochs", 1)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == TEACHER_LOGGER]


def make_timm_data(num_classes: int = 10) -> DataSplits:
    """Return digits data, optionally with labels folded into fewer classes."""
    data = load_data(input_size=32)
    if num_classes != 10:
        data.train.tensors = (data.train.tensors[0], data.train.tensors[1] % num_classes)
        data.test.tensors = (data.test.tensors[0], data.test.tensors[1] % num_classes)
        data.num_classes = num_classes
    return data


# --- DemoTeacher ------------------------------------------------------------------------------


def test_demo_teacher_feature_protocol() -> None:
    model = DemoTeacher(num_classes=7, in_channels=1).eval()
    images = torch.randn(2, 1, 32, 32)
    features = model.forward_features(images)
    assert features.shape == (2, 64, 8, 8)
    assert model.forward_head(features, pre_logits=True).shape == (2, 64)
    assert torch.equal(model.forward_head(features), model(images))
    assert model.num_features == 64
    assert isinstance(model.get_classifier(), nn.Linear)
    assert model.get_classifier().in_features == 64
    assert model.get_classifier().out_features == 7
    assert [info["num_chs"] for info in model.feature_info] == [16, 32, 64]


# --- demo teacher training and cache ----------------------------------------------------------


def test_demo_teacher_accuracy(trained_demo: dict, digits: DataSplits) -> None:
    teacher = trained_demo["teacher"]
    assert not teacher.training
    assert isinstance(teacher, DemoTeacher)
    assert evaluate_accuracy(teacher, digits) >= 0.95
    # The time depends on the machine and its load, so it is printed (pytest -s) but not asserted.
    print(f"demo teacher first load took {trained_demo['seconds']:.1f} s")


def test_demo_teacher_training_logged(trained_demo: dict) -> None:
    lines = [record.getMessage() for record in trained_demo["records"]]
    assert any(line.startswith("training the demo teacher on digits") for line in lines)
    done = [line for line in lines if line.startswith("trained the demo teacher")]
    assert len(done) == 1
    assert "test accuracy" in done[0]
    assert " s" in done[0]


def test_demo_cache_file_and_metadata(trained_demo: dict, digits: DataSplits) -> None:
    path = demo_cache_path(digits, trained_demo["cache_dir"])
    assert path.name == f"demo-digits-{digits.fingerprint()}-v{teachers.RECIPE_VERSION}.pt"
    assert path.parent == trained_demo["cache_dir"] / "teachers"
    record = torch.load(path, weights_only=True)
    metadata = record["metadata"]
    assert record["format"] == "archsearch-teacher"
    assert record["spec"] == "demo"
    assert metadata["recipe_version"] == teachers.RECIPE_VERSION
    assert metadata["data_fingerprint"] == digits.fingerprint()
    assert metadata["num_classes"] == 10
    assert metadata["input_shape"] == [3, 32, 32]
    assert metadata["test_accuracy"] >= 0.95
    assert [item.name for item in path.parent.iterdir()] == [path.name]


def test_demo_teacher_reused_from_cache(trained_demo: dict, digits: DataSplits,
                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=TEACHER_LOGGER):
        teacher = load_teacher(None, digits, cache_dir=trained_demo["cache_dir"])
    lines = messages(caplog)
    assert any(line.startswith("loaded the demo teacher from cache") for line in lines)
    assert not any(line.startswith("training") for line in lines)
    images = digits.test.tensors[0][:16]
    with torch.no_grad():
        assert torch.equal(teacher(images), trained_demo["teacher"](images))


def test_demo_cache_dir_from_environment(trained_demo: dict, digits: DataSplits, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ARCHSEARCH_CACHE_DIR", str(trained_demo["cache_dir"]))
    with caplog.at_level(logging.INFO, logger=TEACHER_LOGGER):
        load_teacher("demo", digits)
    assert any(line.startswith("loaded the demo teacher from cache") for line in messages(caplog))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_demo_cache_corrupt_retrained(small_digits: DataSplits, tmp_path: Path, fast_recipe: None,
                                      caplog: pytest.LogCaptureFixture, damage: str) -> None:
    first = load_teacher("demo", small_digits, cache_dir=tmp_path)
    path = demo_cache_path(small_digits, tmp_path)
    content = path.read_bytes()
    damaged = {"garbage": b"not a checkpoint" * 10, "truncated": content[:len(content) // 2], "empty": b""}[damage]
    path.write_bytes(damaged)

    with caplog.at_level(logging.INFO, logger=TEACHER_LOGGER):
        second = load_teacher("demo", small_digits, cache_dir=tmp_path)
    lines = messages(caplog)
    assert any("unreadable" in line for line in lines)
    assert any(line.startswith("training the demo teacher") for line in lines)
    # Training is seeded, so the retrained teacher equals the first one.
    images = small_digits.test.tensors[0][:8]
    with torch.no_grad():
        assert torch.allclose(second(images), first(images), atol=1e-5)
    assert path.read_bytes() != damaged
    assert torch.load(path, weights_only=True)["format"] == "archsearch-teacher"


@pytest.mark.parametrize("field, value", [("data_fingerprint", "0" * 16), ("recipe_version", 0),
                                          ("input_shape", [3, 16, 16])])
def test_demo_cache_stale_retrained(small_digits: DataSplits, tmp_path: Path, fast_recipe: None,
                                    caplog: pytest.LogCaptureFixture, field: str, value: object) -> None:
    load_teacher("demo", small_digits, cache_dir=tmp_path)
    path = demo_cache_path(small_digits, tmp_path)
    record = torch.load(path, weights_only=True)
    record["metadata"][field] = value
    torch.save(record, path)

    with caplog.at_level(logging.INFO, logger=TEACHER_LOGGER):
        load_teacher("demo", small_digits, cache_dir=tmp_path)
    lines = messages(caplog)
    assert any("stale" in line for line in lines)
    assert any(line.startswith("training the demo teacher") for line in lines)
    assert torch.load(path, weights_only=True)["metadata"][field] != value


def test_demo_cache_unwritable_still_returns(small_digits: DataSplits, tmp_path: Path, fast_recipe: None,
                                             caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.INFO, logger=TEACHER_LOGGER):
        teacher = load_teacher("demo", small_digits, cache_dir=blocker)
    assert isinstance(teacher, DemoTeacher)
    assert any(line.startswith("could not write the demo teacher cache") for line in messages(caplog))


def test_demo_training_keeps_global_rng(small_digits: DataSplits, tmp_path: Path, fast_recipe: None) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_teacher("demo", small_digits, cache_dir=tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_default_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARCHSEARCH_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.setenv("ARCHSEARCH_CACHE_DIR", "")
    assert default_cache_dir() == tmp_path / "xdg" / "archsearch"
    monkeypatch.delenv("ARCHSEARCH_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "archsearch"


# --- archsearch checkpoints -------------------------------------------------------------------


def test_save_load_round_trip_demo(trained_demo: dict, digits: DataSplits, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "teacher.pt"
    save_teacher(trained_demo["teacher"], path, spec="demo", num_classes=10, in_channels=3)
    loaded = load_teacher(str(path), digits)
    assert isinstance(loaded, DemoTeacher)
    assert not loaded.training
    images = digits.test.tensors[0][:32]
    with torch.no_grad():
        assert torch.equal(loaded(images), trained_demo["teacher"](images))
    assert [item.name for item in path.parent.iterdir()] == ["teacher.pt"]


def test_save_load_round_trip_timm(tmp_path: Path) -> None:
    data = make_timm_data()
    model = timm.create_model("test_resnet", num_classes=10).eval()
    path = tmp_path / "timm-teacher.pt"
    save_teacher(model, path, spec="timm:test_resnet", num_classes=10, in_channels=3)
    loaded = load_teacher(str(path), data)
    images = data.test.tensors[0][:4]
    with torch.no_grad():
        assert torch.equal(loaded(images), model(images))


def test_checkpoint_missing_file(digits: DataSplits, tmp_path: Path) -> None:
    missing = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_teacher(str(missing), digits)


def test_checkpoint_plain_state_dict_rejected(digits: DataSplits, tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(DemoTeacher(10).state_dict(), path)
    with pytest.raises(ValueError) as error:
        load_teacher(str(path), digits)
    assert "archsearch-teacher" in str(error.value)
    assert "timm:NAME" in str(error.value)
    assert "--teacher-checkpoint" in str(error.value)


def test_checkpoint_garbage_rejected(digits: DataSplits, tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x00\x01 not a torch file")
    with pytest.raises(ValueError, match="not a readable archsearch teacher checkpoint"):
        load_teacher(str(path), digits)


def test_checkpoint_class_mismatch_names_both(digits: DataSplits, tmp_path: Path) -> None:
    path = tmp_path / "five.pt"
    save_teacher(DemoTeacher(5), path, spec="demo", num_classes=5, in_channels=3)
    with pytest.raises(ValueError) as error:
        load_teacher(str(path), digits)
    assert "5 classes" in str(error.value)
    assert "has 10" in str(error.value)


def test_checkpoint_channel_mismatch(digits: DataSplits, tmp_path: Path) -> None:
    path = tmp_path / "grey.pt"
    save_teacher(DemoTeacher(10, in_channels=1), path, spec="demo", num_classes=10, in_channels=1)
    with pytest.raises(ValueError, match="channels=1"):
        load_teacher(str(path), digits)


def test_checkpoint_version_mismatch(digits: DataSplits, tmp_path: Path) -> None:
    path = tmp_path / "future.pt"
    save_teacher(DemoTeacher(10), path, spec="demo", num_classes=10, in_channels=3)
    record = torch.load(path, weights_only=True)
    record["version"] = 2
    torch.save(record, path)
    with pytest.raises(ValueError, match="version 2"):
        load_teacher(str(path), digits)


def test_save_teacher_rejects_unknown_spec(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resnet18"):
        save_teacher(DemoTeacher(10), tmp_path / "x.pt", spec="resnet18", num_classes=10, in_channels=3)


def test_unknown_spec_suggests_timm(digits: DataSplits) -> None:
    with pytest.raises(ValueError, match="timm:resnet18"):
        load_teacher("resnet18", digits)


def test_checkpoint_argument_needs_timm_spec(digits: DataSplits, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timm:NAME"):
        load_teacher("demo", digits, checkpoint=tmp_path / "weights.pth")


# --- timm teachers ----------------------------------------------------------------------------


def test_timm_unknown_name(digits: DataSplits) -> None:
    with pytest.raises(ValueError) as error:
        load_teacher("timm:no_such_model_xyz", digits)
    assert "no_such_model_xyz" in str(error.value)
    assert "timm.list_models('pattern*')" in str(error.value)


def test_timm_invalid_tag(digits: DataSplits) -> None:
    with pytest.raises(ValueError) as error:
        load_teacher("timm:resnet18.no_such_tag", digits)
    assert "resnet18.no_such_tag" in str(error.value)
    assert "timm.list_pretrained('resnet18.*')" in str(error.value)


def test_checkpoint_folder_rejected(digits: DataSplits, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a folder"):
        load_teacher(str(tmp_path), digits)


def test_timm_state_dict_checkpoint(tmp_path: Path) -> None:
    data = make_timm_data()
    source = timm.create_model("test_resnet", num_classes=10).eval()
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    teacher = load_teacher("timm:test_resnet", data, checkpoint=str(path))
    assert not teacher.training
    images = data.test.tensors[0][:4]
    with torch.no_grad():
        assert torch.equal(teacher(images), source(images))


def test_timm_wrapped_state_dict_checkpoint(tmp_path: Path) -> None:
    data = make_timm_data()
    source = timm.create_model("test_resnet", num_classes=10).eval()
    path = tmp_path / "trained.pt"
    torch.save({"state_dict": {f"module.{key}": value for key, value in source.state_dict().items()}}, path)
    teacher = load_teacher("timm:test_resnet", data, checkpoint=path)
    assert torch.equal(teacher.conv1[0].weight, source.conv1[0].weight)
    assert torch.equal(teacher.fc.weight, source.fc.weight)


def test_timm_safetensors_checkpoint_drops_classifier(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = make_timm_data()
    source = timm.create_model("test_resnet", num_classes=1000)
    path = tmp_path / "imagenet.safetensors"
    save_file(source.state_dict(), str(path))
    with caplog.at_level(logging.INFO, logger=TEACHER_LOGGER):
        teacher = load_teacher("timm:test_resnet", data, checkpoint=str(path))
    assert teacher.get_classifier().out_features == 10
    assert torch.equal(teacher.conv1[0].weight, source.conv1[0].weight)
    dropped = [line for line in messages(caplog) if "dropped" in line]
    assert len(dropped) == 1
    assert "1000-class" in dropped[0]
    assert "fc.weight" in dropped[0]


def test_timm_checkpoint_wrong_model(tmp_path: Path) -> None:
    data = make_timm_data()
    path = tmp_path / "demo-weights.pth"
    torch.save(DemoTeacher(10).state_dict(), path)
    with pytest.raises(ValueError, match="does not fit"):
        load_teacher("timm:test_resnet", data, checkpoint=path)


def test_timm_checkpoint_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        load_teacher("timm:test_resnet", make_timm_data(), checkpoint=tmp_path / "absent.safetensors")


@pytest.mark.parametrize("offline_env", [None, "0"])
def test_timm_pretrained_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_env: str | None) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    if offline_env is None:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", offline_env)
    # huggingface_hub reads HF_HOME only at import, so its cache path is pointed at tmp_path too.
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    offline_flag_before = hub_constants.HF_HUB_OFFLINE
    with pytest.raises(ValueError) as error:
        load_teacher("timm:test_resnet", make_timm_data())
    message = str(error.value)
    assert "test_resnet" in message
    assert "local Hugging Face cache" in message
    assert "--teacher-checkpoint" in message
    assert os.environ.get("HF_HUB_OFFLINE") == offline_env
    assert hub_constants.HF_HUB_OFFLINE is offline_flag_before


def test_timm_url_only_weights_rejected(digits: DataSplits) -> None:
    # legacy_seresnet18 has a download URL but no Hugging Face repository in timm 1.0.
    with pytest.raises(ValueError, match="local Hugging Face cache"):
        load_teacher("timm:legacy_seresnet18", digits)


def test_timm_pretrained_from_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as hub_constants

    # Build the Hugging Face cache layout that an earlier online download would leave.
    source = timm.create_model("test_resnet", num_classes=1000)
    repository = tmp_path / "hub" / "models--timm--test_resnet.r160_in1k"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repository / "refs").mkdir(parents=True)
    (repository / "refs" / "main").write_text(commit)
    snapshot = repository / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file(source.state_dict(), str(snapshot / "model.safetensors"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    teacher = load_teacher("timm:test_resnet", make_timm_data())
    assert not teacher.training
    assert teacher.get_classifier().out_features == 10
    assert torch.equal(teacher.conv1[0].weight, source.conv1[0].weight)


def test_timm_checkpoint_class_count_from_data(tmp_path: Path) -> None:
    data = make_timm_data(num_classes=5)
    source = timm.create_model("test_resnet", num_classes=5).eval()
    path = tmp_path / "five.pth"
    torch.save(source.state_dict(), path)
    teacher = load_teacher("timm:test_resnet", data, checkpoint=path)
    assert teacher.get_classifier().out_features == 5
