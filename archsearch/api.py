"""The high-level search function: load data and teacher, search, and return the run."""

from __future__ import annotations

import datetime
import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch

import search_spaces
from archsearch import proxies as proxy_registry
from archsearch import searchers as searcher_registry
from archsearch.evaluator import CostLimits, Evaluator
from archsearch.parallel import check_workers, evaluate_in_workers
from archsearch.proxies import Proxy
from archsearch.runner import Budget, run_search
from archsearch.scoring_setup import check_space_options, default_proxy, prepare_scoring
from archsearch.store import RunStore
from archsearch.version import __version__

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("archsearch")

DEFAULT_EVALUATIONS = 200

# Configuration fields that must match for a run directory to be resumed; the budget may change.
RESUME_FIELDS = ("space", "space_config", "proxies", "searcher", "searcher_config", "seed", "limits", "data",
                 "teacher", "teacher_checkpoint", "batch_size")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Return ``device``, or CUDA when available and CPU otherwise.

    Raises:
        ValueError: If ``device`` is not a device name or names CUDA on a machine without it.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"invalid device {device!r}; use cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested, but PyTorch finds no CUDA GPU here; use cpu")
    return resolved


def default_run_dir(space: str, proxy: str) -> Path:
    """Return a new, not yet existing run directory under ``./archsearch-runs``.

    The name contains the time, space and proxy; a counter is appended when two searches start
    in the same second, so they never share a directory.
    """
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("archsearch-runs") / f"{stamp}-{space}-{proxy}"
    candidate, counter = base, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            counter += 1
            candidate = base.with_name(f"{base.name}-{counter}")


