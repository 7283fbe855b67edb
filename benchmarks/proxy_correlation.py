"""Rank correlation of training-free proxies with NAS-Bench-201 accuracies on the NASLib cells.

Scores the cells of NASLib's published zero-cost table (725 CIFAR-10 cells) with each proxy on
batches of real CIFAR-10 images, for several repeats (a different batch and initialisation
each), and reports Spearman's rho, Kendall's tau-b and top-10% precision against the 200-epoch
test accuracies of CIFAR-10, CIFAR-100 and ImageNet16-120, beside the published rho. It also
reports the Spearman between our per-cell scores and NASLib's published per-cell scores.

DisWOT and CKA compare each cell with a teacher: by default the best CIFAR-10 cell of the
benchmark (index 6111) at its random initialisation, as in the DisWOT reference protocol.

Usage:
    python -m benchmarks.proxy_correlation --proxies nwot synflow params flops diswot --repeats 1
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import search_spaces  # noqa: E402
from archsearch import proxies as proxy_registry  # noqa: E402
from archsearch.data import load_data, scoring_batch  # noqa: E402
from archsearch.evaluator import Evaluator  # noqa: E402
from archsearch.groundtruth import load_ground_truth  # noqa: E402
from archsearch.proxies import Batch  # noqa: E402
from archsearch.stats import rank_correlations, spearman  # noqa: E402
from archsearch.teachers import load_teacher  # noqa: E402
from benchmarks.common import (CIFAR10_SAMPLE, NB201_TABLE, REPO_ROOT, SHARED_DATA,  # noqa: E402
                               DefaultsHelpFormatter, batch_size_int, image_proxy_name, int_at_least,
                               machine_description, markdown_table, non_negative_int, positive_int,
                               parse_with_data_files, provenance_lines, write_readme)

NASLIB_TABLE = SHARED_DATA / "nb201" / "naslib_zero_cost_725.csv"
TEACHER_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16_120": "ImageNet16-120"}
# Our proxy name -> NASLib's column name, for the published per-cell scores.
NASLIB_COLUMNS = {"fisher_per_channel": "fisher", "nwot": "nwot", "synflow": "synflow", "snip": "snip", "grasp": "grasp", "fisher": "fisher",
                  "grad_norm": "grad_norm", "jacob_cov": "jacov", "l2_norm": "l2_norm", "params": "params",
                  "flops": "flops"}
# Published Spearman rho against CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy on these cells.
PUBLISHED_RHO = {"nwot": (0.800, 0.816, 0.797), "synflow": (0.776, 0.767, 0.761), "params": (0.772, 0.743, 0.718),
                 "flops": (0.750, 0.721, 0.696), "jacob_cov": (0.733, 0.729, 0.730), "snip": (0.651, 0.656, 0.613),
                 "grad_norm": (0.647, 0.646, 0.616), "grasp": (0.571, 0.549, 0.517),
                 "fisher": (0.551, 0.551, 0.525), "fisher_per_channel": (0.551, 0.551, 0.525)}


# Registered proxies with options, under their own names. `fisher` weights each channel by its
# layer's fan-in, as the zero-cost reference code does; the variant counts each channel once.
VARIANTS = {"fisher_per_channel": ("fisher", {"weight_by_fan_in": False})}

ALL_PROXIES = ["nwot", "synflow", "snip", "grasp", "fisher", "fisher_per_channel", "grad_norm", "jacob_cov", "zen", "l2_norm", "params",
               "flops", "diswot", "cka", "kernel_cka", "minibatch_cka"]
# Read from the details of the diswot score rather than computed again.
DISWOT_TERMS = {"diswot_semantic": "semantic_distance", "diswot_relation": "relation_distance"}


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of this benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--proxies", nargs="+", default=ALL_PROXIES, metavar="PROXY",
                        type=image_proxy_name({variant: base for variant, (base, _) in VARIANTS.items()}),
                        help="proxies that score images (see `archsearch list`), or fisher_per_channel")
    parser.add_argument("--repeats", type=positive_int, default=5, help="repeats, each with its own batch and seed")
    parser.add_argument("--only-repeats", type=non_negative_int, nargs="+", default=None,
                        help="score only these repeat indices (to split the work over processes); "
                             "the summary then covers whatever repeats are complete")
    parser.add_argument("--tag", default="main",
                        help="name of this proxy set's score files, so that slow proxies can be scored by "
                             "another process and merged into the same summary")
    parser.add_argument("--summarise-only", action="store_true",
                        help="skip scoring and summarise the complete repeats in --work-dir")
    parser.add_argument("--batch-size", type=batch_size_int, default=64, help="images per scoring batch")
    parser.add_argument("--limit", type=int_at_least(3, "a rank correlation needs at least 3 cells"), default=None,
                        help="score only the first N cells (default: all)")
    parser.add_argument("--teacher", default=None,
                        help="DisWOT and CKA teacher: an archsearch teacher spec or checkpoint (for example "
                             "'demo', trained on --data); default: the best NB201 cell at random initialisation")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--data", type=Path, default=CIFAR10_SAMPLE, help="CIFAR-10 .npz with x and y")
    parser.add_argument("--ground-truth", type=Path, default=NB201_TABLE, help="NAS-Bench-201 accuracy CSV")
    parser.add_argument("--naslib-table", type=Path, default=NASLIB_TABLE, help="NASLib zero-cost CSV")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "proxy_correlation",
                        help="output folder")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="folder of the per-repeat score files, which make an interrupted run resumable "
                             "(default: OUT/partial)")
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and check that the input files exist."""
    parser = build_parser()
    arguments = parse_with_data_files(parser, argv, "data", "ground_truth", "naslib_table")
    outside = sorted(index for index in arguments.only_repeats or [] if index >= arguments.repeats)
    if outside:
        parser.error(f"--only-repeats {' '.join(map(str, outside))} is outside the {arguments.repeats} repeats "
                     f"(indices 0 to {arguments.repeats - 1}); raise --repeats or choose smaller indices")
    return arguments


