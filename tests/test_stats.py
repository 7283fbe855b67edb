"""Rank statistics: agreement with SciPy, ties, the NaN and constant-input policy, top-k precision."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from archsearch.stats import (ConstantInputWarning, RankStats, kendall_tau_b, rank_correlations, spearman,
                              top_k_precision)


@pytest.mark.parametrize("seed, size, decimals", [(0, 50, None), (1, 200, None), (2, 300, 1), (3, 40, 0)])
def test_correlations_match_scipy(seed, size, decimals):
    rng = np.random.default_rng(seed)
    truth = rng.normal(80.0, 5.0, size)
    scores = 0.5 * truth + rng.normal(0.0, 3.0, size)
    if decimals is not None:  # rounding creates ties on both sides
        truth, scores = np.round(truth, decimals), np.round(scores, decimals)

    result = rank_correlations(scores, truth)

    assert result.spearman == pytest.approx(scipy_stats.spearmanr(scores, truth).statistic, abs=1e-12)
    assert result.kendall_tau_b == pytest.approx(scipy_stats.kendalltau(scores, truth, variant="b").statistic,
                                                 abs=1e-12)
    assert result.pearson == pytest.approx(scipy_stats.pearsonr(scores, truth).statistic, abs=1e-12)
    assert result.n == size
    assert result.n_nan == 0
    assert not result.constant_input


def test_convenience_functions_match_scipy():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 10, 60).astype(float)
    b = a + rng.integers(0, 5, 60)

    assert spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b).statistic, abs=1e-12)
    assert kendall_tau_b(a, b) == pytest.approx(scipy_stats.kendalltau(a, b).statistic, abs=1e-12)
    assert round(spearman([1, 2, 3, 4], [10, 20, 40, 30]), 4) == 0.8
    assert round(kendall_tau_b([1, 2, 3, 4], [10, 20, 40, 30]), 4) == 0.6667


def test_ties_are_counted():
    scores = [1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0]
    truth = [10.0, 20.0, 30.0, 40.0, 50.0, 50.0, 60.0]

    result = rank_correlations(scores, truth)

    assert result.n_ties_scores == 3  # one repeat of 1.0, two of 3.0
    assert result.n_ties_truth == 1
    assert result.kendall_tau_b == pytest.approx(scipy_stats.kendalltau(scores, truth, variant="b").statistic)
    # tau-b is not tau-a: with ties they differ.
    assert result.kendall_tau_b != pytest.approx(scipy_stats.kendalltau(scores, truth, variant="c").statistic)


def test_nan_and_inf_pairs_excluded_and_counted():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=30)
    truth = scores + rng.normal(scale=0.5, size=30)
    scores[[2, 5]] = np.nan
    truth[[5, 9]] = np.nan
    scores[11] = np.inf
    truth[14] = -np.inf
    keep = np.isfinite(scores) & np.isfinite(truth)

    result = rank_correlations(scores, truth)

    assert result.n_nan == 5  # index 5 is NaN on both sides and counts once
    assert result.n == 25
    assert result.spearman == pytest.approx(scipy_stats.spearmanr(scores[keep], truth[keep]).statistic)
    assert result.pearson == pytest.approx(scipy_stats.pearsonr(scores[keep], truth[keep]).statistic)
    assert not math.isnan(result.kendall_tau_b)


def test_too_few_finite_pairs_raise():
    with pytest.raises(ValueError, match="at least 3 pairs with finite values, got 2 of 4 .2 excluded"):
        rank_correlations([1.0, 2.0, np.nan, 4.0], [1.0, 2.0, 3.0, np.inf])
    with pytest.raises(ValueError, match="at least 3 pairs"):
        spearman([1.0, 2.0], [2.0, 1.0])


def test_constant_scores_warn_and_report_zero():
    with pytest.warns(ConstantInputWarning, match="scores are constant over the 5 finite pairs") as record:
        result = rank_correlations([0.5] * 5, [60.0, 61.0, 62.0, 63.0, 64.0], top_fraction=(0.2, 0.4))

    assert result.spearman == 0.0
    assert result.kendall_tau_b == 0.0
    assert result.pearson == 0.0
    assert result.constant_input
    assert result.n_ties_scores == 4
    # Random tie-breaking: a constant ranking has the precision of a random one.
    assert result.top_k_precision == {0.2: pytest.approx(0.2), 0.4: pytest.approx(0.4)}
    assert all(issubclass(item.category, ConstantInputWarning) for item in record)
    assert issubclass(ConstantInputWarning, UserWarning)


def test_constant_truth_warns_in_convenience_functions():
    with pytest.warns(ConstantInputWarning, match="truth are constant"):
        assert spearman([1.0, 2.0, 3.0], [7.0, 7.0, 7.0]) == 0.0
    with pytest.warns(ConstantInputWarning):
        assert kendall_tau_b([1.0, 2.0, 3.0], [7.0, 7.0, 7.0]) == 0.0


def test_no_warning_for_varied_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rank_correlations([1.0, 3.0, 2.0, 5.0], [2.0, 1.0, 4.0, 3.0])


def test_top_k_precision_hand_example():
    # 10 cells: the predicted top 20% is cells 0 and 1, the true top 20% is cells 1 and 4.
    scores = np.array([10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    truth = np.array([50.0, 90.0, 60.0, 55.0, 95.0, 40.0, 30.0, 20.0, 10.0, 0.0])

    result = rank_correlations(scores, truth, top_fraction=(0.2, 0.5, 1.0))

    assert result.top_k_precision[0.2] == pytest.approx(0.5)
    # Top 50%: predicted {0..4}, true {0, 1, 2, 3, 4} -> all five agree.
    assert result.top_k_precision[0.5] == pytest.approx(1.0)
    assert result.top_k_precision[1.0] == pytest.approx(1.0)


def test_top_k_precision_ties_at_cutoff():
    # k = 2. Scores tie at the cut-off between cells 1 and 2, so each is in the predicted top 2
    # with probability 1/2. The true top 2 is cells 0 and 1: expected overlap 1 + 1/2.
    scores = np.array([5.0, 4.0, 4.0, 1.0])
    truth = np.array([4.0, 3.0, 2.0, 1.0])

    assert top_k_precision(scores, truth, 0.5) == pytest.approx(0.75)


def test_top_k_count_rounding():
    scores = np.arange(100, dtype=float)
    # 0.07 * 100 is 7.000000000000001 in floating point, but k must be 7, not 8. Cell 92 is
    # the 8th best score and the worst truth, so k = 7 gives 7/7 and k = 8 would give 7/8.
    truth = scores.copy()
    truth[92] = -1.0
    assert top_k_precision(scores, truth, 0.07) == pytest.approx(1.0)
    # 0.001 of 100 rounds up to one cell: the best score is the best cell.
    assert top_k_precision(scores, scores, 0.001) == 1.0



def test_top_k_precision_accepts_sequences():
    assert top_k_precision([4.0, 3.0, 2.0, 1.0], [1.0, 4.0, 3.0, 2.0], 0.5) == pytest.approx(0.5)
    assert top_k_precision(pd.Series([1, 2, 3, 4]), (1, 2, 3, 4), 0.25) == pytest.approx(1.0)
    assert top_k_precision([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], np.float32(1.0)) == pytest.approx(1.0)


def test_top_k_precision_excludes_nan_pairs():
    # Without the NaN pair (index 1) the 4 remaining cells give k = 2 and a perfect ranking.
    scores = [4.0, np.nan, 3.0, 2.0, 1.0]
    truth = [40.0, 99.0, 30.0, 20.0, np.inf]

    assert top_k_precision(scores, truth, 0.5) == pytest.approx(1.0)
    assert top_k_precision(scores, truth, 0.5) == rank_correlations(scores, truth, 0.5).top_k_precision[0.5]


@pytest.mark.parametrize("scores, truth, fraction, message", [
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0, "fraction must be a number in \\(0, 1\\], got 0;"),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 5, "fraction must be a number in \\(0, 1\\], got 5;"),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], -0.1, "got -0.1"),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], float("nan"), "got nan"),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "0.1", "got '0.1'"),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], True, "got True"),
    ([1.0, 2.0, 3.0], [1.0, 2.0], 0.5, "same length, got 3 scores and 2 truth values"),
    ([np.nan, np.nan, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0], 0.5, "at least 3 pairs with finite values, got 2 of 4"),
    ([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0], 0.5, "scores must be one-dimensional"),
    ([1.0, 2.0, 3.0], ["a", "b", "c"], 0.5, "truth must contain numbers"),
])
def test_top_k_precision_invalid_inputs(scores, truth, fraction, message):
    with pytest.raises(ValueError, match=message):
        top_k_precision(scores, truth, fraction)

def test_minimize_flips_scores():
    rng = np.random.default_rng(11)
    truth = rng.normal(size=40)
    loss_like = -truth + rng.normal(scale=0.3, size=40)  # lower is better

    flipped = rank_correlations(loss_like, truth, direction="minimize")
    as_is = rank_correlations(loss_like, truth)
    negated = rank_correlations(-loss_like, truth)

    assert flipped.spearman > 0.8
    assert as_is.spearman == pytest.approx(-flipped.spearman)  # no abs(): backwards ranks stay negative
    assert flipped == negated


@pytest.mark.parametrize("kwargs, message", [
    ({"direction": "max"}, "unknown direction 'max'.*maximize, minimize"),
    ({"top_fraction": (0.0,)}, "each top_fraction must be a number in \\(0, 1\\], got 0.0"),
    ({"top_fraction": 1.5}, "got 1.5"),
    ({"top_fraction": (True,)}, "got True"),
])
def test_invalid_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rank_correlations([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], **kwargs)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="same length, got 3 scores and 2 truth values"):
        rank_correlations([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="scores must be one-dimensional"):
        rank_correlations([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0])
    with pytest.raises(ValueError, match="truth must contain numbers"):
        rank_correlations([1.0, 2.0, 3.0], ["a", "b", "c"])


def test_single_fraction_and_frozen_result():
    result = rank_correlations(pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([1.0, 2.0, 4.0, 3.0]), top_fraction=0.25)

    assert isinstance(result, RankStats)
    assert list(result.top_k_precision) == [0.25]
    with pytest.raises(AttributeError):
        result.spearman = 1.0  # type: ignore[misc]


def test_params_rank_cifar10_on_real_table(shared_data):
    table = pd.read_csv(shared_data / "nb201" / "nb201_accuracy.csv")

    result = rank_correlations(table["params_mb_cifar10"], table["cifar10_test"], top_fraction=(0.01, 0.1))

    # Measured on this table: rho 0.7526, tau-b 0.5774, Pearson 0.3186.
    assert 0.74 < result.spearman < 0.77
    assert 0.56 < result.kendall_tau_b < 0.60
    assert 0.30 < result.pearson < 0.34
    assert result.n == 15625
    assert result.n_ties_scores > 10000  # parameter counts repeat across cells with the same convolutions
    assert 0.0 < result.top_k_precision[0.1] <= 1.0