def search(space: str = "nb201", proxy: str | Sequence[str] | None = None, *, searcher: str = "evolution",
           data: str | None = None, download: bool = False, teacher: str | None = None,
           teacher_checkpoint: str | None = None, evaluations: int | None = DEFAULT_EVALUATIONS, seconds: float | None = None, seed: int = 0,
           max_params: float | None = None, max_flops: float | None = None, max_latency_ms: float | None = None,
           latency_batch_size: int | None = None, batch_size: int = 64, out_dir: str | Path | None = None,
           space_options: Mapping[str, Any] | None = None,
           searcher_options: Mapping[str, Any] | None = None, device: str | None = None,
           progress: bool = False) -> RunStore:
    """Search ``space`` for the student that the proxy predicts will distil best from the teacher.

    With no arguments this runs the embedded default: scikit-learn's digits, the demo teacher
    (trained once and cached), NAS-Bench-201 cells, DisWOT and regularised evolution.

    Args:
        space: Registered search-space name (``search_spaces.list()``).
        proxy: The objective proxy, or a list whose first item is the objective and whose other
            items are recorded beside it (``archsearch.proxies.list()``). ``None`` is
            ``diswot`` for image spaces and ``minilm_relation`` for text spaces.
        searcher: Registered searcher name (``archsearch.searchers.list()``).
        data: For image spaces, a data spec for ``archsearch.data.load_data`` (``None`` is
            the digits default). For text spaces, a text file of passages (``None`` is the
            English text of ``pydoc_data.topics``, which ships with Python).
        download: Download a missing CIFAR archive into the folder of a ``cifar10:DIR`` or
            ``cifar100:DIR`` spec (needs internet access).
        teacher: Teacher spec for ``archsearch.teachers.load_teacher``; ``None`` is the demo
            teacher. Text spaces need ``hf:PATH``, whose tokenizer reads the text.
        teacher_checkpoint: A state-dict file for a ``timm:NAME`` teacher.
        evaluations: Number of distinct candidates to score.
        seconds: Search time limit in seconds.
        seed: Seed of the searcher, the scoring batch and each candidate's initialisation.
        max_params: Maximum parameters of a candidate.
        max_flops: Maximum multiply-accumulates per input of a candidate.
        max_latency_ms: Maximum latency of a candidate in milliseconds: the median wall time
            of one forward pass of a batch of ``latency_batch_size`` random inputs on
            ``device``, over 10 timed passes after 3 warm-up passes. It is measured only
            when this is set, after the parameter and FLOP limits pass, and takes 13
            forward passes per candidate. The numbers depend on the machine and its
            load, so a limit carries over to another machine only roughly. A run with a
            latency limit resumes only on the same device type (CPU or CUDA).
        latency_batch_size: Inputs per timed forward pass (default 1); needs
            ``max_latency_ms``.
        batch_size: Size of the scoring minibatch.
        out_dir: Run directory. If it already contains a run with the same configuration, the
            search resumes there. Default: a new folder under ``./archsearch-runs``.
        space_options: Keyword arguments of the search space (for example ``channels``).
        searcher_options: Keyword arguments of the searcher (for example ``population_size``).
        device: ``"cpu"``, ``"cuda"``...; default CUDA when available.
        progress: Show a progress bar. Log lines go through ``logging`` (logger ``archsearch``).

    Returns:
        The run store, with ``best``, ``top(k)`` and ``to_dataframe()``.

    Example:
        >>> run = archsearch.search(evaluations=50, out_dir="runs/demo")
        >>> run.best["arch"]
    """
    proxy_names = _proxy_names(proxy, space, space_options)
    proxy_objects: list[Proxy] = [proxy_registry.create(name) for name in proxy_names]
    if searcher not in searcher_registry.list():
        raise ValueError(f"unknown searcher {searcher!r}; valid names: {', '.join(searcher_registry.list())}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer of at least 2, got {batch_size!r}")
    budget = Budget(evaluations=evaluations, seconds=seconds)
    limits = _cost_limits(max_params, max_flops, max_latency_ms, latency_batch_size)
    device_object = resolve_device(device)
    setup = prepare_scoring(space, space_options, proxy_objects, data=data, teacher=teacher,
                            teacher_checkpoint=teacher_checkpoint, batch_size=batch_size, seed=seed,
                            device=device_object, download=download)
    search_space = setup.space
    check_limits_reachable(search_space, limits, setup.num_classes)
    search_algorithm = searcher_registry.create(searcher, search_space, seed=seed, **dict(searcher_options or {}))
    config = {
        "space": space, "space_config": search_space.config(), "proxies": proxy_names, "searcher": searcher,
        "searcher_config": search_algorithm.config(), "seed": seed,
        "limits": _limits_config(limits, device_object), "data": data, "data_name": setup.data_name,
        "teacher": teacher, "teacher_checkpoint": teacher_checkpoint, "batch_size": batch_size,
        "budget": {"evaluations": evaluations, "seconds": seconds},
        "directions": {proxy_object.name: proxy_object.direction for proxy_object in proxy_objects},
    }

    run_dir = Path(out_dir) if out_dir is not None else default_run_dir(space, proxy_names[0])
    store = _open_or_create(run_dir, config)
    evaluator = Evaluator(search_space, proxy_objects, setup.batch, teacher=setup.teacher, limits=limits,
                          seed=seed, num_classes=setup.num_classes, device=device_object)
    logger.info("Searching %s with %s and %s; run directory %s.", space, proxy_names[0], searcher, run_dir)
    with store.lock():
        return run_search(search_algorithm, evaluator, store, budget, progress=progress)


def _proxy_names(proxy: str | Sequence[str] | None, space: str, space_options: Mapping[str, Any] | None) -> list[str]:
    if proxy is None:
        return [default_proxy(space, space_options)]
    names = [proxy] if isinstance(proxy, str) else list(proxy)
    # A repeated name would give two columns of the same name in the result table.
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"proxy {', '.join(map(repr, repeated))} is given more than once; give each proxy once")
    return names


def _cost_limits(max_params: float | None, max_flops: float | None, max_latency_ms: float | None,
                latency_batch_size: int | None) -> CostLimits:
    """Build the cost limits of a search from its arguments.

    Raises:
        ValueError: If a limit is invalid, or ``latency_batch_size`` is given without
            ``max_latency_ms``.
    """
    if latency_batch_size is not None and max_latency_ms is None:
        raise ValueError(f"latency_batch_size={latency_batch_size!r} sets the latency measurement of max_latency_ms; "
                         "pass max_latency_ms too, or leave latency_batch_size out")
    batch_size = 1 if latency_batch_size is None else latency_batch_size
    return CostLimits(max_params=max_params, max_flops=max_flops, max_latency_ms=max_latency_ms,
                      latency_batch_size=batch_size)


