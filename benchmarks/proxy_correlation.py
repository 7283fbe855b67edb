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
import logging
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import search_spaces  # noqa: E402
from archsearch import proxies as proxy_registry  # noqa: E402
from archsearch.data import load_data, scoring_batch  # noqa: E402
from archsearch.evaluator import Evaluator  # noqa: E402
from archsearch.groundtruth import load_ground_truth  # noqa: E402
from archsearch.proxies import Batch  # noqa: E402
from archsearch.stats import rank_correlations, spearman  # noqa: E402
from benchmarks.common import (CIFAR10_SAMPLE, NB201_TABLE, REPO_ROOT, SHARED_DATA, machine_description,  # noqa: E402
                               markdown_table, require_file)

NASLIB_TABLE = SHARED_DATA / "nb201" / "naslib_zero_cost_725.csv"
TEACHER_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16_120": "ImageNet16-120"}
# Our proxy name -> NASLib's column name, for the published per-cell scores.
NASLIB_COLUMNS = {"nwot": "nwot", "synflow": "synflow", "snip": "snip", "grasp": "grasp", "fisher": "fisher",
                  "grad_norm": "grad_norm", "jacob_cov": "jacov", "l2_norm": "l2_norm", "params": "params",
                  "flops": "flops"}
# Published Spearman rho against CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy on these cells.
PUBLISHED_RHO = {"nwot": (0.800, 0.816, 0.797), "synflow": (0.776, 0.767, 0.761), "params": (0.772, 0.743, 0.718),
                 "flops": (0.750, 0.721, 0.696), "jacob_cov": (0.733, 0.729, 0.730), "snip": (0.651, 0.656, 0.613),
                 "grad_norm": (0.647, 0.646, 0.616), "grasp": (0.571, 0.549, 0.517),
                 "fisher": (0.551, 0.551, 0.525)}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", nargs="+", default=["nwot", "synflow", "params", "flops", "diswot"],
                        help="proxy names (see `archsearch list`)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats, each with its own batch and seed")
    parser.add_argument("--batch-size", type=int, default=64, help="images per scoring batch")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N cells (default: all)")
    parser.add_argument("--data", type=Path, default=CIFAR10_SAMPLE, help="CIFAR-10 .npz with x and y")
    parser.add_argument("--ground-truth", type=Path, default=NB201_TABLE, help="NAS-Bench-201 accuracy CSV")
    parser.add_argument("--naslib-table", type=Path, default=NASLIB_TABLE, help="NASLib zero-cost CSV")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "proxy_correlation",
                        help="output folder")
    return parser.parse_args()


def score_cells(cells: list[str], arguments: argparse.Namespace) -> pd.DataFrame:
    space = search_spaces.create("nb201", num_classes=10)
    splits = load_data(str(arguments.data))
    rows = []
    for repeat in range(arguments.repeats):
        inputs, labels = scoring_batch(splits, arguments.batch_size, seed=repeat)
        torch.manual_seed(repeat)
        teacher = space.build(TEACHER_CELL).eval()
        for name in arguments.proxies:
            evaluator = Evaluator(space, [proxy_registry.create(name)], Batch(inputs, labels), teacher=teacher,
                                  seed=repeat)
            start = time.perf_counter()
            for cell in cells:
                record = evaluator.evaluate(cell)
                rows.append({"repeat": repeat, "proxy": name, "arch": cell, "score": record["scores"].get(name),
                             "error": record["error"]})
            logging.info("repeat %d %s: %.1f ms per cell", repeat, name,
                         1000 * (time.perf_counter() - start) / len(cells))
    return pd.DataFrame(rows)


