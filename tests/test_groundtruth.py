"""Ground truth: the CSV table, NNI's SQLite database, the NATS-Bench files and the loader."""

from __future__ import annotations

import bz2
import pickle
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from archsearch.groundtruth import (Accuracy, ArchitectureNotFoundError, GroundTruth, NATSBenchTopology, NB201CSV,
                                    NNINasBench201, ResultNotFoundError, load_ground_truth)
from search_spaces.nb201 import EDGE_NAMES

ARCH_A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
ARCH_B = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ARCH_C = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ARCH_ABSENT = "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
BEST_CIFAR10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
HEADER = "index,arch,cifar10_test,cifar100_test,imagenet16_120_test,cifar10_valid_val,params_mb_cifar10"


def _write_csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small_csv(tmp_path) -> Path:
    return _write_csv(tmp_path / "small.csv", [
        f"1,{ARCH_A},93.66,70.2933,44.0333,90.7693,0.8024",
        f"0,{ARCH_B},85.8633,52.9133,26.6333,81.9827,0.1293",
        f"7,{ARCH_C},10.0,1.0,,9.5,0.0155",  # no ImageNet16-120 value
    ])


@pytest.fixture(scope="module")
def real_table(shared_data) -> NB201CSV:
    return NB201CSV(shared_data / "nb201" / "nb201_accuracy.csv")


# NB201CSV on the real table.

def test_real_table_loads_under_one_second(shared_data):
    path = shared_data / "nb201" / "nb201_accuracy.csv"
    NB201CSV(path)  # warm the file cache and the imports
    start = time.perf_counter()
    truth = NB201CSV(path)
    seconds = time.perf_counter() - start

    assert seconds < 1.0, f"loading took {seconds:.2f} s"  # measured about 0.15 s on two shared cores
    assert len(truth) == 15625


@pytest.mark.parametrize("dataset, best_value, best_index, mean", [
    ("cifar10", 94.3733, 6111, 87.06),
    ("cifar100", 73.5133, 9930, 61.41),
    ("ImageNet16-120", 47.3111, 857, 33.59),
])
def test_real_table_best_and_mean(real_table, dataset, best_value, best_index, mean):
    values = real_table.query_many(real_table.archs(), dataset)

    assert values.shape == (15625,)
    assert values.max() == pytest.approx(best_value)
    assert int(values.argmax()) == best_index
    assert values.mean() == pytest.approx(mean, abs=0.005)


def test_real_table_query_records_setting(real_table):
    accuracy = real_table.query(BEST_CIFAR10, "cifar10")

    assert isinstance(accuracy, Accuracy)
    assert accuracy.value == pytest.approx(94.3733)
    assert (accuracy.dataset, accuracy.split, accuracy.epochs) == ("cifar10", "test", 200)
    assert accuracy.arch == BEST_CIFAR10
    assert accuracy.source.startswith("NB201CSV(")
    assert float(accuracy) == accuracy.value
    assert real_table.query(BEST_CIFAR10, "cifar10-valid", "valid").value == pytest.approx(91.6067)


def test_real_table_query_many_matches_columns(shared_data, real_table):
    table = pd.read_csv(shared_data / "nb201" / "nb201_accuracy.csv")
    sample = table.sample(500, random_state=0)

    values = real_table.query_many(sample["arch"], "imagenet16_120")

    np.testing.assert_array_equal(values, sample["imagenet16_120_test"].to_numpy())


# NB201CSV on small files.

def test_equivalent_spellings_find_same_row(small_csv):
    truth = NB201CSV(small_csv)
    cell = truth._space.parse(ARCH_A)
    spellings = [ARCH_A, f"  {ARCH_A} ", cell, list(cell), dict(zip(EDGE_NAMES, cell, strict=True))]

    for spelling in spellings:
        assert truth.query(spelling, "cifar100").value == pytest.approx(70.2933)
    np.testing.assert_allclose(truth.query_many(spellings, "cifar100"), [70.2933] * len(spellings))


def test_dataset_aliases(small_csv):
    truth = NB201CSV(small_csv)

    for alias in ("ImageNet16-120", "imagenet16_120", "imagenet16-120", "IMAGENET16_120"):
        accuracy = truth.query(ARCH_A, alias)
        assert accuracy.dataset == "ImageNet16-120"
        assert accuracy.value == pytest.approx(44.0333)


def test_unknown_dataset_lists_valid(small_csv):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*cifar10-valid, cifar10, cifar100, "
                                         "ImageNet16-120"):
        NB201CSV(small_csv).query(ARCH_A, "imagenet")


def test_cifar10_valid_split_points_to_cifar10_valid(small_csv):
    with pytest.raises(ValueError) as caught:
        NB201CSV(small_csv).query(ARCH_A, "cifar10", split="valid")

    message = str(caught.value)
    assert "only the splits train, test" in message
    assert "dataset='cifar10-valid'" in message


