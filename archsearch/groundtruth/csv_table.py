"""NB201CSV: NAS-Bench-201 accuracies from a CSV table with one row per cell."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from archsearch.encoding import decode_utf8
from archsearch.groundtruth.base import GroundTruth, not_found, result_not_found
from archsearch.groundtruth.cells import parse_cells
from archsearch.groundtruth.datasets import Entry
from search_spaces.nb201.cell import EDGE_NAMES, Cell, format_cell

# Accuracy column -> the (dataset, split, epochs) of its values.
ACCURACY_COLUMNS: Mapping[str, Entry] = {
    "cifar10_test": ("cifar10", "test", 200),
    "cifar100_test": ("cifar100", "test", 200),
    "imagenet16_120_test": ("ImageNet16-120", "test", 200),
    "cifar10_valid_val": ("cifar10-valid", "valid", 200),
}
ARCH_COLUMN = "arch"
REQUIRED_COLUMNS: tuple[str, ...] = (ARCH_COLUMN, *ACCURACY_COLUMNS)


class NB201CSV(GroundTruth):
    """NAS-Bench-201 accuracies from a CSV file with one row per cell.

    Schema (a header row, then one row per cell, comma-separated):

    ===================== ================================================================
    column                meaning
    ===================== ================================================================
    arch                  cell string, e.g. ``|nor_conv_3x3~0|+|...|skip_connect~2|``
    cifar10_test          CIFAR-10 test accuracy (%), 200 epochs (dataset ``cifar10``)
    cifar100_test         CIFAR-100 test accuracy (%), 200 epochs (``cifar100``)
    imagenet16_120_test   ImageNet16-120 test accuracy (%), 200 epochs (``ImageNet16-120``)
    cifar10_valid_val     CIFAR-10 validation accuracy (%), 200 epochs (``cifar10-valid``)
    ===================== ================================================================

    Accuracies are top-1 in percent (0 to 100). An empty field means "not measured": ``query``
    raises ``ResultNotFoundError`` for it. Every row has as many fields as the header, and blank
    lines are skipped. Other columns (the benchmark tables also have ``index`` and
    ``params_mb_cifar10``) are allowed and ignored. Each cell may appear once. The file must be
    UTF-8.

    The whole file is read at construction. The 15,625-row benchmark table loaded in about
    0.15 s, 0.04 s of it in the pass that checks the field count of every row, and held about
    6 MB (tracemalloc) on a shared two-core machine.

    Args:
        path: The CSV file.

    Example:
        >>> truth = NB201CSV("nb201_accuracy.csv")
        >>> truth.query("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
        ...             "nor_conv_3x3~1|skip_connect~2|", "cifar10").value
        93.66

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not UTF-8, a required column is missing, a row has too few
            or too many fields, a cell string is invalid or repeated, an accuracy is not a
            number from 0 to 100, or every accuracy is at most 1.0 (fractions, not percent).
            The message names the file and, except for the last case, the line.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        super().__init__(f"NB201CSV({self.path})")
        csv_text = _read_text(self.path)
        lines = _scan_rows(csv_text, self.path)
        if not lines:
            raise ValueError(f"{self.path} contains a header but no rows; add one row per cell")
        frame = _read_table(csv_text, self.path, lines)
        self._cells, texts = parse_cells(frame[ARCH_COLUMN].tolist(), lambda row: f"{self.path}, line {lines[row]}")
        self._values = _accuracy_matrix(frame, self.path, lines)
        self._row_by_cell = _index_rows(self._cells, self.path, lines)
        # Canonical strings and parsed cells skip parsing in query_many: most callers pass back
        # what the table or archs() gave them.
        self._row_by_text = {text: row for row, text in enumerate(texts)}
        self._column_of = {entry: position for position, entry in enumerate(ACCURACY_COLUMNS.values())}

    def entries(self) -> frozenset[Entry]:
        return frozenset(ACCURACY_COLUMNS.values())

    def archs(self) -> list[Cell]:
        return list(self._cells)

    def __len__(self) -> int:
        return len(self._cells)

    def _has_cell(self, cell: Cell) -> bool:
        return cell in self._row_by_cell

    def _lookup(self, cell: Cell, entry: Entry) -> float:
        row = self._row_by_cell.get(cell)
        if row is None:
            raise not_found(cell, self.source)
        value = self._values[row, self._column_of[entry]]
        if math.isnan(value):
            raise result_not_found(cell, entry, self.source)
        return float(value)

    def _lookup_many(self, archs: Sequence[Any], entry: Entry, missing: str) -> np.ndarray:
        rows = np.zeros(len(archs), dtype=np.int64)
        found = np.ones(len(archs), dtype=bool)
        for position, arch in enumerate(archs):
            row = self._fast_row(arch)
            if row is None:
                cell = self._parse_at(arch, position)
                row = self._row_by_cell.get(cell)
            if row is None:
                if missing == "raise":
                    raise not_found(cell, self.source)
                found[position] = False
            else:
                rows[position] = row
        values = np.full(len(archs), np.nan)
        values[found] = self._values[rows[found], self._column_of[entry]]
        if missing == "raise":
            gaps = np.flatnonzero(np.isnan(values))
            if gaps.size:
                note = (f"{gaps.size} of {len(archs)} requested architectures lack this value; pass missing='nan' "
                        "to get NaN for them")
                raise result_not_found(self._cells[rows[gaps[0]]], entry, self.source, note)
        return values

    def _fast_row(self, arch: Any) -> int | None:
        """Return the row of an exact table string or parsed cell, or None to take the parsing path."""
        if isinstance(arch, str):
            return self._row_by_text.get(arch)
        if isinstance(arch, tuple) and len(arch) == len(EDGE_NAMES):
            try:
                return self._row_by_cell.get(arch)
            except TypeError:  # unhashable items; parsing reports them
                return None
        return None


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"NAS-Bench-201 accuracy table {path} not found; expected a CSV file with the "
                                f"columns {', '.join(REQUIRED_COLUMNS)}")
    return decode_utf8(path.read_bytes(), str(path), "NB201CSV reads UTF-8 only, so save the file as UTF-8 (for "
                       "example with `iconv -f latin1 -t utf-8` for a Latin-1 file)", encoding="utf-8-sig")


