"""NATSBenchTopology: accuracies from the official NATS-Bench topology files.

The files are read through the ``nats_bench`` package (an optional extra, imported when the
adapter is constructed). ``nats_bench.create(path, "tss", fast_mode=..., verbose=False)``
reads two layouts, both bz2-compressed pickles (checked against nats_bench 1.8):

- One file such as ``NATS-tss-v1_0-3ffb9.pickle.pbz2``: a dict with ``meta_archs`` (the cell
  strings in index order), ``arch2infos`` (index -> {"12" or "200" -> ArchResults state
  dict}) and ``evaluated_indexes``. It is loaded whole, with ``fast_mode=False``.
- A directory such as ``NATS-tss-v1_0-3ffb9-simple`` with ``meta.pickle.pbz2`` (a dict with
  ``meta_archs``) and one ``NNNNNN.pickle.pbz2`` per index with {hp -> ArchResults state
  dict}. Each architecture file is loaded on its first query, with ``fast_mode=True``.

An ArchResults state dict stores one ResultsCount per (dataset, seed). Its evaluation sets are
named ``x-valid``, ``x-test`` and ``ori-test``, keyed per epoch as ``"x-valid@199"``.
``get_more_info(index, dataset, hp=..., is_random=False)`` averages the final-epoch metrics
over the seeds and returns ``train-accuracy``, ``valid-accuracy`` (x-valid),
``test-accuracy`` (x-test, or ori-test for the two CIFAR-10 setups) and, for cifar100 and
ImageNet16-120, ``valtest-accuracy`` (ori-test).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, TypeVar

from archsearch.groundtruth.base import GroundTruth, not_found, result_not_found
from archsearch.groundtruth.cells import parse_cells
from archsearch.groundtruth.datasets import DATASETS, Entry
from search_spaces.nb201.cell import Cell

PICKLE_SUFFIX = ".pickle.pbz2"
META_FILE = "meta" + PICKLE_SUFFIX
INSTALL_HINT = "pip install archsearch[nats]"
EXPECTED_LAYOUT = (f"expected a NATS-Bench topology file such as NATS-tss-v1_0-3ffb9{PICKLE_SUFFIX}, or a "
                   f"directory such as NATS-tss-v1_0-3ffb9-simple with {META_FILE} and one NNNNNN{PICKLE_SUFFIX} "
                   "file per architecture")

# Our split of each evaluation set in the benchmark files, per dataset setup.
EVAL_SET_SPLITS: Mapping[str, Mapping[str, str]] = {
    "cifar10-valid": {"x-valid": "valid", "ori-test": "test"},
    "cifar10": {"ori-test": "test"},
    "cifar100": {"x-valid": "valid", "x-test": "test", "ori-test": "ori-test"},
    "ImageNet16-120": {"x-valid": "valid", "x-test": "test", "ori-test": "ori-test"},
}
# The key of get_more_info's result for each split.
INFO_KEYS: Mapping[str, str] = {
    "train": "train-accuracy",
    "valid": "valid-accuracy",
    "test": "test-accuracy",
    "ori-test": "valtest-accuracy",
}
_ARCH_FILE = re.compile(r"(\d+)" + re.escape(PICKLE_SUFFIX))
T = TypeVar("T")


def import_nats_bench() -> ModuleType:
    """Import and return the optional ``nats_bench`` package.

    Raises:
        ImportError: If it is not installed. The message names the extra to install.
    """
    try:
        import nats_bench
    except ImportError as error:
        raise ImportError(f"NATSBenchTopology needs the optional package nats_bench; install it with "
                          f"`{INSTALL_HINT}`") from error
    return nats_bench


class NATSBenchTopology(GroundTruth):
    """NAS-Bench-201 accuracies from the NATS-Bench topology (tss) benchmark files.

    Values are averaged over the seeds that the file stores, after the last epoch of the
    12- or 200-epoch schedule. Every split in ``datasets.DATASET_SPLITS`` is available,
    including ``train``.

    Args:
        path: A ``*.pickle.pbz2`` benchmark file, or a directory with ``meta.pickle.pbz2``
            and one ``NNNNNN.pickle.pbz2`` file per architecture index.

    Example:
        >>> truth = NATSBenchTopology("~/.torch/NATS-tss-v1_0-3ffb9-simple")
        >>> truth.query(cell_string, "cifar100", split="valid", epochs=12).value

    Raises:
        ImportError: If ``nats_bench`` is not installed (``pip install archsearch[nats]``).
        FileNotFoundError: If the file, the directory or its ``meta.pickle.pbz2`` is missing.
        ValueError: If a benchmark file is damaged or not a bz2-compressed pickle in the
            topology format, contains no NAS-Bench-201 cells (for example a size (sss) file),
            or contains no results. The message names the file. In a directory, an
            architecture file is read on its first query, so a damaged one raises there.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        super().__init__(f"NATSBenchTopology({self.path})")
        nats_bench = import_nats_bench()
        fast_mode = _check_layout(self.path)
        opened_file = self.path / META_FILE if fast_mode else self.path
        self._api = _read_benchmark_file(
            opened_file, lambda: nats_bench.create(str(self.path), "tss", fast_mode=fast_mode, verbose=False))
        self._fast_mode = fast_mode
        cells = self._parse_meta_archs()
        stored = self._stored_indices(len(cells))
        self._index_of = {cell: index for index, cell in enumerate(cells) if index in stored}
        self._cells = [cell for index, cell in enumerate(cells) if index in stored]
        if not self._cells:
            raise ValueError(f"{self.path} lists {len(cells)} architectures but contains results for none of them")
        self._hp_keys, self._entries = self._discover_entries(min(stored))

    def entries(self) -> frozenset[Entry]:
        return self._entries

    def archs(self) -> list[Cell]:
        return list(self._cells)

    def _has_cell(self, cell: Cell) -> bool:
        return cell in self._index_of

    def _lookup(self, cell: Cell, entry: Entry) -> float:
        index = self._index_of.get(cell)
        if index is None:
            raise not_found(cell, self.source)
        dataset, split, epochs = entry
        results = self._results_of(index)
        hp_key = self._hp_keys[epochs]
        if hp_key not in results or dataset not in results[hp_key].get_dataset_names():
            raise result_not_found(cell, entry, self.source)
        info = self._api.get_more_info(index, dataset, hp=hp_key, is_random=False)
        value = info.get(INFO_KEYS[split])
        if value is None:
            raise result_not_found(cell, entry, self.source)
        return float(value)

    def _parse_meta_archs(self) -> list[Cell]:
        try:
            cells, _ = parse_cells(self._api.meta_archs, lambda index: f"{self.path}, meta_archs[{index}]")
        except ValueError as error:
            raise ValueError(f"{error}. NATSBenchTopology reads the topology (tss) files with NAS-Bench-201 cell "
                             "strings; a size (sss) file lists channel counts instead") from error
        return cells

    def _stored_indices(self, count: int) -> set[int]:
        """Return the indices with results: files present in fast mode, loaded entries otherwise."""
        if not self._fast_mode:
            return {index for index in self._api.arch2infos_dict if 0 <= index < count}
        indices = set()
        for child in self.path.iterdir():
            match = _ARCH_FILE.fullmatch(child.name)
            if match is not None and int(match.group(1)) < count:
                indices.add(int(match.group(1)))
        return indices

    def _results_of(self, index: int) -> Mapping[str, Any]:
        """Return {hp -> ArchResults} of one index, loading its file first in fast mode."""
        if index not in self._api.arch2infos_dict:
            _read_benchmark_file(self._arch_file(index), lambda: self._api.reload(str(self.path), index))
        return self._api.arch2infos_dict[index]

    def _arch_file(self, index: int) -> Path:
        """Return the file of one index in fast mode, where nats_bench also reads an unpadded name such as 12."""
        padded = self.path / f"{index:06d}{PICKLE_SUFFIX}"
        unpadded = self.path / f"{index}{PICKLE_SUFFIX}"
        return unpadded if unpadded.is_file() and not padded.is_file() else padded

    def _discover_entries(self, index: int) -> tuple[dict[int, str], frozenset[Entry]]:
        """Read the training lengths, datasets and evaluation sets that one architecture stores.

        The benchmark files store the same settings for every architecture, so one stands for
        all. A later architecture that lacks one raises ResultNotFoundError when queried.
        """
        hp_keys: dict[int, str] = {}
        entries: set[Entry] = set()
        for hp_key, arch_results in self._results_of(index).items():
            epochs = int(hp_key)
            hp_keys[epochs] = hp_key
            for dataset in arch_results.get_dataset_names():
                if dataset not in DATASETS:
                    continue
                trials = arch_results.query(dataset)
                eval_sets = next(iter(trials.values())).get_eval_set()
                splits = {"train"} | {EVAL_SET_SPLITS[dataset][name] for name in eval_sets
                                      if name in EVAL_SET_SPLITS[dataset]}
                entries.update((dataset, split, epochs) for split in splits)
        return hp_keys, frozenset(entries)


