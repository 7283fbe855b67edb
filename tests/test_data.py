"""Tests of archsearch.data: the digits, .npz and CIFAR loaders, scoring batches and loaders."""

from __future__ import annotations

import datetime
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from archsearch.data import CIFAR_STATS, DataSplits, data_loader, load_data, scoring_batch, split_indices


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_data()


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def random_images(count: int, height: int = 12, width: int = 10, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Return uint8 images of shape count x height x width x channels."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, height, width, channels), dtype=np.uint8)


def write_cifar10_folder(root: Path, per_batch: int = 6, test_count: int = 8, seed: int = 0) -> dict:
    """Write a small folder in the layout of torchvision's cifar-10-batches-py and return its arrays.

    Each batch file is a pickled dict with a uint8 ``data`` array (N x 3072, channel-major rows)
    and a ``labels`` list, like the files of the official release.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    arrays = {"train_data": [], "train_labels": []}
    for index in range(1, 6):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(label) for label in rng.integers(0, 10, size=per_batch)]
        batch = {"batch_label": f"training batch {index} of 5", "labels": labels, "data": data,
                 "filenames": [f"image_{index}_{i}.png" for i in range(per_batch)]}
        (folder / f"data_batch_{index}").write_bytes(pickle.dumps(batch, protocol=2))
        arrays["train_data"].append(data)
        arrays["train_labels"].extend(labels)
    test_data = rng.integers(0, 256, size=(test_count, 3072), dtype=np.uint8)
    test_labels = [int(label) for label in rng.integers(0, 10, size=test_count)]
    test_batch = {"batch_label": "testing batch 1 of 1", "labels": test_labels, "data": test_data,
                  "filenames": [f"test_{i}.png" for i in range(test_count)]}
    (folder / "test_batch").write_bytes(pickle.dumps(test_batch, protocol=2))
    meta = {"num_cases_per_batch": per_batch, "num_vis": 3072,
            "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    arrays["train_data"] = np.concatenate(arrays["train_data"])
    arrays["test_data"] = test_data
    arrays["test_labels"] = test_labels
    return arrays


def write_cifar100_folder(root: Path, train_count: int = 12, test_count: int = 5) -> None:
    """Write a small folder in the layout of torchvision's cifar-100-python."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, count in (("train", train_count), ("test", test_count)):
        entry = {"data": rng.integers(0, 256, size=(count, 3072), dtype=np.uint8),
                 "fine_labels": [int(label) for label in rng.integers(0, 100, size=count)],
                 "coarse_labels": [int(label) for label in rng.integers(0, 20, size=count)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"fine_label_names": [f"class{i}" for i in range(100)],
            "coarse_label_names": [f"group{i}" for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def cifar_rows_to_normalised(rows: np.ndarray, name: str) -> torch.Tensor:
    mean, std = CIFAR_STATS[name]
    images = torch.from_numpy(rows.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


# --- digits -----------------------------------------------------------------------------------


def test_digits_shapes_and_types(digits: DataSplits) -> None:
    train_images, train_labels = digits.train.tensors
    test_images, test_labels = digits.test.tensors
    assert digits.name == "digits"
    assert digits.source == "digits"
    assert digits.num_classes == 10
    assert digits.input_shape == (3, 32, 32)
    assert train_images.shape == (1437, 3, 32, 32)
    assert test_images.shape == (360, 3, 32, 32)
    assert train_images.dtype == torch.float32
    assert train_labels.dtype == torch.int64
    assert set(train_labels.tolist()) == set(range(10))
    assert len(train_labels) + len(test_labels) == 1797


def test_digits_train_split_normalised(digits: DataSplits) -> None:
    train_images = digits.train.tensors[0]
    mean = train_images.mean(dim=(0, 2, 3))
    std = train_images.std(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.zeros(3), atol=1e-4)
    assert torch.allclose(std, torch.ones(3), atol=1e-4)
    # The grey channel is repeated, so all channels are equal.
    assert torch.equal(train_images[:, 0], train_images[:, 2])


def test_digits_split_stratified(digits: DataSplits) -> None:
    test_counts = np.bincount(digits.test.tensors[1].numpy(), minlength=10)
    assert test_counts.min() >= 35
    assert test_counts.max() <= 37


def test_digits_deterministic(digits: DataSplits) -> None:
    again = load_data("digits")
    assert torch.equal(again.train.tensors[0], digits.train.tensors[0])
    assert torch.equal(again.test.tensors[1], digits.test.tensors[1])
    assert again.fingerprint() == digits.fingerprint()


def test_digits_seed_changes_split(digits: DataSplits) -> None:
    other = load_data(seed=1)
    assert not torch.equal(other.test.tensors[1], digits.test.tensors[1])
    assert other.fingerprint() != digits.fingerprint()


def test_digits_native_size_values() -> None:
    from sklearn.datasets import load_digits

    splits = load_data(input_size=8, channels=1, test_fraction=0.5, seed=3)
    train_images, train_labels = splits.train.tensors
    raw = torch.from_numpy(load_digits().images.astype(np.float32) / 16.0)
    train_indices, _ = split_indices(load_digits().target, 0.5, seed=3)
    expected = raw[train_indices].unsqueeze(1)
    expected = (expected - expected.mean()) / expected.std()
    assert splits.input_shape == (1, 8, 8)
    assert torch.allclose(train_images, expected, atol=1e-5)
    assert torch.equal(train_labels, torch.from_numpy(load_digits().target[train_indices]))


def test_digits_resize_and_channels() -> None:
    splits = load_data(input_size=20, channels=1, test_fraction=0.25)
    assert splits.input_shape == (1, 20, 20)
    assert splits.train.tensors[0].shape[1:] == (1, 20, 20)
    assert len(splits.test) == 450


def test_fingerprint_format(digits: DataSplits) -> None:
    fingerprint = digits.fingerprint()
    assert len(fingerprint) == 16
    int(fingerprint, 16)


@pytest.mark.parametrize("kwargs, message", [
    ({"input_size": 0}, "input_size"),
    ({"channels": 0}, "channels"),
    ({"test_fraction": 0.0}, "test_fraction"),
    ({"test_fraction": 1.0}, "test_fraction"),
])
def test_invalid_arguments_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_data(**kwargs)


@pytest.mark.parametrize("spec", ["mnist", "cifar10", "cifar10:", "images.csv"])
def test_unknown_spec_lists_forms(spec: str) -> None:
    with pytest.raises(ValueError, match="valid forms") as error:
        load_data(spec)
    assert "digits" in str(error.value)
    assert ".npz" in str(error.value)
    assert "cifar10:PATH" in str(error.value)


# --- .npz files -------------------------------------------------------------------------------


def test_npz_shared_cifar_sample(shared_data: Path) -> None:
    path = shared_data / "cifar" / "cifar10_test1000_jpeg.npz"
    splits = load_data(str(path))
    train_images, train_labels = splits.train.tensors
    assert splits.name == "cifar10_test1000_jpeg"
    assert splits.source == str(path)
    assert splits.num_classes == 10
    assert splits.input_shape == (3, 32, 32)
    assert train_images.shape == (800, 3, 32, 32)
    assert len(splits.test) == 200
    assert np.bincount(splits.test.tensors[1].numpy()).tolist() == [20] * 10
    assert torch.allclose(train_images.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(train_images.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)


def test_npz_shared_values_match_manual(shared_data: Path) -> None:
    path = shared_data / "cifar" / "cifar10_test1000_jpeg.npz"
    with np.load(path) as archive:
        raw = archive["x"].astype(np.float32) / 255.0
        labels = archive["y"]
    train_indices, test_indices = split_indices(labels, 0.2, seed=0)
    train_raw = torch.from_numpy(raw[train_indices]).permute(0, 3, 1, 2)
    mean = train_raw.mean(dim=(0, 2, 3), keepdim=True)
    std = train_raw.std(dim=(0, 2, 3), keepdim=True)
    expected_test = (torch.from_numpy(raw[test_indices]).permute(0, 3, 1, 2) - mean) / std

    splits = load_data(str(path))
    assert torch.allclose(splits.test.tensors[0], expected_test, atol=1e-4)
    assert torch.equal(splits.test.tensors[1], torch.from_numpy(labels[test_indices]))


def test_npz_shared_small_files(shared_data: Path) -> None:
    cifar100 = load_data(str(shared_data / "cifar" / "cifar100_test20.npz"), input_size=16)
    with np.load(shared_data / "cifar" / "cifar100_test20.npz") as archive:
        expected_classes = int(archive["y"].max()) + 1
    assert cifar100.num_classes == expected_classes
    assert cifar100.input_shape == (3, 16, 16)
    assert len(cifar100.train) == 16
    assert len(cifar100.test) == 4

    cifar10 = load_data(str(shared_data / "cifar" / "cifar10_test20.npz"), test_fraction=0.5)
    assert len(cifar10.train) == 10
    assert len(cifar10.test) == 10


def test_npz_nchw_matches_nhwc(tmp_path: Path) -> None:
    images = random_images(30)
    labels = np.arange(30) % 3
    nhwc = load_data(str(write_npz(tmp_path / "nhwc.npz", x=images, y=labels)), input_size=12)
    nchw = load_data(str(write_npz(tmp_path / "nchw.npz", x=images.transpose(0, 3, 1, 2), y=labels)), input_size=12)
    assert nchw.name == "nchw"
    assert nchw.input_shape == (3, 12, 12)
    assert torch.allclose(nchw.train.tensors[0], nhwc.train.tensors[0])
    assert torch.equal(nchw.test.tensors[1], nhwc.test.tensors[1])


def test_npz_resizes_non_square(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "wide.npz", x=random_images(10, height=12, width=10), y=np.arange(10) % 2)
    splits = load_data(str(path), input_size=8)
    assert splits.train.tensors[0].shape == (8, 3, 8, 8)
    assert splits.test.tensors[0].shape == (2, 3, 8, 8)


def test_npz_float_equals_uint8(tmp_path: Path) -> None:
    images = random_images(20)
    labels = np.arange(20) % 4
    as_uint8 = load_data(str(write_npz(tmp_path / "a.npz", x=images, y=labels)), input_size=12)
    as_float = load_data(str(write_npz(tmp_path / "b.npz", x=images.astype(np.float64) / 255.0, y=labels)),
                         input_size=12)
    assert torch.allclose(as_float.train.tensors[0], as_uint8.train.tensors[0], atol=1e-5)


def test_npz_grey_repeated_to_channels(tmp_path: Path) -> None:
    grey = random_images(12, channels=1)[..., 0]
    splits = load_data(str(write_npz(tmp_path / "grey.npz", x=grey, y=np.arange(12) % 2)), input_size=12)
    images = splits.train.tensors[0]
    assert splits.input_shape == (3, 12, 12)
    assert torch.equal(images[:, 0], images[:, 1])


def test_npz_num_classes_from_max_label(tmp_path: Path) -> None:
    labels = np.array([0, 7, 7, 0, 7, 0, 7, 0, 7, 0])
    splits = load_data(str(write_npz(tmp_path / "sparse.npz", x=random_images(10), y=labels)), input_size=12)
    assert splits.num_classes == 8


def test_npz_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        load_data(str(missing))


def test_npz_missing_keys_named(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "keys.npz", images=random_images(4), targets=np.arange(4))
    with pytest.raises(ValueError) as error:
        load_data(str(path))
    assert "images" in str(error.value)
    assert "targets" in str(error.value)
    assert "x" in str(error.value)


@pytest.mark.parametrize("x, y, message", [
    (random_images(6), np.arange(5), "6 images"),
    (random_images(6), np.arange(6).astype(np.float32), "integer"),
    (random_images(6), -np.arange(6), "negative"),
    (np.zeros((6, 5, 5, 5), dtype=np.uint8), np.arange(6), "C = 1 or 3"),
    (np.zeros((6, 32), dtype=np.uint8), np.arange(6), "dimensions"),
    (np.full((6, 8, 8, 3), 300, dtype=np.int32), np.arange(6), "dtype"),
])
def test_npz_bad_arrays_rejected(tmp_path: Path, x: np.ndarray, y: np.ndarray, message: str) -> None:
    path = write_npz(tmp_path / "bad.npz", x=x, y=y)
    with pytest.raises(ValueError, match=message):
        load_data(str(path))


def test_npz_colour_to_one_channel_rejected(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "rgb.npz", x=random_images(6), y=np.arange(6) % 2)
    with pytest.raises(ValueError, match="channels=3"):
        load_data(str(path), channels=1)


def test_npz_too_few_images_rejected(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "one.npz", x=random_images(1), y=np.array([0]))
    with pytest.raises(ValueError, match="1 images"):
        load_data(str(path))


# --- CIFAR folders ----------------------------------------------------------------------------


def test_cifar10_folder_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    arrays = write_cifar10_folder(tmp_path)
    with caplog.at_level(logging.WARNING, logger="archsearch.data"):
        splits = load_data(f"cifar10:{tmp_path}")
    train_images, train_labels = splits.train.tensors
    assert splits.name == "cifar10"
    assert splits.source == f"cifar10:{tmp_path}"
    assert splits.num_classes == 10
    assert splits.input_shape == (3, 32, 32)
    assert train_images.shape == (30, 3, 32, 32)
    assert train_labels.tolist() == arrays["train_labels"]
    assert splits.test.tensors[1].tolist() == arrays["test_labels"]
    assert torch.allclose(train_images, cifar_rows_to_normalised(arrays["train_data"], "cifar10"), atol=1e-6)
    assert torch.allclose(splits.test.tensors[0], cifar_rows_to_normalised(arrays["test_data"], "cifar10"),
                          atol=1e-6)
    # The fake files cannot match the official md5 sums, so the loader logs that it skipped the check.
    assert any("md5" in record.getMessage() for record in caplog.records)


def test_cifar10_reader_matches_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.datasets import CIFAR10

    write_cifar10_folder(tmp_path)
    fallback = load_data(f"cifar10:{tmp_path}")
    # Without md5 sums torchvision only checks that the files exist, so it reads the fake folder.
    monkeypatch.setattr(CIFAR10, "train_list", [[name, None] for name, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[name, None] for name, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": None})
    through_torchvision = load_data(f"cifar10:{tmp_path}")
    assert torch.equal(through_torchvision.train.tensors[0], fallback.train.tensors[0])
    assert torch.equal(through_torchvision.train.tensors[1], fallback.train.tensors[1])
    assert torch.equal(through_torchvision.test.tensors[0], fallback.test.tensors[0])


def test_cifar10_resized(tmp_path: Path) -> None:
    write_cifar10_folder(tmp_path)
    splits = load_data(f"cifar10:{tmp_path}", input_size=16)
    assert splits.input_shape == (3, 16, 16)
    assert splits.train.tensors[0].shape == (30, 3, 16, 16)


def test_cifar100_folder_read(tmp_path: Path) -> None:
    write_cifar100_folder(tmp_path)
    splits = load_data(f"cifar100:{tmp_path}")
    assert splits.name == "cifar100"
    assert splits.num_classes == 100
    assert len(splits.train) == 12
    assert len(splits.test) == 5


def test_cifar_missing_folder_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        load_data(f"cifar10:{tmp_path}")
    message = str(error.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "download=True" in message
    assert "--download" in message


def test_cifar100_missing_folder_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        load_data(f"cifar100:{tmp_path}")


def test_cifar_missing_batch_file(tmp_path: Path) -> None:
    write_cifar10_folder(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_data(f"cifar10:{tmp_path}")


def test_cifar_foreign_pickle_rejected(tmp_path: Path) -> None:
    write_cifar10_folder(tmp_path)
    entry = {"data": np.zeros((2, 3072), dtype=np.uint8), "labels": [0, 1], "date": datetime.date(2020, 1, 1)}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    with pytest.raises(ValueError, match="datetime"):
        load_data(f"cifar10:{tmp_path}")


def test_cifar_one_channel_rejected(tmp_path: Path) -> None:
    write_cifar10_folder(tmp_path)
    with pytest.raises(ValueError, match="channels=3"):
        load_data(f"cifar10:{tmp_path}", channels=1)


# --- scoring batches and loaders --------------------------------------------------------------


def test_scoring_batch_deterministic(digits: DataSplits) -> None:
    images, labels = scoring_batch(digits, batch_size=32, seed=5)
    again_images, again_labels = scoring_batch(digits, batch_size=32, seed=5)
    other_images, _ = scoring_batch(digits, batch_size=32, seed=6)
    assert images.shape == (32, 3, 32, 32)
    assert labels.shape == (32,)
    assert torch.equal(images, again_images)
    assert torch.equal(labels, again_labels)
    assert not torch.equal(images, other_images)


def test_scoring_batch_rows_from_train(digits: DataSplits) -> None:
    train_images, train_labels = digits.train.tensors
    images, labels = scoring_batch(digits, batch_size=8, seed=0)
    flat_train = train_images.flatten(1)
    for image, label in zip(images, labels):
        matches = (flat_train == image.flatten()).all(dim=1).nonzero().flatten()
        assert len(matches) >= 1
        assert train_labels[matches[0]] == label


@pytest.mark.parametrize("batch_size", [1, 0, 1438])
def test_scoring_batch_size_rejected(digits: DataSplits, batch_size: int) -> None:
    with pytest.raises(ValueError, match="1437"):
        scoring_batch(digits, batch_size=batch_size, seed=0)


def test_scoring_batch_whole_split(digits: DataSplits) -> None:
    _, labels = scoring_batch(digits, batch_size=len(digits.train), seed=0)
    assert sorted(labels.tolist()) == sorted(digits.train.tensors[1].tolist())


def test_data_loader_order_reproducible(digits: DataSplits) -> None:
    first = [labels for _, labels in data_loader(digits.train, batch_size=100, shuffle=True, seed=3)]
    second = [labels for _, labels in data_loader(digits.train, batch_size=100, shuffle=True, seed=3)]
    other = [labels for _, labels in data_loader(digits.train, batch_size=100, shuffle=True, seed=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(torch.cat(first), torch.cat(other))
    assert sorted(torch.cat(first).tolist()) == sorted(digits.train.tensors[1].tolist())


def test_data_loader_unshuffled_order(digits: DataSplits) -> None:
    loader = data_loader(digits.test, batch_size=64, shuffle=False, seed=0)
    assert torch.equal(torch.cat([labels for _, labels in loader]), digits.test.tensors[1])


def test_data_loader_batch_size_rejected(digits: DataSplits) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        data_loader(digits.train, batch_size=0, shuffle=False, seed=0)