@pytest.mark.parametrize("dataset, split, epochs, message", [
    ("cifar100", "valid", 200, "contains no valid accuracy for cifar100; it contains the split\\(s\\) test"),
    ("cifar10", "test", 12, "after 200 training epochs only, not 12"),
    ("cifar10", "ori-test", 200, "cifar10' has no ori-test split.*use split='test'"),
    ("cifar10", "holdout", 200, "unknown split 'holdout'; cifar10 has the splits train, test"),
    ("cifar10", "test", 0, "epochs must be a positive integer"),
    ("cifar10", "test", True, "epochs must be a positive integer"),
])
def test_unavailable_settings_raise(small_csv, dataset, split, epochs, message):
    with pytest.raises(ValueError, match=message):
        NB201CSV(small_csv).query(ARCH_A, dataset, split=split, epochs=epochs)


def test_absent_arch_raises_key_error(small_csv):
    truth = NB201CSV(small_csv)

    with pytest.raises(ArchitectureNotFoundError) as caught:
        truth.query(ARCH_ABSENT, "cifar10")

    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == f"architecture {ARCH_ABSENT} is not in NB201CSV({small_csv})"


def test_invalid_arch_raises_value_error(small_csv):
    truth = NB201CSV(small_csv)

    with pytest.raises(ValueError, match="unknown operation 'conv_5x5'"):
        truth.query(ARCH_A.replace("avg_pool_3x3", "conv_5x5"), "cifar10")
    with pytest.raises(ValueError, match="invalid architecture at position 1: .*conv_5x5"):
        truth.query_many([ARCH_A, ARCH_A.replace("avg_pool_3x3", "conv_5x5")], "cifar10", missing="nan")


CELL_A = ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")


@pytest.mark.parametrize("single, kind", [
    (ARCH_A, "one cell string"),
    (dict(zip(EDGE_NAMES, CELL_A, strict=True)), "one mapping from edge to operation"),
    (CELL_A, "one sequence of operation names"),
    (list(CELL_A), "one sequence of operation names"),
])
def test_query_many_rejects_single_arch(small_csv, single, kind):
    truth = NB201CSV(small_csv)

    with pytest.raises(ValueError) as caught:
        truth.query_many(single, "cifar10")

    message = str(caught.value)
    assert f"query_many expects a sequence of architectures but got {kind}" in message
    assert "pass a list such as [arch], or call query(arch, ...)" in message
    np.testing.assert_allclose(truth.query_many([single], "cifar10"), [93.66])


def test_empty_cell_is_a_missing_result(small_csv):
    truth = NB201CSV(small_csv)

    with pytest.raises(ResultNotFoundError, match="no ImageNet16-120 test accuracy after 200 epochs"):
        truth.query(ARCH_C, "ImageNet16-120")
    with pytest.raises(ResultNotFoundError, match="1 of 2 requested architectures lack this value"):
        truth.query_many([ARCH_A, ARCH_C], "ImageNet16-120")


def test_query_many_missing_nan(small_csv):
    truth = NB201CSV(small_csv)

    values = truth.query_many([ARCH_B, ARCH_ABSENT, ARCH_C, ARCH_A], "ImageNet16-120", missing="nan")

    np.testing.assert_array_equal(values, [26.6333, np.nan, np.nan, 44.0333])
    with pytest.raises(ArchitectureNotFoundError):
        truth.query_many([ARCH_B, ARCH_ABSENT], "cifar10")
    with pytest.raises(ValueError, match="unknown missing policy 'skip'; valid policies: raise, nan"):
        truth.query_many([ARCH_B], "cifar10", missing="skip")


def test_listing_and_dataframe(small_csv):
    truth = NB201CSV(small_csv)

    assert len(truth) == 3
    assert ARCH_B in truth
    assert ARCH_ABSENT not in truth
    assert "not a cell" not in truth
    assert truth.datasets() == ["cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"]
    assert truth.splits("cifar10_valid") == ["valid"]
    assert truth.epochs("cifar100") == [200]
    assert [truth._space.format(cell) for cell in truth.archs()] == [ARCH_A, ARCH_B, ARCH_C]

    frame = truth.to_dataframe()

    assert list(frame.columns) == ["arch", "cifar10-valid/valid@200", "cifar10/test@200", "cifar100/test@200",
                                   "ImageNet16-120/test@200"]
    assert frame["arch"].tolist() == [ARCH_A, ARCH_B, ARCH_C]
    assert frame.loc[1, "cifar10/test@200"] == pytest.approx(85.8633)
    assert np.isnan(frame.loc[2, "ImageNet16-120/test@200"])