def _read_benchmark_file(path: Path, read: Callable[[], T]) -> T:
    """Run ``read``, which makes nats_bench load ``path``, and name that file in any format error.

    nats_bench loads its files with ``pickle.load(bz2.BZ2File(...))`` and checks their contents
    with ``assert`` and dict lookups, so a damaged or foreign file surfaces as one of the
    library errors caught here.
    """
    try:
        return read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError) as error:
        raise ValueError(f"cannot read {path}: it is not a complete bz2-compressed pickle ({type(error).__name__}: "
                         f"{error}); {EXPECTED_LAYOUT}") from error
    except (AssertionError, AttributeError, IndexError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"cannot read {path}: its contents are not in the NATS-Bench topology format "
                         f"({type(error).__name__}: {error}); {EXPECTED_LAYOUT}") from error


def _check_layout(path: Path) -> bool:
    """Return whether ``path`` is a fast-mode directory (True) or a single benchmark file (False)."""
    if path.is_dir():
        if not (path / META_FILE).is_file():
            raise FileNotFoundError(f"{path / META_FILE} not found; {EXPECTED_LAYOUT}")
        return True
    if path.is_file():
        return False
    raise FileNotFoundError(f"NATS-Bench topology data {path} not found; {EXPECTED_LAYOUT}")
