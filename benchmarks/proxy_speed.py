"""Time every proxy per NAS-Bench-201 cell, against a naive loop, and score the whole space with nwot.

Three parts, all on one batch of real CIFAR-10 images in one process:

1. ``per-proxy``: milliseconds per cell for each proxy through ``archsearch``'s Evaluator,
   which computes the teacher outputs once and scores a channels-last copy of each cell.
   The time is end to end: build, cost count and score. On the same cells, a naive loop
   builds the teacher and recomputes its outputs for every candidate, and it scores in the
   default memory layout. The report gives the ratio of the two times.
2. ``nwot-steps``: what each nwot optimisation bought, on the same cells: a reference-style
   nwot (codes from every ReLU input, two float products per ReLU), then archsearch's
   kernel (one product per distinct ReLU input), then the channels-last layout.
3. ``all-cells``: all 6,466 distinct cells scored with nwot, with the resident memory after
   each cell, to check that memory stays flat.
4. ``all-cells-workers``: the same cells through ``archsearch.score(..., workers=N)``, which
   splits them over processes with one share of the threads each.

Usage:
    python -m benchmarks.proxy_speed --threads 2
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import resource
import statistics
import time
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import archsearch  # noqa: E402
import search_spaces  # noqa: E402
from archsearch import proxies as proxy_registry  # noqa: E402
from archsearch.data import load_data, scoring_batch  # noqa: E402
from archsearch.evaluator import Evaluator  # noqa: E402
from archsearch.proxies import Batch  # noqa: E402
from archsearch.proxies.naswot import activation_code_log_determinant  # noqa: E402
from benchmarks.common import (CIFAR10_SAMPLE, REPO_ROOT, SHARED_DATA, DefaultsHelpFormatter,  # noqa: E402
                               batch_size_int, image_proxy_name, machine_description, markdown_table,
                               positive_int, parse_with_data_files, provenance_lines, write_readme)
from search_spaces.nb201 import distinct_cells  # noqa: E402

NASLIB_TABLE = SHARED_DATA / "nb201" / "naslib_zero_cost_725.csv"
TEACHER_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
PROXIES = ["nwot", "synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "zen", "l2_norm", "params",
           "flops", "diswot", "cka", "kernel_cka", "minibatch_cka"]
# Goals: median milliseconds per cell at batch 64 on 2 CPU cores.
GOALS_MS = {"nwot": 130.0, "diswot": 150.0}
ALL_CELLS_GOAL_MINUTES = 15.0
PARTS = ["per-proxy", "nwot-steps", "all-cells", "all-cells-workers"]


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of this benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=PARTS, choices=PARTS, help="which parts to run")
    parser.add_argument("--workers", type=positive_int, default=2, help="processes for the all-cells-workers part")
    parser.add_argument("--proxies", nargs="+", default=PROXIES, metavar="PROXY", type=image_proxy_name(),
                        help="proxies to time, from those that score images")
    parser.add_argument("--cells", type=positive_int, default=100,
                        help="NASLib cells timed per proxy (the goal proxies nwot and diswot use all 725)")
    parser.add_argument("--goal-cells", type=positive_int, default=None,
                        help="NASLib cells timed for nwot and diswot (default: all 725)")
    parser.add_argument("--naive-cells", type=positive_int, default=30, help="cells timed with the naive loop per proxy")
    parser.add_argument("--batch-size", type=batch_size_int, default=64, help="images per scoring batch")
    parser.add_argument("--threads", type=positive_int, default=2, help="torch threads")
    parser.add_argument("--data", type=Path, default=CIFAR10_SAMPLE, help="CIFAR-10 .npz with x and y")
    parser.add_argument("--naslib-table", type=Path, default=NASLIB_TABLE, help="NASLib zero-cost CSV (cell list)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "proxy_speed", help="output folder")
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and check that the input files exist."""
    return parse_with_data_files(build_parser(), argv, "data", "naslib_table")


