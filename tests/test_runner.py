"""The search loop: budgets, de-duplication, cost limits, failures, and resuming a stopped run."""

from __future__ import annotations

import time
import zlib

import pytest
import torch

import search_spaces
from archsearch import proxies, searchers
from archsearch.evaluator import CostLimits, Evaluator
from archsearch.proxies import Batch, Proxy
from archsearch.runner import Budget, SearchInterrupted, run_search
from archsearch.store import RunStore


@pytest.fixture(scope="module")
def space():
    return search_spaces.create("nb201", channels=4, cells_per_stage=1, input_size=16)


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    return Batch(torch.randn(8, 3, 16, 16, generator=generator), torch.randint(0, 10, (8,), generator=generator))


class CountingEvaluator(Evaluator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.evaluated: list[str] = []

    def evaluate(self, arch):
        self.evaluated.append(self.space.format(arch))
        return super().evaluate(arch)


class AlwaysFails(Proxy):
    name = "always_fails"

    def compute(self, model, batch, teacher):
        raise RuntimeError("simulated failure")


class StopAfter(Proxy):
    """Raise KeyboardInterrupt on the n-th score, as a user pressing Ctrl-C would."""

    name = "params"

    def __init__(self, count: int) -> None:
        self.count = count

    def compute(self, model, batch, teacher):
        self.count -= 1
        if self.count < 0:
            raise KeyboardInterrupt
        return sum(p.numel() for p in model.parameters()) / 1e6


def make_run(tmp_path, space, batch, proxy, budget, name="run", seed=0, limits=CostLimits(), searcher="evolution"):
    store = RunStore.open(tmp_path / name) if RunStore.exists(tmp_path / name) else \
        RunStore.create(tmp_path / name, {"proxies": [proxy.name]})
    evaluator = CountingEvaluator(space, [proxy], batch, limits=limits, seed=seed)
    options = {"population_size": 10, "sample_size": 3} if searcher == "evolution" else {}
    search = searchers.create(searcher, space, seed=seed, **options)
    run_search(search, evaluator, store, budget)
    return store, evaluator


def test_budget_and_each_key_scored_once(tmp_path, space, batch):
    store, evaluator = make_run(tmp_path, space, batch, proxies.create("params"), Budget(evaluations=60))
    keys = [record["canonical"] for record in store.records]
    assert len(keys) == 60
    assert len(set(keys)) == 60
    assert len(evaluator.evaluated) == 60


def test_same_seed_same_run(tmp_path, space, batch):
    first, _ = make_run(tmp_path, space, batch, proxies.create("params"), Budget(evaluations=30), name="a")
    second, _ = make_run(tmp_path, space, batch, proxies.create("params"), Budget(evaluations=30), name="b")
    assert [r["arch"] for r in first.records] == [r["arch"] for r in second.records]
    assert [r["objective"] for r in first.records] == [r["objective"] for r in second.records]


def test_all_failures_end_within_budget(tmp_path, space, batch):
    start = time.perf_counter()
    store, _ = make_run(tmp_path, space, batch, AlwaysFails(), Budget(evaluations=25))
    assert time.perf_counter() - start < 60
    assert len(store.records) == 25
    assert all(record["status"] == "failed" for record in store.records)
    assert all("simulated failure" in record["error"] for record in store.records)
    assert store.best is None


def test_seconds_budget_stops(tmp_path, space, batch):
    start = time.perf_counter()
    store, _ = make_run(tmp_path, space, batch, proxies.create("params"), Budget(seconds=1.5))
    elapsed = time.perf_counter() - start
    assert elapsed < 1.5 + 2.0  # at most one evaluation past the limit, plus set-up
    assert len(store.records) >= 1
    assert max(record["elapsed"] for record in store.records) < 1.5 + 1.0


def test_cost_limit_rejects_without_scoring(tmp_path, space, batch):
    limits = CostLimits(max_params=9000)
    store, _ = make_run(tmp_path, space, batch, proxies.create("params"), Budget(evaluations=20), limits=limits)
    rejected = [r for r in store.records if r["status"] == "rejected"]
    scored = [r for r in store.records if r["status"] == "ok"]
    assert rejected, "the limit should reject the larger cells"
    assert all(r["params"] > 9000 and r["scores"] == {} and "max_params" in r["error"] for r in rejected)
    assert len(scored) == 20
    assert all(r["params"] <= 9000 for r in scored)


def test_impossible_limit_stops(tmp_path, space, batch):
    limits = CostLimits(max_params=10)
    store, _ = make_run(tmp_path, space, batch, proxies.create("params"), Budget(evaluations=5, seconds=60),
                        limits=limits, searcher="random")
    assert store.best is None
    assert all(r["status"] == "rejected" for r in store.records)


def test_interrupted_run_resumes_without_rescoring(tmp_path, space, batch):
    reference, _ = make_run(tmp_path, space, batch, proxies.create("params"), Budget(evaluations=40), name="full")

    with pytest.raises(SearchInterrupted) as interrupted:
        make_run(tmp_path, space, batch, StopAfter(17), Budget(evaluations=40), name="cut")
    assert len(RunStore.open(tmp_path / "cut").records) == 17
    assert isinstance(interrupted.value, KeyboardInterrupt)
    assert (interrupted.value.run_dir, interrupted.value.records) == (tmp_path / "cut", 17)

    resumed, evaluator = make_run(tmp_path, space, batch, proxies.create("params"), Budget(evaluations=40),
                                  name="cut")
    assert len(evaluator.evaluated) == 40 - 17
    assert [r["arch"] for r in resumed.records] == [r["arch"] for r in reference.records]
    assert [r["objective"] for r in resumed.records] == [r["objective"] for r in reference.records]


def test_budget_validation():
    with pytest.raises(ValueError, match="needs evaluations, seconds or both"):
        Budget()
    with pytest.raises(ValueError, match="evaluations must be a positive integer, got 0"):
        Budget(evaluations=0)
    with pytest.raises(ValueError, match="seconds must be a positive finite number"):
        Budget(seconds=float("inf"))
    with pytest.raises(ValueError, match="max_params must be a positive number"):
        CostLimits(max_params=-1)


class RandomLandscape(Proxy):
    """Score a cell by a hash of its operations: distinct values with many local optima, and cheap."""

    name = "random_landscape"

    def compute(self, model, batch, teacher):
        return float(zlib.crc32("".join(model.cell).encode()))


def test_evolution_keeps_finding_new_cells(tmp_path, space, batch):
    # Evolution soon sits on a local optimum whose neighbours are all scored. Repeated proposals
    # of scored cells must lead it to new cells, not fill the population until the search stalls.
    store = RunStore.create(tmp_path / "run", {"proxies": ["random_landscape"]})
    evaluator = Evaluator(space, [RandomLandscape()], batch)
    run_search(searchers.create("evolution", space, seed=0), evaluator, store, Budget(evaluations=1000))
    assert len(store.records) == 1000
    assert len({record["canonical"] for record in store.records}) == 1000
