"""Scoring a list of architectures in worker processes gives the serial scores, in order."""

from __future__ import annotations

import pytest

import archsearch
from archsearch.parallel import check_workers

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|",
]
SMALL_SPACE = {"channels": 4, "cells_per_stage": 1}


def test_workers_match_serial_scores():
    options = dict(space_options=SMALL_SPACE, batch_size=8, seed=3)
    serial = archsearch.score(CELLS + CELLS[:1], ["nwot", "params"], **options)
    parallel = archsearch.score(CELLS + CELLS[:1], ["nwot", "params"], workers=2, **options)
    assert list(parallel["arch"]) == list(serial["arch"])
    assert list(parallel["status"]) == list(serial["status"])
    assert list(parallel["index"]) == list(range(len(CELLS) + 1))
    for column in ("score_nwot", "score_params"):
        # Workers use fewer torch threads, which changes float32 summation order slightly.
        assert parallel[column].tolist() == pytest.approx(serial[column].tolist(), rel=1e-4, nan_ok=True)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts_are_rejected(value):
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        check_workers(value)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        archsearch.score(CELLS[:1], "params", workers=value)