class Setup:
    """The space, the scoring batch and the teacher shared by every part."""

    def __init__(self, arguments: argparse.Namespace) -> None:
        self.space = search_spaces.create("nb201", num_classes=10)
        inputs, labels = scoring_batch(load_data(str(arguments.data)), arguments.batch_size, seed=0)
        self.batch = Batch(inputs, labels)
        self.teacher = self.build_teacher()

    def build_teacher(self) -> nn.Module:
        torch.manual_seed(0)
        return self.space.build(TEACHER_CELL).eval()

    def evaluator(self, names: list[str], channels_last: bool | None = None) -> Evaluator:
        return Evaluator(self.space, [proxy_registry.create(name) for name in names], self.batch,
                         teacher=self.teacher, channels_last=channels_last)


def time_evaluator(evaluator: Evaluator, cells: list[str]) -> list[float]:
    """Return the seconds of each evaluation, after one warm-up evaluation."""
    evaluator.evaluate(cells[0])
    return [evaluator.evaluate(cell)["seconds"] for cell in cells]


def time_naive(setup: Setup, name: str, cells: list[str]) -> list[float]:
    """Score each cell as a loop without sharing would: rebuild the teacher and its outputs every time."""
    seconds = []
    for cell in cells:
        start = time.perf_counter()
        teacher = setup.build_teacher()
        evaluator = Evaluator(setup.space, [proxy_registry.create(name)], setup.batch, teacher=teacher,
                              channels_last=False)
        evaluator.evaluate(cell)
        seconds.append(time.perf_counter() - start)
    return seconds


def per_proxy(setup: Setup, cells: list[str], arguments: argparse.Namespace) -> pd.DataFrame:
    rows = []
    for name in arguments.proxies:
        timed = cells[: arguments.goal_cells] if name in GOALS_MS else cells[: arguments.cells]
        fast = time_evaluator(setup.evaluator([name]), timed)
        naive = time_naive(setup, name, cells[: arguments.naive_cells])
        fast_on_naive_cells = statistics.median(fast[: arguments.naive_cells])
        rows.append({"proxy": name, "cells": len(timed), "median_ms": round(1000 * statistics.median(fast), 1),
                     "p90_ms": round(1000 * sorted(fast)[int(0.9 * (len(fast) - 1))], 1),
                     "naive_median_ms": round(1000 * statistics.median(naive), 1),
                     "naive_over_evaluator": round(statistics.median(naive) / fast_on_naive_cells, 2),
                     "goal_ms": GOALS_MS.get(name)})
        logging.info("%s: %.1f ms per cell (naive loop %.1f ms)", name, 1000 * statistics.median(fast),
                     1000 * statistics.median(naive))
    return pd.DataFrame(rows)


def reference_nwot(model: nn.Module, inputs: torch.Tensor) -> float:
    """nwot as the reference code computes it: codes of every ReLU input, K += c c^T + (1-c)(1-c)^T."""
    size = inputs.shape[0]
    kernel = torch.zeros(size, size, dtype=torch.float64)

    def add_codes(module, module_inputs, output):
        nonlocal kernel
        codes = (module_inputs[0].reshape(size, -1) > 0).float()
        kernel = kernel + (codes @ codes.T).double() + ((1.0 - codes) @ (1.0 - codes).T).double()

    relus = [module for module in model.modules() if isinstance(module, nn.ReLU)]
    handles = [relu.register_forward_hook(add_codes) for relu in relus]
    try:
        model.train()
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return float(activation_code_log_determinant(kernel))


def nwot_steps(setup: Setup, cells: list[str]) -> pd.DataFrame:
    """Time the nwot score alone (no build or cost count) after each optimisation, on the same models."""
    proxy = proxy_registry.create("nwot")
    steps = {"reference kernel, NCHW": [], "archsearch kernel, NCHW": [], "archsearch kernel, channels-last": []}
    differences = []
    channels_last_inputs = setup.batch.inputs.contiguous(memory_format=torch.channels_last)
    for cell in cells:
        torch.manual_seed(0)
        model = setup.space.build(cell)
        start = time.perf_counter()
        reference = reference_nwot(model, setup.batch.inputs)
        steps["reference kernel, NCHW"].append(time.perf_counter() - start)

        start = time.perf_counter()
        ours = proxy.score(model, setup.batch).value
        steps["archsearch kernel, NCHW"].append(time.perf_counter() - start)
        differences.append(abs(ours - reference) / max(abs(reference), 1e-12))

        model = model.to(memory_format=torch.channels_last)
        start = time.perf_counter()
        proxy.score(model, Batch(channels_last_inputs, setup.batch.labels))
        steps["archsearch kernel, channels-last"].append(time.perf_counter() - start)
    rows = [{"step": step, "median_ms": round(1000 * statistics.median(values[1:]), 1)}
            for step, values in steps.items()]
    rows.append({"step": "max relative difference, archsearch vs reference score", "median_ms": max(differences)})
    return pd.DataFrame(rows)


