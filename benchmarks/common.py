"""Helpers shared by the benchmark scripts: default data paths and the machine description."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
CIFAR10_SAMPLE = SHARED_DATA / "cifar" / "cifar10_test1000_jpeg.npz"
NB201_TABLE = SHARED_DATA / "nb201" / "nb201_accuracy.csv"


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description() -> dict[str, str]:
    """Return the command line, machine, software versions and date of this run."""
    return {
        "command": " ".join(["python", "-m", _module_name(sys.argv[0]), *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {cpu_model()}, "
                   f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}",
        "torch_threads": str(torch.get_num_threads()),
        "software": f"Python {platform.python_version()}, torch {torch.__version__}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def provenance_lines(info: dict[str, str]) -> list[str]:
    """Return the README lines that name the command, machine and date of a run (``machine_description``)."""
    return [f"- Command: `{info['command']}`",
            f"- Machine: {info['machine']} (torch threads: {info['torch_threads']}); {info['software']}",
            f"- Date: {info['date']}"]


def write_readme(out: Path, lines: list[str]) -> None:
    """Write ``out/README.md`` from the generated ``lines`` and the hand-written ``out/notes.md``, then print it."""
    notes = out / "notes.md"
    if notes.exists():
        # Hand-written observations about the runs, kept beside the generated part.
        lines = [*lines, notes.read_text().strip(), ""]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _module_name(script: str) -> str:
    path = Path(script).resolve()
    try:
        return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
    except ValueError:
        return script


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` or exit with a message naming the missing file and the option to set."""
    if not path.exists():
        sys.exit(f"{what} not found at {path}; pass its path with the matching option (see --help)")
    return path


def markdown_table(frame) -> str:
    """Return a pandas DataFrame as a GitHub markdown table (without the optional tabulate package)."""
    frame = frame.reset_index()
    header = [" ".join(str(part) for part in column if part) if isinstance(column, tuple) else str(column)
              for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(value) for value in row.tolist()) + " |")
    return "\n".join(lines)
