"""The ground-truth interface: trained accuracies of NAS-Bench-201 cells.

A source returns the accuracy that a cell reaches on a dataset split after a given number
of training epochs. Every number comes back as an ``Accuracy`` that records that setting, so a
12-epoch number is never mistaken for a 200-epoch one.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from archsearch.groundtruth.datasets import (DATASETS, Entry, canonical_dataset, canonical_split, check_epochs,
                                             entry_label, sort_entries)
from archsearch.groundtruth.errors import ArchitectureNotFoundError, ResultNotFoundError
from search_spaces.nb201 import NB201Space, format_cell
from search_spaces.nb201.cell import EDGE_NAMES, OPERATIONS, Cell

MISSING_POLICIES: tuple[str, ...] = ("raise", "nan")


@dataclass(frozen=True)
class Accuracy:
    """One accuracy of a trained cell, with the setting that produced it.

    Attributes:
        value: Top-1 accuracy in percent (0 to 100).
        dataset: Canonical dataset setup, e.g. ``"cifar10-valid"``.
        split: Evaluation split: ``"train"``, ``"valid"``, ``"test"`` or ``"ori-test"``.
        epochs: Training length of the run behind the number, in epochs.
        arch: The NAS-Bench-201 cell string.
        source: The adapter and file that stored the number.

    Example:
        >>> accuracy = truth.query("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
        ...                        "nor_conv_3x3~1|skip_connect~2|", "cifar10")
        >>> accuracy.value, accuracy.epochs
        (93.66, 200)
        >>> float(accuracy)
        93.66
    """

    value: float
    dataset: str
    split: str
    epochs: int
    arch: str
    source: str

    def __float__(self) -> float:
        return self.value


class GroundTruth(abc.ABC):
    """A table of trained accuracies of NAS-Bench-201 cells.

    Architectures may be given as cell strings, edge-to-operation mappings or 6-tuples of
    operation names, as ``NB201Space.parse`` accepts them. Lookups use the exact cell, not
    its isomorphism class, because the benchmark trained isomorphic cells separately.

    Subclasses implement ``entries``, ``archs``, ``_has_cell`` and ``_lookup``. They may
    override ``_lookup_many`` with a vectorised version.

    Raises (from ``query`` and ``query_many``):
        ValueError: For an invalid architecture, an unknown dataset or split, a split that
            the dataset does not define, or a dataset, split or training length that this
            source does not contain. The message lists what exists.
        ArchitectureNotFoundError: A ``KeyError`` for a valid cell that the source lacks.
        ResultNotFoundError: A ``KeyError`` for a cell that the source lists without a
            value for the requested setting.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._space = NB201Space()

    # Implemented by each source.

    @abc.abstractmethod
    def entries(self) -> frozenset[Entry]:
        """Return the (dataset, split, epochs) settings that this source contains."""

    @abc.abstractmethod
    def archs(self) -> list[Cell]:
        """Return the cells of this source, in its own order (benchmark index order where it has one)."""

    @abc.abstractmethod
    def _has_cell(self, cell: Cell) -> bool:
        """Return whether the source has results for ``cell``."""

    @abc.abstractmethod
    def _lookup(self, cell: Cell, entry: Entry) -> float:
        """Return the accuracy of a parsed cell for a validated entry.

        Raises:
            ArchitectureNotFoundError: If the source lacks the cell.
            ResultNotFoundError: If the source lacks the value.
        """

    def _lookup_many(self, archs: Sequence[Any], entry: Entry, missing: str) -> np.ndarray:
        values = np.empty(len(archs), dtype=np.float64)
        for position, arch in enumerate(archs):
            cell = self._parse_at(arch, position)
            try:
                values[position] = self._lookup(cell, entry)
            except (ArchitectureNotFoundError, ResultNotFoundError):
                if missing == "raise":
                    raise
                values[position] = np.nan
        return values

    # The public interface.

    def datasets(self) -> list[str]:
        """Return the canonical dataset setups that this source contains, in catalogue order."""
        contained = {dataset for dataset, _, _ in self.entries()}
        return [dataset for dataset in DATASETS if dataset in contained]

    def splits(self, dataset: str) -> list[str]:
        """Return the splits that this source contains for ``dataset`` (any accepted spelling).

        Raises:
            ValueError: If ``dataset`` is unknown.
        """
        name = canonical_dataset(dataset)
        ordered = [split for dataset_name, split, _ in sort_entries(self.entries()) if dataset_name == name]
        return list(dict.fromkeys(ordered))  # unique, in catalogue order

    def epochs(self, dataset: str, split: str = "test") -> list[int]:
        """Return the training lengths that this source contains for ``dataset`` and ``split``.

        Raises:
            ValueError: If the dataset or split is unknown or the dataset lacks the split.
        """
        name = canonical_dataset(dataset)
        split_name = canonical_split(name, split)
        return sorted(e for d, s, e in self.entries() if d == name and s == split_name)

    def resolve(self, dataset: str, split: str = "test", epochs: int = 200) -> Entry:
        """Return the canonical (dataset, split, epochs) after checking that this source contains it.

        Example:
            >>> truth.resolve("imagenet16_120", "test", 200)
            ('ImageNet16-120', 'test', 200)

        Raises:
            ValueError: If the dataset or split is unknown, the dataset does not define the
                split, or this source does not contain the dataset, split or training length.
                The message lists what exists.
        """
        name = canonical_dataset(dataset)
        split_name = canonical_split(name, split)
        epochs = check_epochs(epochs)
        entries = self.entries()
        if not any(d == name for d, _, _ in entries):
            raise ValueError(f"{self.source} contains no results for dataset {name!r}; it contains "
                             f"{', '.join(self.datasets())}")
        contained_splits = self.splits(name)
        if split_name not in contained_splits:
            raise ValueError(f"{self.source} contains no {split_name} accuracy for {name}; it contains the split(s) "
                             f"{', '.join(contained_splits)} for this dataset")
        contained_epochs = self.epochs(name, split_name)
        if epochs not in contained_epochs:
            raise ValueError(f"{self.source} contains {name} {split_name} accuracies after "
                             f"{' or '.join(map(str, contained_epochs))} training epochs only, not {epochs}")
        return (name, split_name, epochs)

    def query(self, arch: Any, dataset: str, split: str = "test", epochs: int = 200) -> Accuracy:
        """Return the accuracy of ``arch`` on ``dataset``/``split`` after ``epochs`` of training.

        Example:
            >>> truth.query(cell_string, "cifar100", split="valid", epochs=200).value

        Raises:
            ValueError: For an invalid architecture or setting (see the class docstring).
            ArchitectureNotFoundError: If the source lacks the cell.
            ResultNotFoundError: If the source lacks this value of the cell.
        """
        entry = self.resolve(dataset, split, epochs)
        cell = self._space.parse(arch)
        value = self._lookup(cell, entry)
        return Accuracy(value=value, dataset=entry[0], split=entry[1], epochs=entry[2], arch=format_cell(cell),
                        source=self.source)

    def query_many(self, archs: Iterable[Any], dataset: str, split: str = "test", epochs: int = 200,
                   missing: str = "raise") -> np.ndarray:
        """Return the accuracies (percent) of many architectures as a float64 array, in input order.

        Args:
            archs: Cell strings, mappings or tuples, e.g. a list or a pandas Series.
            dataset: Dataset setup, any accepted spelling.
            split: Evaluation split.
            epochs: Training length in epochs.
            missing: ``"raise"`` raises for a cell or value that the source lacks.
                ``"nan"`` puts NaN there instead, for tables with gaps. An invalid cell
                string raises either way.

        Example:
            >>> truth.query_many(frame["arch"], "cifar10")
            array([85.8633, 93.66, ...])

        Raises:
            ValueError: For an invalid architecture (the message gives its position), an
                invalid setting, an unknown ``missing`` policy, or one architecture (a string,
                mapping or sequence of operations) in place of a sequence of them.
            ArchitectureNotFoundError, ResultNotFoundError: With ``missing="raise"``.
        """
        if missing not in MISSING_POLICIES:
            raise ValueError(f"unknown missing policy {missing!r}; valid policies: {', '.join(MISSING_POLICIES)}")
        _check_not_single_arch(archs)
        entry = self.resolve(dataset, split, epochs)
        items = list(archs)
        return self._lookup_many(items, entry, missing)

    def to_dataframe(self) -> pd.DataFrame:
        """Return every cell with every accuracy that this source contains.

        The frame has one row per cell in ``archs()`` order, an ``arch`` column with the cell
        string and one float column per entry, labelled like ``cifar10/test@200``. NaN marks
        a value that the source lacks.
        """
        cells = self.archs()
        columns: dict[str, Any] = {"arch": [format_cell(cell) for cell in cells]}
        for entry in sort_entries(self.entries()):
            columns[entry_label(entry)] = self._lookup_many(cells, entry, "nan")
        return pd.DataFrame(columns)

    def __len__(self) -> int:
        return len(self.archs())

    def __contains__(self, arch: object) -> bool:
        """Return whether the source has results for ``arch``; an invalid cell is simply not contained."""
        try:
            cell = self._space.parse(arch)
        except ValueError:
            return False
        return self._has_cell(cell)

    def __repr__(self) -> str:
        return self.source

    # Helpers for subclasses.

    def _parse_at(self, arch: Any, position: int) -> Cell:
        try:
            return self._space.parse(arch)
        except ValueError as error:
            raise ValueError(f"invalid architecture at position {position}: {error}") from error