def _limits_config(limits: CostLimits, device: torch.device) -> dict[str, Any]:
    """Return the ``limits`` entry of a run configuration, which ``resume`` passes back to ``search``."""
    config: dict[str, Any] = {"max_params": limits.max_params, "max_flops": limits.max_flops}
    # The latency settings are stored only with a latency limit, so the limits of a run
    # without one equal those stored before latency limits existed, and such runs resume.
    # The device type is stored with them because a CPU and a GPU time the same network
    # very differently, so a resume must measure on the same kind of device.
    if limits.max_latency_ms is not None:
        config["max_latency_ms"] = limits.max_latency_ms
        config["latency_batch_size"] = limits.latency_batch_size
        config["latency_device"] = device.type
    return config


def check_limits_reachable(space: search_spaces.SearchSpace, limits: CostLimits, num_classes: int) -> None:
    """Raise a ValueError when the space's smallest network already breaks a cost limit.

    Without this check a search under an impossible limit would reject candidates until its
    idle-proposal cap stops it, with nothing scored.
    """
    # NOTE: a latency limit is not checked here, because the smallest network's latency is not
    # known without building and timing it. A latency limit that no candidate meets ends the
    # search at the idle-proposal cap.
    smallest = space.minimum_cost(num_classes=num_classes)
    if smallest is None:
        return
    violations = limits.violations(smallest["params"], smallest["flops"])
    if violations:
        raise ValueError(f"no architecture of {space.name} meets the cost limits ({'; '.join(violations)}): its "
                         f"smallest network has {smallest['params']:.0f} parameters and {smallest['flops']:.0f} "
                         "multiply-accumulates; raise the limits")