def resident_megabytes() -> float:
    """Return this process's current resident memory in MiB (from /proc, Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def all_cells(setup: Setup, out: Path) -> dict[str, float]:
    """Score every distinct cell with nwot and record the time and resident memory after each."""
    space = setup.space
    cells = [space.format(cell) for cell in distinct_cells()]
    evaluator = setup.evaluator(["nwot"])
    path = out / "all_cells_nwot.csv"
    start = time.perf_counter()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "arch", "nwot", "status", "seconds", "rss_mib", "peak_rss_mib"])
        for index, cell in enumerate(cells):
            record = evaluator.evaluate(cell)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            writer.writerow([index, cell, record["scores"].get("nwot"), record["status"],
                             round(record["seconds"], 4), round(resident_megabytes(), 1), round(peak, 1)])
            if (index + 1) % 500 == 0:
                logging.info("all cells: %d/%d, %.0f s", index + 1, len(cells), time.perf_counter() - start)
    total = time.perf_counter() - start
    frame = pd.read_csv(path)
    _plot_memory(frame, out / "all_cells_memory.png")
    return {"cells": len(cells), "minutes": round(total / 60, 2), **memory_summary(frame)}


def memory_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Summarise the per-cell times and resident memory of an all-cells run."""
    resident_at_500 = frame["rss_mib"].iloc[499]
    highest_after = frame["rss_mib"].iloc[500:].max()
    return {"median_ms": round(1000 * frame["seconds"].median(), 1),
            "mean_ms": round(1000 * frame["seconds"].mean(), 1),
            "failed": int((frame["status"] != "ok").sum()),
            "resident_mib_at_500": resident_at_500, "highest_resident_mib_after_500": highest_after,
            "growth_after_500_percent": round(100 * (highest_after / resident_at_500 - 1), 2),
            "process_peak_mib_end": frame["peak_rss_mib"].iloc[-1]}


def all_cells_with_workers(setup: Setup, arguments: argparse.Namespace) -> dict[str, float]:
    """Score every distinct cell with nwot through ``archsearch.score`` in worker processes."""
    cells = [setup.space.format(cell) for cell in distinct_cells()]
    start = time.perf_counter()
    table = archsearch.score(cells, "nwot", data=str(arguments.data), seed=0, batch_size=arguments.batch_size,
                             workers=arguments.workers)
    total = time.perf_counter() - start
    summary = {"cells": len(cells), "workers": arguments.workers, "threads_each": max(1, arguments.threads // arguments.workers),
               "minutes": round(total / 60, 2),
               "failed": int((table["status"] != "ok").sum())}
    single = arguments.out / "all_cells_nwot.csv"
    if single.exists():
        # The same scores as the one-process run, whatever the split.
        serial = pd.read_csv(single).set_index("arch")["nwot"].reindex(table["arch"]).to_numpy()
        ours = table["score_nwot"].to_numpy(dtype=float)
        both = ~(pd.isna(serial) | pd.isna(ours))
        summary["max_relative_difference_vs_one_process"] = float(
            (abs(ours[both] - serial[both]) / abs(serial[both]).clip(min=1e-12)).max())
    return summary


def _plot_memory(frame: pd.DataFrame, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 3))
    axis.plot(frame["index"], frame["rss_mib"], label="resident")
    axis.plot(frame["index"], frame["peak_rss_mib"], label="peak")
    axis.axvline(500, color="grey", linestyle=":")
    axis.set_xlabel("cells scored with nwot")
    axis.set_ylabel("MiB")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# Each part's table and the provenance of the run that made it, so parts can be rerun alone.
