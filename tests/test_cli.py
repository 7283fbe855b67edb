"""The archsearch command: errors, help, listing, and a small search, resume, distil and export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from archsearch.cli import main
from archsearch.store import RESULTS_FILE, RunStore
from conftest import REPO_ROOT


@pytest.fixture()
def cache_dir(tmp_path_factory, monkeypatch):
    # One demo-teacher cache for the whole session keeps the teacher training to one run.
    directory = tmp_path_factory.getbasetemp() / "archsearch-cache"
    monkeypatch.setenv("ARCHSEARCH_CACHE_DIR", str(directory))
    return directory


def run_main(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv, message", [
    (["search", "--space", "darts"], "unknown search space 'darts'; valid names: bert, nb201, resnet_cifar"),
    (["search", "--proxy", "naswot"], "unknown proxy 'naswot'; valid names: cka, diswot"),
    (["search", "--proxy", "diswot,bogus"], "unknown proxy 'bogus'"),
    (["search", "--searcher", "bayes"], "unknown searcher 'bayes'; valid names: evolution, random"),
    (["search", "--evaluations", "0"], "must be a positive integer, got '0'"),
    (["search", "--max-flops", "abc"], "invalid positive number 'abc'"),
    (["search", "--searcher", "random", "--population", "5"], "--population and --sample-size set regularised"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["show", "/nonexistent/run"], "is not a run directory"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    code, out, err = run_main(argv, capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_data_file_exits_2(tmp_path, capsys):
    code, _, err = run_main(["search", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "r")], capsys)
    assert code == 2
    assert "missing.npz" in err
    assert len(err.strip().splitlines()) == 1


def test_help_documents_units(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "in millions" in out
    assert "in seconds" in out
    for option in ("--space", "--proxy", "--searcher", "--evaluations", "--seconds", "--seed", "--max-params",
                   "--max-flops", "--data", "--teacher", "--out"):
        assert option in out


def test_list_shows_registries(capsys):
    code, out, _ = run_main(["list"], capsys)
    assert code == 0
    assert "nb201" in out
    assert "15,625 architectures" in out
    assert "diswot" in out
    assert "maximize" in out
    assert "BatchNorm in train mode" in out
    assert "source: Mellor, Turner, Storkey, Crowley" in out
    assert "evolution" in out


def test_spaces_shows_sizes_and_dimensions(capsys):
    code, out, err = run_main(["spaces"], capsys)
    assert code == 0, err
    blocks = out.strip().split("\n\n")
    assert [block.split(":")[0] for block in blocks] == ["bert", "nb201", "resnet_cifar", "timm_resnet", "vit"]
    assert blocks[0].splitlines()[0] == "bert: 256 architectures, 4 dimensions"
    cifar = blocks[2].splitlines()
    assert cifar[0] == "resnet_cifar: 64 architectures, 6 dimensions"
    assert "  depth1  2, 6, 10, 14" in cifar
    assert "  width3  64" in cifar
    assert "  example: d2-2-2_w16-32-64" in cifar
    assert "  block   basic, bottleneck" in blocks[3].splitlines()
    assert "15,625 architectures" in blocks[1]


def test_spaces_unknown_name_exits_2(capsys):
    code, out, err = run_main(["spaces", "resnet_cifar", "darts"], capsys)
    assert code == 2
    assert out == ""
    assert err.strip() == ("archsearch spaces: error: unknown search space 'darts'; valid names: bert, nb201, "
                           "resnet_cifar, timm_resnet, vit")


def test_search_distill_export_round_trip(tmp_path, capsys, cache_dir):
    run_dir = tmp_path / "run"
    code, out, err = run_main(["search", "--evaluations", "12", "--population", "6", "--sample-size", "3",
                               "--proxy", "diswot,cka,params", "--max-flops", "120", "--out", str(run_dir)], capsys)
    assert code == 0, err
    assert "rank" in out
    assert "diswot" in out
    assert "params (M)" in out
    run = RunStore.open(run_dir)
    assert sum(record["status"] in ("ok", "failed") for record in run.records) == 12
    assert all(record["flops"] <= 120e6 for record in run.records if record["status"] == "ok")
    assert "Evaluation 12/12" in err

    code, out, err = run_main(["distill", str(run_dir), "--epochs", "1"], capsys)
    assert code == 0, err
    assert "student with KD test accuracy" in out
    report = json.loads((run_dir / "distill.json").read_text())
    assert report["arch"] == run.best["arch"]

    code, out, err = run_main(["export", str(run_dir), "--out", str(tmp_path / "student")], capsys)
    assert code == 0, err
    assert (tmp_path / "student" / "student.json").is_file()


def test_resume_with_larger_budget(tmp_path, capsys, cache_dir):
    run_dir = tmp_path / "run"
    base = ["search", "--proxy", "params", "--out", str(run_dir), "--population", "5", "--sample-size", "2"]
    assert run_main(base + ["--evaluations", "5"], capsys)[0] == 0
    code, _, err = run_main(["resume", str(run_dir), "--evaluations", "9"], capsys)
    assert code == 0, err
    records = RunStore.open(run_dir).records
    assert len({record["canonical"] for record in records}) == len(records) == 9


def test_search_other_settings_in_same_dir_exits_2(tmp_path, capsys, cache_dir):
    run_dir = tmp_path / "run"
    assert run_main(["search", "--proxy", "params", "--evaluations", "3", "--out", str(run_dir)], capsys)[0] == 0
    code, _, err = run_main(["search", "--proxy", "flops", "--evaluations", "3", "--out", str(run_dir)], capsys)
    assert code == 2
    assert "different configuration" in err
    assert "proxies" in err


def test_killed_search_resumes(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    environment = dict(os.environ, ARCHSEARCH_CACHE_DIR=str(cache_dir))
    command = [sys.executable, "-m", "archsearch", "-q", "search", "--proxy", "diswot", "--evaluations", "400",
               "--out", str(run_dir)]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    results = run_dir / RESULTS_FILE
    deadline = time.time() + 240
    while time.time() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 6:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped_at = len(RunStore.open(run_dir).records)
    assert stopped_at >= 6

    code = main(["-q", "resume", str(run_dir), "--evaluations", str(stopped_at + 3)])
    assert code == 0
    records = RunStore.open(run_dir).records
    assert len(records) == stopped_at + 3
    assert len({record["canonical"] for record in records}) == len(records)


def test_ctrl_c_names_saved_run(tmp_path, capsys, monkeypatch):
    from archsearch import commands
    from archsearch.runner import SearchInterrupted

    def interrupted_search(arguments):
        raise SearchInterrupted(tmp_path / "run", 5)

    def interrupted_score(arguments):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "run_search", interrupted_search)
    monkeypatch.setattr(commands, "run_score", interrupted_score)
    code, _, err = run_main(["search"], capsys)
    assert code == 130
    assert f"the 5 finished records are saved in {tmp_path / 'run'}" in err
    assert f"`archsearch resume {tmp_path / 'run'}`" in err

    code, _, err = run_main(["score", "x"], capsys)
    assert code == 130
    assert err.strip() == "archsearch score: interrupted before any result was saved"


def test_score_command_writes_table(tmp_path, capsys, cache_dir):
    arch_file = tmp_path / "archs.txt"
    arch_file.write_text("# two cells\n|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                         "nor_conv_3x3~2|\n\n|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|"
                         "skip_connect~1|skip_connect~2|\n")
    table_path = tmp_path / "scores.csv"
    code, out, err = run_main(["score", "--file", str(arch_file), "--proxy", "nwot,synflow,params", "--batch-size",
                               "16", "--out", str(table_path)], capsys)
    assert code == 0, err
    table = pd.read_csv(table_path)
    assert list(table["status"]) == ["ok", "ok"]
    assert {"score_nwot", "score_synflow", "score_params"} <= set(table.columns)
    assert table["score_params"].iloc[0] > table["score_params"].iloc[1]


@pytest.mark.parametrize("argv, message", [
    (["score", "CELL", "--proxy", "nwot,,params"], "contains an empty name"),
    (["score", "CELL", "--proxy", "nwot,params,nwot"], "--proxy lists nwot more than once"),
    (["score", "CELL", "--out", "{tmp}"], "is a folder; pass a file path such as"),
    (["score", "--file", "{tmp}"], "is a folder; pass a text file"),
    (["score", "--file", "{tmp}/latin1.txt"], "latin1.txt, line 2: byte 0xe9 is not valid UTF-8"),
    (["score", "--file", "{tmp}/cells.txt"], "cells.txt, line 3: invalid NAS-Bench-201 cell '|bad~0|'"),
    (["score", "CELL", "--threads", "1"], "go before the command, for example archsearch --threads 1 score"),
])
def test_score_input_errors_exit_2(argv, message, tmp_path, capsys):
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    (tmp_path / "latin1.txt").write_bytes("# cells\n# caf\xe9\n".encode("latin-1"))
    (tmp_path / "cells.txt").write_text(f"# cells\n{cell}\n|bad~0|\n")
    argv = [cell if item == "CELL" else item.format(tmp=tmp_path) for item in argv]
    code, _, err = run_main(argv, capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_score_api_rejects_repeated_proxy():
    import archsearch

    with pytest.raises(ValueError, match="proxy 'params' is given more than once; give each proxy once"):
        archsearch.score(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], ["params", "nwot", "params"])


def test_score_command_bad_input(tmp_path, capsys):
    code, _, err = run_main(["score"], capsys)
    assert code == 2
    assert "no architectures given" in err
    code, _, err = run_main(["score", "|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--proxy", "params"],
                            capsys)
    assert code == 2
    assert "unknown operation 'bogus'" in err
    code, _, err = run_main(["score", "--file", str(tmp_path / "none.txt")], capsys)
    assert code == 2
    assert "none.txt not found" in err


def test_threads_option_sets_torch_threads(capsys):
    import torch

    before = torch.get_num_threads()
    try:
        code, out, _ = run_main(["--threads", "1", "list"], capsys)
        assert code == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    code, _, err = run_main(["--threads", "0", "list"], capsys)
    assert code == 2
    assert "must be a positive integer" in err


def test_impossible_cost_limit_exits_2(capsys, tmp_path):
    code, _, err = run_main(["search", "--proxy", "params", "--max-flops", "0.001", "--out", str(tmp_path / "r")],
                            capsys)
    assert code == 2
    assert "no architecture of nb201 meets the cost limits" in err
    assert "smallest network has" in err


@pytest.mark.parametrize("device, message", [("tpu", "invalid device 'tpu'"), ("cuda", "no CUDA GPU")])
def test_bad_device_exits_2(device, message, capsys, tmp_path):
    if device == "cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA GPU")
    code, _, err = run_main(["search", "--proxy", "params", "--device", device, "--out", str(tmp_path / "r")], capsys)
    assert code == 2
    assert message in err


def test_corrupt_inputs_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip archive")
    code, _, err = run_main(["search", "--proxy", "params", "--data", str(broken), "--out", str(tmp_path / "a")],
                            capsys)
    assert code == 2
    assert "not a readable .npz archive" in err
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    code, _, err = run_main(["search", "--teacher", str(garbage), "--out", str(tmp_path / "b")], capsys)
    assert code == 2
    assert "not a readable archsearch teacher checkpoint" in err
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    code, _, err = run_main(["search", "--proxy", "params", "--out", str(a_file)], capsys)
    assert code == 2
    assert "is a file" in err


def test_run_directory_lock(tmp_path):
    store = RunStore.create(tmp_path / "run", {})
    with store.lock():
        with pytest.raises(ValueError, match="in use by another archsearch process"):
            with RunStore.open(tmp_path / "run").lock():
                pass
    with store.lock():
        pass


def test_default_run_dirs_are_unique(tmp_path, monkeypatch):
    from archsearch.api import default_run_dir

    monkeypatch.chdir(tmp_path)
    first = default_run_dir("nb201", "diswot")
    second = default_run_dir("nb201", "diswot")
    assert first != second
    assert first.is_dir()
    assert second.is_dir()


def test_space_options_read_json_or_text():
    from archsearch.commands import parse_space_options

    assert parse_space_options(["preset=cpu", "layers=[2, 3]", "channels=8", "preset2=null"]) == {
        "preset": "cpu", "layers": [2, 3], "channels": 8, "preset2": None}
    with pytest.raises(ValueError, match="--space-option channels is given twice"):
        parse_space_options(["channels=8", "channels=16"])
    with pytest.raises(ValueError, match="invalid --space-option '=8'; expected KEY=VALUE"):
        parse_space_options(["=8"])
    with pytest.raises(ValueError, match="invalid JSON in --space-option 'blocks=\\[basic\\]'; write strings in "
                                         "double quotes"):
        parse_space_options(["blocks=[basic]"])
    assert parse_space_options(['blocks=["basic"]']) == {"blocks": ["basic"]}


def test_space_option_reaches_the_space(tmp_path, capsys):
    import search_spaces

    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    code, _, err = run_main(["score", "--space", "nb201", "--space-option", "channels=4", "--space-option",
                             "cells_per_stage=1", "--proxy", "params", "--batch-size", "8",
                             "--out", str(tmp_path / "scores.csv"), cell], capsys)
    assert code == 0, err
    expected = search_spaces.create("nb201", channels=4, cells_per_stage=1).cost(cell)["params"]
    assert pd.read_csv(tmp_path / "scores.csv")["params"].iloc[0] == expected
    code, _, err = run_main(["score", "--space", "nb201", "--space-option", "width=4", "--proxy", "params", cell],
                            capsys)
    assert code == 2
    assert "unknown option" in err
    assert "width" in err


def test_score_out_folder_checked_first(tmp_path, capsys):
    code, _, err = run_main(["score", "--proxy", "params", "--out", str(tmp_path / "missing" / "scores.csv"),
                             "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"],
                            capsys)
    assert code == 2
    assert "the folder of --out" in err
    assert "does not exist" in err


def test_spaces_accepts_space_options(capsys):
    code, out, _ = run_main(["spaces", "vit", "--space-option", "input_size=32", "--space-option", "patch_sizes=[4]"],
                            capsys)
    assert code == 0
    assert "108 architectures" in out
    assert "accepted options: depths, widths, heads, mlp_ratios, patch_sizes" in out
    code, _, err = run_main(["spaces", "--space-option", "input_size=32"], capsys)
    assert code == 2
    assert "--space-option needs the names of the spaces" in err
