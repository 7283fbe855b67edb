"""The run store: a run directory with its configuration and one JSON line per evaluated candidate.

Layout of a run directory:
    run.json        the search configuration, versions and start time
    results.jsonl   one record per candidate, appended and flushed to disk before the next
                    candidate starts, so a killed run loses at most the candidate in progress
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

CONFIG_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".lock"

logger = logging.getLogger("archsearch.store")

# Record fields before and after the per-proxy score columns in ``to_dataframe``. Score
# columns are named ``score_<proxy>``, so the ``params`` proxy (in millions) and the ``params``
# cost (a count) do not collide.
SCORE_PREFIX = "score_"
LEADING_COLUMNS = ["index", "arch", "canonical", "status", "objective"]
TRAILING_COLUMNS = ["params", "flops", "latency_ms", "seconds", "elapsed", "error"]


class RunStore:
    """A run directory: read its configuration and records, append new records.

    Example:
        >>> run = RunStore.open("archsearch-runs/my-run")
        >>> run.best["arch"]
        >>> run.top(5)[["arch", "objective", "score_diswot", "params"]]
    """

    def __init__(self, run_dir: str | Path, config: dict[str, Any], records: list[dict[str, Any]]) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.records = records

    @classmethod
    def create(cls, run_dir: str | Path, config: dict[str, Any]) -> "RunStore":
        """Start a new run in ``run_dir`` (created if needed) with ``config``.

        Raises:
            ValueError: If ``run_dir`` already contains a run; open it with ``RunStore.open``.
        """
        directory = Path(run_dir)
        if (directory / CONFIG_FILE).exists():
            raise ValueError(f"{directory} already contains a run; resume it or choose another output directory")
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"output directory {directory} is a file; choose a directory path")
        if directory.is_dir() and any(directory.iterdir()):
            raise ValueError(f"output directory {directory} is not empty and contains no run; choose an empty or "
                             "new directory")
        directory.mkdir(parents=True, exist_ok=True)
        _write_json_atomically(directory / CONFIG_FILE, config)
        (directory / RESULTS_FILE).touch()
        return cls(directory, config, [])

    @classmethod
    def open(cls, run_dir: str | Path) -> "RunStore":
        """Open an existing run directory.

        A last line cut short by a killed process is dropped from the file, so appending can go on.

        Raises:
            FileNotFoundError: If ``run_dir`` has no ``run.json``.
        """
        directory = Path(run_dir)
        config_path = directory / CONFIG_FILE
        if not config_path.is_file():
            raise FileNotFoundError(f"{directory} is not a run directory: {config_path} not found; pass the "
                                    "directory that `archsearch search --out DIR` wrote")
        config = json.loads(config_path.read_text())
        records = _read_records(directory / RESULTS_FILE)
        return cls(directory, config, records)

    @staticmethod
    def exists(run_dir: str | Path) -> bool:
        """Return whether ``run_dir`` contains a run."""
        return (Path(run_dir) / CONFIG_FILE).is_file()

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line and force it to disk before returning."""
        line = json.dumps(record, allow_nan=False, sort_keys=True)
        with open(self.run_dir / RESULTS_FILE, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.records.append(record)

    @contextlib.contextmanager
    def lock(self):
        """Hold an exclusive lock on the run directory, so two processes never extend one run.

        Raises:
            ValueError: If another process holds the lock.
        """
        with open(self.run_dir / LOCK_FILE, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(f"run directory {self.run_dir} is in use by another archsearch process; wait for "
                                 "it to finish or choose another output directory") from None
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def update_config(self, **fields: Any) -> None:
        """Merge ``fields`` into ``run.json``."""
        self.config.update(fields)
        _write_json_atomically(self.run_dir / CONFIG_FILE, self.config)

    def to_dataframe(self) -> pd.DataFrame:
        """Return one row per record, with a ``score_<proxy>`` column per proxy."""
        return records_to_dataframe(self.records, self.config.get("proxies", []))

    @property
    def best(self) -> dict[str, Any] | None:
        """The scored record with the highest objective, or ``None`` if nothing was scored."""
        scored = [record for record in self.records if record["status"] == "ok"]
        if not scored:
            return None
        return max(scored, key=lambda record: record["objective"])

    def top(self, k: int = 5) -> pd.DataFrame:
        """Return the ``k`` scored records with the highest objective, best first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        frame = self.to_dataframe()
        frame = frame[frame["status"] == "ok"]
        return frame.sort_values("objective", ascending=False, kind="stable").head(k).reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"RunStore({str(self.run_dir)!r}, records={len(self.records)})"


def records_to_dataframe(records: Iterable[dict[str, Any]], proxy_names: list[str]) -> pd.DataFrame:
    """Flatten records into a DataFrame with a ``score_<proxy>`` column per proxy."""
    rows = []
    for record in records:
        row = {key: record.get(key) for key in LEADING_COLUMNS + TRAILING_COLUMNS}
        for name in proxy_names:
            row[SCORE_PREFIX + name] = record.get("scores", {}).get(name)
        row["error"] = _error_text(record)
        rows.append(row)
    score_columns = [SCORE_PREFIX + name for name in proxy_names]
    frame = pd.DataFrame(rows, columns=LEADING_COLUMNS + score_columns + TRAILING_COLUMNS)
    # A failed score is None in the record. Stored as NaN, it leaves the column numeric.
    frame[["objective", *score_columns]] = frame[["objective", *score_columns]].astype(float)
    return frame


def _error_text(record: dict[str, Any]) -> str | None:
    """Return the record's error, followed by the reason of each other proxy that failed on it.

    A failing extra proxy leaves only its own score empty, so without its reason here a table
    would show an empty score and no error.
    """
    messages = [record["error"]] if record.get("error") else []
    for name, details in (record.get("details") or {}).items():
        if isinstance(details, dict) and details.get("error"):
            messages.append(f"{name}: {details['error']}")
    return "; ".join(messages) or None


def _read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records = []
    kept_bytes = 0
    for number, line in enumerate(lines):
        if not line.strip():
            kept_bytes += len(line) + 1
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines) - 1 and any(rest.strip() for rest in lines[number + 1:]):
                raise ValueError(f"{path} line {number + 1} is not valid JSON; the run store is damaged "
                                 "beyond a cut-off last line, so start a new run") from None
            logger.warning("Dropping the incomplete last line of %s (the run was stopped while writing it).", path)
            with open(path, "r+b") as handle:
                handle.truncate(kept_bytes)
            return records
        kept_bytes += len(line) + 1

    if raw and not raw.endswith(b"\n"):
        # The process stopped between a record and its newline; end the line so appends start a new one.
        with open(path, "ab") as handle:
            handle.write(b"\n")
    return records


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)
