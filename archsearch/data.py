"""Image datasets for scoring and distillation, loaded fully into memory as tensors.

``load_data(spec)`` accepts these spec forms:

- ``None`` or ``"digits"``: scikit-learn's handwritten digits (1,797 grey 8x8 images with
  values 0..16, shipped inside scikit-learn, so it works offline). The images are scaled to
  [0, 1], resized to ``input_size`` with bilinear interpolation, repeated to ``channels``
  channels and split into train and test sets (stratified, ``test_fraction``, ``seed``).
- ``"cifar10:PATH"`` or ``"cifar100:PATH"``: the Python version of CIFAR as torchvision
  stores it, in ``PATH/cifar-10-batches-py`` or ``PATH/cifar-100-python``. The official
  train and test splits are used. ``download=True`` fetches the archive into PATH first.
- A path ending in ``.npz``: a file with an image array ``x`` (uint8 or float, ``N x H x W x C``,
  ``N x C x H x W`` or ``N x H x W``) and an integer label array ``y``. It is split into train
  and test sets like the digits.

Every image tensor is float32 ``N x C x H x W``, normalised per channel. Digits and ``.npz``
data use the mean and std of their train split, and CIFAR uses the standard statistics of
its official training set. Labels are int64.

Example:
    >>> splits = load_data("digits", input_size=16)
    >>> splits.input_shape, splits.num_classes
    ((3, 16, 16), 10)
    >>> images, labels = scoring_batch(splits, batch_size=8, seed=0)
    >>> images.shape
    torch.Size([8, 3, 16, 16])
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

logger = logging.getLogger("archsearch.data")

SPEC_FORMS = ('None or "digits" (scikit-learn digits), "cifar10:PATH", "cifar100:PATH" '
              '(torchvision CIFAR folder under PATH), or a path to a .npz file with arrays x and y')

# Mean and std per channel over all pixels of the 50,000 official training images, in [0, 1]
# units. The CIFAR-10 values match those computed in "Deep Learning with PyTorch" (Manning, 2020).
CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}

# Images resized per call of F.interpolate, so a large dataset never needs a second full copy
# at the intermediate resolution.
_RESIZE_CHUNK = 4096


@dataclass
class DataSplits:
    """A dataset split into train and test tensors.

    Attributes:
        name: ``"digits"``, ``"cifar10"``, ``"cifar100"`` or the stem of the ``.npz`` file.
        train: Normalised float32 images ``N x C x H x W`` and int64 labels.
        test: The held-out images and labels, in the same format.
        num_classes: Number of classes; labels lie in ``0 .. num_classes - 1``.
        input_shape: ``(channels, height, width)`` of one image.
        source: The spec that the data was loaded from, for run records.
    """

    name: str
    train: TensorDataset
    test: TensorDataset
    num_classes: int
    input_shape: tuple[int, int, int]
    source: str
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def fingerprint(self) -> str:
        """Return a 16-character SHA-256 prefix of the train images and labels.

        The value is computed once and then stored, so it goes stale if the train tensors
        are changed in place afterwards.

        Example:
            >>> first, second = load_data(input_size=8), load_data(input_size=8)
            >>> first.fingerprint() == second.fingerprint()
            True
        """
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for tensor in self.train.tensors:
                array = np.ascontiguousarray(tensor.detach().cpu().numpy())
                digest.update(f"{array.dtype.str}{array.shape}".encode())
                digest.update(array)
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint


def load_data(spec: str | None = None, *, input_size: int = 32, channels: int = 3, download: bool = False,
              test_fraction: float = 0.2, seed: int = 0) -> DataSplits:
    """Load the dataset named by ``spec`` into normalised train and test tensors.

    Args:
        spec: One of the forms in the module docstring; ``None`` loads the digits.
        input_size: Height and width of the returned images, in pixels.
        channels: Channels of the returned images. Grey images are repeated to this count,
            and colour images must already have it.
        download: For CIFAR specs, download the archive into PATH when it is missing.
        test_fraction: Fraction of the images held out for testing (digits and ``.npz``).
        seed: Seed of the train/test split (digits and ``.npz``).

    Returns:
        The train and test splits with their metadata.

    Raises:
        ValueError: If the spec or an argument is invalid, or a file has the wrong content.
        FileNotFoundError: If the CIFAR folder or the ``.npz`` file does not exist.

    Example:
        >>> load_data("digits").train.tensors[0].shape
        torch.Size([1437, 3, 32, 32])
    """
    _check_int("input_size", input_size, minimum=1)
    _check_int("channels", channels, minimum=1)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")

    if spec is None or spec == "digits":
        return _load_digits(input_size, channels, test_fraction, seed)
    if not isinstance(spec, str):
        raise ValueError(f"data spec must be a string or None, got {spec!r}; valid forms: {SPEC_FORMS}")

    prefix, _, path = spec.partition(":")
    if prefix in CIFAR_STATS and path:
        return _load_cifar(prefix, Path(path).expanduser(), spec, input_size, channels, download)
    if spec.lower().endswith(".npz"):
        return _load_npz(Path(spec).expanduser(), spec, input_size, channels, test_fraction, seed)
    raise ValueError(f"unknown data spec {spec!r}; valid forms: {SPEC_FORMS}")


def scoring_batch(splits: DataSplits, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``batch_size`` distinct train images and their labels, the same ones for the same seed.

    Raises:
        ValueError: If ``batch_size`` is below 2 or above the number of train images.

    Example:
        >>> images, labels = scoring_batch(load_data(), batch_size=64, seed=1)
        >>> images.shape[0], labels.dtype
        (64, torch.int64)
    """
    images, labels = splits.train.tensors
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 2 <= batch_size <= len(labels):
        raise ValueError(f"batch_size must be an integer from 2 to {len(labels)} (the train split size), "
                         f"got {batch_size!r}")
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(labels), generator=generator)[:batch_size]
    return images[indices], labels[indices]


