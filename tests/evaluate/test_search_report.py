"""The search's one-line verdict (console and search.md): paired differences from each baseline, and a
plain statement when even the winner is slower than the target alone (round 4c at serving T = 1)."""

from __future__ import annotations

from evaluate.search.report import winner_line


def summary(objective: float) -> dict:
    paired = {"relative": 0.066, "low": 0.052, "high": 0.085}
    winner = {
        "label": "single T=0.8",
        "search": {"objective": objective},
        "paired": {"search": {"greedy": paired}},
    }
    greedy = {"label": "greedy SeqKD (T=0)", "search": {"objective": objective / 1.066}, "paired": {}}
    return {
        "candidates": [winner, greedy],
        "winner": "single T=0.8",
        "baselines": {"greedy": "greedy SeqKD (T=0)", "best_single": "single T=0.8"},
        "seeds": [0, 1, 2],
    }


def test_a_winner_below_1x_is_said_to_lose_to_the_target_alone():
    line = winner_line(summary(0.988))
    assert "vs greedy SeqKD (T=0): +6.6% [+5.2%, +8.5%] search half" in line and "3 seeds" in line
    assert "Even the winner predicts 0.988x" in line and "target alone is faster" in line


def test_a_winner_above_1x_gets_no_such_warning():
    line = winner_line(summary(1.033))
    assert "is the best single temperature itself" in line and "target alone" not in line
