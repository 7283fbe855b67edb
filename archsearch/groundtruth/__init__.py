"""Ground truth: trained accuracies of NAS-Bench-201 cells from benchmark files.

Every value records its dataset, split and training length (see ``Accuracy``). Sources:

- ``NB201CSV``: a CSV table with one row per cell (schema in docs/groundtruth.md).
- ``NATSBenchTopology``: the official NATS-Bench topology files, through the optional
  ``nats_bench`` package (``pip install archsearch[nats]``).
- ``NNINasBench201``: NNI 3.0's NAS-Bench-201 SQLite database, read with ``sqlite3``.

Example:
    >>> from archsearch.groundtruth import load_ground_truth
    >>> truth = load_ground_truth("nb201_accuracy.csv")
    >>> truth.query("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
    ...             "nor_conv_3x3~1|skip_connect~2|", "cifar100").value
    70.2933
    >>> accuracies = truth.query_many(truth.archs()[:100], "ImageNet16-120")
"""

from archsearch.groundtruth.base import Accuracy, GroundTruth
from archsearch.groundtruth.csv_table import NB201CSV
from archsearch.groundtruth.datasets import BENCHMARK_EPOCHS, DATASET_SPLITS, DATASETS, canonical_dataset
from archsearch.groundtruth.errors import ArchitectureNotFoundError, ResultNotFoundError
from archsearch.groundtruth.loader import load_ground_truth
from archsearch.groundtruth.nats import NATSBenchTopology
from archsearch.groundtruth.nni_db import NNINasBench201

__all__ = ["Accuracy", "ArchitectureNotFoundError", "BENCHMARK_EPOCHS", "DATASETS", "DATASET_SPLITS", "GroundTruth",
           "NATSBenchTopology", "NB201CSV", "NNINasBench201", "ResultNotFoundError", "canonical_dataset",
           "load_ground_truth"]
