"""NNINasBench201: NAS-Bench-201 accuracies from NNI's SQLite benchmark database.

NNI 3.0 (``nni.nas.benchmark.nasbench201``) ships NAS-Bench-201 as a SQLite file written with
peewee models. This adapter reads that file with the standard library ``sqlite3``, so NNI
need not be installed. The schema, as NNI 3.0's ``schema.py`` and ``db_gen.py`` define it:

- ``nb201trialconfig``: ``id``, ``arch``, ``num_epochs`` (12 or 200), ``num_channels``,
  ``num_cells`` and ``dataset`` (``cifar10-valid``, ``cifar10``, ``cifar100`` or
  ``imagenet16-120``). ``arch`` is a JSON object from the edge keys ``"0_1"``, ``"0_2"``,
  ``"0_3"``, ``"1_2"``, ``"1_3"`` and ``"2_3"`` to an operation, where ``"i_j"`` is the edge
  from node i to node j. NNI names the convolutions ``conv_1x1`` and ``conv_3x3`` where
  NAS-Bench-201 uses ``nor_conv_1x1`` and ``nor_conv_3x3``.
- ``nb201trialstats``: one row per seed, ``config_id`` -> ``nb201trialconfig.id``, and the
  final-epoch accuracies in percent ``train_acc``, ``valid_acc``, ``test_acc`` and
  ``ori_test_acc``, with losses, times, ``parameters``, ``flops`` and ``latency``.
- ``nb201intermediatestats``: per-epoch values of each trial (not read here).

NNI's generator fills the accuracy columns from these evaluation sets: ``cifar10-valid``
x-valid / ori-test / ori-test, ``cifar10`` ori-test in all three, and ``cifar100`` and
``imagenet16-120`` x-valid / x-test / ori-test. So the ``valid_acc`` of plain ``cifar10`` is
its test accuracy, and this adapter does not offer it as a validation split.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Mapping

from archsearch.groundtruth.base import GroundTruth, not_found, result_not_found
from archsearch.groundtruth.datasets import Entry
from search_spaces.nb201.cell import EDGES, Cell

CONFIG_TABLE = "nb201trialconfig"
STATS_TABLE = "nb201trialstats"
REQUIRED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    CONFIG_TABLE: ("id", "arch", "num_epochs", "dataset"),
    STATS_TABLE: ("config_id", "train_acc", "valid_acc", "test_acc", "ori_test_acc"),
}
# NNI's dataset names -> canonical names.
NNI_DATASETS: Mapping[str, str] = {
    "cifar10-valid": "cifar10-valid",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "imagenet16-120": "ImageNet16-120",
}
NNI_OPERATIONS: Mapping[str, str] = {
    "none": "none",
    "skip_connect": "skip_connect",
    "conv_1x1": "nor_conv_1x1",
    "conv_3x3": "nor_conv_3x3",
    "avg_pool_3x3": "avg_pool_3x3",
}
# NNI's edge key of each cell position, in the order of search_spaces.nb201.EDGES.
NNI_EDGE_KEYS: tuple[str, ...] = tuple(f"{source}_{target}" for target, source in EDGES)
# The averaged accuracy column of each split, per dataset setup (see the module docstring).
SPLIT_COLUMNS: Mapping[str, Mapping[str, int]] = {
    "cifar10-valid": {"train": 0, "valid": 1, "test": 2},
    "cifar10": {"train": 0, "test": 2},
    "cifar100": {"train": 0, "valid": 1, "test": 2, "ori-test": 3},
    "ImageNet16-120": {"train": 0, "valid": 1, "test": 2, "ori-test": 3},
}

_MEAN_QUERY = f"""
    SELECT c.id, c.arch, c.dataset, c.num_epochs,
           AVG(s.train_acc), AVG(s.valid_acc), AVG(s.test_acc), AVG(s.ori_test_acc)
    FROM {CONFIG_TABLE} AS c JOIN {STATS_TABLE} AS s ON s.config_id = c.id
    GROUP BY c.id
    ORDER BY c.id
