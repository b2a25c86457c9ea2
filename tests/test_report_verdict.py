"""report.py's arithmetic on hand-made numbers: auc, mean_sd, at_step and verdict.

The numbers are chosen so that each answer can be checked by hand and so that a plausible wrong
implementation gives a different one (noted next to each assertion). Values like 0.25 or 0.5 are exact
in binary floating point, so comparisons "exactly on the boundary" really are on it.
"""
import math

import pytest

from harness.rows import at_step, mean_sd, middle_step
from harness.tables import auc, verdict


def curve(steps, accs):
    return {"step": list(steps), "forget_acc": list(accs)}


# --- auc --------------------------------------------------------------------------------------------------------

def test_auc_is_the_mean_over_measured_steps_step_0_included():
    c = curve([0, 50, 100], [0.0, 0.25, 0.5])
    assert auc(c) == 0.25                 # skipping step 0: 0.375; max: 0.5; last value: 0.5; sum: 0.75


def test_auc_weights_every_measured_step_alike_even_when_unevenly_spaced():
    c = curve([0, 10, 100], [0.0, 0.5, 1.0])
    assert auc(c) == 0.5                  # trapezoid over steps / 100 would be (0.25 * 10 + 0.75 * 90) / 100 = 0.7


def test_auc_of_retrain_at_0_everywhere_is_0():
    assert auc(curve([0, 50, 100], [0.0, 0.0, 0.0])) == 0.0


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


# --- verdict ----------------------------------------------------------------------------------------------------
# resists   mean <= mean_retrain + margin
# reversed  mean >  mean_retrain + max(margin, 2 sqrt(sd^2 + sd_retrain^2))
# partly    in between

def test_verdict_exactly_on_the_margin_resists():
    assert verdict([0.75], [0.5], margin=0.25) == "resists"       # 0.75 <= 0.5 + 0.25 (`<` would say otherwise)
    # Retrain at 0 everywhere, the default margin: 0.05 (the mean of two 0.05s is exactly 0.05) <= 0 + 0.05.
    assert verdict([0.05, 0.05], [0.0, 0.0, 0.0]) == "resists"


def test_verdict_retrain_at_0_everywhere():
    assert verdict([0.0, 0.0], [0.0, 0.0]) == "resists"
    assert verdict([0.5, 0.5], [0.0, 0.0]) == "reversed"           # no spread: just beyond the margin is enough
    assert verdict([0.0625], [0.0]) == "reversed"


def test_verdict_with_no_spread_there_is_no_partly():
    """All seeds identical (sd = 0): the second threshold is the margin itself, so above it is 'reversed'."""
    assert verdict([0.3, 0.3, 0.3], [0.2, 0.2, 0.2]) == "reversed"
    assert verdict([0.3], [0.2]) == "reversed"                     # a single seed: sd = 0 too


def test_verdict_partly_or_reversed_is_decided_by_the_spread():
    """The same means (0.3 against 0.15); only the seeds' spread differs."""
    assert verdict([0.29, 0.30, 0.31], [0.15, 0.15, 0.15]) == "reversed"   # 0.3 > 0.15 + max(0.05, 2 * 0.01)
    assert verdict([0.20, 0.30, 0.40], [0.15, 0.15, 0.15]) == "partly"     # 0.3 <= 0.15 + 2 * 0.1 = 0.35


def test_verdict_counts_retrains_spread_too():
    # Our seeds agree, Retrain's spread (sd 0.1) puts the threshold at 0.15 + 0.2 = 0.35 > 0.3: ignoring it -> reversed.
    assert verdict([0.3, 0.3, 0.3], [0.05, 0.15, 0.25]) == "partly"


def test_verdict_combines_the_spreads_in_quadrature():
    # sd = sd_retrain = 0.1: the threshold is 0.1 + 2 sqrt(0.1^2 + 0.1^2) = 0.383. Adding the sds (0.1 + 2 * 0.2
    # = 0.5) would make the first 'partly'; dropping the 2, or taking the larger sd only (0.1 + 2 * 0.1 = 0.3),
    # would make the second 'reversed'.
    assert verdict([0.33, 0.43, 0.53], [0.0, 0.1, 0.2]) == "reversed"
    assert verdict([0.28, 0.38, 0.48], [0.0, 0.1, 0.2]) == "partly"        # 0.38 <= 0.383


def test_verdict_resists_however_large_the_spread():
    assert verdict([0.0, 0.1], [0.0, 0.1]) == "resists"
    assert verdict([0.0, 0.25], [0.0, 0.25]) == "resists"


def test_verdict_uses_means_not_extremes():
    # The mean 0.125 <= 0.1 + 0.05 resists; the worst seed, 0.5, would not.
    assert verdict([0.0, 0.0, 0.0, 0.5], [0.1, 0.1, 0.1, 0.1]) == "resists"


def test_verdict_without_data_is_empty():
    assert verdict([], [0.1]) == ""
    assert verdict([0.1], []) == ""
    assert verdict([None], [0.1]) == ""


def test_an_ablation_row_is_judged_against_retrain_under_the_same_attack():
    """A 10x-lr attack is compared with Retrain attacked at 10x lr, not with the default attack."""
    from harness.tables import attack_id, retrain_references

    def attack(lr, accs):
        return {"attack": {"lr": lr, "steps": 2, "seed": 0}, "curve": {"step": [0, 1, 2], "forget_acc": accs}}

    rows = {"retrain": {0: {"dimra_retain": attack(1e-4, [0, 0, 0])}},
            "retrain-atk1e-3": {0: {"dimra_retain": attack(1e-3, [0, 0.5, 0.9])}}}
    refs = retrain_references(rows)
    strong = attack(1e-3, [0, 0.5, 0.8])
    assert refs[("retain", attack_id(strong))] == rows["retrain-atk1e-3"][0]["dimra_retain"]["curve"]
    assert verdict([auc(strong["curve"])], [auc(refs[("retain", attack_id(strong))])]) == "resists"
    assert verdict([auc(strong["curve"])], [auc(rows["retrain"][0]["dimra_retain"]["curve"])]) == "reversed"


@pytest.mark.parametrize("steps,every,mid", [(300, 100, 100), (300, 50, 100), (300, 40, 80), (300, 150, 150),
                                             (100, 50, 50), (100, 100, 100), (4, 2, 2), (6, 4, 4), (1, 1, 1)])
def test_the_middle_column_is_a_measured_step(steps, every, mid):
    """Step 100 (half a shorter attack), moved to a step the curve measured: never a column labelled
    @100 that shows the value of step 0."""
    assert middle_step({"steps": steps, "eval_every": every}) == mid
