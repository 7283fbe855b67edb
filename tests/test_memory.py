"""Memory stays flat while a process scores thousands of distinct NAS-Bench-201 cells.

Each check runs in a fresh Python process, because the peak resident size (``ru_maxrss``)
covers the whole life of a process and would otherwise include earlier tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

SCRIPT = """
import json, resource, sys
import torch
import search_spaces
from archsearch import proxies
from archsearch.evaluator import Evaluator
from archsearch.proxies import Batch
from search_spaces.nb201 import distinct_cells

name, cells, warm_up, options, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(1)
space = search_spaces.create("nb201", **options)
generator = torch.Generator().manual_seed(0)
size = space.input_shape[-1]
batch = Batch(torch.randn(batch_size, 3, size, size, generator=generator),
              torch.randint(0, 10, (batch_size,), generator=generator))
teacher = space.build("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
evaluator = Evaluator(space, [proxies.create(name)], batch, teacher=teacher)
peaks, statuses = [], set()
for cell in distinct_cells()[:cells]:
    statuses.add(evaluator.evaluate(cell)["status"])
    peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print(json.dumps({"after_warm_up": peaks[warm_up - 1], "end": peaks[-1], "statuses": sorted(statuses)}))
"""


def peak_growth(name: str, cells: int, warm_up: int, options: dict, batch_size: int, timeout: int) -> float:
    """Return the relative growth of the peak resident size from cell ``warm_up`` to the last cell."""
    completed = subprocess.run([sys.executable, "-c", SCRIPT, name, str(cells), str(warm_up), json.dumps(options),
                                str(batch_size)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "ok" in result["statuses"]
    return result["end"] / result["after_warm_up"] - 1.0


SMALL_SPACE = {"channels": 4, "cells_per_stage": 1, "input_size": 16}


@pytest.mark.parametrize("name", ["nwot", "grasp", "diswot", "minibatch_cka"])
def test_peak_memory_flat_over_small_cells(name):
    assert peak_growth(name, cells=400, warm_up=100, options=SMALL_SPACE, batch_size=16, timeout=600) <= 0.10


@pytest.mark.slow
def test_peak_memory_flat_over_all_distinct_cells():
    # All 6,466 distinct cells at full size and batch 64: at most 10% growth after the first 500.
    assert peak_growth("nwot", cells=6466, warm_up=500, options={}, batch_size=64, timeout=7200) <= 0.10
