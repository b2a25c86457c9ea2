"""Validity before verdict (harness/validity.py), the relearning delay (metrics/delay.py) and the bottom
lines (harness/findings.py), on hand-made counts: each check, each way it can fail, and the edges of
the deciding code (pairing by seed, the broken rule on the mean, the one-seed mark, diverged attacks)."""
import math

import pytest

from harness import findings
from harness.validity import BROKEN, REFERENCE_BOUND, cell_text, cells, gate
from metrics.delay import paired_difference, steps_to
from metrics.verdict import Counts

N, STEPS = 100, [0, 100, 200, 300]
A = "dimra_retain"


def result(cnn, knn=None):
    """An attack result whose curve is `cnn` (and `knn`, default the same) at STEPS."""
    return {"curve": {"step": STEPS, "forget_acc": list(cnn), "forget_acc_knn": list(knn or cnn)}, "attack": {"lr": 1e-4}}


def run(**curves):
    """rows {name: {seed: row}} for 3 seeds; a name's value is (cnn curve, knn curve or None, retain_acc)."""
    rows = {}
    for name, (cnn, knn, retain) in curves.items():
        rows[name] = {s: {"retain_acc": retain, A: result(cnn, knn)} for s in (0, 1, 2)}
    return rows


HIGH, LOW = (0.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0)
GOOD = dict(pretrained=((1.0, 1.0, 1.0, 1.0), None, 0.99), retrain=(LOW, None, 0.99),
            esd=((0.0, 0.6, 0.7, 0.8), None, 0.98))           # esd: the hiding control of DiMRA


def one(rows, name, judge="CNN"):
    return gate(rows, name, A, judge, N, 300)


def test_a_valid_reversal_and_a_certified_resistance():
    rows = run(**GOOD, ga=(HIGH, None, 0.95), dimum=(LOW, None, 0.95))
    assert one(rows, "ga").valid and one(rows, "ga").verdict.verdict == "reversed"
    c = one(rows, "dimum")
    assert c.valid and c.verdict.verdict == "resists" and not c.reason


def test_class_8_a_reference_the_judge_reads_as_f_gives_no_verdict():
    """Retrain of class 8 draws scribbles the CNN calls 8 from step 0 on (1.00), the kNN vote does not (0.05)."""
    ref = ((1.0, 1.0, 1.0, 1.0), (0.05, 0.05, 0.05, 0.05), 0.99)
    rows = run(**{**GOOD, "retrain": ref}, dimum=(LOW, None, 0.95))
    cnn, knn = one(rows, "dimum", "CNN"), one(rows, "dimum", "kNN")
    assert not cnn.valid and "no reference" in cnn.reason and f"> {REFERENCE_BOUND}" in cnn.reason
    assert "no reference" not in knn.reason
    assert "no verdict (no reference" in cell_text(cells(rows, "dimum", A, N, 300))


def test_a_reference_exactly_at_the_bound_passes_it_whatever_float32_stored():
    """The committed headline's kNN: Retrain's step-0 shares 40, 20 and 0 of 100, stored as float32 rates
    (0.4000000059604645, 0.20000000298023224, 0.0): the mean share is 60/300 = 0.2, at the bound, not above."""
    f32 = (0.4000000059604645, 0.20000000298023224, 0.0)
    rows = run(**GOOD, dimum=(LOW, None, 0.95))
    for s, r in enumerate(f32):
        rows["retrain"][s][A]["curve"]["forget_acc_knn"] = [r, 0.0, 0.0, 0.0]
    assert "no reference" not in one(rows, "dimum", "kNN").reason
    rows["retrain"][2][A]["curve"]["forget_acc_knn"] = [0.01, 0.0, 0.0, 0.0]        # 61 of 300: above
    assert "no reference" in one(rows, "dimum", "kNN").reason


def test_the_broken_rule_reads_the_mean_over_seeds_not_the_first_seed():
    rows = run(**GOOD, ga=(HIGH, None, 0.9))
    for s, acc in ((1, 0.1), (2, 0.1)):             # mean (0.9 + 0.1 + 0.1) / 3 = 0.37 < 0.5, the first seed 0.9
        rows["ga"][s]["retain_acc"] = acc
    assert "model broken" in one(rows, "ga").reason and 0.37 < BROKEN
    rows["ga"][1]["retain_acc"] = rows["ga"][2]["retain_acc"] = 0.9
    assert one(rows, "ga").valid


def test_an_attack_that_cannot_separate_theta0_from_retrain_decides_nothing():
    rows = run(**{**GOOD, "pretrained": (LOW, None, 0.99)}, ga=(HIGH, None, 0.95))
    assert "cannot separate theta_0 from Retrain" in one(rows, "ga").reason
    del rows["pretrained"]
    assert "not checked" in one(rows, "ga").reason


def test_resists_needs_an_attack_that_reverses_its_hiding_control():
    rows = run(**{**GOOD, "esd": (LOW, None, 0.98)}, dimum=(LOW, None, 0.95))
    assert "attack too weak to certify removal" in one(rows, "dimum").reason
    rows = run(**{**GOOD, "esd": ((0.9, 0.9, 0.9, 0.9), None, 0.98)}, dimum=(LOW, None, 0.95))
    assert "does not hide f" in one(rows, "dimum").reason
    rows = run(**{k: v for k, v in GOOD.items() if k != "esd"}, dimum=(LOW, None, 0.95))
    assert "no hiding control" in one(rows, "dimum").reason


