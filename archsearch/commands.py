"""The work behind each ``archsearch`` subcommand; ``cli.py`` parses, these run and print."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import logging
import sys
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from archsearch import api, pipeline
from archsearch.encoding import decode_utf8
from archsearch import proxies as proxy_registry
from archsearch import searchers as searcher_registry
from archsearch.store import SCORE_PREFIX, RunStore
import search_spaces

MILLION = 1e6


@contextlib.contextmanager
def _progress_logging(quiet: bool) -> Iterator[bool]:
    """Route log lines through tqdm so they print above the progress bar; yield whether to show it."""
    if quiet:
        yield False
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[logging.getLogger("archsearch")]):
        yield True


def run_search(arguments: argparse.Namespace) -> int:
    # api.search validates the space, proxy and searcher names before loading data or a teacher.
    proxy_names = _proxy_names(arguments.proxy)
    space_options = parse_space_options(arguments.space_options)
    evaluations = arguments.evaluations
    if evaluations is None and arguments.seconds is None:
        evaluations = api.DEFAULT_EVALUATIONS
    searcher_options = {}
    if arguments.searcher == "evolution":
        if arguments.population is not None:
            searcher_options["population_size"] = arguments.population
        if arguments.sample_size is not None:
            searcher_options["sample_size"] = arguments.sample_size
    elif arguments.population is not None or arguments.sample_size is not None:
        raise ValueError(f"--population and --sample-size set regularised evolution; searcher "
                         f"{arguments.searcher!r} has no such option (use --searcher evolution)")
    if arguments.latency_batch_size is not None and arguments.max_latency is None:
        raise ValueError("--latency-batch-size sets the batch of the --max-latency measurement; pass --max-latency too")

    with _progress_logging(arguments.quiet) as progress:
        run = api.search(arguments.space, proxy_names, searcher=arguments.searcher, data=arguments.data,
                         download=arguments.download, teacher=arguments.teacher,
                         teacher_checkpoint=arguments.teacher_checkpoint,
                         evaluations=evaluations, seconds=arguments.seconds, seed=arguments.seed,
                         max_params=None if arguments.max_params is None else arguments.max_params * MILLION,
                         max_flops=None if arguments.max_flops is None else arguments.max_flops * MILLION,
                         max_latency_ms=arguments.max_latency, latency_batch_size=arguments.latency_batch_size,
                         batch_size=arguments.batch_size, out_dir=arguments.out, space_options=space_options,
                         searcher_options=searcher_options, device=arguments.device, progress=progress)
    return print_summary(run, arguments.top)


def run_resume(arguments: argparse.Namespace) -> int:
    with _progress_logging(arguments.quiet) as progress:
        run = api.resume(arguments.run_dir, evaluations=arguments.evaluations, seconds=arguments.seconds,
                         device=arguments.device, progress=progress)
    return print_summary(run, arguments.top)


def run_show(arguments: argparse.Namespace) -> int:
    return print_summary(RunStore.open(arguments.run_dir), arguments.top)


def run_distill(arguments: argparse.Namespace) -> int:
    options = {name: getattr(arguments, name) for name in ("epochs", "batch_size", "lr", "temperature", "alpha", "seed")
               if getattr(arguments, name) is not None}
    with _progress_logging(arguments.quiet) as progress:
        report = pipeline.distill(arguments.run_dir, device=arguments.device, progress=progress, **options)
    print(f"student: {report['arch']}")
    print(f"teacher test accuracy:            {report['teacher_accuracy']:.2f}%")
    print(f"student with KD test accuracy:    {report['kd_accuracy']:.2f}%")
    print(f"student without KD test accuracy: {report['plain_accuracy']:.2f}%")
    print(f"written: {report['path']}")
    return 0


def run_export(arguments: argparse.Namespace) -> int:
    path = pipeline.export(arguments.run_dir, arguments.out)
    print(f"exported the student to {path}")
    return 0


def run_score(arguments: argparse.Namespace) -> int:
    proxy_names = _proxy_names(arguments.proxy)
    space_options = parse_space_options(arguments.space_options)
    archs = list(arguments.archs)
    if arguments.file is not None:
        archs += _read_arch_file(arguments.file, arguments.space, space_options)
    if not archs:
        raise ValueError("no architectures given; pass them as arguments or with --file FILE")
    if arguments.out is not None:
        # Checked before scoring, which may take long, rather than when the table is written.
        _check_table_path(Path(arguments.out).expanduser())
    if arguments.latency_batch_size is not None and not arguments.latency:
        raise ValueError("--latency-batch-size sets the batch of the --latency measurement; pass --latency too")
    if arguments.latency and arguments.workers > 1:
        raise ValueError(f"--latency needs --workers 1, because {arguments.workers} processes on one machine would "
                         "slow each other's timed forward passes")
    with _progress_logging(arguments.quiet) as progress:
        table = api.score(archs, proxy_names, space=arguments.space, space_options=space_options,
                          data=arguments.data, download=arguments.download, teacher=arguments.teacher,
                          teacher_checkpoint=arguments.teacher_checkpoint, seed=arguments.seed,
                          batch_size=arguments.batch_size, device=arguments.device, workers=arguments.workers,
                          latency=arguments.latency, latency_batch_size=arguments.latency_batch_size,
                          progress=progress)
    if arguments.out is None:
        printed = table.drop(columns=["canonical"])
        printed["error"] = printed["error"].fillna("")
        print(printed.to_string(index=False))
    else:
        table.to_csv(arguments.out, index=False)
        print(f"wrote {len(table)} rows to {arguments.out}")
    return 0


def _proxy_names(text: str | None) -> list[str] | None:
    # None leaves the choice to the API, whose default depends on the space's inputs.
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ValueError(f"--proxy {text!r} contains an empty name; separate proxy names with single commas, "
                         "for example --proxy nwot,synflow")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"--proxy lists {', '.join(repeated)} more than once; give each proxy once")
    return names


def _check_table_path(path: Path) -> None:
    """Raise a ValueError when a table cannot be written to ``path``."""
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; pass a file path such as {path / 'scores.csv'}")
    if not path.resolve().parent.is_dir():
        raise ValueError(f"the folder of --out {path} does not exist; create it or choose another path")


def parse_space_options(items: list[str]) -> dict[str, Any]:
    """Turn ``--space-option KEY=VALUE`` items into keyword arguments, reading each value as JSON when it parses.

    Raises:
        ValueError: If an item has no ``=`` or an empty key, a key is given twice, or a value
            that starts like a JSON list or mapping is not valid JSON.
    """
    options: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ValueError(f"invalid --space-option {item!r}; expected KEY=VALUE, for example "
                             "--space-option preset=cpu")
        if key in options:
            raise ValueError(f"--space-option {key} is given twice; give each option once")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            if text.lstrip().startswith("{"):
                raise ValueError(f"invalid JSON in --space-option {item!r}; write keys and strings in double "
                                 "quotes") from None
            if text.lstrip().startswith("["):
                # A list meant as JSON; read as text it would reach the space as one string.
                raise ValueError(f"invalid JSON in --space-option {item!r}; write strings in double quotes, for "
                                 f"example {key}='{_quoted_list(text)}'") from None
            options[key] = text
    return options


def _quoted_list(text: str) -> str:
    # "[basic, bottleneck]" -> '["basic", "bottleneck"]', the JSON the user most likely meant.
    inner = text.strip().strip("[]")
    items = [part.strip().strip("'\"") for part in inner.split(",") if part.strip()]
    return "[" + ", ".join(f'"{part}"' for part in items) + "]"


def _read_arch_file(path: str, space: str, space_options: dict[str, Any]) -> list[str]:
    """Return the architectures of a ``--file``, checking each against the space so an error names its line.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the path is a folder, the file is not UTF-8 text, or a line is not an
            architecture of ``space``.
    """
    file = Path(path).expanduser()
    if file.is_dir():
        raise ValueError(f"--file {path} is a folder; pass a text file with one architecture per line")
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"architecture file {path} not found; pass a text file with one architecture per "
                                "line") from None
    lines = decode_utf8(data, f"architecture file {path}",
                        "save the file as UTF-8 with one architecture per line").splitlines()

    checker = search_spaces.create(space, **space_options)
    archs = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            checker.parse(text)
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: {error}") from None
        archs.append(text)
    return archs


def run_list(arguments: argparse.Namespace) -> int:
    print("search spaces:")
    for name in search_spaces.list():
        space = search_spaces.create(name)
        print(f"  {name:<18} {space.size:,} architectures, {len(space.dimensions())} dimensions")
    print("proxies:")
    for name in proxy_registry.list():
        cls = proxy_registry.proxy_class(name)
        teacher = "needs a teacher" if cls.needs_teacher else "no teacher"
        inputs = "images or text" if cls.inputs == "any" else cls.inputs
        print(f"  {name:<18} {cls.direction}, BatchNorm in {cls.bn_mode} mode, {teacher}, scores {inputs}")
        if cls.source:
            print(f"  {'':<18} source: {cls.source}")
    print("searchers:")
    for name in searcher_registry.list():
        print(f"  {name}")
    return 0


def run_spaces(arguments: argparse.Namespace) -> int:
    names = list(arguments.names) or search_spaces.list()
    options = parse_space_options(arguments.space_options)
    if options and not arguments.names:
        raise ValueError("--space-option needs the names of the spaces it applies to, for example "
                         "archsearch spaces vit --space-option input_size=32")
    # Every name is checked before anything is printed, so an unknown name prints only the error.
    spaces = [search_spaces.create(name, **options) for name in names]
    blocks = [_describe_space(name, space) for name, space in zip(names, spaces)]
    print("\n\n".join(blocks))
    return 0


def _describe_space(name: str, space: search_spaces.SearchSpace) -> str:
    dimensions = space.dimensions()
    example = space.format(space.example_values() if hasattr(space, "example_values") else
                           space.from_dimensions({dimension.name: dimension.choices[0] for dimension in dimensions}))
    options = ", ".join(f"{key}={value}" for key, value in space.config().items())
    accepted = [parameter for parameter in inspect.signature(type(space).__init__).parameters if parameter != "self"]
    name_width = max(len(dimension.name) for dimension in dimensions)
    lines = [f"{name}: {space.size:,} architectures, {len(dimensions)} dimensions",
             f"  options: {options or 'none'}",
             f"  accepted options: {', '.join(accepted) or 'none'}",
             f"  example: {example}"]
    for dimension in dimensions:
        lines.append(f"  {dimension.name:<{name_width}}  {', '.join(map(str, dimension.choices))}")
    return "\n".join(lines)


def print_summary(run: RunStore, top: int) -> int:
    """Print the run's counts and its ``top`` candidates as a table; return 1 if nothing was scored."""
    frame = run.to_dataframe()
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    print(f"run directory: {run.run_dir}")
    print(f"candidates: {counts.get('ok', 0)} scored, {counts.get('failed', 0)} failed, "
          f"{counts.get('rejected', 0)} rejected by cost limits")
    if run.best is None:
        print(f"archsearch: no candidate of {run.run_dir} was scored; see the errors in {run.run_dir}/results.jsonl",
              file=sys.stderr)
        return 1
    proxy_names = run.config.get("proxies", [])
    table = run.top(top)
    shown = pd.DataFrame({"rank": range(1, len(table) + 1), "arch": table["arch"]})
    for name in proxy_names:
        shown[name] = table[SCORE_PREFIX + name].map(lambda value: f"{value:.5g}")
    shown["params (M)"] = (table["params"] / MILLION).map(lambda value: f"{value:.3f}")
    shown["MACs (M)"] = (table["flops"] / MILLION).map(lambda value: f"{value:.1f}")
    if table["latency_ms"].notna().any():
        shown["latency (ms)"] = table["latency_ms"].map(lambda value: f"{value:.2f}")
    print(shown.to_string(index=False))
    return 0
