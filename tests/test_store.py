"""Run store: records on disk, cut-off last lines, DataFrame, best and top."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from archsearch.store import RESULTS_FILE, RunStore, records_to_dataframe


def record(index, objective, status="ok"):
    return {"index": index, "arch": f"arch-{index}", "canonical": f"key-{index}", "status": status,
            "objective": objective, "scores": {} if objective is None else {"diswot": objective}, "details": {},
            "params": 1000 + index, "flops": 5000 + index, "seconds": 0.1, "elapsed": 0.1 * index, "error": None}


def test_append_is_on_disk_at_once(tmp_path):
    store = RunStore.create(tmp_path / "run", {"proxies": ["diswot"]})
    store.append(record(0, -1.0))
    lines = (tmp_path / "run" / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["arch"] == "arch-0"


def test_best_top_and_dataframe(tmp_path):
    store = RunStore.create(tmp_path / "run", {"proxies": ["diswot"]})
    for index, objective in enumerate([-3.0, -1.0, None, -2.0]):
        store.append(record(index, objective, "ok" if objective is not None else "failed"))
    reopened = RunStore.open(tmp_path / "run")
    assert reopened.best["arch"] == "arch-1"
    top = reopened.top(2)
    assert list(top["arch"]) == ["arch-1", "arch-3"]
    frame = reopened.to_dataframe()
    assert list(frame.columns[:6]) == ["index", "arch", "canonical", "status", "objective", "score_diswot"]
    assert len(frame) == 4
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        reopened.top(0)


def test_table_error_names_failed_extra_proxy():
    failed_extra = record(0, -1.0)
    failed_extra["scores"]["nwot"] = None
    failed_extra["details"] = {"diswot": {"semantic": 0.5}, "nwot": {"error": "ValueError: no nn.ReLU module"}}
    failed_objective = record(1, None, "failed")
    failed_objective["error"] = "RuntimeError: out of memory"
    frame = records_to_dataframe([failed_extra, failed_objective, record(2, -2.0)], ["diswot", "nwot"])
    assert frame["error"][0] == "nwot: ValueError: no nn.ReLU module"
    assert frame["error"][1] == "RuntimeError: out of memory"
    assert pd.isna(frame["error"][2])
    assert frame["score_nwot"].dtype == float
    assert pd.isna(frame["score_nwot"][0])


def test_no_scored_record_has_no_best(tmp_path):
    store = RunStore.create(tmp_path / "run", {"proxies": ["diswot"]})
    store.append(record(0, None, "failed"))
    assert store.best is None
    assert store.top(3).empty


def test_cut_off_last_line_is_dropped(tmp_path):
    store = RunStore.create(tmp_path / "run", {"proxies": ["diswot"]})
    store.append(record(0, -1.0))
    with open(tmp_path / "run" / RESULTS_FILE, "a") as handle:
        handle.write('{"index": 1, "arch": "ar')
    reopened = RunStore.open(tmp_path / "run")
    assert len(reopened) == 1
    reopened.append(record(1, -0.5))
    assert len(RunStore.open(tmp_path / "run")) == 2


def test_missing_newline_is_repaired(tmp_path):
    RunStore.create(tmp_path / "run", {"proxies": ["diswot"]})
    path = tmp_path / "run" / RESULTS_FILE
    path.write_text(json.dumps(record(0, -1.0)))
    reopened = RunStore.open(tmp_path / "run")
    reopened.append(record(1, -0.5))
    assert len(RunStore.open(tmp_path / "run")) == 2


def test_damage_in_middle_raises(tmp_path):
    RunStore.create(tmp_path / "run", {"proxies": ["diswot"]})
    path = tmp_path / "run" / RESULTS_FILE
    path.write_text("not json\n" + json.dumps(record(1, -1.0)) + "\n")
    with pytest.raises(ValueError, match="line 1 is not valid JSON"):
        RunStore.open(tmp_path / "run")


def test_open_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a run directory.*run.json not found"):
        RunStore.open(tmp_path / "nothing")


def test_create_twice_raises(tmp_path):
    RunStore.create(tmp_path / "run", {})
    with pytest.raises(ValueError, match="already contains a run"):
        RunStore.create(tmp_path / "run", {})
