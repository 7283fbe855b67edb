"""Measured latency: measure_latency, the latency limit of searches, and its options.

Timings on a loaded machine vary, so these tests check behaviour (calls, modes, records and
messages) and never compare milliseconds. Searches use a fake latency function.
"""

from __future__ import annotations

import math
import random
import re

import pytest
import torch
import torch.nn as nn

import archsearch
import search_spaces
from archsearch import proxies
from archsearch.cli import main
from archsearch.evaluator import CostLimits, Evaluator
from archsearch.proxies import Batch
from archsearch.store import RunStore
from search_spaces.cost import count_parameters, measure_latency

TINY_SPACE = {"channels": 4, "cells_per_stage": 1}


@pytest.fixture(scope="module")
def space():
    return search_spaces.create("nb201", input_size=16, **TINY_SPACE)


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    return Batch(torch.randn(4, 3, 16, 16, generator=generator), torch.randint(0, 10, (4,), generator=generator))


@pytest.fixture(scope="module")
def archs(space):
    rng = random.Random(0)
    found = {}
    while len(found) < 12:
        arch = space.sample(rng)
        found.setdefault(space.canonical(arch), arch)
    return list(found.values())


class FakeLatency:
    """Stand-in for ``measure_latency``: one millisecond per 1,000 parameters, and a call log."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, model, input_shape, **options) -> float:
        self.calls.append(dict(options, input_shape=tuple(input_shape)))
        return count_parameters(model) / 1000


@pytest.fixture()
def fake_latency(monkeypatch):
    fake = FakeLatency()
    monkeypatch.setattr("archsearch.evaluator.measure_latency", fake)
    return fake


@pytest.fixture()
def cache_dir(tmp_path_factory, monkeypatch):
    directory = tmp_path_factory.getbasetemp() / "archsearch-cache"
    monkeypatch.setenv("ARCHSEARCH_CACHE_DIR", str(directory))
    return directory


def small_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2))


def run_main(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# measure_latency


def test_measure_latency_positive_finite():
    latency = measure_latency(small_model(), (3, 8, 8), repeats=2, warmup=1)
    assert isinstance(latency, float)
    assert math.isfinite(latency)
    assert latency > 0


def test_measure_latency_restores_each_mode():
    model = small_model()
    model.train()
    model[1].eval()
    measure_latency(model, (3, 8, 8), repeats=1, warmup=0)
    assert model.training
    assert not model[1].training
    assert model[0].training


def test_measure_latency_runs_warmup_and_repeats():
    model = small_model()
    model.train()
    seen = []

    def hook(module, inputs, output):
        seen.append((module.training, torch.is_inference_mode_enabled(), tuple(inputs[0].shape)))

    model.register_forward_hook(hook)
    measure_latency(model, (3, 8, 8), batch_size=5, repeats=4, warmup=2)
    assert len(seen) == 6
    assert all(training is False for training, _, _ in seen)
    assert all(inference for _, inference, _ in seen)
    assert all(shape == (5, 3, 8, 8) for _, _, shape in seen)


def test_measure_latency_channels_last_input():
    model = small_model().to(memory_format=torch.channels_last)
    layouts = []
    model.register_forward_pre_hook(
        lambda module, inputs: layouts.append(inputs[0].is_contiguous(memory_format=torch.channels_last)))
    measure_latency(model, (3, 8, 8), repeats=1, warmup=0, memory_format=torch.channels_last)
    assert layouts == [True]


def test_measure_latency_keeps_global_random_state():
    model = small_model()
    before = torch.random.get_rng_state()
    measure_latency(model, (3, 8, 8), repeats=1, warmup=0)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("options, message", [
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": 2.0}, "batch_size must be a positive integer, got 2.0"),
    ({"repeats": 0}, "repeats must be a positive integer, got 0"),
    ({"repeats": True}, "repeats must be a positive integer, got True"),
    ({"warmup": -1}, "warmup must be a non-negative integer, got -1"),
    ({"device": "tpu"}, "invalid device 'tpu'"),
    ({"device": "meta"}, "the model's parameters are on cpu, but latency is requested on meta"),
    ({"memory_format": "channels_last"}, "invalid memory_format 'channels_last'"),
    ({"memory_format": torch.channels_last_3d}, "needs input_shape with 4 dimensions"),
])
def test_measure_latency_bad_arguments(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        measure_latency(small_model(), (3, 8, 8), **options)


def test_measure_latency_token_ids():
    embedding = nn.Sequential(nn.Embedding(50, 8), nn.Flatten(), nn.Linear(8 * 6, 2))
    assert measure_latency(embedding, (6,), vocab_size=50, batch_size=2, repeats=2, warmup=0) > 0
    with pytest.raises(ValueError, match="vocab_size must be a positive integer, got 0"):
        measure_latency(embedding, (6,), vocab_size=0)


@pytest.mark.parametrize("shape", [(), (3, 0, 8), (3, -1), "abc", 5])
def test_measure_latency_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape must be"):
        measure_latency(small_model(), shape)


# CostLimits


@pytest.mark.parametrize("options, message", [
    ({"max_latency_ms": 0}, "max_latency_ms must be a positive number or None, got 0"),
    ({"max_latency_ms": -1.0}, "max_latency_ms must be a positive number or None, got -1.0"),
    ({"max_latency_ms": float("nan")}, "max_latency_ms must be a positive number or None, got nan"),
    ({"max_latency_ms": True}, "max_latency_ms must be a positive number or None, got True"),
    ({"max_latency_ms": "10"}, "max_latency_ms must be a positive number or None, got '10'"),
    ({"latency_batch_size": 0}, "latency_batch_size must be a positive integer, got 0"),
    ({"latency_repeats": 0}, "latency_repeats must be a positive integer, got 0"),
    ({"latency_warmup": -2}, "latency_warmup must be a non-negative integer, got -2"),
])
def test_cost_limits_bad_latency_settings(options, message):
    with pytest.raises(ValueError, match=message):
        CostLimits(**options)


def test_cost_limits_latency_defaults():
    limits = CostLimits()
    assert limits.max_latency_ms is None
    assert limits.latency_batch_size == 1
    assert limits.latency_repeats == 10
    assert limits.latency_warmup == 3


def test_latency_violation_message():
    limits = CostLimits(max_latency_ms=10.0)
    assert limits.violations(100, 1000, 12.34) == ["latency 12.3 ms > max_latency_ms 10.0 ms"]
    assert CostLimits(max_params=500_000).violations(2_036_864, None) == [
        "params 2036864 (2.04 M) > max_params 500000 (0.5 M)"]
    assert limits.violations(100, 1000, 10.04) == ["latency 10.04 ms > max_latency_ms 10.00 ms"]
    assert limits.violations(100, 1000, 10.0) == []
    assert limits.violations(100, 1000, None) == []
    assert limits.violations(100, 1000) == []


# Evaluator


def make_evaluator(space, batch, limits, **options):
    return Evaluator(space, [proxies.create("params")], batch, limits=limits, **options)


def test_evaluator_rejects_over_latency_limit(space, batch, archs, fake_latency):
    latencies = sorted(count_parameters(space.build(arch)) / 1000 for arch in archs)
    limit = latencies[len(latencies) // 2]
    evaluator = make_evaluator(space, batch, CostLimits(max_latency_ms=limit))
    records = [evaluator.evaluate(arch) for arch in archs]

    rejected = [record for record in records if record["status"] == "rejected"]
    scored = [record for record in records if record["status"] == "ok"]
    assert rejected
    assert scored
    assert len(fake_latency.calls) == len(archs)
    for record in rejected:
        assert record["latency_ms"] > limit
        assert record["params"] is not None
        assert record["flops"] is not None
        assert record["scores"] == {}
        assert record["objective"] is None
        assert record["error"].startswith(f"latency {record['latency_ms']:.1f}")
        assert "> max_latency_ms" in record["error"]
    for record in scored:
        assert record["latency_ms"] <= limit
        assert record["error"] is None
        assert "params" in record["scores"]


def test_evaluator_no_latency_without_limit(space, batch, archs, fake_latency):
    evaluator = make_evaluator(space, batch, CostLimits(max_params=1e9))
    records = [evaluator.evaluate(arch) for arch in archs[:4]]
    assert fake_latency.calls == []
    assert all(record["latency_ms"] is None for record in records)
    assert all(record["status"] == "ok" for record in records)


def test_evaluator_checks_params_before_latency(space, batch, archs, fake_latency):
    params = sorted(count_parameters(space.build(arch)) for arch in archs)
    limits = CostLimits(max_params=params[len(params) // 2], max_latency_ms=1e9)
    records = [make_evaluator(space, batch, limits).evaluate(arch) for arch in archs]
    over_params = [record for record in records if record["params"] > limits.max_params]
    assert over_params
    assert all(record["latency_ms"] is None for record in over_params)
    assert all(record["flops"] is None for record in over_params)
    assert len(fake_latency.calls) == len(records) - len(over_params)


def test_evaluator_passes_latency_settings(space, batch, archs, fake_latency):
    limits = CostLimits(max_latency_ms=1e9, latency_batch_size=3, latency_repeats=2, latency_warmup=0)
    make_evaluator(space, batch, limits).evaluate(archs[0])
    assert fake_latency.calls == [{"input_shape": (3, 16, 16), "batch_size": 3, "repeats": 2, "warmup": 0,
                                   "device": torch.device("cpu"), "memory_format": torch.channels_last,
                                   "vocab_size": None}]


def test_evaluator_record_latency_without_limit(space, batch, archs, fake_latency):
    record = make_evaluator(space, batch, CostLimits(), record_latency=True).evaluate(archs[0])
    assert record["status"] == "ok"
    assert record["latency_ms"] == count_parameters(space.build(archs[0])) / 1000
    assert len(fake_latency.calls) == 1


def test_evaluator_real_latency(space, batch, archs):
    limits = CostLimits(max_latency_ms=1e9, latency_repeats=2, latency_warmup=1)
    record = make_evaluator(space, batch, limits).evaluate(archs[0])
    assert record["status"] == "ok"
    assert math.isfinite(record["latency_ms"])
    assert record["latency_ms"] > 0


def test_dataframe_has_latency_column(tmp_path):
    store = RunStore.create(tmp_path / "run", {"proxies": ["params"]})
    store.append({"index": 0, "arch": "a", "canonical": "a", "status": "rejected", "objective": None, "scores": {},
                  "params": 10, "flops": 20, "latency_ms": 12.5, "seconds": 0.1, "elapsed": 0.1,
                  "error": "latency 12.5 ms > max_latency_ms 10.0 ms"})
    frame = RunStore.open(tmp_path / "run").to_dataframe()
    assert "latency_ms" in frame.columns
    assert frame["latency_ms"].iloc[0] == 12.5


# API


def search_options(tmp_path, **options):
    return dict({"evaluations": 3, "out_dir": tmp_path / "run", "space_options": TINY_SPACE, "batch_size": 8,
                 "searcher": "random"}, **options)


def test_search_records_latency_and_config(tmp_path, fake_latency, cache_dir):
    run = archsearch.search("nb201", "params", **search_options(tmp_path, max_latency_ms=1e6, latency_batch_size=2))
    assert run.config["limits"] == {"max_params": None, "max_flops": None, "max_latency_ms": 1e6,
                                    "latency_batch_size": 2, "latency_device": "cpu"}
    assert len(fake_latency.calls) == 3
    assert all(call["batch_size"] == 2 for call in fake_latency.calls)
    assert run.to_dataframe()["latency_ms"].notna().all()


def test_search_without_latency_keeps_old_limits(tmp_path, fake_latency, cache_dir):
    run = archsearch.search("nb201", "params", **search_options(tmp_path))
    assert run.config["limits"] == {"max_params": None, "max_flops": None}
    assert fake_latency.calls == []


def test_resume_repeats_latency_limit(tmp_path, fake_latency, cache_dir):
    archsearch.search("nb201", "params", **search_options(tmp_path, max_latency_ms=1e6))
    assert len(fake_latency.calls) == 3
    run = archsearch.resume(tmp_path / "run", evaluations=5)
    assert len(run) == 5
    assert len(fake_latency.calls) == 5
    assert run.config["limits"]["max_latency_ms"] == 1e6


@pytest.mark.parametrize("changed", [{"max_latency_ms": 500.0}, {"max_latency_ms": None},
                                     {"max_latency_ms": 1e6, "latency_batch_size": 4}])
def test_changed_latency_limit_rejected(tmp_path, fake_latency, cache_dir, changed):
    archsearch.search("nb201", "params", **search_options(tmp_path, max_latency_ms=1e6))
    with pytest.raises(ValueError, match="different configuration .*limits"):
        archsearch.search("nb201", "params", **search_options(tmp_path, **changed))


@pytest.mark.parametrize("options, message", [
    ({"max_latency_ms": 0}, "max_latency_ms must be a positive number or None, got 0"),
    ({"max_latency_ms": -1}, "max_latency_ms must be a positive number or None, got -1"),
    ({"max_latency_ms": 10, "latency_batch_size": 0}, "latency_batch_size must be a positive integer, got 0"),
    ({"latency_batch_size": 4}, "latency_batch_size=4 sets the latency measurement of max_latency_ms"),
])
def test_search_bad_latency_options(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        archsearch.search("nb201", "params", **search_options(tmp_path, **options))
    assert not (tmp_path / "run").exists()


def test_score_latency_column(fake_latency, cache_dir):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    table = archsearch.score([arch], "params", space_options=TINY_SPACE, batch_size=8, latency=True,
                             latency_batch_size=2)
    assert table["latency_ms"].iloc[0] > 0
    assert fake_latency.calls[0]["batch_size"] == 2
    plain = archsearch.score([arch], "params", space_options=TINY_SPACE, batch_size=8)
    assert "latency_ms" not in plain.columns
    assert len(fake_latency.calls) == 1


@pytest.mark.parametrize("options, message", [
    ({"latency_batch_size": 2}, "latency_batch_size=2 sets the latency measurement; pass latency=True"),
    ({"latency": True, "workers": 2}, "latency is measured with workers=1 only"),
])
def test_score_bad_latency_options(options, message):
    with pytest.raises(ValueError, match=message):
        archsearch.score(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "params", **options)


# Command line


@pytest.mark.parametrize("argv, message", [
    (["search", "--max-latency", "0"], "must be a positive finite number, got '0'"),
    (["search", "--max-latency", "-1"], "must be a positive finite number, got '-1'"),
    (["search", "--max-latency", "abc"], "invalid positive number 'abc'"),
    (["search", "--max-latency", "10", "--latency-batch-size", "0"], "must be a positive integer, got '0'"),
    (["search", "--latency-batch-size", "4"], "--latency-batch-size sets the batch of the --max-latency"),
    (["score", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--latency-batch-size", "2"],
     "--latency-batch-size sets the batch of the --latency measurement"),
    (["score", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--latency", "--workers", "2"],
     "--latency needs --workers 1"),
])
def test_cli_bad_latency_exits_2(argv, message, capsys, tmp_path):
    code, _, err = run_main(argv + (["--out", str(tmp_path / "out")]), capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_cli_help_documents_latency(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = capsys.readouterr().out
    assert "--max-latency MS" in out
    assert "in milliseconds" in out
    assert "--latency-batch-size N" in out


def test_cli_search_and_changed_limit(tmp_path, capsys, fake_latency, cache_dir):
    run_dir = str(tmp_path / "run")
    base = ["search", "--proxy", "params", "--searcher", "random", "--evaluations", "2", "--batch-size", "8",
            "--out", run_dir]
    code, out, err = run_main(base + ["--max-latency", "100000"], capsys)
    assert code == 0, err
    assert "latency (ms)" in out
    assert RunStore.open(run_dir).config["limits"]["max_latency_ms"] == 100000

    code, _, err = run_main(base + ["--max-latency", "50"], capsys)
    assert code == 2
    assert "different configuration" in err
    assert "max_latency_ms" in err
    assert len(err.strip().splitlines()) == 1