PART_FILES = {"per-proxy": "per_proxy", "nwot-steps": "nwot_steps", "all-cells": "all_cells_summary",
              "all-cells-workers": "all_cells_workers"}
PART_TEXT = {
    "per-proxy": ("Milliseconds per cell",
                  "End to end through the Evaluator (build, parameter and MAC count, score), median over the first "
                  "`cells` NASLib cells after one warm-up. The naive loop builds the teacher and computes its "
                  "outputs again for every candidate and keeps the default NCHW layout; `naive_over_evaluator` is "
                  "its median time over the Evaluator's on the same cells. `goal_ms` is the target for `median_ms`, "
                  + ", ".join(f"{goal:.0f} ms for {name}" for name, goal in GOALS_MS.items())
                  + ", set for a batch of 64 images on 2 CPU cores; the other proxies have none."),
    "nwot-steps": ("What each nwot optimisation bought",
                   "The nwot score alone (no build or cost count) on the same models, median ms with the first "
                   "cell left out as warm-up. The last row compares the scores."),
    "all-cells": ("All 6,466 distinct cells with nwot, one process",
                  f"Goal: under {ALL_CELLS_GOAL_MINUTES:.0f} minutes, and memory growth after the first 500 cells "
                  "at most 10%. Resident memory is read after each cell; the process's peak (`ru_maxrss`) also "
                  "covers the parts that ran before. Per cell: `all_cells_nwot.csv`; memory over the run: "
                  "`all_cells_memory.png`."),
    "all-cells-workers": ("All 6,466 distinct cells with nwot, `archsearch.score(..., workers=N)`",
                          "The same cells split over N processes with one share of the threads each; the scores "
                          "are compared with the one-process run."),
}


def save_part(name: str, table: pd.DataFrame, out: Path) -> None:
    """Write one part's table and the command, machine and date of this run beside it."""
    table.to_csv(out / f"{PART_FILES[name]}.csv", index=False)
    (out / f"{PART_FILES[name]}.json").write_text(json.dumps(machine_description(), indent=2) + "\n")


def write_report(out: Path) -> None:
    """Write README.md from every part found in ``out``, each with the run that made it."""
    lines = ["# Proxy speed on NAS-Bench-201 cells", "",
             "Batch: 64 real CIFAR-10 images (`cifar10_test1000_jpeg.npz`); teacher for DisWOT and CKA: the best "
             "NB201 cell at random initialisation.", ""]
    for name, stem in PART_FILES.items():
        if not (out / f"{stem}.csv").exists():
            continue
        info = json.loads((out / f"{stem}.json").read_text())
        title, text = PART_TEXT[name]
        table = pd.read_csv(out / f"{stem}.csv")
        lines += [f"## {title}", "", *provenance_lines(info), "",
                  text, "",
                  markdown_table(table.set_index(table.columns[0])), ""]
    write_readme(out, lines)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    arguments = parse_arguments(argv)
    torch.set_num_threads(arguments.threads)
    arguments.out.mkdir(parents=True, exist_ok=True)
    naslib = pd.read_csv(arguments.naslib_table)
    cells = list(naslib[naslib["dataset"] == "cifar10"]["arch"])
    setup = Setup(arguments)

    if "per-proxy" in arguments.parts:
        save_part("per-proxy", per_proxy(setup, cells, arguments), arguments.out)
    if "nwot-steps" in arguments.parts:
        save_part("nwot-steps", nwot_steps(setup, cells[: arguments.cells]), arguments.out)
    if "all-cells" in arguments.parts:
        save_part("all-cells", pd.DataFrame([all_cells(setup, arguments.out)]), arguments.out)
    if "all-cells-workers" in arguments.parts:
        save_part("all-cells-workers", pd.DataFrame([all_cells_with_workers(setup, arguments)]), arguments.out)
    write_report(arguments.out)


if __name__ == "__main__":
    main()