def test_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.csv not found; expected a CSV file with the columns arch, "
                                                "cifar10_test"):
        NB201CSV(tmp_path / "absent.csv")


def test_csv_missing_columns_named(tmp_path):
    path = _write_csv(tmp_path / "partial.csv", [f"{ARCH_A},93.66"], header="arch,cifar10_test")

    with pytest.raises(ValueError) as caught:
        NB201CSV(path)

    message = str(caught.value)
    assert str(path) in message
    assert "missing the column(s) cifar100_test, imagenet16_120_test, cifar10_valid_val" in message


def test_csv_extra_columns_optional(tmp_path):
    header = "arch,cifar10_test,cifar100_test,imagenet16_120_test,cifar10_valid_val,flops"
    path = _write_csv(tmp_path / "own.csv", [f"{ARCH_A},93.0,70.0,44.0,90.0,1.2"], header=header)

    assert NB201CSV(path).query(ARCH_A, "cifar10").value == 93.0


@pytest.mark.parametrize("line, message", [
    (f"2,{ARCH_A.replace('skip_connect~2', 'skip_connect~1')},1,1,1,1,1", "line 3: invalid input index 1"),
    (f"2,{ARCH_A},93.66,70.2,44.0,90.7,0.8", "appears on line 2 and on line 3"),
    (f"2,{ARCH_C},0.93,0.70,144.0,0.9,0.8", "line 3: imagenet16_120_test is 144.0.*percentages from 0 to 100"),
    (f"2,{ARCH_C},93.6,seventy,44.0,90.7,0.8", "line 3, column cifar100_test: 'seventy' is not a number"),
    (f"2,{ARCH_C},93.6,70.0,44.0", "line 3: expected 7 fields as in the header, found 5"),
    (f"2,{ARCH_C},93.6,70.0,44.0,90.7,0.8,extra", "line 3: expected 7 fields as in the header, found 8"),
    ("2,,93.6,70.0,44.0,90.7,0.8", "line 3: the cell string is missing"),
])
def test_csv_invalid_rows_raise(tmp_path, line, message):
    path = _write_csv(tmp_path / "bad.csv", [f"1,{ARCH_A},93.66,70.2933,44.0333,90.7693,0.8024", line])

    with pytest.raises(ValueError, match=message):
        NB201CSV(path)


def test_csv_non_number_names_line_and_column(tmp_path):
    # The blank line 3 is skipped but still counted, so the bad row is on line 5.
    path = _write_csv(tmp_path / "b4.csv", [
        f"1,{ARCH_A},93.66,70.2933,44.0333,90.7693,0.8024",
        "",
        f"0,{ARCH_B},85.8633,52.9133,26.6333,81.9827,0.1293",
        f"7,{ARCH_C},10.0,1.0,abc,9.5,0.0155",
    ])

    with pytest.raises(ValueError) as caught:
        NB201CSV(path)

    message = str(caught.value)
    assert f"{path}, line 5, column imagenet16_120_test: 'abc' is not a number" in message
    assert "empty for a result that was not measured" in message


def test_csv_short_row_rejected(tmp_path):
    path = _write_csv(tmp_path / "short.csv", [
        f"1,{ARCH_A},93.66,70.2933,44.0333,90.7693,0.8024",
        f"0,{ARCH_B},85.8633",
    ])

    with pytest.raises(ValueError) as caught:
        NB201CSV(path)

    message = str(caught.value)
    assert f"{path}, line 3: expected 7 fields as in the header, found 3" in message
    assert "leave a field empty" in message


def test_csv_empty_fields_still_not_measured(tmp_path):
    # Every field present, some empty: the documented way to mark a result as not measured.
    path = _write_csv(tmp_path / "gaps.csv", [
        f"1,{ARCH_A},93.66,,,90.7693,",
        "",
        f"0,{ARCH_B},85.8633,52.9133,26.6333,81.9827,0.1293",
        "",
    ])

    truth = NB201CSV(path)

    assert len(truth) == 2
    assert truth.query(ARCH_A, "cifar10").value == pytest.approx(93.66)
    with pytest.raises(ResultNotFoundError):
        truth.query(ARCH_A, "cifar100")


def test_csv_line_numbers_count_blank_lines(tmp_path):
    path = _write_csv(tmp_path / "repeat.csv", [
        f"1,{ARCH_A},93.66,70.2933,44.0333,90.7693,0.8024",
        "",
        "",
        f"2,{ARCH_A},93.66,70.2,44.0,90.7,0.8",
    ])

    with pytest.raises(ValueError, match="appears on line 2 and on line 5"):
        NB201CSV(path)


