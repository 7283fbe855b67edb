"""The search loop: ask the searcher, score each new candidate once, store it, tell the searcher."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from archsearch.evaluator import Evaluator
from archsearch.searchers import Searcher
from archsearch.store import RunStore

logger = logging.getLogger("archsearch.search")

# A searcher that keeps proposing candidates already seen or over a cost limit would loop
# forever. After this many such proposals in a row, the search stops with a warning.
MAX_PROPOSALS_WITHOUT_NEW_EVALUATION = 2000


@dataclass(frozen=True)
class Budget:
    """When a search stops: after ``evaluations`` scored candidates or ``seconds`` of search time.

    At least one of them must be set. Candidates rejected by a cost limit and repeated
    proposals of an already scored network do not count as evaluations. The time limit stops
    the search from starting a new evaluation; the one in progress finishes.
    """

    evaluations: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.evaluations is None and self.seconds is None:
            raise ValueError("a budget needs evaluations, seconds or both")
        if self.evaluations is not None and (isinstance(self.evaluations, bool) or not isinstance(self.evaluations, int)
                                             or self.evaluations < 1):
            raise ValueError(f"evaluations must be a positive integer, got {self.evaluations!r}")
        if self.seconds is not None and (isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float))
                                         or not self.seconds > 0 or math.isinf(self.seconds)):
            raise ValueError(f"seconds must be a positive finite number, got {self.seconds!r}")


class SearchInterrupted(KeyboardInterrupt):
    """A Ctrl-C during a search, with the run directory that contains the finished results.

    It subclasses ``KeyboardInterrupt``, so code that catches that still catches it. The command
    line reads ``run_dir`` and ``records`` to say what was saved and how to continue.
    """

    def __init__(self, run_dir: Path, records: int) -> None:
        super().__init__(f"search interrupted; {records} records are saved in {run_dir}")
        self.run_dir = run_dir
        self.records = records


class _Replay:
    """The stored results of a resumed run: objectives by canonical key and rejections by arch string."""

    def __init__(self, store: RunStore) -> None:
        self.objectives: dict[str, float | None] = {}
        self.rejected: set[str] = set()
        self.elapsed = 0.0
        for record in store.records:
            if record["status"] == "rejected":
                self.rejected.add(record["arch"])
            else:
                self.objectives[record["canonical"]] = record["objective"]
            self.elapsed = max(self.elapsed, record.get("elapsed") or 0.0)


def run_search(searcher: Searcher, evaluator: Evaluator, store: RunStore, budget: Budget,
               progress: bool = False) -> RunStore:
    """Search until the budget is spent, writing each record to ``store`` before the next candidate.

    A store that already contains records is resumed: the searcher is replayed from its seed and
    every candidate found in the store gets its stored result without scoring, so the search
    continues exactly where it stopped.
    """
    space = searcher.space
    replay = _Replay(store)
    scored: dict[str, float | None] = {}
    rejected: set[str] = set()
    best: dict[str, Any] | None = store.best
    proxy_name = evaluator.objective_proxy.name
    session_start = time.perf_counter()
    idle_proposals = 0

    if store.records:
        logger.info("Resuming %s: %d records loaded.", store.run_dir, len(store.records))
    bar = tqdm(total=budget.evaluations, disable=not progress, unit="eval", desc="search", dynamic_ncols=True)
    try:
        while not _spent(budget, len(scored), replay.elapsed + time.perf_counter() - session_start):
            if idle_proposals >= MAX_PROPOSALS_WITHOUT_NEW_EVALUATION:
                logger.warning("Stopping: %d proposals in a row were already scored or over a cost limit; the "
                               "limits may leave too few candidates.", idle_proposals)
                break
            arch = searcher.ask()
            canonical = space.canonical(arch)
            arch_text = space.format(arch)

            if canonical in scored:
                idle_proposals += 1
                searcher.tell(arch, scored[canonical])
                continue
            if arch_text in rejected:
                idle_proposals += 1
                searcher.tell(arch, None)
                continue
            if canonical in replay.objectives:
                idle_proposals = 0
                scored[canonical] = replay.objectives[canonical]
                searcher.tell(arch, scored[canonical])
                bar.update(1)
                continue
            if arch_text in replay.rejected:
                idle_proposals += 1
                rejected.add(arch_text)
                searcher.tell(arch, None)
                continue

            record = evaluator.evaluate(arch)
            record["index"] = len(store.records)
            record["elapsed"] = replay.elapsed + time.perf_counter() - session_start
            store.append(record)
            if record["status"] == "rejected":
                idle_proposals += 1
                rejected.add(arch_text)
                logger.debug("Rejected %s: %s", arch_text, record["error"])
                searcher.tell(arch, None)
                continue

            idle_proposals = 0
            scored[canonical] = record["objective"]
            searcher.tell(arch, record["objective"])
            if record["status"] == "ok" and (best is None or record["objective"] > best["objective"]):
                best = record
            bar.update(1)
            _log_record(record, len(scored), budget, proxy_name, best)
    except KeyboardInterrupt as error:
        raise SearchInterrupted(store.run_dir, len(store.records)) from error
    finally:
        bar.close()
    return store


def _spent(budget: Budget, evaluations: int, elapsed: float) -> bool:
    if budget.evaluations is not None and evaluations >= budget.evaluations:
        return True
    return budget.seconds is not None and elapsed >= budget.seconds


def _log_record(record: dict[str, Any], count: int, budget: Budget, proxy_name: str,
                best: dict[str, Any] | None) -> None:
    total = budget.evaluations if budget.evaluations is not None else "?"
    best_text = "none yet" if best is None else f"#{best['index']} {proxy_name}={best['scores'][proxy_name]:.6g}"
    if record["status"] == "failed":
        logger.info("Evaluation %d/%s #%d %s failed (%s). Best: %s.", count, total, record["index"], record["arch"],
                    record["error"], best_text)
        return
    logger.info("Evaluation %d/%s #%d %s %s=%.6g (%.2f s). Best: %s.", count, total, record["index"], record["arch"],
                proxy_name, record["scores"][proxy_name], record["seconds"], best_text)


