"""Command-line checks of the benchmark scripts. Bad values exit with status 2 and a message that names them.

These tests only parse arguments; none of them scores a cell or writes under results/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from benchmarks import (common, cross_family, default_run_time, nb201_search_cifar10, proxy_correlation, proxy_speed,
                        search_comparison)

# Scripts whose parse_arguments checks the input files, with the options that name those files.
FILE_OPTIONS = {
    proxy_correlation: ("--data", "--ground-truth", "--naslib-table"),
    search_comparison: ("--data", "--ground-truth"),
    nb201_search_cifar10: ("--data", "--ground-truth"),
    proxy_speed: ("--data", "--naslib-table"),
    cross_family: ("--data",),
}


@pytest.fixture
def input_files(tmp_path: Path) -> dict[str, str]:
    """Create stand-ins for every input file: parse_arguments checks the tables exist and reads the archive's index."""
    paths = {}
    for option in ("--ground-truth", "--naslib-table"):
        path = tmp_path / f"{option.strip('-')}.csv"
        path.write_text("arch\n")
        paths[option] = str(path)
    archive = tmp_path / "data.npz"
    np.savez(archive, x=np.zeros((4, 3, 8, 8), dtype=np.uint8), y=np.arange(4))
    paths["--data"] = str(archive)
    return paths


def file_arguments(module, input_files: dict[str, str], tmp_path: Path) -> list[str]:
    """Return the options that point ``module`` at the stand-in files and a temporary --out."""
    argv = ["--out", str(tmp_path / "out")]
    for option in FILE_OPTIONS[module]:
        argv += [option, input_files[option]]
    return argv


