"""Time the embedded default, `archsearch search` with no arguments, from an empty teacher cache.

The run includes the demo teacher's first training. The result, with the command, machine and
date, goes to results/default_run/README.md.

Usage:
    python -m benchmarks.default_run_time
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from benchmarks.common import REPO_ROOT, DefaultsHelpFormatter, machine_description


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of this benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "default_run", help="output folder")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)

    with tempfile.TemporaryDirectory() as work:
        # The checkout goes first on PYTHONPATH so the script also works without an install.
        pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        environment = dict(os.environ, ARCHSEARCH_CACHE_DIR=str(Path(work) / "cache"), PYTHONPATH=pythonpath)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "archsearch", "search"], cwd=work, env=environment,
                                capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"archsearch search failed with exit code {result.returncode}:\n{result.stderr[-2000:]}")

    teacher_lines = [line for line in result.stderr.splitlines() if "demo teacher" in line]
    info = machine_description()
    lines = [
        "# Time of the embedded default search",
        "",
        f"- Command: `{info['command']}` (runs `archsearch search` with an empty teacher cache)",
        f"- Machine: {info['machine']}; {info['software']}",
        f"- Date: {info['date']}",
        "",
        f"Wall time of `archsearch search`, the demo teacher's first training included: {seconds:.0f} s.",
        "",
        "Demo teacher log:",
        "",
        *[f"    {line}" for line in teacher_lines],
        "",
        "Output:",
        "",
        *[f"    {line}" for line in result.stdout.splitlines()],
    ]
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