def data_loader(dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0) -> DataLoader:
    """Build a single-process DataLoader whose order is fixed by ``seed``.

    Example:
        >>> loader = data_loader(load_data().train, batch_size=128, shuffle=True, seed=0)
        >>> next(iter(loader))[0].shape
        torch.Size([128, 3, 32, 32])
    """
    _check_int("batch_size", batch_size, minimum=1)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0)


# --- digits -----------------------------------------------------------------------------------


def _load_digits(input_size: int, channels: int, test_fraction: float, seed: int) -> DataSplits:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # The digits are 8x8 grey images with integer values 0..16.
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    images = _match_channels(_resize(images, input_size), channels, "digits")
    return _split_and_normalise("digits", "digits", images, labels, test_fraction, seed)


# --- .npz files -------------------------------------------------------------------------------


def _load_npz(path: Path, spec: str, input_size: int, channels: int, test_fraction: float,
              seed: int) -> DataSplits:
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} not found; pass the path of an existing .npz file "
                                "with arrays x (images) and y (labels)")
    try:
        archive_context = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"data file {str(path)!r} is not a readable .npz archive ({type(error).__name__}); "
                         "write it with numpy.savez(path, x=images, y=labels)") from None
    with archive_context as archive:
        missing = [key for key in ("x", "y") if key not in archive.files]
        if missing:
            raise ValueError(f"{path} has no array {' or '.join(missing)}; found keys {sorted(archive.files)}, "
                             "but a data file needs x (images) and y (integer labels)")
        images_array = archive["x"]
        labels_array = archive["y"]

    labels = _labels_to_tensor(labels_array, len(images_array), path)
    images = _images_to_float_nchw(images_array, path)
    images = _match_channels(_resize(images, input_size), channels, str(path))
    return _split_and_normalise(path.stem, spec, images, labels, test_fraction, seed)


def _labels_to_tensor(labels: np.ndarray, num_images: int, path: Path) -> torch.Tensor:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y in {path} must be a 1-D integer array, got dtype {labels.dtype} and shape {labels.shape}")
    if len(labels) != num_images:
        raise ValueError(f"{path} has {num_images} images in x but {len(labels)} labels in y; they must match")
    if len(labels) and labels.min() < 0:
        raise ValueError(f"y in {path} contains the negative label {labels.min()}; labels must be 0 or greater")
    return torch.from_numpy(labels.astype(np.int64))


