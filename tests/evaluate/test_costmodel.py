from __future__ import annotations

import math

import pytest

from evaluate.costmodel import expected_tokens_per_call, predicted_speedup
from evaluate.metrics import alpha_with_se


def test_expected_tokens_limits_and_value():
    assert expected_tokens_per_call(0.0, 4) == 1.0
    assert expected_tokens_per_call(1.0, 4) == 5.0
    assert expected_tokens_per_call(0.5, 2) == pytest.approx(1 + 0.5 + 0.25)


def test_predicted_speedup_is_tokens_per_call_over_step_cost():
    assert predicted_speedup(0.8, 4, 0.05) == pytest.approx((1 - 0.8**5) / (0.2 * 1.2))
    assert predicted_speedup(0.8, 4, 0.05, verify_cost=1.5) < predicted_speedup(0.8, 4, 0.05)


def test_alpha_pooled_with_clustered_standard_error():
    alpha, se, n = alpha_with_se([[1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    assert (alpha, n) == (pytest.approx(2 / 6), 6)
    assert se == pytest.approx(0.5)  # stdev of the per-prompt means (1, 0) over √2
    assert math.isnan(alpha_with_se([])[0])
