"""Regularised evolution against random search on NAS-Bench-201, per proxy and budget, over many seeds.

Each distinct cell is scored once, when a search first proposes it, on one batch of real
CIFAR-10 images (seed 0, as ``archsearch score --seed 0`` would), and the score is kept in a
cache that every later search reads. A search is archsearch's own ``run_search`` with the real
searchers, so it proposes, skips repeats and keeps the best exactly as a live search does. Only
the scoring step may be a lookup, so 240 searches cost at most one pass over the space. The
ground truth is read only after every search has finished.

Time per search is reported in two parts: the search's own time (measured) and the scoring
time it would have spent live, the number of distinct cells it scored times the proxy's median
milliseconds per cell from the speed benchmark (``results/proxy_speed/per_proxy.csv``).

Usage:
    python -m benchmarks.search_comparison --reuse nwot=results/proxy_speed/all_cells_nwot.csv
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import search_spaces  # noqa: E402
from archsearch import proxies as proxy_registry  # noqa: E402
from archsearch import searchers  # noqa: E402
from archsearch.data import load_data, scoring_batch  # noqa: E402
from archsearch.evaluator import Evaluator  # noqa: E402
from archsearch.groundtruth import load_ground_truth  # noqa: E402
from archsearch.proxies import MAXIMIZE, Batch  # noqa: E402
from archsearch.runner import Budget, run_search  # noqa: E402
from archsearch.store import RunStore  # noqa: E402
from benchmarks.common import (CIFAR10_SAMPLE, NB201_TABLE, REPO_ROOT, DefaultsHelpFormatter,  # noqa: E402
                               batch_size_int, image_proxy_name, machine_description, markdown_table,
                               parse_with_data_files, positive_int, provenance_lines, require_file, write_readme)
from search_spaces.nb201 import distinct_cells  # noqa: E402

TEACHER_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16_120": "ImageNet16-120"}
SPEED_TABLE = REPO_ROOT / "results" / "proxy_speed" / "per_proxy.csv"


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of this benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--proxies", nargs="+", default=["diswot", "nwot", "synflow", "cka"], metavar="PROXY",
                        type=image_proxy_name(), help="objectives: proxies that score images")
    parser.add_argument("--searchers", nargs="+", default=["evolution", "random"], choices=searchers.list_searchers(),
                        metavar="SEARCHER", help=f"searchers, from {', '.join(searchers.list_searchers())}")
    parser.add_argument("--budgets", type=positive_int, nargs="+", default=[100, 300, 1000],
                        help="evaluations per search")
    parser.add_argument("--seeds", type=positive_int, default=10, help="number of search seeds, N for seeds 0..N-1")
    parser.add_argument("--batch-size", type=batch_size_int, default=64, help="images per scoring batch")
    parser.add_argument("--reuse", nargs="*", default=[], metavar="PROXY=CSV",
                        help="take a proxy's scores from a CSV with `arch` and PROXY columns, scored with the "
                             "same batch and seed (for example the speed benchmark's all_cells_nwot.csv)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--data", type=Path, default=CIFAR10_SAMPLE, help="CIFAR-10 .npz with x and y")
    parser.add_argument("--ground-truth", type=Path, default=NB201_TABLE, help="NAS-Bench-201 accuracy CSV")
    parser.add_argument("--speed-table", type=Path, default=SPEED_TABLE,
                        help="per-proxy milliseconds per cell, for the live scoring time")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "search_comparison", help="output folder")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="folder of the score cache, which makes an interrupted run resumable "
                             "(default: OUT/partial)")
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and check the input files and ``--reuse`` items."""
    parser = build_parser()
    arguments = parse_with_data_files(parser, argv, "data", "ground_truth")
    for item in arguments.reuse:
        if "=" not in item:
            parser.error(f"--reuse takes PROXY=CSV, got {item!r}; for example nwot=all_cells_nwot.csv")
        name, source = item.split("=", 1)
        require_file(parser, Path(source), "--reuse", f"score file for {name}")
        missing = {"arch", name} - set(pd.read_csv(source, nrows=0).columns)
        if missing:
            parser.error(f"--reuse {item}: {source} has no column {', '.join(sorted(missing))}; "
                         f"pass a CSV with `arch` and `{name}` columns")
    return arguments