def _images_to_float_nchw(images: np.ndarray, path: Path) -> torch.Tensor:
    """Convert an image array to float32 N x C x H x W in [0, 1] (uint8 divided by 255)."""
    if images.ndim == 3:
        images = images[:, None, :, :]
    elif images.ndim == 4:
        channels_last = images.shape[3] in (1, 3)
        channels_first = images.shape[1] in (1, 3)
        if not (channels_last or channels_first):
            raise ValueError(f"x in {path} has shape {images.shape}; expected N x H x W x C or N x C x H x W "
                             "with C = 1 or 3")
        # NOTE: when both axes 1 and 3 could be channels (images of height 1 or 3), channels-last
        # is assumed because that is the layout numpy image arrays use.
        if channels_last:
            images = images.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"x in {path} has shape {images.shape}; expected 3 or 4 dimensions (N x H x W x C, "
                         "N x C x H x W or N x H x W)")

    if images.dtype == np.uint8:
        array = images.astype(np.float32) / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        array = images.astype(np.float32)
    elif np.issubdtype(images.dtype, np.integer) and (images.size == 0 or 0 <= images.min() <= images.max() <= 255):
        array = images.astype(np.float32) / 255.0
    else:
        raise ValueError(f"x in {path} has dtype {images.dtype}; expected uint8, integers in 0..255 or floats")
    return torch.from_numpy(np.ascontiguousarray(array))


# --- CIFAR ------------------------------------------------------------------------------------


def _load_cifar(name: str, root: Path, spec: str, input_size: int, channels: int, download: bool) -> DataSplits:
    if channels != 3:
        raise ValueError(f"{name} images have 3 channels, but channels={channels} was requested; pass channels=3")
    dataset_class = _torchvision_cifar_class(name)
    folder = root / dataset_class.base_folder
    if download:
        # torchvision downloads the archive, checks its md5 and extracts it into root.
        dataset_class(root=str(root), train=True, download=True)
    if not folder.is_dir():
        raise FileNotFoundError(f"CIFAR folder {str(folder)!r} not found; pass download=True (CLI flag --download) "
                                f"or place the extracted {dataset_class.filename} archive there")

    (train_images, train_labels), (test_images, test_labels) = _read_cifar(name, root)
    mean, std = CIFAR_STATS[name]
    mean_tensor = torch.tensor(mean).view(1, 3, 1, 1)
    std_tensor = torch.tensor(std).view(1, 3, 1, 1)

    def to_tensor(images: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
        if input_size != 32:
            tensor = _resize(tensor, input_size)
        return (tensor - mean_tensor) / std_tensor

    train = TensorDataset(to_tensor(train_images), torch.as_tensor(train_labels, dtype=torch.int64))
    test = TensorDataset(to_tensor(test_images), torch.as_tensor(test_labels, dtype=torch.int64))
    num_classes = 10 if name == "cifar10" else 100
    return DataSplits(name, train, test, num_classes, (3, input_size, input_size), spec)


def _torchvision_cifar_class(name: str) -> type:
    from torchvision.datasets import CIFAR10, CIFAR100

    return CIFAR10 if name == "cifar10" else CIFAR100


def _read_cifar(name: str, root: Path) -> tuple[tuple[np.ndarray, list[int]], tuple[np.ndarray, list[int]]]:
    """Read the train and test images (N x 32 x 32 x 3 uint8) and labels of a CIFAR folder.

    torchvision reads the folder when every file matches the md5 of the official release.
    Other files in the same format, such as a subset, are read by ``_read_cifar_pickles``.
    """
    dataset_class = _torchvision_cifar_class(name)
    try:
        train = dataset_class(root=str(root), train=True, download=False)
        test = dataset_class(root=str(root), train=False, download=False)
    except RuntimeError as error:
        logger.warning("CIFAR files in %s failed torchvision's md5 check (%s); reading them without it",
                       root / dataset_class.base_folder, error)
        return _read_cifar_pickles(dataset_class, root)
    return (train.data, list(train.targets)), (test.data, list(test.targets))


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds only numpy arrays and plain containers, never arbitrary objects."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Protocol-2 pickles written by Python 3 store bytes through codecs.encode.
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"CIFAR file refers to {module}.{name}, which a CIFAR batch never contains")
        return super().find_class(module, name)


