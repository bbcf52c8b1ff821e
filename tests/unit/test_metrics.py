"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from catts_graph.evaluation.metrics import (
    auroc,
    brier,
    ece,
    paired_bootstrap_ci,
    paired_metric_ci,
    reliability,
    scaling_slope,
)


def test_ece_equal_width_by_hand() -> None:
    # bin [0.5, 1]: conf 0.9, 0.9 -> acc 0.5, gap 0.4; bin [0, 0.5): conf 0.2, 0.2 -> acc 0, gap 0.2 -> 0.3
    assert ece([0.9, 0.9, 0.2, 0.2], [1, 0, 0, 0], n_bins=2) == pytest.approx(0.3)
    assert ece([1.0, 0.0], [1, 0]) == pytest.approx(0.0)  # perfectly calibrated extremes
    assert math.isnan(ece([], []))


def test_ece_equal_mass_by_hand() -> None:
    # quantile edges put (0.1, 0.2) and (0.8, 0.9) in separate bins: |0 - 0.15| / 2 + |1 - 0.85| / 2 = 0.15
    assert ece([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], n_bins=2, binning="equal_mass") == pytest.approx(0.15)


def test_reliability_rows() -> None:
    rows = reliability([0.05, 0.95, 0.95], [0, 1, 0], n_bins=10)
    assert [r["count"] for r in rows] == [1, 2]
    assert rows[1]["accuracy"] == 0.5 and rows[1]["confidence"] == pytest.approx(0.95)


def test_brier() -> None:
    assert brier([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0], 1.0),
        ([0.1, 0.3, 0.8, 0.9], [1, 1, 0, 0], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], 0.5),  # all tied
        ([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0], 0.875),  # one tied pair counts half: (4 - 0.5) / 4
        ([0.2, 0.4], [1, 1], math.nan),  # one class only
    ],
)
def test_auroc(scores: list[float], labels: list[int], expected: float) -> None:
    assert auroc(scores, labels) == pytest.approx(expected, nan_ok=True)


def test_scaling_slope_by_hand() -> None:
    assert scaling_slope([1, 2, 4, 8], [10, 13, 16, 19]) == pytest.approx(3.0)
    assert math.isnan(scaling_slope([8], [50]))
    assert scaling_slope([30.0, 60.0, 120.0], [70, 72, 74]) == pytest.approx(2.0)  # per doubling of tokens
    assert math.isnan(scaling_slope([0.0, 10.0], [50, 60]))  # nothing spent: no log


def test_paired_bootstrap() -> None:
    diff, low, high = paired_bootstrap_ci([1, 1, 1, 0] * 25, [1, 0, 0, 0] * 25, seed=0)
    assert diff == pytest.approx(0.5) and low < 0.5 < high and low > 0.3
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap_ci([1], [1, 0])


def test_paired_metric_ci_brackets_the_difference_and_is_zero_for_identical_runs() -> None:
    correct = [1.0, 0.0] * 50
    sharp, blunt = [0.9, 0.1] * 50, [0.6, 0.4] * 50  # same ranking, different calibration
    diff, low, high = paired_metric_ci(ece, (sharp, correct), (blunt, correct))
    assert math.isclose(diff, 0.1 - 0.4) and low <= diff <= high
    assert paired_metric_ci(auroc, (sharp, correct), (sharp, correct)) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equally long"):
        paired_metric_ci(ece, ([0.5], [1.0]), ([0.5, 0.5], [1.0, 0.0]))
