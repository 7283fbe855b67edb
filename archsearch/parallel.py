"""Score a list of architectures in several worker processes.

Scoring one small network runs many short operations that two or more threads share poorly.
On a CPU, processes with one thread each can therefore score more cells per second than one
process with all threads. On the two-core machine of ``results/proxy_speed`` the gain was
about 7%. A search cannot use this, because each candidate depends on the previous results,
but scoring a fixed list can.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Hashable, Sequence

import torch

from archsearch.evaluator import Evaluator

# Architectures sent to a worker at a time: small enough for a smooth progress bar, large
# enough that inter-process traffic stays negligible next to the scoring.
CHUNK_SIZE = 8

_worker_evaluator: Evaluator | None = None


def check_workers(workers: Any) -> int:
    """Return ``workers`` as a positive int, or raise a ValueError that names the value."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer (1 scores in this process), got {workers!r}")
    return workers


def evaluate_in_workers(evaluator_options: dict[str, Any], archs: Sequence[Hashable], workers: int,
                        on_done: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Evaluate ``archs`` with ``workers`` processes and return the records in input order.

    The teacher's outputs are computed once in this process and sent to the workers, and
    each worker builds its own ``Evaluator`` from ``evaluator_options`` and those outputs.
    Each candidate is initialised from the run seed and its canonical key, as
    in one process, so the scores equal those of a serial run up to float rounding. The
    workers start with ``spawn``, which is safe after torch has started its own threads.

    Args:
        evaluator_options: Keyword arguments of ``Evaluator``; they must be picklable (the
            space, proxies, batch and teacher of archsearch are).
        archs: The architectures to evaluate.
        workers: Number of processes; torch's threads are divided among them.
        on_done: Called with the number of records of each finished chunk (for a progress bar).
    """
    if evaluator_options.get("teacher") is not None:
        # The teacher runs once, here, and the workers receive its outputs as plain tensors. A
        # transformers teacher returned no hidden states after being pickled to a worker.
        outputs = Evaluator(**evaluator_options).teacher_outputs
        evaluator_options = {**evaluator_options, "teacher": None, "teacher_outputs": outputs}
    threads = max(1, torch.get_num_threads() // workers)
    chunks = [list(archs[start:start + CHUNK_SIZE]) for start in range(0, len(archs), CHUNK_SIZE)]
    records: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                             initargs=(evaluator_options, threads)) as pool:
        for chunk_records in pool.map(_evaluate_chunk, chunks):
            records.extend(chunk_records)
            if on_done is not None:
                on_done(len(chunk_records))
    return records


def _start_worker(evaluator_options: dict[str, Any], threads: int) -> None:
    global _worker_evaluator
    torch.set_num_threads(threads)
    _worker_evaluator = Evaluator(**evaluator_options)


def _evaluate_chunk(archs: list[Hashable]) -> list[dict[str, Any]]:
    return [_worker_evaluator.evaluate(arch) for arch in archs]