def _open_or_create(run_dir: Path, config: dict[str, Any]) -> RunStore:
    if not RunStore.exists(run_dir):
        full_config = dict(config, archsearch_version=__version__, torch_version=torch.__version__,
                           python_version=platform.python_version(),
                           started_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        return RunStore.create(run_dir, full_config)

    store = RunStore.open(run_dir)
    differing = [field for field in RESUME_FIELDS if store.config.get(field) != config.get(field)]
    if differing:
        details = ", ".join(_describe_difference(field, store.config.get(field), config.get(field))
                            for field in differing)
        raise ValueError(f"{run_dir} contains a run with a different configuration ({details}); choose another "
                         "output directory or repeat the stored settings to resume")
    store.update_config(budget=config["budget"])
    return store


def _describe_difference(field: str, stored: Any, requested: Any) -> str:
    # For settings stored as dicts (space_config, limits), name only the keys that differ.
    if isinstance(stored, dict) and isinstance(requested, dict):
        keys = [key for key in {**stored, **requested} if stored.get(key) != requested.get(key)]
        return ", ".join(f"{field}.{key}: stored {stored.get(key)!r}, requested {requested.get(key)!r}" for key in keys)
    return f"{field}: stored {stored!r}, requested {requested!r}"


def resume(run_dir: str | Path, *, evaluations: int | None = None, seconds: float | None = None,
           device: str | None = None, progress: bool = False) -> RunStore:
    """Resume the run in ``run_dir`` with its stored settings, optionally with a new budget."""
    config = RunStore.open(run_dir).config
    budget = dict(config["budget"])
    if evaluations is not None or seconds is not None:
        budget = {"evaluations": evaluations, "seconds": seconds}
    return search(config["space"], config["proxies"], searcher=config["searcher"], data=config["data"],
                  teacher=config["teacher"], teacher_checkpoint=config["teacher_checkpoint"],
                  evaluations=budget["evaluations"], seconds=budget["seconds"], seed=config["seed"],
                  max_params=config["limits"]["max_params"], max_flops=config["limits"]["max_flops"],
                  max_latency_ms=config["limits"].get("max_latency_ms"),
                  latency_batch_size=config["limits"].get("latency_batch_size"),
                  batch_size=config["batch_size"], out_dir=run_dir, space_options=config["space_config"],
                  searcher_options=config["searcher_config"], device=device, progress=progress)


def score(archs: Sequence[Any], proxy: str | Sequence[str] | None = None, *, space: str = "nb201",
          data: str | None = None, download: bool = False, teacher: str | None = None, teacher_checkpoint: str | None = None,
          seed: int = 0, batch_size: int = 64, space_options: Mapping[str, Any] | None = None,
          device: str | None = None, workers: int = 1, latency: bool = False, latency_batch_size: int | None = None,
          progress: bool = False) -> "pd.DataFrame":
    """Score the given architectures with one or more proxies, without searching.

    Each architecture is built and initialised as a search would (same seed rule), so its
    scores equal those a search with the same settings records.

    Args:
        archs: Architectures in any form the space parses (strings, mappings).
        proxy: A proxy name or a list of names (``archsearch.proxies.list()``); ``None`` is
            the default of ``search``.
        space, data, download, teacher, teacher_checkpoint, seed, batch_size, space_options,
            device: As in ``search``.
        workers: Processes that score in parallel, each with an equal share of torch's
            threads. On two CPU cores, 2 workers scored the 6,466 distinct NAS-Bench-201
            cells with nwot in 15.5 minutes, one process with 2 threads in about 16.5
            (``results/proxy_speed``). The scores do not depend on it.
        latency: Measure each architecture's latency into the ``latency_ms`` column, as
            ``search`` does for ``max_latency_ms``. Needs ``workers=1``, because processes
            that share the machine would slow each other's timed passes.
        latency_batch_size: Inputs per timed forward pass (default 1); needs ``latency``.
        progress: Show a progress bar.

    Returns:
        One row per architecture: ``arch``, ``canonical``, ``status``, a ``score_<proxy>``
        column per proxy, ``params``, ``flops``, ``latency_ms`` (only with ``latency``),
        ``seconds`` and ``error``.

    Example:
        >>> archsearch.score(["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"],
        ...                  ["nwot", "synflow"])
    """
    from tqdm.auto import tqdm

    from archsearch.store import records_to_dataframe

    proxy_names = _proxy_names(proxy, space, space_options)
    proxy_objects = [proxy_registry.create(name) for name in proxy_names]
    check_workers(workers)
    limits = _score_limits(latency, latency_batch_size, workers)
    device_object = resolve_device(device)
    archs = list(archs)
    if not archs:
        raise ValueError("no architectures to score; pass at least one")
    # Parsing first reports a bad architecture before the data and teacher load.
    provisional = search_spaces.create(space, **check_space_options(space_options))
    for arch in archs:
        provisional.parse(arch)
    setup = prepare_scoring(space, space_options, proxy_objects, data=data, teacher=teacher,
                            teacher_checkpoint=teacher_checkpoint, batch_size=batch_size, seed=seed,
                            device=device_object, download=download)
    parsed = [setup.space.parse(arch) for arch in archs]
    evaluator_options = {"space": setup.space, "proxies": proxy_objects, "batch": setup.batch,
                         "teacher": setup.teacher, "seed": seed, "num_classes": setup.num_classes,
                         "device": device_object, "limits": limits, "record_latency": latency}
    with tqdm(total=len(parsed), disable=not progress, unit="arch", desc="score") as bar:
        if workers > 1:
            records = evaluate_in_workers(evaluator_options, parsed, workers, on_done=bar.update)
        else:
            evaluator = Evaluator(**evaluator_options)
            records = []
            for arch in parsed:
                records.append(evaluator.evaluate(arch))
                bar.update(1)
    for index, record in enumerate(records):
        record["index"] = index
    unused_columns = ["objective", "elapsed"] if latency else ["objective", "elapsed", "latency_ms"]
    return records_to_dataframe(records, proxy_names).drop(columns=unused_columns)


def _score_limits(latency: bool, latency_batch_size: int | None, workers: int) -> CostLimits:
    """Build the limits of ``score``, which reject nothing but carry the latency measurement settings.

    Raises:
        ValueError: If ``latency_batch_size`` is given without ``latency``, or ``latency`` with
            more than one worker.
    """
    if latency_batch_size is not None and not latency:
        raise ValueError(f"latency_batch_size={latency_batch_size!r} sets the latency measurement; pass latency=True "
                         "too, or leave latency_batch_size out")
    if latency and workers > 1:
        raise ValueError(f"latency is measured with workers=1 only, because {workers} processes on one machine would "
                         "slow each other's timed forward passes; pass workers=1")
    return CostLimits(latency_batch_size=1 if latency_batch_size is None else latency_batch_size)