def make_proxy(name: str):
    """Create the proxy ``name``, a registered name or one of ``VARIANTS``."""
    base, options = VARIANTS.get(name, (name, {}))
    proxy = proxy_registry.create(base, **options)
    proxy.name = name
    return proxy


def direction_of(name: str) -> str:
    return proxy_registry.proxy_class(VARIANTS.get(name, (name, {}))[0]).direction


def repeat_file(arguments: argparse.Namespace, repeat: int) -> Path:
    return arguments.work_dir / f"repeat{repeat}-{arguments.tag}.csv"


def score_repeat(cells: list[str], repeat: int, arguments: argparse.Namespace) -> None:
    """Score every cell with every proxy for one repeat, appending one row per cell as it goes.

    A row is flushed to disk before the next cell starts, so a killed run resumes at the
    first cell without a row.
    """
    path = repeat_file(arguments, repeat)
    done = set(pd.read_csv(path)["arch"]) if path.exists() and path.stat().st_size else set()
    todo = [cell for cell in cells if cell not in done]
    if not todo:
        return
    space = search_spaces.create("nb201", num_classes=10)
    splits = load_data(str(arguments.data))
    inputs, labels = scoring_batch(splits, arguments.batch_size, seed=repeat)
    torch.manual_seed(repeat)
    teacher = (space.build(TEACHER_CELL).eval() if arguments.teacher is None
               else load_teacher(arguments.teacher, splits))
    # params is the objective because counting parameters does not fail; a failing proxy then
    # only empties its own column instead of failing the whole cell.
    names = ["params"] + [name for name in arguments.proxies if name != "params"]
    evaluator = Evaluator(space, [make_proxy(name) for name in names], Batch(inputs, labels),
                          teacher=teacher, seed=repeat)
    columns = ["repeat", "arch", *names, *[term for term in DISWOT_TERMS if "diswot" in names], "errors", "seconds"]
    start = time.perf_counter()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if not done:
            writer.writeheader()
        for index, cell in enumerate(todo, 1):
            record = evaluator.evaluate(cell)
            row = {"repeat": repeat, "arch": cell, "seconds": round(record["seconds"], 4)}
            row.update({name: record["scores"].get(name) for name in names})
            diswot_details = record["details"].get("diswot", {})
            for term, key in DISWOT_TERMS.items():
                if "diswot" in names:
                    row[term] = -diswot_details[key] if key in diswot_details else None
            errors = {name: details["error"] for name, details in record["details"].items() if "error" in details}
            row["errors"] = json.dumps(errors) if errors else (record["error"] or "")
            writer.writerow(row)
            handle.flush()
            if index % 25 == 0 or index == len(todo):
                logging.info("repeat %d: %d/%d cells, %.2f s per cell", repeat, index, len(todo),
                             (time.perf_counter() - start) / index)