class ScoreCache:
    """Scores of distinct cells, each computed on first use and kept in a file that all searches share.

    Every cell of an isomorphism class gets the score of the class's first cell in edge-product
    order, so a score does not depend on which search asked first. The proxies without a
    ``--reuse`` file are scored together, with one build per cell. Each row is flushed before
    the next cell, so a killed run resumes with the cells it has.
    """

    def __init__(self, space, arguments: argparse.Namespace) -> None:
        self.space = space
        self.arguments = arguments
        self.representatives = {space.canonical(cell): space.format(cell) for cell in distinct_cells()}
        reused = dict(item.split("=", 1) for item in arguments.reuse)
        self.reused = {name: self._read_column(Path(source), name) for name, source in reused.items()}
        self.to_score = [name for name in arguments.proxies if name not in reused]
        self.path = arguments.work_dir / "scores.csv"
        self.rows: dict[str, dict[str, Any]] = {}
        if self.path.exists() and self.path.stat().st_size:
            for row in pd.read_csv(self.path).to_dict("records"):
                self.rows[space.canonical(row["arch"])] = row
        self.evaluator: Evaluator | None = None
        self.scored_here = 0
        self.scoring_seconds = 0.0

    def _read_column(self, path: Path, name: str) -> dict[str, float]:
        frame = pd.read_csv(path)
        return {self.space.canonical(arch): value for arch, value in zip(frame["arch"], frame[name])}

    def get(self, canonical: str) -> dict[str, Any]:
        """Return the row of ``canonical``: a score per proxy, ``params`` and ``flops``."""
        if canonical not in self.rows:
            self.rows[canonical] = self._score(self.representatives[canonical])
        row = dict(self.rows[canonical])
        for name, values in self.reused.items():
            row[name] = values[canonical]
        return row

    def _score(self, arch: str) -> dict[str, Any]:
        start = time.perf_counter()
        if self.evaluator is None:
            self.evaluator = self._make_evaluator()
        record = self.evaluator.evaluate(arch)
        row = {"arch": arch, "params": record["params"], "flops": record["flops"],
               **{name: record["scores"].get(name) for name in self.to_score}}
        new_file = not self.path.exists() or not self.path.stat().st_size
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        self.scored_here += 1
        self.scoring_seconds += time.perf_counter() - start
        if self.scored_here % 250 == 0:
            logging.info("%d cells scored so far in this run (%d in the cache)", self.scored_here, len(self.rows))
        return row

    def _make_evaluator(self) -> Evaluator:
        # Same batch, seed and teacher as `archsearch score --seed 0` with the best-cell teacher.
        inputs, labels = scoring_batch(load_data(str(self.arguments.data)), self.arguments.batch_size, seed=0)
        torch.manual_seed(0)
        teacher = self.space.build(TEACHER_CELL).eval()
        names = ["params", *self.to_score]
        return Evaluator(self.space, [proxy_registry.create(name) for name in names], Batch(inputs, labels),
                         teacher=teacher, seed=0)


class TableEvaluator:
    """An Evaluator stand-in: ``evaluate`` returns the record a live Evaluator writes, from the score cache."""

    def __init__(self, space, cache: ScoreCache, proxy: str) -> None:
        self.space = space
        self.cache = cache
        self.objective_proxy = proxy_registry.create(proxy)

    def evaluate(self, arch: Any) -> dict[str, Any]:
        canonical = self.space.canonical(arch)
        row = self.cache.get(canonical)
        name = self.objective_proxy.name
        score = row[name]
        finite = score is not None and math.isfinite(score)
        objective = None
        if finite:
            objective = score if self.objective_proxy.direction == MAXIMIZE else -score
        params, flops = (None if value is None or math.isnan(value) else value
                         for value in (row.get("params"), row.get("flops")))
        return {"arch": self.space.format(arch), "canonical": canonical, "status": "ok" if finite else "failed",
                "objective": objective, "scores": {name: score if finite else None}, "details": {},
                "params": params, "flops": flops, "error": None if finite else f"{name} failed on this cell",
                "seconds": 0.0}


def run_searches(cache: ScoreCache, arguments: argparse.Namespace, run_root: Path) -> pd.DataFrame:
    space = cache.space
    rows = []
    for proxy in arguments.proxies:
        evaluator = TableEvaluator(space, cache, proxy)
        for searcher_name in arguments.searchers:
            for budget in arguments.budgets:
                for seed in range(arguments.seeds):
                    run_dir = run_root / f"{proxy}-{searcher_name}-{budget}-{seed}"
                    store = RunStore.create(run_dir, {"benchmark": "search_comparison"})
                    start, scoring_before = time.perf_counter(), cache.scoring_seconds
                    run_search(searchers.create(searcher_name, space, seed=seed), evaluator, store,
                               Budget(evaluations=budget))
                    # The search's own time: cells scored into the cache on the way are left out.
                    seconds = time.perf_counter() - start - (cache.scoring_seconds - scoring_before)
                    best = store.best
                    rows.append({"proxy": proxy, "searcher": searcher_name, "budget": budget, "seed": seed,
                                 "arch": best["arch"], "score": best["scores"][proxy],
                                 "distinct_cells": len({record["canonical"] for record in store.records}),
                                 "search_seconds": round(seconds, 2)})
                logging.info("%s %s budget %d: %d seeds done", proxy, searcher_name, budget, arguments.seeds)
    return pd.DataFrame(rows)