def test_csv_non_utf8_rejected(tmp_path):
    path = tmp_path / "latin1.csv"
    lines = [f"{HEADER},note", f"1,{ARCH_A},93.66,70.2933,44.0333,90.7693,0.8024,ok",
             f"0,{ARCH_B},85.8,52.9,26.6,81.9,0.1,caf\u00e9"]
    path.write_bytes("\n".join(lines).encode("latin-1"))

    with pytest.raises(ValueError) as caught:
        NB201CSV(path)

    message = str(caught.value)
    assert f"{path}, line 3: byte 0xe9 is not valid UTF-8" in message
    assert "save the file as UTF-8" in message


def test_csv_utf8_with_bom_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    text = f"{HEADER}\n1,{ARCH_A},93.66,70.2933,44.0333,90.7693,0.8024\n"
    path.write_bytes(text.encode("utf-8-sig"))

    assert NB201CSV(path).query(ARCH_A, "cifar10").value == pytest.approx(93.66)


def test_csv_fractions_rejected(tmp_path):
    path = _write_csv(tmp_path / "fractions.csv", [
        f"1,{ARCH_A},0.9366,0.702933,0.440333,0.907693,0.8024",
        f"0,{ARCH_B},0.858633,0.529133,,0.819827,0.1293",
    ])

    with pytest.raises(ValueError) as caught:
        NB201CSV(path)

    message = str(caught.value)
    assert f"{path}: every accuracy is at most 1.0 (maximum 0.9366)" in message
    assert "looks like fractions" in message
    assert "multiply the accuracy columns" in message


def test_csv_low_percentages_accepted(tmp_path):
    # One value above 1 shows that the table is in percent, even if others are at chance level.
    path = _write_csv(tmp_path / "low.csv", [f"7,{ARCH_C},10.0,1.0,0.8333,,0.0155"])

    assert NB201CSV(path).query(ARCH_C, "ImageNet16-120").value == pytest.approx(0.8333)

def test_csv_header_only_raises(tmp_path):
    path = _write_csv(tmp_path / "empty.csv", [])

    with pytest.raises(ValueError, match="contains a header but no rows"):
        NB201CSV(path)


# NNINasBench201: a database in the schema that NNI 3.0's peewee models create.

NNI_SCHEMA = """
CREATE TABLE "nb201trialconfig" ("id" INTEGER NOT NULL PRIMARY KEY, "arch" JSON NOT NULL,
    "num_epochs" INTEGER NOT NULL, "num_channels" INTEGER NOT NULL, "num_cells" INTEGER NOT NULL,
    "dataset" VARCHAR(20) NOT NULL);
CREATE INDEX "nb201trialconfig_arch" ON "nb201trialconfig" ("arch");
CREATE INDEX "nb201trialconfig_num_epochs" ON "nb201trialconfig" ("num_epochs");
CREATE INDEX "nb201trialconfig_dataset" ON "nb201trialconfig" ("dataset");
CREATE TABLE "nb201trialstats" ("id" INTEGER NOT NULL PRIMARY KEY, "config_id" INTEGER NOT NULL,
    "seed" INTEGER NOT NULL, "train_acc" REAL NOT NULL, "valid_acc" REAL NOT NULL, "test_acc" REAL NOT NULL,
    "ori_test_acc" REAL NOT NULL, "train_loss" REAL, "valid_loss" REAL, "test_loss" REAL, "ori_test_loss" REAL,
    "parameters" REAL NOT NULL, "latency" REAL NOT NULL, "flops" REAL NOT NULL, "training_time" REAL NOT NULL,
    "valid_evaluation_time" REAL NOT NULL, "test_evaluation_time" REAL NOT NULL,
    "ori_test_evaluation_time" REAL NOT NULL, FOREIGN KEY ("config_id") REFERENCES "nb201trialconfig" ("id"));
CREATE INDEX "nb201trialstats_config_id" ON "nb201trialstats" ("config_id");
CREATE TABLE "nb201intermediatestats" ("id" INTEGER NOT NULL PRIMARY KEY, "trial_id" INTEGER NOT NULL,
    "current_epoch" INTEGER NOT NULL, "train_acc" REAL, "valid_acc" REAL, "test_acc" REAL, "ori_test_acc" REAL,
    "train_loss" REAL, "valid_loss" REAL, "test_loss" REAL, "ori_test_loss" REAL,
    FOREIGN KEY ("trial_id") REFERENCES "nb201trialstats" ("id"));
CREATE INDEX "nb201intermediatestats_trial_id" ON "nb201intermediatestats" ("trial_id");
CREATE INDEX "nb201intermediatestats_current_epoch" ON "nb201intermediatestats" ("current_epoch");
"""
# NNI stores ARCH_A with its own operation names, as sorted compact JSON (SQLite's json()).
NNI_ARCH_A = ('{"0_1":"conv_3x3","0_2":"conv_3x3","0_3":"skip_connect","1_2":"avg_pool_3x3",'
              '"1_3":"conv_3x3","2_3":"skip_connect"}')