def test_a_row_like_theta0_at_the_first_point_is_noted():
    rows = run(**GOOD, ga=((0.0, 1.0, 1.0, 1.0), None, 0.95), esd2=((0.0, 0.5, 1.0, 1.0), None, 0.95))
    assert "like theta_0" in one(rows, "ga").note and one(rows, "ga").valid
    assert one(rows, "esd2").note == ""


def test_a_row_seed_that_retrain_lacks_is_refused_never_paired_with_another_seed():
    rows = run(**GOOD, ga=(HIGH, None, 0.95))
    rows["retrain"][2][A]["diverged"] = "NaN"         # Retrain has seeds 0, 1 only
    c = one(rows, "ga")
    assert c.verdict is None and "not paired" in c.reason and "[2]" in c.reason


def test_a_diverged_attack_is_never_scored():
    rows = run(**GOOD, ga=(HIGH, None, 0.95))
    for s in (0, 1, 2):
        rows["ga"][s][A]["diverged"] = "the attack's loss became NaN/inf"
    assert one(rows, "ga") is None


def test_the_relearning_delay_interpolates_and_censors():
    assert steps_to([0, 10, 20], [0.0, 0.25, 0.75]) == pytest.approx(15.0)      # 10 + (0.5-0.25)/0.5 * 10
    assert steps_to([0, 10], [0.6, 1.0]) == 0.0
    assert math.isinf(steps_to([0, 10, 20], [0.0, 0.1, 0.4]))
    mean, lo, hi, censored = paired_difference({0: 10.0, 1: 20.0}, {0: 40.0, 1: 60.0}, 300)
    assert mean == pytest.approx(-35.0) and lo <= mean <= hi and censored == 0
    assert paired_difference({0: math.inf}, {0: 50.0}, 300)[0] == pytest.approx(250.0)


def item(claim, row, attack, cls, effect_rate, seeds=3, ref="retrain", judge="CNN", counted=""):
    """A findings item whose row curve is at `effect_rate` after step 0 and Retrain's at 0."""
    curves = {s: (Counts((0, 100), (0, round(effect_rate * N)), (N, N)), Counts((0, 100), (0, 0), (N, N)))
              for s in range(seeds)}
    return {"claim": claim, "row": row, "attack": attack, "ref": ref, "judge": judge, "class": cls, "path": f"f{cls}",
            "seeds": seeds, "curves": curves, "counted": counted}


def test_bottom_lines_supported_contradicted_split_and_empty():
    line = lambda its, cid="C1": findings.bottom_line(cid, its, "CNN")["outcome"]      # noqa: E731
    assert line([item("C1", "ga", A, 0, 0.9), item("C1", "ga", A, 3, 0.8)]) == "supported"
    assert line([item("C1", "ga", A, 0, 0.0), item("C1", "ga", A, 3, 0.01)]) == "contradicted"
    assert line([item("C1", "ga", A, 0, 0.9), item("C1", "ga", A, 3, 0.0)]) == "differs across classes"
    assert line([item("C1", "ga", A, 0, 0.9, counted="one seed (first look)")]) == "not enough valid evidence"
    assert line([item("C5", "dimum", A, 0, 0.0)], "C5") == "supported"


def test_one_seed_cells_and_other_settings_are_listed_not_counted():
    from harness.validity import Cell
    base = {"registered": True, "seeds": 1, "cell": Cell(None)}
    assert findings.counted(base) == "one seed (first look)"
    assert findings.counted({**base, "registered": False}).startswith("another setting")


def test_a_class_measured_by_two_runs_counts_once():
    """The float32 headline and the older bf16 run both attack class 0 at seeds 1 and 2: the first run
    counts, the second is listed with the reason; another class or another claim is not affected."""
    a, b = item("C1", "ga", A, 0, 0.9), item("C1", "ga", A, 0, 0.9)
    b["path"] = "older"
    out = findings.once_a_unit([a, b, {**item("C1", "ga", A, 3, 0.9), "path": "older"}, item("C2", "esd", A, 0, 0.9)])
    assert [it["counted"] for it in out] == ["", "the same units counted from f0", "", ""]
    assert findings.once_a_unit([{**b, "counted": "one seed (first look)"}, a])[1]["counted"] == ""


def test_retrain_seeded_like_theta0_is_left_out():
    info = {"ddpm_config": {"seed": 0}, "seeds": [0, 1, 2]}
    assert findings.dependent_seeds({**info, "retrain_seeds": {"0": 1000, "1": 1001}}) == set()
    assert findings.dependent_seeds({**info, "retrain_per_seed": True}) == {0}
    assert findings.dependent_seeds(info) == {0, 1, 2}                 # one Retrain (seed 0) for every seed


def test_no_committed_cell_counts_for_two_claims():
    counted = [it for it in findings.collect() if not it["counted"]]
    keys = [(it["path"], it["row"], it["attack"], it["judge"], it["class"]) for it in counted
            if it["ref"] == "retrain"]
    assert counted and len(keys) == len(set(keys))