def load_scores(cells: list[str], arguments: argparse.Namespace) -> pd.DataFrame:
    """Return the long table (repeat, proxy, arch, score) of every complete score file in the work folder."""
    frames = []
    seen: set[tuple[int, str]] = set()
    for path in sorted(arguments.work_dir.glob("repeat*-*.csv")):
        wide = pd.read_csv(path).drop_duplicates("arch")
        if set(cells) - set(wide["arch"]):
            logging.warning("%s is incomplete (%d of %d cells); it is left out of the summary", path.name,
                            len(set(cells) & set(wide["arch"])), len(cells))
            continue
        wide = wide.set_index("arch").loc[cells].reset_index()
        repeat = int(wide["repeat"].iloc[0])
        names = [column for column in wide.columns if column not in ("repeat", "arch", "errors", "seconds")
                 and (repeat, column) not in seen]
        seen.update((repeat, name) for name in names)
        frames.append(wide.melt(id_vars=["repeat", "arch"], value_vars=names, var_name="proxy", value_name="score"))
    if not frames:
        sys.exit(f"no complete score file in {arguments.work_dir}; run the scoring first")
    return pd.concat(frames, ignore_index=True)


def correlate(scores: pd.DataFrame, truth, naslib: pd.DataFrame) -> pd.DataFrame:
    # Ground truth is read only here, after all scoring.
    summary = []
    for (name, repeat), group in scores.groupby(["proxy", "repeat"]):
        finite = int(np.isfinite(group["score"].astype(float)).sum())
        if finite < 3:
            # rank_correlations needs 3 scored cells. Skipping the proxy keeps one that failed on every
            # cell from stopping the summary of the others.
            logging.warning("%s scored %d of %d cells in repeat %d, fewer than the 3 a rank correlation needs, "
                            "so it is left out of the summary; the per-cell errors are in the `errors` column "
                            "of the repeat%d-*.csv score files in --work-dir", name, finite, len(group), repeat, repeat)
            continue
        direction = direction_of(name)
        row = {"proxy": name, "repeat": repeat}
        for column, dataset in DATASETS.items():
            accuracy = truth.query_many(list(group["arch"]), dataset, "test")
            stats = rank_correlations(group["score"].astype(float).to_numpy(), accuracy, direction=direction)
            row[f"{column}_rho"] = stats.spearman
            row[f"{column}_tau"] = stats.kendall_tau_b
            row[f"{column}_top10"] = stats.top_k_precision[0.1]
            if column == "cifar10":
                row["cifar10_pearson"] = stats.pearson
                row["score_ties"] = stats.n_ties_scores
            row["failed"] = stats.n_nan
        if name in NASLIB_COLUMNS:
            published = naslib.set_index("arch").loc[list(group["arch"]), NASLIB_COLUMNS[name]]
            row["rho_vs_published_scores"] = spearman(group["score"].astype(float).to_numpy(), published.to_numpy())
        summary.append(row)
    if not summary:
        sys.exit("no proxy scored at least 3 cells in any repeat, so there is nothing to summarise; "
                 "see the `errors` column of the score files for why the proxies failed")
    return pd.DataFrame(summary)


