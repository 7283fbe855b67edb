"""Rank statistics between proxy scores and ground-truth accuracies.

Policy, shared by every function here:

- Orientation: scores are "higher is better". Pass ``direction="minimize"`` for a proxy where
  lower is better, and the scores are negated before ranking. Nothing takes ``abs()``, so a
  proxy that ranks backwards shows a negative correlation.
- Non-finite values: a pair where either value is NaN or infinite is excluded and counted in
  ``n_nan``. At least 3 pairs must remain, or ``ValueError`` is raised.
- Constant input: when the remaining scores or truths are all equal, the correlations are
  undefined. They are reported as 0.0 with a ``ConstantInputWarning`` and
  ``RankStats.constant_input`` set, never as NaN.
- Ties: Spearman uses average ranks, and Kendall's tau-b corrects for ties on both sides.
  Top-k precision breaks ties at the cut-off uniformly at random and reports the expected
  value (see ``top_k_precision``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from numbers import Real
from typing import Any, Sequence

import numpy as np
from scipy import stats as scipy_stats

DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")
MIN_PAIRS = 3


class ConstantInputWarning(UserWarning):
    """One side of a correlation is constant, so the correlation is reported as 0.0."""


@dataclass(frozen=True)
class RankStats:
    """Agreement between scores and ground truth over the pairs with finite values.

    Attributes:
        spearman: Spearman's rank correlation rho.
        kendall_tau_b: Kendall's tau-b, which corrects for ties.
        pearson: Pearson's linear correlation r of the raw values.
        top_k_precision: Fraction -> expected share of the true top fraction among the
            predicted top fraction (see ``top_k_precision``).
        n: Pairs used.
        n_nan: Pairs excluded because a value was NaN or infinite.
        n_ties_scores: Scores that repeat an earlier score (n minus the distinct values).
        n_ties_truth: Truth values that repeat an earlier one.
        constant_input: Whether the scores or the truth were constant, so the three
            correlations are 0.0 by convention.

    Example:
        >>> result = rank_correlations([0.1, 0.4, 0.2, 0.9], [60.0, 70.5, 65.0, 71.0])
        >>> round(result.spearman, 3), result.n
        (1.0, 4)
    """

    spearman: float
    kendall_tau_b: float
    pearson: float
    top_k_precision: dict[float, float]
    n: int
    n_nan: int
    n_ties_scores: int
    n_ties_truth: int
    constant_input: bool


def rank_correlations(scores: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray,
                      top_fraction: float | Sequence[float] = (0.1,), direction: str = "maximize") -> RankStats:
    """Compute Spearman, Kendall tau-b, Pearson and top-k precision of ``scores`` against ``truth``.

    Args:
        scores: Proxy scores, one per architecture.
        truth: Ground-truth accuracies of the same architectures, higher is better.
        top_fraction: One fraction or several, each in (0, 1], for top-k precision.
        direction: ``"maximize"`` if a higher score predicts a better architecture,
            ``"minimize"`` if a lower one does.

    Example:
        >>> result = rank_correlations(proxy_scores, accuracies, top_fraction=(0.05, 0.1))
        >>> result.kendall_tau_b, result.top_k_precision[0.1]

    Raises:
        ValueError: If the inputs are not 1-D sequences of equal length, a value is not a
            number, ``direction`` or a fraction is invalid, or fewer than 3 finite pairs remain.
    """
    fractions = _check_fractions(top_fraction)
    x, y, n_nan = _finite_pairs(scores, truth, direction)
    constant = _warn_if_constant(x, y)
    if constant:
        spearman = kendall = pearson = 0.0
    else:
        spearman = float(scipy_stats.spearmanr(x, y).statistic)
        kendall = float(scipy_stats.kendalltau(x, y, variant="b").statistic)
        pearson = float(scipy_stats.pearsonr(x, y).statistic)
    return RankStats(
        spearman=spearman,
        kendall_tau_b=kendall,
        pearson=pearson,
        top_k_precision={fraction: _top_k_precision(x, y, fraction) for fraction in fractions},
        n=int(x.size),
        n_nan=n_nan,
        n_ties_scores=_count_ties(x),
        n_ties_truth=_count_ties(y),
        constant_input=constant,
    )


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Return Spearman's rho of ``a`` and ``b`` under the module's NaN and constant-input policy.

    Example:
        >>> round(spearman([1, 2, 3, 4], [10, 20, 40, 30]), 4)
        0.8
    """
    return _correlation(a, b, lambda x, y: scipy_stats.spearmanr(x, y).statistic)