NNI_ARCH_B = ('{"0_1":"avg_pool_3x3","0_2":"conv_1x1","0_3":"conv_1x1","1_2":"skip_connect",'
              '"1_3":"skip_connect","2_3":"skip_connect"}')


def _nni_accuracies(base: float, seed_offset: float) -> tuple[float, float, float, float]:
    # train, valid, test, ori-test accuracies of one seed, kept apart so a mix-up shows.
    return (base + 20.0 + seed_offset, base - 2.0 + seed_offset, base + seed_offset, base - 1.0 + seed_offset)


def _write_nni_db(path: Path, configs: list[tuple[str, str, int, float]]) -> Path:
    """Write one config per (arch JSON, dataset, epochs, base accuracy), each with seeds 777 and 888."""
    with sqlite3.connect(path) as connection:
        connection.executescript(NNI_SCHEMA)
        for config_id, (arch, dataset, epochs, base) in enumerate(configs, start=1):
            connection.execute("INSERT INTO nb201trialconfig VALUES (?, ?, ?, 16, 5, ?)",
                               (config_id, arch, epochs, dataset))
            for seed, offset in ((777, -0.5), (888, 0.5)):
                cursor = connection.execute(
                    "INSERT INTO nb201trialstats (config_id, seed, train_acc, valid_acc, test_acc, ori_test_acc, "
                    "train_loss, valid_loss, test_loss, ori_test_loss, parameters, latency, flops, training_time, "
                    "valid_evaluation_time, test_evaluation_time, ori_test_evaluation_time) "
                    "VALUES (?, ?, ?, ?, ?, ?, NULL, 1.0, 1.0, 1.0, 0.8, 0.01, 100.0, 600.0, 2.0, 2.0, 4.0)",
                    (config_id, seed, *_nni_accuracies(base, offset)))
                connection.execute("INSERT INTO nb201intermediatestats (trial_id, current_epoch, train_acc) "
                                   "VALUES (?, 1, 10.0)", (cursor.lastrowid,))
    connection.close()
    return path


@pytest.fixture
def nni_db(tmp_path) -> Path:
    return _write_nni_db(tmp_path / "nasbench201.db", [
        (NNI_ARCH_A, "cifar10-valid", 200, 90.0),
        (NNI_ARCH_A, "cifar10", 200, 93.0),
        (NNI_ARCH_A, "cifar100", 200, 70.0),
        (NNI_ARCH_A, "imagenet16-120", 200, 44.0),
        (NNI_ARCH_A, "cifar100", 12, 40.0),
        (NNI_ARCH_B, "cifar10", 200, 85.0),
    ])


def test_nni_seed_means_per_split(nni_db):
    truth = NNINasBench201(nni_db)

    assert truth.query(ARCH_A, "cifar100").value == pytest.approx(70.0)
    assert truth.query(ARCH_A, "cifar100", "valid").value == pytest.approx(68.0)
    assert truth.query(ARCH_A, "cifar100", "ori-test").value == pytest.approx(69.0)
    assert truth.query(ARCH_A, "cifar100", "train").value == pytest.approx(90.0)
    assert truth.query(ARCH_A, "cifar100", epochs=12).value == pytest.approx(40.0)
    assert truth.query(ARCH_A, "imagenet16_120", "valid").value == pytest.approx(42.0)
    assert truth.query(ARCH_A, "cifar10-valid", "valid").value == pytest.approx(88.0)
    assert truth.query(ARCH_A, "cifar10-valid", "test").value == pytest.approx(90.0)
    accuracy = truth.query(ARCH_B, "cifar10")
    assert (accuracy.value, accuracy.epochs, accuracy.source) == (pytest.approx(85.0), 200, f"NNINasBench201({nni_db})")


def test_nni_cifar10_valid_column_not_offered(nni_db):
    truth = NNINasBench201(nni_db)

    assert truth.splits("cifar10") == ["train", "test"]
    with pytest.raises(ValueError, match="dataset='cifar10-valid'"):
        truth.query(ARCH_A, "cifar10", "valid")


def test_nni_listing_and_missing(nni_db):
    truth = NNINasBench201(nni_db)

    assert [truth._space.format(cell) for cell in truth.archs()] == [ARCH_A, ARCH_B]
    assert truth.epochs("cifar100") == [12, 200]
    assert truth.datasets() == ["cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"]
    with pytest.raises(ArchitectureNotFoundError, match="is not in NNINasBench201"):
        truth.query(ARCH_ABSENT, "cifar10")
    with pytest.raises(ResultNotFoundError, match="no cifar100 test accuracy after 200 epochs"):
        truth.query(ARCH_B, "cifar100")
    with pytest.raises(ValueError, match="contains cifar10 test accuracies after 200 training epochs only, not 12"):
        truth.query(ARCH_A, "cifar10", epochs=12)
    np.testing.assert_allclose(truth.query_many([ARCH_B, ARCH_A], "cifar10"), [85.0, 93.0])
    frame = truth.to_dataframe()
    assert frame.loc[0, "cifar100/test@12"] == pytest.approx(40.0)
    assert np.isnan(frame.loc[1, "cifar100/test@200"])