def write_outputs(scores: pd.DataFrame, summary: pd.DataFrame, truth, arguments: argparse.Namespace) -> None:
    arguments.out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(arguments.out / "correlations.csv", index=False)

    numeric = summary.drop(columns=["repeat"]).groupby("proxy")
    table = numeric.mean().round(3)
    table["cifar10_rho_std"] = numeric["cifar10_rho"].std().round(3)
    table["repeats"] = numeric["cifar10_rho"].count()
    for index, column in enumerate(DATASETS):
        table[f"{column}_published_rho"] = [PUBLISHED_RHO.get(name, (None,) * 3)[index] for name in table.index]
    table = table.sort_values("cifar10_rho", ascending=False)

    _plot(scores, summary, truth, arguments.out)
    info = machine_description()
    lines = [
        "# Proxy rank correlation on the NASLib NAS-Bench-201 cells",
        "",
        *provenance_lines(info),
        f"- Cells: {scores['arch'].nunique()}; repeats: up to {scores['repeat'].nunique()} (column `repeats`); batch {arguments.batch_size} of real "
        f"CIFAR-10 images from {arguments.data.name}, also for the CIFAR-100 and ImageNet16-120 columns",
        "- DisWOT and CKA teacher: " + ("the best CIFAR-10 cell at random initialisation (seeded per repeat)"
                                        if arguments.teacher is None else f"`{arguments.teacher}`"),
        "",
        "Mean over repeats; `*_rho` is Spearman, `*_tau` Kendall tau-b, `*_top10` top-10% precision, all against "
        "200-epoch test accuracy; `rho_vs_published_scores` compares our per-cell scores with NASLib's.",
        "",
        markdown_table(table),
        "",
        "Plots: `scatter.png` (score against CIFAR-10 accuracy, first repeat), `rho.png` (Spearman rho).",
        "",
    ]
    write_readme(arguments.out, lines)


def _plot(scores: pd.DataFrame, summary: pd.DataFrame, truth, out: Path) -> None:
    names = list(dict.fromkeys(scores["proxy"]))
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for axis in axes.flat[len(names):]:
        axis.set_visible(False)
    for axis, name in zip(axes.flat, names):
        group = scores[(scores["proxy"] == name) & (scores["repeat"] == 0)].dropna(subset=["score"])
        axis.scatter(group["score"], truth.query_many(list(group["arch"]), "cifar10", "test"), s=4, alpha=0.5)
        # Scores that span many orders of magnitude (synflow, snip, grad_norm) read better on a log axis.
        positive = group["score"][group["score"] > 0]
        if len(positive) == len(group) and positive.max() / positive.min() > 1e3:
            axis.set_xscale("log")
        axis.set_title(name)
        axis.set_xlabel("score")
        axis.set_ylabel("CIFAR-10 test accuracy (%)")
    figure.tight_layout()
    figure.savefig(out / "scatter.png", dpi=120)
    plt.close(figure)

    means = summary.groupby("proxy")["cifar10_rho"].mean().sort_values()
    figure, axis = plt.subplots(figsize=(6, 0.4 * len(means) + 1))
    axis.barh(means.index, means.values)
    axis.set_xlabel("Spearman rho with CIFAR-10 test accuracy")
    figure.tight_layout()
    figure.savefig(out / "rho.png", dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    arguments = parse_arguments(argv)
    naslib = pd.read_csv(arguments.naslib_table)
    naslib = naslib[naslib["dataset"] == "cifar10"]
    cells = list(naslib["arch"])[: arguments.limit]
    arguments.work_dir = arguments.work_dir or arguments.out / "partial"
    arguments.work_dir.mkdir(parents=True, exist_ok=True)
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    if not arguments.summarise_only:
        for repeat in arguments.only_repeats if arguments.only_repeats is not None else range(arguments.repeats):
            score_repeat(cells, repeat, arguments)
    scores = load_scores(cells, arguments)
    truth = load_ground_truth(str(arguments.ground_truth))
    write_outputs(scores, correlate(scores, truth, naslib), truth, arguments)


if __name__ == "__main__":
    main()