def kendall_tau_b(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Return Kendall's tau-b of ``a`` and ``b`` under the module's NaN and constant-input policy.

    Example:
        >>> round(kendall_tau_b([1, 2, 3, 4], [10, 20, 40, 30]), 4)
        0.6667
    """
    return _correlation(a, b, lambda x, y: scipy_stats.kendalltau(x, y, variant="b").statistic)


def _correlation(a: Any, b: Any, statistic) -> float:
    """Apply ``statistic`` to the finite pairs of ``a`` and ``b``; 0.0 with a warning for constant input."""
    x, y, _ = _finite_pairs(a, b, "maximize")
    if _warn_if_constant(x, y):
        return 0.0
    return float(statistic(x, y))


def top_k_precision(scores: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray,
                    fraction: float) -> float:
    """Return the expected share of the true top ``fraction`` among the predicted top ``fraction``.

    Pairs where either value is NaN or infinite are excluded first, as in ``rank_correlations``,
    which also reports how many were excluded. With n remaining pairs, k = ceil(fraction * n),
    at least 1. When values tie at the k-th place, each tied element is in the top k with
    probability (free places) / (tied elements), which is uniform random tie-breaking. Scores
    and truth break ties independently, so the result is sum(p_scores * p_truth) / k. Without
    ties this is |top-k by score & top-k by truth| / k. Constant scores give ``k / n``, the
    precision of a random ranking.

    Example:
        >>> top_k_precision([4.0, 3.0, 2.0, 1.0], [1.0, 4.0, 3.0, 2.0], 0.5)
        0.5

    Raises:
        ValueError: If the inputs are not 1-D sequences of numbers of equal length, fewer than
            3 finite pairs remain, or ``fraction`` is not a number in (0, 1].
    """
    checked_fraction = _check_fraction(fraction, "fraction")
    x, y, _ = _finite_pairs(scores, truth, "maximize")
    return _top_k_precision(x, y, checked_fraction)


def _top_k_precision(x: np.ndarray, y: np.ndarray, fraction: float) -> float:
    """Compute top-k precision of finite, equal-length vectors and a checked fraction."""
    k = _top_count(x.size, fraction)
    overlap = float(np.dot(_top_membership(x, k), _top_membership(y, k)))
    return overlap / k


def _top_count(n: int, fraction: float) -> int:
    # The small tolerance keeps 0.07 * 100 (7.000000000000001 in floating point) at 7.
    return max(1, math.ceil(fraction * n - 1e-9))


def _top_membership(values: np.ndarray, k: int) -> np.ndarray:
    """Return each element's probability of being among the k largest under random tie-breaking."""
    threshold = np.partition(values, values.size - k)[values.size - k]
    above = values > threshold
    tied = values == threshold
    membership = above.astype(np.float64)
    membership[tied] = (k - int(above.sum())) / int(tied.sum())
    return membership


def _finite_pairs(scores: Any, truth: Any, direction: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the oriented finite pairs and the number of excluded pairs."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; valid directions: {', '.join(DIRECTIONS)} "
                         "(the direction in which a better architecture's score moves)")
    x = _as_vector(scores, "scores")
    y = _as_vector(truth, "truth")
    if x.size != y.size:
        raise ValueError(f"scores and truth must have the same length, got {x.size} scores and {y.size} truth values")
    if direction == "minimize":
        x = -x
    finite = np.isfinite(x) & np.isfinite(y)
    n_excluded = int(x.size - finite.sum())
    if finite.sum() < MIN_PAIRS:
        raise ValueError(f"need at least {MIN_PAIRS} pairs with finite values, got {int(finite.sum())} of {x.size} "
                         f"({n_excluded} excluded for NaN or infinite values)")
    return x[finite], y[finite], n_excluded


def _as_vector(values: Any, name: str) -> np.ndarray:
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must contain numbers: {error}") from error
    if vector.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {vector.shape}")
    return vector


def _warn_if_constant(x: np.ndarray, y: np.ndarray) -> bool:
    """Warn and return True when either side is constant."""
    constant_sides = [name for name, values in (("scores", x), ("truth", y)) if np.all(values == values[0])]
    if not constant_sides:
        return False
    warnings.warn(f"{' and '.join(constant_sides)} are constant over the {x.size} finite pairs, so the correlations "
                  "are undefined; they are reported as 0.0", ConstantInputWarning, stacklevel=3)
    return True


def _count_ties(values: np.ndarray) -> int:
    return int(values.size - np.unique(values).size)


def _check_fractions(top_fraction: float | Sequence[float]) -> tuple[float, ...]:
    fractions = (top_fraction,) if isinstance(top_fraction, Real) else tuple(top_fraction)
    return tuple(_check_fraction(fraction, "each top_fraction") for fraction in fractions)


def _check_fraction(fraction: Any, name: str) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0.0 < fraction <= 1.0:
        raise ValueError(f"{name} must be a number in (0, 1], got {fraction!r}; for example 0.1 for the top 10%")
    return float(fraction)