def _scan_rows(text: str, path: Path) -> list[int]:
    """Check the header and the field count of every row, and return the line number of each data row.

    pandas fills the missing fields of a short row with NaN, which would read as "not measured",
    so this pass with the csv module rejects it. Blank lines are skipped, as pandas skips them.
    """
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    header = next(reader, [])
    _check_header(header, path)
    lines: list[int] = []
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise ValueError(f"{path}, line {reader.line_num}: expected {len(header)} fields as in the header, found "
                             f"{len(row)}; write every field of the row and leave a field empty (as in 93.66,,70.2) "
                             "for a result that was not measured")
        lines.append(reader.line_num)
    return lines


def _check_header(header: list[str], path: Path) -> None:
    present = {name.strip() for name in header}
    missing = [name for name in REQUIRED_COLUMNS if name not in present]
    if missing:
        raise ValueError(f"{path} is missing the column(s) {', '.join(missing)}; an NB201CSV table needs the "
                         f"columns {', '.join(REQUIRED_COLUMNS)} (found: {', '.join(header) or 'no header'})")


def _read_table(text: str, path: Path, lines: list[int]) -> pd.DataFrame:
    dtypes = {ARCH_COLUMN: str, **{name: np.float64 for name in ACCURACY_COLUMNS}}
    try:
        return pd.read_csv(io.StringIO(text), usecols=list(REQUIRED_COLUMNS), dtype=dtypes, engine="c",
                           skipinitialspace=True)
    except ValueError as error:
        # pandas does not say where the value is, so read the columns again as text to find it.
        _raise_for_non_number(text, path, lines)
        raise ValueError(f"cannot read {path}: {error}; the accuracy columns must contain numbers in percent "
                         "or be empty") from error


def _raise_for_non_number(text: str, path: Path, lines: list[int]) -> None:
    """Raise for the first accuracy field that is not a number. Return normally if every field is a number."""
    frame = pd.read_csv(io.StringIO(text), usecols=list(ACCURACY_COLUMNS), dtype=str, engine="c",
                        skipinitialspace=True)
    for name in ACCURACY_COLUMNS:
        fields = frame[name]
        invalid = fields.notna() & pd.to_numeric(fields, errors="coerce").isna()
        if invalid.any():
            row = int(np.flatnonzero(invalid.to_numpy())[0])
            raise ValueError(f"{path}, line {lines[row]}, column {name}: {fields.iloc[row]!r} is not a number; "
                             f"accuracies must be percentages such as 93.66, or empty for a result that was not "
                             f"measured ({int(invalid.sum())} such value(s) in this column)")


def _accuracy_matrix(frame: pd.DataFrame, path: Path, lines: list[int]) -> np.ndarray:
    values = frame[list(ACCURACY_COLUMNS)].to_numpy(dtype=np.float64)
    measured = ~np.isnan(values)
    invalid = measured & ~((values >= 0.0) & (values <= 100.0))
    if invalid.any():
        row, column = (int(index) for index in np.argwhere(invalid)[0])
        name = list(ACCURACY_COLUMNS)[column]
        raise ValueError(f"{path}, line {lines[row]}: {name} is {float(values[row, column])!r}, but accuracies must "
                         f"be percentages from 0 to 100 ({int(invalid.sum())} invalid value(s) in the file)")
    _check_not_fractions(values[measured], path)
    return values


def _check_not_fractions(measured: np.ndarray, path: Path) -> None:
    # Chance level is 10% on CIFAR-10, 1% on CIFAR-100 and 0.83% on ImageNet16-120, so a table of
    # percentages stays at or below 1 only if it measured nothing but near-chance cells on the last two.
    if measured.size and measured.max() <= 1.0:
        raise ValueError(f"{path}: every accuracy is at most 1.0 (maximum {float(measured.max())!r}), so the table "
                         "looks like fractions, but NB201CSV expects percentages from 0 to 100; multiply the accuracy "
                         f"columns ({', '.join(ACCURACY_COLUMNS)}) by 100")


def _index_rows(cells: list[Cell], path: Path, lines: list[int]) -> dict[Cell, int]:
    rows: dict[Cell, int] = {}
    for row, cell in enumerate(cells):
        if cell in rows:
            raise ValueError(f"{path}: architecture {format_cell(cell)} appears on line {lines[rows[cell]]} and on "
                             f"line {lines[row]}; each cell may appear once")
        rows[cell] = row
    return rows
