"""Pick the ground-truth adapter that reads a given file or directory."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from archsearch.groundtruth.base import GroundTruth
from archsearch.groundtruth.csv_table import NB201CSV
from archsearch.groundtruth.nats import META_FILE, PICKLE_SUFFIX, NATSBenchTopology
from archsearch.groundtruth.nni_db import NNINasBench201

# Prefixes of an explicit spec, e.g. "nni:/data/benchmark.bin".
ADAPTERS: Mapping[str, Callable[[Path], GroundTruth]] = {
    "csv": NB201CSV,
    "nats": NATSBenchTopology,
    "nni": NNINasBench201,
}
SQLITE_SUFFIXES: tuple[str, ...] = (".db", ".sqlite", ".sqlite3")
ACCEPTED_FORMS = (f"a .csv table (NB201CSV), an NNI database ending in {', '.join(SQLITE_SUFFIXES)} "
                  f"(NNINasBench201), a NATS-Bench topology file ending in {PICKLE_SUFFIX} or a directory with "
                  f"{META_FILE} (NATSBenchTopology), or a spec 'csv:PATH', 'nni:PATH' or 'nats:PATH' that names "
                  "the adapter")


def load_ground_truth(path_or_spec: str | Path | GroundTruth) -> GroundTruth:
    """Open a ground-truth source with the adapter that its file type calls for.

    A ``GroundTruth`` is returned unchanged, so functions can take either.

    Example:
        >>> truth = load_ground_truth("nb201_accuracy.csv")            # NB201CSV
        >>> truth = load_ground_truth("nasbench201-b2b60732.db")       # NNINasBench201
        >>> truth = load_ground_truth("NATS-tss-v1_0-3ffb9-simple")    # NATSBenchTopology
        >>> truth = load_ground_truth("nni:/data/nb201-copy")          # adapter named explicitly

    Raises:
        ValueError: If the type cannot be determined from the name (the message lists the accepted
            forms), or the adapter rejects the contents of the file (the message names the file).
        FileNotFoundError: If the path does not exist.
        ImportError: For a NATS-Bench path when ``nats_bench`` is not installed.
    """
    if isinstance(path_or_spec, GroundTruth):
        return path_or_spec
    if not isinstance(path_or_spec, (str, Path)):
        raise ValueError(f"expected a path or spec, got {path_or_spec!r}; accepted: {ACCEPTED_FORMS}")
    text = str(path_or_spec)
    prefix, separator, rest = text.partition(":")
    if separator and prefix.lower() in ADAPTERS:
        return ADAPTERS[prefix.lower()](Path(rest))
    return _adapter_for(Path(text))(Path(text))


def _adapter_for(path: Path) -> Callable[[Path], GroundTruth]:
    name = path.name.lower()
    if name.endswith(".csv"):
        return NB201CSV
    if name.endswith(SQLITE_SUFFIXES):
        return NNINasBench201
    if name.endswith(PICKLE_SUFFIX) or (path / META_FILE).is_file():
        return NATSBenchTopology
    if not path.exists():
        raise FileNotFoundError(f"ground-truth source {path} not found; accepted: {ACCEPTED_FORMS}")
    raise ValueError(f"cannot tell which adapter reads {path}; accepted: {ACCEPTED_FORMS}")