def _read_cifar_pickles(dataset_class: type, root: Path) -> tuple[tuple[np.ndarray, list[int]],
                                                                  tuple[np.ndarray, list[int]]]:
    """Read a CIFAR folder in torchvision's file layout without the md5 check."""
    folder = root / dataset_class.base_folder
    splits = []
    for file_list in (dataset_class.train_list, dataset_class.test_list):
        batches = [_read_cifar_batch(folder / file_name) for file_name, _ in file_list]
        images = np.concatenate([batch[0] for batch in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = [label for batch in batches for label in batch[1]]
        splits.append((np.ascontiguousarray(images), labels))
    return splits[0], splits[1]


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR batch file {str(path)!r} not found; the folder is incomplete, so "
                                "extract the archive again or pass download=True (CLI flag --download)")
    with path.open("rb") as file:
        try:
            # latin1 decodes the Python 2 strings of the original release, as torchvision does.
            entry = _ArrayUnpickler(file, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError) as error:
            raise ValueError(f"{path} is not a CIFAR batch file: {error}") from error
    label_key = "labels" if isinstance(entry, dict) and "labels" in entry else "fine_labels"
    if not isinstance(entry, dict) or "data" not in entry or label_key not in entry:
        raise ValueError(f"{path} is not a CIFAR batch file; expected a dict with 'data' and 'labels' "
                         "or 'fine_labels'")
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = [int(label) for label in entry[label_key]]
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(f"{path} has data of shape {data.shape} and {len(labels)} labels; expected "
                         "N x 3072 data with N labels")
    return data, labels


# --- shared steps -----------------------------------------------------------------------------


def _split_and_normalise(name: str, source: str, images: torch.Tensor, labels: torch.Tensor,
                         test_fraction: float, seed: int) -> DataSplits:
    train_indices, test_indices = split_indices(labels.numpy(), test_fraction, seed)
    train_images, test_images = images[train_indices], images[test_indices]

    # Statistics come from the train split only, so no test information leaks into training.
    mean = train_images.mean(dim=(0, 2, 3), keepdim=True)
    std = train_images.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    train = TensorDataset((train_images - mean) / std, labels[train_indices])
    test = TensorDataset((test_images - mean) / std, labels[test_indices])

    num_classes = int(labels.max()) + 1
    if num_classes < 2:
        raise ValueError(f"data {source!r} has only label 0; classification needs at least two classes")
    absent = sorted(set(range(num_classes)) - set(labels.tolist()))
    if absent:
        logger.warning("Data %s has no images of classes %s; the class count %d is taken from the largest label.",
                       source, absent[:10], num_classes)
    channels, height, width = images.shape[1:]
    return DataSplits(name, train, test, num_classes, (channels, height, width), source)


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(len(labels))`` into sorted train and test indices, the same for the same seed.

    The split is stratified when every class has at least two images and each side can hold
    one image per class. Otherwise it is a plain shuffled split.

    Raises:
        ValueError: If either side would be empty.

    Example:
        >>> train, test = split_indices(np.array([0, 0, 1, 1, 0, 1, 0, 1, 0, 1]), 0.2, seed=0)
        >>> len(train), len(test)
        (8, 2)
    """
    count = len(labels)
    test_count = math.ceil(test_fraction * count)
    if count < 2 or test_count >= count:
        raise ValueError(f"cannot split {count} images with test_fraction={test_fraction}: train and test "
                         "both need at least one image; use more images or a smaller test_fraction")

    class_counts = np.bincount(labels)
    class_counts = class_counts[class_counts > 0]
    stratify = (class_counts.min() >= 2 and test_count >= len(class_counts)
                and count - test_count >= len(class_counts))
    if stratify:
        from sklearn.model_selection import train_test_split

        train, test = train_test_split(np.arange(count), test_size=test_count, random_state=seed, stratify=labels)
    else:
        order = np.random.default_rng(seed).permutation(count)
        test, train = order[:test_count], order[test_count:]
    return np.sort(train), np.sort(test)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-2:] == (size, size):
        return images
    # Antialiasing only changes the result when shrinking, where it avoids aliasing.
    chunks = [F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
              for chunk in images.split(_RESIZE_CHUNK)]
    return torch.cat(chunks)


def _match_channels(images: torch.Tensor, channels: int, source_name: str) -> torch.Tensor:
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1:
        return images.repeat(1, channels, 1, 1)
    raise ValueError(f"{source_name} has {have}-channel images, but channels={channels} was requested; pass "
                     f"channels={have} (only 1-channel images are repeated to more channels)")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
