"""Helpers shared by the benchmark scripts: default data paths and the machine description."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import zipfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
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


def require_file(parser: argparse.ArgumentParser, path: Path, option: str, description: str) -> Path:
    """Return ``path``, or exit through ``parser.error`` (status 2) naming the missing file and its option."""
    if not path.exists():
        parser.error(f"{description} not found at {path}; pass its path with {option}")
    return path


# The shared data files that the benchmarks read: argparse destination -> (option, description).
DATA_FILE_OPTIONS = {
    "data": ("--data", "CIFAR-10 sample"),
    "ground_truth": ("--ground-truth", "NAS-Bench-201 table"),
    "naslib_table": ("--naslib-table", "NASLib zero-cost table"),
}


def parse_with_data_files(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                          *destinations: str) -> argparse.Namespace:
    """Parse ``argv`` and exit through ``parser.error`` when one of the named data files is unusable."""
    arguments = parser.parse_args(argv)
    require_data_files(parser, arguments, *destinations)
    return arguments


def require_data_files(parser: argparse.ArgumentParser, arguments: argparse.Namespace, *destinations: str) -> None:
    """Exit through ``parser.error`` when a named data file is missing, or ``data`` is no image archive."""
    for destination in destinations:
        option, description = DATA_FILE_OPTIONS[destination]
        require_file(parser, getattr(arguments, destination), option, description)
    if "data" in destinations:
        _check_image_archive(parser, arguments.data)


def _check_image_archive(parser: argparse.ArgumentParser, path: Path) -> None:
    """Exit through ``parser.error`` unless ``path`` is an .npz archive with arrays x and y.

    Only the archive's index is read here, so the check is cheap; ``load_data`` checks the
    arrays themselves when the script loads them.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        parser.error(f"--data {path} is not a readable .npz archive ({type(error).__name__}); pass a file written "
                     "with numpy.savez(path, x=images, y=labels)")
    missing = sorted({"x", "y"} - keys)
    if missing:
        parser.error(f"--data {path} has no array {' or '.join(missing)}; pass an .npz file with arrays x (images) "
                     "and y (labels)")


def int_at_least(minimum: int, reason: str = "") -> Callable[[str], int]:
    """Return an argparse type that parses an integer and rejects values below ``minimum``.

    ``reason`` is appended to the error message to say why the limit exists.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer {text!r}; pass a whole number such as "
                                             f"{max(minimum, 1)}") from None
        if value < minimum:
            because = f" because {reason}" if reason else ""
            raise argparse.ArgumentTypeError(f"invalid value {value}; pass an integer of at least {minimum}{because}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)
# scoring_batch rejects a batch of fewer than 2 images.
batch_size_int = int_at_least(2, "a scoring batch needs at least 2 images")


def positive_float(text: str) -> float:
    """Parse a finite number above zero, for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}; pass a positive number such as 10") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"invalid value {text}; pass a positive, finite number")
    return value


def image_proxy_name(variants: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """Return an argparse type that accepts registered proxies, and ``variants``, that score images.

    ``variants`` maps extra names (options of a registered proxy) to the registered name they
    build on. NAS-Bench-201 cells take images, so a text-only proxy would fail on every cell.
    """
    from archsearch import proxies as proxy_registry

    extra = dict(variants or {})

    def fits_images(name: str) -> bool:
        return proxy_registry.proxy_class(extra.get(name, name)).inputs in ("images", "any")

    def parse(name: str) -> str:
        known = [*proxy_registry.list_proxies(), *extra]
        valid = ", ".join(sorted(candidate for candidate in known if fits_images(candidate)))
        if name not in known:
            raise argparse.ArgumentTypeError(f"unknown proxy {name!r}; choose from {valid}")
        if not fits_images(name):
            inputs = proxy_registry.proxy_class(extra.get(name, name)).inputs
            raise argparse.ArgumentTypeError(f"proxy {name!r} scores {inputs} inputs, but NAS-Bench-201 cells "
                                             f"take images; choose from {valid}")
        return name

    return parse


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help formatter that appends each option's default, unless the help text already states it.

    Options whose default is ``None`` or ``False`` (flags) get nothing appended, because
    "default: None" carries no information. Their help text states the behaviour instead.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default is argparse.SUPPRESS:
            return text
        default_text = str(default)
        if isinstance(default, (list, tuple)):
            default_text = " ".join(map(str, default)) or "none"
        return f"{text} (default: {default_text.replace('%', '%%')})"


def markdown_table(frame) -> str:
    """Return a pandas DataFrame as a GitHub markdown table (without the optional tabulate package)."""
    frame = frame.reset_index()
    header = [" ".join(str(part) for part in column if part) if isinstance(column, tuple) else str(column)
              for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(value) for value in row.tolist()) + " |")
    return "\n".join(lines)