def correlate(scores: pd.DataFrame, truth, naslib: pd.DataFrame) -> pd.DataFrame:
    # Ground truth is read only here, after all scoring.
    summary = []
    for (name, repeat), group in scores.groupby(["proxy", "repeat"]):
        direction = proxy_registry.proxy_class(name).direction
        row = {"proxy": name, "repeat": repeat}
        for column, dataset in DATASETS.items():
            accuracy = truth.query_many(list(group["arch"]), dataset, "test")
            stats = rank_correlations(group["score"].astype(float).to_numpy(), accuracy, direction=direction)
            row[f"{column}_rho"] = stats.spearman
            row[f"{column}_tau"] = stats.kendall_tau_b
            row[f"{column}_top10"] = stats.top_k_precision[0.1]
            row["failed"] = stats.n_nan
        if name in NASLIB_COLUMNS:
            published = naslib.set_index("arch").loc[list(group["arch"]), NASLIB_COLUMNS[name]]
            row["rho_vs_published_scores"] = spearman(group["score"].astype(float).to_numpy(), published.to_numpy())
        summary.append(row)
    return pd.DataFrame(summary)


def write_outputs(scores: pd.DataFrame, summary: pd.DataFrame, truth, arguments: argparse.Namespace) -> None:
    arguments.out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(arguments.out / "scores.csv", index=False)
    summary.to_csv(arguments.out / "correlations.csv", index=False)

    numeric = summary.drop(columns=["repeat"]).groupby("proxy")
    table = numeric.mean().round(3)
    table["cifar10_rho_std"] = numeric["cifar10_rho"].std().round(3)
    for index, column in enumerate(DATASETS):
        table[f"{column}_published_rho"] = [PUBLISHED_RHO.get(name, (None,) * 3)[index] for name in table.index]
    table = table.sort_values("cifar10_rho", ascending=False)

    _plot(scores, summary, truth, arguments.out)
    info = machine_description()
    lines = [
        "# Proxy rank correlation on the NASLib NAS-Bench-201 cells",
        "",
        f"- Command: `{info['command']}`",
        f"- Machine: {info['machine']} (torch threads: {info['torch_threads']}); {info['software']}",
        f"- Date: {info['date']}",
        f"- Cells: {scores['arch'].nunique()}; repeats: {arguments.repeats}; batch {arguments.batch_size} of real "
        f"CIFAR-10 images from {arguments.data.name}, also for the CIFAR-100 and ImageNet16-120 columns",
        "- DisWOT and CKA teacher: the best CIFAR-10 cell at random initialisation (seeded per repeat)",
        "",
        "Mean over repeats; `*_rho` is Spearman, `*_tau` Kendall tau-b, `*_top10` top-10% precision, all against "
        "200-epoch test accuracy; `rho_vs_published_scores` compares our per-cell scores with NASLib's.",
        "",
        markdown_table(table),
        "",
        "Plots: `scatter.png` (score against CIFAR-10 accuracy, first repeat), `rho.png` (Spearman rho).",
    ]
    (arguments.out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _plot(scores: pd.DataFrame, summary: pd.DataFrame, truth, out: Path) -> None:
    names = list(dict.fromkeys(scores["proxy"]))
    figure, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    for axis, name in zip(axes[0], names):
        group = scores[(scores["proxy"] == name) & (scores["repeat"] == 0)].dropna(subset=["score"])
        axis.scatter(group["score"], truth.query_many(list(group["arch"]), "cifar10", "test"), s=4, alpha=0.5)
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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    arguments = parse_arguments()
    for path, what in ((arguments.data, "CIFAR-10 sample"), (arguments.ground_truth, "NAS-Bench-201 table"),
                       (arguments.naslib_table, "NASLib zero-cost table")):
        require_file(path, what)
    naslib = pd.read_csv(arguments.naslib_table)
    naslib = naslib[naslib["dataset"] == "cifar10"]
    cells = list(naslib["arch"])[: arguments.limit]
    scores = score_cells(cells, arguments)
    truth = load_ground_truth(str(arguments.ground_truth))
    write_outputs(scores, correlate(scores, truth, naslib), truth, arguments)


if __name__ == "__main__":
    main()