def test_nni_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.db not found"):
        NNINasBench201(tmp_path / "absent.db")

    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database at all, just text " * 20)
    with pytest.raises(ValueError, match="cannot read .*notes.db as NNI's NAS-Bench-201 SQLite database"):
        NNINasBench201(text_file)

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE nb201trialconfig (id INTEGER PRIMARY KEY, arch TEXT)")
    connection.close()
    with pytest.raises(ValueError, match="missing nb201trialconfig.num_epochs, nb201trialconfig.dataset, "
                                         "table nb201trialstats"):
        NNINasBench201(other)


@pytest.mark.parametrize("arch, dataset, message", [
    ('{"0_1":"conv_5x5","0_2":"none","0_3":"none","1_2":"none","1_3":"none","2_3":"none"}', "cifar10",
     "id 1: unknown operation 'conv_5x5' on edge 0_1"),
    ('{"0_1":"none"}', "cifar10", "id 1: arch .* must be an object with exactly the keys 0_1, 0_2, 1_2"),
    (NNI_ARCH_A, "svhn", "id 1 has unknown dataset 'svhn'"),
])
def test_nni_invalid_rows(tmp_path, arch, dataset, message):
    path = _write_nni_db(tmp_path / "bad.db", [(arch, dataset, 200, 50.0)])

    with pytest.raises(ValueError, match=message):
        NNINasBench201(path)


# NATSBenchTopology: files in the layout that nats_bench 1.8 reads.

NATS_ARCHS = [ARCH_B, ARCH_A, ARCH_C]
NATS_EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("ori-test", "x-valid", "x-test"),
    "ImageNet16-120": ("ori-test", "x-valid", "x-test"),
}
NATS_SET_OFFSETS = {"x-valid": -2.0, "x-test": 0.0, "ori-test": -1.0}
NATS_DATASET_BASES = {"cifar10-valid": 88.0, "cifar10": 90.0, "cifar100": 60.0, "ImageNet16-120": 30.0}


def _nats_final_accuracy(index: int, dataset: str, eval_set: str, epochs: int, seed: int) -> float:
    # Distinct per setting. Seeds 777 and 888 differ by 1, so their mean ends in .5.
    value = NATS_DATASET_BASES[dataset] + NATS_SET_OFFSETS.get(eval_set, 5.0) + index
    if epochs == 12:
        value -= 10.0
    if seed == 888:
        value += 1.0
    return value


def _results_count(index: int, dataset: str, seed: int, epochs: int) -> dict:
    """Return a ResultsCount state dict whose metrics climb to their final value at the last epoch."""
    def curve(final: float) -> dict[int, float]:
        return {epoch: final * (epoch + 1) / epochs for epoch in range(epochs)}

    eval_accuracies, eval_losses, eval_times = {}, {}, {}
    for name in NATS_EVAL_SETS[dataset]:
        for epoch, value in curve(_nats_final_accuracy(index, dataset, name, epochs, seed)).items():
            eval_accuracies[f"{name}@{epoch}"] = value
            eval_losses[f"{name}@{epoch}"] = 1.0
            eval_times[f"{name}@{epoch}"] = 0.5
    return {
        "name": dataset, "net_state_dict": None,
        "train_acc1es": curve(_nats_final_accuracy(index, dataset, "train", epochs, seed)),
        "train_acc5es": None, "train_losses": {epoch: 1.0 for epoch in range(epochs)},
        "train_times": {epoch: 3.0 for epoch in range(epochs)},
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": NATS_ARCHS[index], "class_num": 10},
        "params": 0.5, "flop": 50.0, "seed": seed, "epochs": epochs, "latency": [0.01],
        "eval_names": list(NATS_EVAL_SETS[dataset]), "eval_acc1es": eval_accuracies, "eval_times": eval_times,
        "eval_losses": eval_losses,
    }


def _arch_results(index: int, epochs: int) -> dict:
    """Return an ArchResults state dict with seeds 777 and 888 on the four datasets."""
    seeds = (777, 888)
    return {
        "arch_index": index, "arch_str": NATS_ARCHS[index], "clear_net_done": True,
        "all_results": {(dataset, seed): _results_count(index, dataset, seed, epochs)
                        for dataset in NATS_EVAL_SETS for seed in seeds},
        "dataset_seed": {dataset: list(seeds) for dataset in NATS_EVAL_SETS},
    }


