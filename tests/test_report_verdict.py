"""The tables' arithmetic on hand-made numbers: mean_sd, at_step, the middle step, and which Retrain row
an ablation row is judged against (the verdict rule itself: tests/test_verdict.py).

The numbers are chosen so that each answer can be checked by hand and so that a plausible wrong
implementation gives a different one (noted next to each assertion). Values like 0.25 or 0.5 are exact
in binary floating point, so comparisons "exactly on the boundary" really are on it.
"""
import math

import pytest

from harness.rows import at_step, mean_sd, middle_step
from harness.decisions import decisions, reference_row


def curve(steps, accs):
    return {"step": list(steps), "forget_acc": list(accs)}


# --- mean_sd ----------------------------------------------------------------------------------------------------

def test_mean_sd_uses_the_sample_standard_deviation():
    m, sd = mean_sd([0.25, 0.5, 0.75])
    assert m == 0.5
    assert sd == pytest.approx(0.25)      # sqrt((0.0625 + 0 + 0.0625) / 2); population sd (/ 3) would be 0.204


def test_mean_sd_skips_none():
    m, sd = mean_sd([0.25, None, 0.75])
    assert m == 0.5                       # a None counted as 0 would give 1/3
    assert sd == pytest.approx(math.sqrt(0.125))     # (0.0625 + 0.0625) / (2 - 1); with n = 3 it would be 0.25


def test_mean_sd_single_value_and_identical_values_have_sd_0():
    assert mean_sd([0.3]) == (0.3, 0.0)   # statistics.stdev would raise on one value
    assert mean_sd([0.3, None]) == (0.3, 0.0)
    assert mean_sd([0.4, 0.4, 0.4]) == (pytest.approx(0.4), 0.0)


def test_mean_sd_of_nothing_is_none():
    assert mean_sd([]) == (None, None)
    assert mean_sd([None, None]) == (None, None)


# --- at_step ----------------------------------------------------------------------------------------------------

C = curve([0, 50, 100], [0.1, 0.9, 0.5])          # not monotone: the value at a step is not the best so far


@pytest.mark.parametrize("step, expected", [
    (0, 0.1),
    (49, 0.1),       # between measurements: the last one before
    (50, 0.9),       # exactly on a measured step: that step (`<` instead of `<=` gives 0.1)
    (100, 0.5),      # the value there, not the largest so far (0.9)
    (1000, 0.5),     # after the last measurement: the last one
])
def test_at_step(step, expected):
    assert at_step(C, step) == expected


def test_at_step_before_the_first_measurement_is_none():
    assert at_step(curve([10, 20], [0.5, 0.6]), 5) is None


def test_an_ablation_row_is_judged_against_retrain_under_the_same_attack():
    """A 10x-lr attack is compared with Retrain attacked at 10x lr, not with the default attack."""
    def attack(lr, accs):
        return {"attack": {"lr": lr, "steps": 2, "seed": 0}, "curve": {"step": [0, 1, 2], "forget_acc": accs}}

    rows = {"retrain": {0: {"dimra_retain": attack(1e-4, [0, 0, 0])}},
            "retrain-atk1e-3": {0: {"dimra_retain": attack(1e-3, [0, 0.5, 0.9])}},
            "x-atk1e-3": {0: {"dimra_retain": attack(1e-3, [0, 0.5, 0.8])}}}
    assert reference_row(rows, "x-atk1e-3", "dimra_retain") == "retrain-atk1e-3"
    same = decisions(rows, "x-atk1e-3", "dimra_retain", 100, 2, "retrain-atk1e-3")["CNN"]
    default = decisions(rows, "x-atk1e-3", "dimra_retain", 100, 2, "retrain")["CNN"]
    assert same.verdict == "resists" and default.verdict == "reversed"


@pytest.mark.parametrize("steps,every,mid", [(300, 100, 100), (300, 50, 100), (300, 40, 80), (300, 150, 150),
                                             (100, 50, 50), (100, 100, 100), (4, 2, 2), (6, 4, 4), (1, 1, 1)])
def test_the_middle_column_is_a_measured_step(steps, every, mid):
    """Step 100 (half a shorter attack), moved to a step the curve measured: never a column labelled
    @100 that shows the value of step 0."""
    assert middle_step({"steps": steps, "eval_every": every}) == mid