def _check_not_single_arch(archs: Any) -> None:
    """Reject one architecture passed where ``query_many`` expects a sequence of them.

    Iterating over one cell string, mapping or operation tuple yields characters, edge names or
    operation names, which would otherwise fail as "invalid architecture at position 0".
    """
    if isinstance(archs, (str, bytes)):
        kind = "one cell string"
    elif isinstance(archs, Mapping):
        kind = "one mapping from edge to operation"
    elif (isinstance(archs, (tuple, list)) and len(archs) == len(EDGE_NAMES)
          and all(isinstance(item, str) and item in OPERATIONS for item in archs)):
        kind = "one sequence of operation names"
    else:
        return
    raise ValueError(f"query_many expects a sequence of architectures but got {kind}, {_shorten(archs)}; pass a "
                     "list such as [arch], or call query(arch, ...) for a single architecture")


def _shorten(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def not_found(cell: Cell, source: str) -> ArchitectureNotFoundError:
    """Build the error for a valid cell that ``source`` lacks."""
    return ArchitectureNotFoundError(f"architecture {format_cell(cell)} is not in {source}")


def result_not_found(cell: Cell, entry: Entry, source: str, note: str = "") -> ResultNotFoundError:
    """Build the error for a cell that ``source`` lists without a value for ``entry``."""
    dataset, split, epochs = entry
    message = f"{source} has no {dataset} {split} accuracy after {epochs} epochs for architecture {format_cell(cell)}"
    return ResultNotFoundError(f"{message}; {note}" if note else message)