def parse_error(module, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Parse ``argv`` with ``module``, check that it exits with status 2 and return stderr."""
    with pytest.raises(SystemExit) as raised:
        module.parse_arguments(argv)
    assert raised.value.code == 2
    return capsys.readouterr().err


BAD_VALUES = [
    (proxy_correlation, ["--limit", "-5"], ["--limit", "-5", "at least 3"]),
    (proxy_correlation, ["--limit", "0"], ["--limit", "0", "at least 3"]),
    (proxy_correlation, ["--limit", "2"], ["--limit", "2", "at least 3"]),
    (proxy_correlation, ["--repeats", "0"], ["--repeats", "0", "at least 1"]),
    (proxy_correlation, ["--only-repeats", "-1"], ["--only-repeats", "-1", "at least 0"]),
    (proxy_correlation, ["--repeats", "2", "--only-repeats", "1", "7"], ["--only-repeats 7 is outside the 2 repeats"]),
    (proxy_correlation, ["--batch-size", "0"], ["--batch-size", "0", "at least 2"]),
    (proxy_correlation, ["--batch-size", "1"], ["--batch-size", "1", "at least 2"]),
    (proxy_correlation, ["--threads", "0"], ["--threads", "0", "at least 1"]),
    (proxy_correlation, ["--limit", "ten"], ["--limit", "'ten'", "whole number"]),
    (proxy_correlation, ["--proxies", "nwott"], ["--proxies", "'nwott'", "choose from", "nwot"]),
    (proxy_correlation, ["--proxies", "minilm_relation"], ["--proxies", "'minilm_relation'", "text", "images"]),
    (search_comparison, ["--seeds", "0"], ["--seeds", "0", "at least 1"]),
    (search_comparison, ["--budgets", "100", "0"], ["--budgets", "0", "at least 1"]),
    (search_comparison, ["--batch-size", "0"], ["--batch-size", "0", "at least 2"]),
    (search_comparison, ["--threads", "0"], ["--threads", "0", "at least 1"]),
    (search_comparison, ["--proxies", "nwott"], ["--proxies", "'nwott'", "choose from"]),
    (search_comparison, ["--proxies", "hidden_cka"], ["--proxies", "'hidden_cka'", "text"]),
    (search_comparison, ["--searchers", "annealing"], ["--searchers", "'annealing'", "evolution"]),
    (nb201_search_cifar10, ["--evaluations", "0"], ["--evaluations", "0", "at least 1"]),
    (nb201_search_cifar10, ["--seeds", "-1"], ["--seeds", "-1", "at least 0"]),
    (nb201_search_cifar10, ["--batch-size", "0"], ["--batch-size", "0", "at least 2"]),
    (nb201_search_cifar10, ["--threads", "0"], ["--threads", "0", "at least 1"]),
    (nb201_search_cifar10, ["--max-flops", "0"], ["--max-flops", "0", "positive"]),
    (nb201_search_cifar10, ["--max-flops", "nan"], ["--max-flops", "nan", "positive"]),
    (proxy_speed, ["--cells", "0"], ["--cells", "0", "at least 1"]),
    (proxy_speed, ["--goal-cells", "0"], ["--goal-cells", "0", "at least 1"]),
    (proxy_speed, ["--naive-cells", "0"], ["--naive-cells", "0", "at least 1"]),
    (proxy_speed, ["--workers", "0"], ["--workers", "0", "at least 1"]),
    (proxy_speed, ["--threads", "0"], ["--threads", "0", "at least 1"]),
    (proxy_speed, ["--proxies", "nwot", "nwott"], ["--proxies", "'nwott'", "choose from"]),
    (cross_family, ["--evaluations", "0"], ["--evaluations", "0", "at least 1"]),
    (cross_family, ["--population", "0"], ["--population", "0", "at least 1"]),
    (cross_family, ["--text-batch-size", "1"], ["--text-batch-size", "1", "at least 2"]),
    (cross_family, ["--threads", "0"], ["--threads", "0", "at least 1"]),
    (cross_family, ["--searcher", "annealing"], ["--searcher", "'annealing'"]),
]


@pytest.mark.parametrize("module, argv, expected", BAD_VALUES,
                         ids=[f"{module.__name__.split('.')[-1]}{' '.join(argv)}" for module, argv, _ in BAD_VALUES])
def test_bad_value_exits_with_usage_error(module, argv, expected, input_files, tmp_path, capsys):
    message = parse_error(module, [*file_arguments(module, input_files, tmp_path), *argv], capsys)
    for text in expected:
        assert text in message


def test_bad_value_message_is_one_line(input_files, tmp_path, capsys):
    message = parse_error(proxy_correlation, [*file_arguments(proxy_correlation, input_files, tmp_path),
                                              "--limit", "-5"], capsys)
    error_lines = [line for line in message.splitlines() if "error:" in line]
    assert len(error_lines) == 1
    assert "argument --limit: invalid value -5; pass an integer of at least 3" in error_lines[0]
    assert "Traceback" not in message


MISSING_FILES = [(module, option) for module, options in FILE_OPTIONS.items() for option in options]


@pytest.mark.parametrize("module, option", MISSING_FILES,
                         ids=[f"{module.__name__.split('.')[-1]}{option}" for module, option in MISSING_FILES])
def test_missing_file_names_its_option(module, option, input_files, tmp_path, capsys):
    missing = tmp_path / "missing.npz"
    argv = [*file_arguments(module, input_files, tmp_path), option, str(missing)]
    message = parse_error(module, argv, capsys)
    assert str(missing) in message
    assert f"with {option}" in message
    assert "matching option" not in message


@pytest.mark.parametrize("module", [proxy_correlation, search_comparison, nb201_search_cifar10, proxy_speed,
                                    cross_family])
def test_unreadable_data_archive_is_rejected(module, input_files, tmp_path, capsys):
    text_file = tmp_path / "not_an_archive.npz"
    text_file.write_text("hello\n")
    message = parse_error(module, [*file_arguments(module, input_files, tmp_path), "--data", str(text_file)], capsys)
    assert f"--data {text_file} is not a readable .npz archive" in message


def test_data_archive_without_labels_is_rejected(input_files, tmp_path, capsys):
    archive = tmp_path / "images_only.npz"
    np.savez(archive, x=np.zeros((2, 3, 8, 8), dtype=np.uint8))
    argv = [*file_arguments(proxy_correlation, input_files, tmp_path), "--data", str(archive)]
    message = parse_error(proxy_correlation, argv, capsys)
    assert "has no array y" in message


def test_reuse_without_equals_is_rejected(input_files, tmp_path, capsys):
    argv = [*file_arguments(search_comparison, input_files, tmp_path), "--reuse", "nwot"]
    message = parse_error(search_comparison, argv, capsys)
    assert "PROXY=CSV" in message
    assert "'nwot'" in message


def test_reuse_missing_file_is_rejected(input_files, tmp_path, capsys):
    missing = tmp_path / "scores.csv"
    argv = [*file_arguments(search_comparison, input_files, tmp_path), "--reuse", f"nwot={missing}"]
    message = parse_error(search_comparison, argv, capsys)
    assert str(missing) in message
    assert "--reuse" in message


def test_reuse_file_without_column_is_rejected(input_files, tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    scores.write_text("arch,synflow\n")
    argv = [*file_arguments(search_comparison, input_files, tmp_path), "--reuse", f"nwot={scores}"]
    message = parse_error(search_comparison, argv, capsys)
    assert "no column nwot" in message


def test_cross_family_report_only_needs_summary(tmp_path, capsys):
    message = parse_error(cross_family, ["--report-only", "--out", str(tmp_path)], capsys)
    assert str(tmp_path / "summary.json") in message
    assert "--out" in message


def test_cross_family_text_without_teacher(input_files, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cross_family, "default_text_teacher", lambda: None)
    message = parse_error(cross_family, ["--parts", "text", "--out", str(tmp_path)], capsys)
    assert "--text-teacher" in message


VALID_ARGUMENTS = [
    (proxy_correlation, ["--proxies", "nwot", "fisher_per_channel", "params", "--limit", "3", "--repeats", "1",
                         "--only-repeats", "0", "--threads", "1", "--batch-size", "2"]),
    (search_comparison, ["--proxies", "nwot", "--budgets", "1", "--seeds", "1", "--searchers", "random"]),
    (nb201_search_cifar10, ["--seeds", "0", "--evaluations", "1", "--threads", "1", "--max-flops", "0.5"]),
    (proxy_speed, ["--proxies", "nwot", "diswot", "--cells", "1", "--naive-cells", "1", "--workers", "1"]),
    (cross_family, ["--parts", "images", "--evaluations", "1"]),
]


@pytest.mark.parametrize("module, argv", VALID_ARGUMENTS,
                         ids=[module.__name__.split(".")[-1] for module, _ in VALID_ARGUMENTS])
def test_valid_arguments_parse(module, argv, input_files, tmp_path):
    arguments = module.parse_arguments([*file_arguments(module, input_files, tmp_path), *argv])
    assert arguments.out == tmp_path / "out"


def test_valid_values_keep_their_types(input_files, tmp_path):
    argv = [*file_arguments(proxy_correlation, input_files, tmp_path), "--limit", "3", "--proxies", "nwot"]
    arguments = proxy_correlation.parse_arguments(argv)
    assert arguments.limit == 3
    assert arguments.proxies == ["nwot"]
    assert arguments.repeats == 5


@pytest.mark.parametrize("module", [proxy_correlation, search_comparison, nb201_search_cifar10, proxy_speed,
                                    cross_family, default_run_time],
                         ids=lambda module: module.__name__.split(".")[-1])
def test_help_shows_defaults(module):
    text = module.build_parser().format_help()
    assert "(default:" in text
    assert "results" in text  # --out defaults to a folder under results/


def test_help_shows_repeats_default():
    text = " ".join(proxy_correlation.build_parser().format_help().split())
    assert "seed (default: 5)" in text


def test_help_keeps_hand_written_default():
    text = " ".join(proxy_correlation.build_parser().format_help().split())
    assert "(default: torch's choice)" in text
    assert "(default: None)" not in text


@pytest.mark.parametrize("text, value", [("1", 1), ("64", 64)])
def test_positive_int_accepts(text, value):
    assert common.positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "1.5", ""])
def test_positive_int_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        common.positive_int(text)


def test_image_proxy_name_rejects_text_proxy():
    parse = common.image_proxy_name()
    with pytest.raises(argparse.ArgumentTypeError, match="minilm_relation"):
        parse("minilm_relation")


def test_image_proxy_name_accepts_variant():
    parse = common.image_proxy_name({"fisher_per_channel": "fisher"})
    assert parse("fisher_per_channel") == "fisher_per_channel"
