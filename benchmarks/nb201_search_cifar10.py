"""Search NAS-Bench-201 on real CIFAR-10 images with DisWOT, against random search at the same budget.

For each seed, two searches score candidates with DisWOT on a batch of real CIFAR-10 images:
regularised evolution and random search, with the same number of evaluations. Only after all
searches have finished are the chosen cells' 200-epoch test accuracies looked up in the
NAS-Bench-201 table. As a floor, the table's mean accuracy over the cells that random search
sampled shows what a random pick gives.

Usage:
    python -m benchmarks.nb201_search_cifar10 --seeds 0 1 2 3 4 --evaluations 100
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

import archsearch
from archsearch.distill import evaluate_accuracy
from archsearch.groundtruth import GroundTruth, load_ground_truth
from benchmarks.common import (CIFAR10_SAMPLE, NB201_TABLE, REPO_ROOT, DefaultsHelpFormatter, batch_size_int,
                               machine_description, markdown_table, non_negative_int, positive_float, positive_int,
                               parse_with_data_files)

DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16_120": "ImageNet16-120"}


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of this benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=CIFAR10_SAMPLE, help="CIFAR-10 .npz with x and y")
    parser.add_argument("--ground-truth", type=Path, default=NB201_TABLE, help="NAS-Bench-201 accuracy CSV")
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2, 3, 4], help="search seeds")
    parser.add_argument("--evaluations", type=positive_int, default=100, help="distinct candidates scored per search")
    parser.add_argument("--batch-size", type=batch_size_int, default=64, help="images in the scoring batch")
    parser.add_argument("--max-flops", type=positive_float, default=None,
                        help="MAC limit per image, in millions (default: no limit)")
    parser.add_argument("--teacher", default="demo", help="teacher spec (default: demo, trained on the data)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "nb201_search_cifar10",
                        help="folder for summary.csv and README.md")
    parser.add_argument("--work-dir", type=Path, default=None, help="run directories (default: a temporary folder)")
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and check that the input files exist."""
    return parse_with_data_files(build_parser(), argv, "data", "ground_truth")


def run_searches(arguments: argparse.Namespace, work_dir: Path) -> list[dict]:
    rows = []
    for seed in arguments.seeds:
        for searcher in ("evolution", "random"):
            start = time.perf_counter()
            run = archsearch.search("nb201", "diswot", searcher=searcher, data=str(arguments.data),
                                    teacher=arguments.teacher, evaluations=arguments.evaluations, seed=seed,
                                    batch_size=arguments.batch_size,
                                    max_flops=None if arguments.max_flops is None else arguments.max_flops * 1e6,
                                    out_dir=work_dir / f"{searcher}-seed{seed}")
            seconds = time.perf_counter() - start
            frame = run.to_dataframe()
            rows.append({"seed": seed, "searcher": searcher, "arch": run.best["arch"],
                         "diswot": run.best["scores"]["diswot"], "seconds": round(seconds, 1),
                         "scored": int((frame["status"] != "rejected").sum()),
                         "failed": int((frame["status"] == "failed").sum()),
                         "sampled": list(frame["arch"])})
            logging.info("seed %d %s: %s in %.0f s", seed, searcher, run.best["arch"], seconds)
    return rows


def attach_ground_truth(rows: list[dict], truth: GroundTruth) -> pd.DataFrame:
    # Ground truth is read here, after every search has finished.
    records = []
    for row in rows:
        record = {key: value for key, value in row.items() if key != "sampled"}
        for column, dataset in DATASETS.items():
            record[f"{column}_test"] = truth.query(row["arch"], dataset, "test", epochs=200).value
        if row["searcher"] == "random":
            record["random_pick_cifar10_test"] = float(truth.query_many(row["sampled"], "cifar10", "test").mean())
        records.append(record)
    return pd.DataFrame(records)


def write_report(frame: pd.DataFrame, arguments: argparse.Namespace, teacher_accuracy: float) -> None:
    arguments.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(arguments.out / "summary.csv", index=False)
    columns = [f"{dataset}_test" for dataset in DATASETS]
    summary = frame.groupby("searcher")[columns + ["seconds"]].agg(["mean", "std"]).round(2)
    floor = frame["random_pick_cifar10_test"].dropna()
    info = machine_description()
    lines = [
        "# NAS-Bench-201 search with DisWOT on real CIFAR-10 images",
        "",
        f"- Command: `{info['command']}`",
        f"- Machine: {info['machine']} (torch threads: {info['torch_threads']}); {info['software']}",
        f"- Date: {info['date']}",
        f"- Data: {arguments.data.name} (800 training images score candidates and train the teacher, 200 test)",
        f"- Teacher: {arguments.teacher}, test accuracy {teacher_accuracy:.1f}% on the 200 held-out images",
        f"- Budget: {arguments.evaluations} evaluations per search, batch {arguments.batch_size}, "
        f"seeds {arguments.seeds}, FLOP limit: {'none' if arguments.max_flops is None else f'{arguments.max_flops} M MACs'}",
        "",
        "Test accuracy (%) of the chosen cell after 200 epochs in NAS-Bench-201 (mean and standard deviation "
        "over seeds). `seconds` is the wall time of one search; the teacher is loaded (and trained if not "
        "cached) before the first search, so no search pays for its training:",
        "",
        markdown_table(summary),
        "",
        f"Mean CIFAR-10 accuracy of a random cell (the cells random search sampled): {floor.mean():.2f}%.",
        "",
        "Per seed: `summary.csv`.",
    ]
    (arguments.out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def teacher_test_accuracy(arguments: argparse.Namespace) -> float:
    splits = archsearch.load_data(str(arguments.data))
    teacher = archsearch.load_teacher(arguments.teacher, splits)
    return evaluate_accuracy(teacher, splits.test)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("archsearch").setLevel(logging.WARNING)
    arguments = parse_arguments(argv)
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    # Loading the teacher first trains the demo teacher into its cache when the cache is empty,
    # so the timed searches below only read it and their seconds compare the searches alone.
    # Each search seeds its searcher, scoring batch and every candidate itself, so the cells it
    # chooses do not depend on what ran before it.
    teacher_accuracy = teacher_test_accuracy(arguments)
    with tempfile.TemporaryDirectory() as temporary:
        work_dir = arguments.work_dir or Path(temporary)
        rows = run_searches(arguments, work_dir)
    frame = attach_ground_truth(rows, load_ground_truth(str(arguments.ground_truth)))
    write_report(frame, arguments, teacher_accuracy)
    print(json.dumps({"rows": len(frame)}))


if __name__ == "__main__":
    main()