"""


class NNINasBench201(GroundTruth):
    """NAS-Bench-201 accuracies from NNI 3.0's database file (``nasbench201-*.db``).

    Values are averaged over the seeds that the database stores (one row each in
    ``nb201trialstats``), as NNI's ``query_nb201_trial_stats(..., reduction="mean")`` does.
    The file is opened read-only and read whole at construction.

    Args:
        path: The SQLite file.

    Example:
        >>> truth = NNINasBench201("~/.cache/nni/nasbenchmark/nasbench201-b2b60732.db")
        >>> truth.query(cell_string, "ImageNet16-120", split="valid", epochs=200).value

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a SQLite database with NNI's NAS-Bench-201 tables, or a
            row contains an invalid architecture or dataset, or the same setting twice.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        super().__init__(f"NNINasBench201({self.path})")
        if not self.path.is_file():
            raise FileNotFoundError(f"NNI NAS-Bench-201 database {self.path} not found; expected the SQLite file "
                                    "that NNI 3.0 downloads as nasbench201-b2b60732.db")
        rows = _read_mean_accuracies(self.path)
        self._results: dict[tuple[Cell, str, int], tuple[float, float, float, float]] = {}
        self._cells: dict[Cell, None] = {}  # insertion-ordered set
        entries: set[Entry] = set()
        cell_of_text: dict[str, Cell] = {}
        for config_id, arch_text, nni_dataset, epochs, *accuracies in rows:
            cell = cell_of_text.get(arch_text)
            if cell is None:
                cell = cell_of_text[arch_text] = _parse_nni_arch(arch_text, config_id, self.path)
            dataset = _canonical_nni_dataset(nni_dataset, config_id, self.path)
            key = (cell, dataset, int(epochs))
            if key in self._results:
                raise ValueError(f"{self.path}: {CONFIG_TABLE} has two configurations for the same architecture, "
                                 f"dataset {nni_dataset!r} and {epochs} epochs (the second has id {config_id}); "
                                 "differing num_channels or num_cells are not supported")
            self._results[key] = tuple(accuracies)  # type: ignore[assignment]
            self._cells[cell] = None
            entries.update((dataset, split, int(epochs)) for split in SPLIT_COLUMNS[dataset])
        if not self._results:
            raise ValueError(f"{self.path} has no trial statistics in {STATS_TABLE}")
        self._entries = frozenset(entries)

    def entries(self) -> frozenset[Entry]:
        return self._entries

    def archs(self) -> list[Cell]:
        return list(self._cells)

    def _has_cell(self, cell: Cell) -> bool:
        return cell in self._cells

    def _lookup(self, cell: Cell, entry: Entry) -> float:
        dataset, split, epochs = entry
        accuracies = self._results.get((cell, dataset, epochs))
        if accuracies is None:
            if cell not in self._cells:
                raise not_found(cell, self.source)
            raise result_not_found(cell, entry, self.source)
        return float(accuracies[SPLIT_COLUMNS[dataset][split]])


def _read_mean_accuracies(path: Path) -> list[tuple]:
    """Return (config id, arch JSON, dataset, epochs, 4 mean accuracies) per configuration."""
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            _check_schema(connection, path)
            return connection.execute(_MEAN_QUERY).fetchall()
    except sqlite3.DatabaseError as error:
        raise ValueError(f"cannot read {path} as NNI's NAS-Bench-201 SQLite database: {error}") from error


def _check_schema(connection: sqlite3.Connection, path: Path) -> None:
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing: list[str] = []
    for table, columns in REQUIRED_COLUMNS.items():
        if table not in tables:
            missing.append(f"table {table}")
            continue
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        missing.extend(f"{table}.{column}" for column in columns if column not in present)
    if missing:
        raise ValueError(f"{path} is not NNI's NAS-Bench-201 database: missing {', '.join(missing)} "
                         f"(found tables: {', '.join(sorted(tables)) or 'none'})")


def _parse_nni_arch(text: str, config_id: int, path: Path) -> Cell:
    where = f"{path}: {CONFIG_TABLE} id {config_id}"
    try:
        arch = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{where}: arch {text!r} is not JSON ({error})") from error
    if not isinstance(arch, dict) or set(arch) != set(NNI_EDGE_KEYS):
        raise ValueError(f"{where}: arch {text!r} must be an object with exactly the keys {', '.join(NNI_EDGE_KEYS)}")
    operations = []
    for key in NNI_EDGE_KEYS:
        if arch[key] not in NNI_OPERATIONS:
            raise ValueError(f"{where}: unknown operation {arch[key]!r} on edge {key}; NNI's operations are "
                             f"{', '.join(NNI_OPERATIONS)}")
        operations.append(NNI_OPERATIONS[arch[key]])
    return tuple(operations)  # type: ignore[return-value]


def _canonical_nni_dataset(name: str, config_id: int, path: Path) -> str:
    if name not in NNI_DATASETS:
        raise ValueError(f"{path}: {CONFIG_TABLE} id {config_id} has unknown dataset {name!r}; NNI's datasets are "
                         f"{', '.join(NNI_DATASETS)}")
    return NNI_DATASETS[name]