def attach_ground_truth(results: pd.DataFrame, truth, arguments: argparse.Namespace) -> pd.DataFrame:
    # Ground truth is read here, after every search has finished.
    for column, dataset in DATASETS.items():
        results[f"{column}_test"] = truth.query_many(list(results["arch"]), dataset, "test")
    milliseconds = _milliseconds_per_cell(arguments)
    results["live_scoring_seconds"] = [round(cells * milliseconds.get(proxy, math.nan) / 1000, 1)
                                       for proxy, cells in zip(results["proxy"], results["distinct_cells"])]
    return results


def _milliseconds_per_cell(arguments: argparse.Namespace) -> dict[str, float]:
    if not arguments.speed_table.exists():
        logging.warning("%s not found; the live scoring time is left empty", arguments.speed_table)
        return {}
    speed = pd.read_csv(arguments.speed_table)
    return dict(zip(speed["proxy"], speed["median_ms"]))


def write_report(results: pd.DataFrame, cache: ScoreCache, truth, arguments: argparse.Namespace) -> None:
    arguments.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(arguments.out / "searches.csv", index=False)
    columns = [f"{column}_test" for column in DATASETS]
    grouped = results.groupby(["proxy", "searcher", "budget"])
    summary = grouped[columns].agg(["mean", "std"]).round(2)
    summary[("distinct_cells", "mean")] = grouped["distinct_cells"].mean().round(0)
    summary[("search_seconds", "mean")] = grouped["search_seconds"].mean().round(2)
    summary[("live_scoring_seconds", "mean")] = grouped["live_scoring_seconds"].mean().round(0)
    summary.to_csv(arguments.out / "summary.csv")

    everything = truth.query_many(list(cache.representatives.values()), "cifar10", "test")
    _plot(results, arguments.out / "accuracy_by_budget.png")
    info = machine_description()
    lines = [
        "# Evolution against random search on NAS-Bench-201, per proxy and budget",
        "",
        *provenance_lines(info),
        f"- Scores: {len(cache.rows)} distinct cells scored on first use, batch {arguments.batch_size} of real CIFAR-10 images "
        f"({arguments.data.name}), seed 0; DisWOT and CKA teacher: the best CIFAR-10 cell at random "
        "initialisation (the DisWOT reference protocol)",
        f"- Searches: {', '.join(arguments.searchers)}; budgets {arguments.budgets} evaluations; seeds 0-"
        f"{arguments.seeds - 1}; ground truth: 200-epoch test accuracy, read after all searches",
        "",
        "Mean and standard deviation over seeds of the chosen cell's test accuracy (%), the distinct cells "
        "scored, the search's own seconds, and the scoring seconds a live search would spend. The last is the "
        "distinct cells times the proxy's median ms per cell in `results/proxy_speed`.",
        "",
        markdown_table(summary),
        "",
        f"For scale: over all {len(everything):,} distinct cells of the space, not only those scored, the mean "
        f"CIFAR-10 accuracy is {everything.mean():.2f}% and the best {everything.max():.2f}%.",
        "",
        "Per search: `searches.csv`; plot: `accuracy_by_budget.png`.",
        "",
    ]
    write_readme(arguments.out, lines)


def _plot(results: pd.DataFrame, path: Path) -> None:
    proxies = list(dict.fromkeys(results["proxy"]))
    figure, axes = plt.subplots(1, len(proxies), figsize=(3.4 * len(proxies), 3.2), squeeze=False, sharey=True)
    for axis, proxy in zip(axes[0], proxies):
        for searcher_name, group in results[results["proxy"] == proxy].groupby("searcher"):
            stats = group.groupby("budget")["cifar10_test"].agg(["mean", "std"])
            axis.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=searcher_name)
        axis.set_xscale("log")
        axis.set_title(proxy)
        axis.set_xlabel("evaluations")
    axes[0][0].set_ylabel("CIFAR-10 test accuracy (%)")
    axes[0][0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("archsearch").setLevel(logging.WARNING)
    arguments = parse_arguments(argv)
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    arguments.work_dir = arguments.work_dir or arguments.out / "partial"
    arguments.work_dir.mkdir(parents=True, exist_ok=True)

    cache = ScoreCache(search_spaces.create("nb201", num_classes=10), arguments)
    # The run stores fsync every record; a memory-backed folder keeps 240 searches from waiting on the disk.
    memory_folder = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=memory_folder) as run_root:
        results = run_searches(cache, arguments, Path(run_root))
    truth = load_ground_truth(str(arguments.ground_truth))
    write_report(attach_ground_truth(results, truth, arguments), cache, truth, arguments)


if __name__ == "__main__":
    main()
