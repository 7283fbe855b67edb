"""NAS-Bench-201 datasets, their evaluation splits and training lengths.

NAS-Bench-201 (Dong and Yang, ICLR 2020) and its topology set in NATS-Bench (Dong et al.,
TPAMI 2021) train every cell on four dataset setups:

- ``cifar10-valid``: trains on 25,000 CIFAR-10 training images. ``valid`` is the other
  25,000 training images and ``test`` is the 10,000-image CIFAR-10 test set.
- ``cifar10``: trains on all 50,000 training images, so it has no validation split. ``test``
  is the CIFAR-10 test set.
- ``cifar100``: trains on the 50,000 training images. The 10,000-image test set is split into
  two halves: ``valid`` and ``test``. ``ori-test`` is the whole original test set.
- ``ImageNet16-120``: 120 ImageNet classes downsampled to 16x16. ``valid``, ``test`` and
  ``ori-test`` split its original validation set in the same way as for ``cifar100``.

Every split also has ``train``, the accuracy on the training data. Each setup is trained with
two schedules, 12 and 200 epochs. A 12-epoch number comes from a separate 12-epoch run, not
from epoch 12 of the 200-epoch run.
"""

from __future__ import annotations

from typing import Mapping

# Canonical names, as NATS-Bench's API spells them.
DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")

# The splits each setup defines, in the order that listings use.
DATASET_SPLITS: Mapping[str, tuple[str, ...]] = {
    "cifar10-valid": ("train", "valid", "test"),
    "cifar10": ("train", "test"),
    "cifar100": ("train", "valid", "test", "ori-test"),
    "ImageNet16-120": ("train", "valid", "test", "ori-test"),
}

# Training lengths in epochs (NATS-Bench's ``hp`` argument).
BENCHMARK_EPOCHS: tuple[int, ...] = (12, 200)

# Spellings that other tools use. Lookups ignore case and treat "_" as "-", so
# "imagenet16_120", "IMAGENET16-120" and "cifar10_valid" all resolve.
_DATASET_KEYS: Mapping[str, str] = {name.lower(): name for name in DATASETS}
_SPLIT_ALIASES: Mapping[str, str] = {
    "train": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "test": "test",
    "ori-test": "ori-test",
}

Entry = tuple[str, str, int]
"""A (dataset, split, epochs) triple that names one accuracy of an architecture."""


def canonical_dataset(name: str) -> str:
    """Return the canonical NAS-Bench-201 name of a dataset setup.

    Example:
        >>> canonical_dataset("imagenet16_120")
        'ImageNet16-120'

    Raises:
        ValueError: If ``name`` is not one of the four setups. The message lists them.
    """
    if not isinstance(name, str):
        raise ValueError(f"dataset must be a string, got {name!r}; valid datasets: {', '.join(DATASETS)}")
    key = name.strip().lower().replace("_", "-")
    if key not in _DATASET_KEYS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)} "
                         f"(case is ignored and '_' may replace '-', e.g. 'imagenet16_120')")
    return _DATASET_KEYS[key]


def canonical_split(dataset: str, split: str) -> str:
    """Return the canonical name of ``split`` after checking that ``dataset`` defines it.

    ``dataset`` must already be canonical. "val" and "validation" mean "valid", and "ori_test"
    means "ori-test".

    Example:
        >>> canonical_split("cifar100", "validation")
        'valid'

    Raises:
        ValueError: If the split name is unknown or the dataset setup has no such split. The
            message lists the splits that exist and, for plain ``cifar10``, where its
            validation accuracy is.
    """
    if not isinstance(split, str):
        raise ValueError(f"split must be a string, got {split!r}; {dataset} has the splits "
                         f"{', '.join(DATASET_SPLITS[dataset])}")
    key = split.strip().lower().replace("_", "-")
    if key not in _SPLIT_ALIASES:
        raise ValueError(f"unknown split {split!r}; {dataset} has the splits {', '.join(DATASET_SPLITS[dataset])}")
    name = _SPLIT_ALIASES[key]
    if name not in DATASET_SPLITS[dataset]:
        raise ValueError(_missing_split_message(dataset, name))
    return name


def _missing_split_message(dataset: str, split: str) -> str:
    existing = ", ".join(DATASET_SPLITS[dataset])
    if dataset == "cifar10" and split == "valid":
        return ("dataset 'cifar10' has no valid split: it trains on the train and valid images together, so it has "
                f"only the splits {existing}. The CIFAR-10 validation accuracy is under dataset='cifar10-valid', "
                "split='valid'")
    if split == "ori-test":
        return (f"dataset {dataset!r} has no ori-test split because its test split is already the whole CIFAR-10 "
                f"test set; use split='test' (splits of {dataset}: {existing})")
    return f"dataset {dataset!r} has no {split} split; its splits are {existing}"


def check_epochs(epochs: int) -> int:
    """Return ``epochs`` after checking that it is a positive integer.

    Raises:
        ValueError: If ``epochs`` is not a positive integer (``bool`` is rejected).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer training length, got {epochs!r}; "
                         f"NAS-Bench-201 trains for {' or '.join(map(str, BENCHMARK_EPOCHS))} epochs")
    return epochs


def entry_label(entry: Entry) -> str:
    """Return the column label of an entry in ``GroundTruth.to_dataframe``.

    Example:
        >>> entry_label(("cifar10", "test", 200))
        'cifar10/test@200'
    """
    dataset, split, epochs = entry
    return f"{dataset}/{split}@{epochs}"


def sort_entries(entries: set[Entry] | frozenset[Entry]) -> list[Entry]:
    """Return ``entries`` in catalogue order: dataset, then split, then epochs."""

    def order(entry: Entry) -> tuple[int, int, int]:
        dataset, split, epochs = entry
        return (DATASETS.index(dataset), DATASET_SPLITS[dataset].index(split), epochs)

    return sorted(entries, key=order)