def _dump_pbz2(value: object, path: Path) -> Path:
    with bz2.BZ2File(path, "wb") as handle:
        pickle.dump(value, handle, protocol=4)
    return path


def _write_nats_file(path: Path, indices: list[int]) -> Path:
    return _dump_pbz2({
        "meta_archs": NATS_ARCHS,
        "arch2infos": {index: {"12": _arch_results(index, 12), "200": _arch_results(index, 200)} for index in indices},
        "evaluated_indexes": indices,
    }, path)


def _write_nats_directory(path: Path, indices: list[int]) -> Path:
    path.mkdir()
    _dump_pbz2({"meta_archs": NATS_ARCHS}, path / "meta.pickle.pbz2")
    for index in indices:
        _dump_pbz2({"12": _arch_results(index, 12), "200": _arch_results(index, 200)},
                   path / f"{index:06d}.pickle.pbz2")
    return path


def test_nats_without_package_names_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nats_bench", None)  # makes "import nats_bench" raise ImportError

    with pytest.raises(ImportError, match=r"pip install archsearch\[nats\]"):
        NATSBenchTopology(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")


@pytest.fixture(params=["file", "directory"])
def nats_truth(request, tmp_path) -> NATSBenchTopology:
    pytest.importorskip("nats_bench", reason="the optional package nats_bench is not installed "
                                             "(pip install archsearch[nats])")
    # Index 2 (ARCH_C) has no results, as in a partial download.
    if request.param == "file":
        path = _write_nats_file(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", [0, 1])
    else:
        path = _write_nats_directory(tmp_path / "NATS-tss-v1_0-3ffb9-simple", [0, 1])
    return load_ground_truth(path)


def test_nats_final_epoch_seed_means(nats_truth):
    assert isinstance(nats_truth, NATSBenchTopology)
    # ARCH_A has index 1; the mean of the two seeds adds 0.5.
    assert nats_truth.query(ARCH_A, "cifar100").value == pytest.approx(60.0 + 0.0 + 1 + 0.5)
    assert nats_truth.query(ARCH_A, "cifar100", "valid").value == pytest.approx(60.0 - 2.0 + 1.5)
    assert nats_truth.query(ARCH_A, "cifar100", "ori-test").value == pytest.approx(60.0 - 1.0 + 1.5)
    assert nats_truth.query(ARCH_A, "cifar100", "train").value == pytest.approx(60.0 + 5.0 + 1.5)
    assert nats_truth.query(ARCH_A, "imagenet16-120", "test", epochs=12).value == pytest.approx(30.0 - 10.0 + 1.5)
    assert nats_truth.query(ARCH_B, "cifar10-valid", "valid").value == pytest.approx(88.0 - 2.0 + 0.5)
    assert nats_truth.query(ARCH_B, "cifar10-valid", "test").value == pytest.approx(88.0 - 1.0 + 0.5)
    accuracy = nats_truth.query(ARCH_B, "cifar10", epochs=12)
    assert (accuracy.value, accuracy.epochs) == (pytest.approx(90.0 - 1.0 - 10.0 + 0.5), 12)


def test_nats_listing_and_errors(nats_truth):
    assert [nats_truth._space.format(cell) for cell in nats_truth.archs()] == [ARCH_B, ARCH_A]
    assert ARCH_C not in nats_truth
    assert nats_truth.splits("cifar10") == ["train", "test"]
    assert nats_truth.splits("ImageNet16-120") == ["train", "valid", "test", "ori-test"]
    assert nats_truth.epochs("cifar10-valid", "valid") == [12, 200]
    with pytest.raises(ArchitectureNotFoundError, match="is not in NATSBenchTopology"):
        nats_truth.query(ARCH_C, "cifar10")
    with pytest.raises(ArchitectureNotFoundError):
        nats_truth.query(ARCH_ABSENT, "cifar10")
    with pytest.raises(ValueError, match="dataset='cifar10-valid'"):
        nats_truth.query(ARCH_A, "cifar10", "valid")
    with pytest.raises(ValueError, match="after 12 or 200 training epochs only, not 90"):
        nats_truth.query(ARCH_A, "cifar10", epochs=90)
    np.testing.assert_allclose(nats_truth.query_many([ARCH_A, ARCH_B], "cifar10"), [90.5, 89.5])


def test_nats_invalid_paths(tmp_path):
    pytest.importorskip("nats_bench", reason="the optional package nats_bench is not installed")
    with pytest.raises(FileNotFoundError, match="NATS-Bench topology data .* not found"):
        NATSBenchTopology(tmp_path / "absent.pickle.pbz2")

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="meta.pickle.pbz2 not found"):
        NATSBenchTopology(tmp_path / "empty")

    size_file = _dump_pbz2({"meta_archs": ["64:64:64:64:64"], "arch2infos": {}, "evaluated_indexes": []},
                           tmp_path / "NATS-sss-v1_0-50262.pickle.pbz2")
    with pytest.raises(ValueError, match="meta_archs\\[0\\].*a size \\(sss\\) file lists channel counts"):
        NATSBenchTopology(size_file)

    no_results = _write_nats_file(tmp_path / "NATS-tss-partial.pickle.pbz2", [])
    with pytest.raises(ValueError, match="lists 3 architectures but contains results for none of them"):
        NATSBenchTopology(no_results)


@pytest.mark.parametrize("spec, damaged_name, reason", [
    ("garbage", "fake.pickle.pbz2", "not a complete bz2-compressed pickle \\(OSError: Invalid data stream\\)"),
    ("csv", "small.csv", "not a complete bz2-compressed pickle \\(OSError"),
    ("truncated", "cut.pickle.pbz2", "not a complete bz2-compressed pickle \\(EOFError"),
    ("bz2 text", "text.pickle.pbz2", "not a complete bz2-compressed pickle \\(UnpicklingError"),
    ("list", "list.pickle.pbz2", "not in the NATS-Bench topology format"),
    ("no arch2infos", "meta-only.pickle.pbz2", "not in the NATS-Bench topology format .*arch2infos"),
    ("directory", "meta.pickle.pbz2", "not a complete bz2-compressed pickle"),
])
def test_nats_damaged_file_named(tmp_path, spec, damaged_name, reason):
    pytest.importorskip("nats_bench", reason="the optional package nats_bench is not installed")
    if spec == "garbage":
        path = tmp_path / damaged_name
        path.write_bytes(bytes(range(256)) * 4)
    elif spec == "csv":
        path = _write_csv(tmp_path / damaged_name, [f"1,{ARCH_A},93.66,70.2933,44.0333,90.7693,0.8024"])
    elif spec == "truncated":
        whole = _write_nats_file(tmp_path / "whole.pickle.pbz2", [0, 1]).read_bytes()
        path = tmp_path / damaged_name
        path.write_bytes(whole[:len(whole) // 2])
    elif spec == "bz2 text":
        path = tmp_path / damaged_name
        path.write_bytes(bz2.compress(b"index,arch\n"))
    elif spec == "list":
        path = _dump_pbz2(NATS_ARCHS, tmp_path / damaged_name)
    elif spec == "no arch2infos":
        path = _dump_pbz2({"meta_archs": NATS_ARCHS, "evaluated_indexes": []}, tmp_path / damaged_name)
    else:
        path = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
        path.mkdir()
        (path / damaged_name).write_bytes(b"not compressed")

    with pytest.raises(ValueError, match=f"cannot read .*{damaged_name}: it.*{reason}.*expected a NATS-Bench "
                                         "topology file"):
        load_ground_truth(f"nats:{path}")


def test_nats_damaged_architecture_file_named(tmp_path):
    pytest.importorskip("nats_bench", reason="the optional package nats_bench is not installed")
    path = _write_nats_directory(tmp_path / "NATS-tss-v1_0-3ffb9-simple", [0, 1])
    (path / "000001.pickle.pbz2").write_bytes(b"damaged")
    truth = NATSBenchTopology(path)  # reads index 0 only; index 1 is read on its first query

    assert truth.query(ARCH_B, "cifar10").value == pytest.approx(89.5)
    with pytest.raises(ValueError, match="cannot read .*000001.pickle.pbz2: it is not a complete bz2-compressed "
                                         "pickle"):
        truth.query(ARCH_A, "cifar10")


# load_ground_truth

def test_loader_picks_adapter_by_type(small_csv, nni_db, tmp_path):
    assert isinstance(load_ground_truth(small_csv), NB201CSV)
    assert isinstance(load_ground_truth(str(nni_db)), NNINasBench201)
    renamed = nni_db.rename(tmp_path / "nb201.bin")
    assert isinstance(load_ground_truth(f"nni:{renamed}"), NNINasBench201)
    truth = load_ground_truth(small_csv)
    assert load_ground_truth(truth) is truth
    assert isinstance(truth, GroundTruth)


def test_loader_rejects_unknown_forms(tmp_path):
    unknown = tmp_path / "accuracies.json"
    unknown.write_text("{}")

    with pytest.raises(ValueError, match="cannot tell which adapter reads .*accuracies.json; accepted: a .csv table"):
        load_ground_truth(unknown)
    with pytest.raises(FileNotFoundError, match="ground-truth source .*nowhere not found"):
        load_ground_truth(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="absent.csv not found"):
        load_ground_truth(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="expected a path or spec, got 42"):
        load_ground_truth(42)  # type: ignore[arg-type]
