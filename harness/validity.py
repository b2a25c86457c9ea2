"""Validity before verdict: whether a cell (row, attack, judge) CAN decide, checked before it is decided.

A verdict compares a row's recovery with Retrain's under the same attack (metrics/verdict.py). That
comparison means something only if four things hold, each checked on the run's own numbers:

1. the reference is a reference: the judge does not already read Retrain's samples of f as f at
   step 0 (mean over the seeds above REFERENCE_BOUND: Retrain, which never saw f, draws something
   this judge calls f, so "as often as Retrain" is no longer "not at all");
2. the model is not broken: its retain_acc, mean over the verdict's seeds, is at least BROKEN (a
   model that lost every class "forgot" f in a way that says nothing about unlearning one class);
3. the attack separates theta_0 from Retrain: the pre-trained model attacked the same way (the
   positive control, reproduce.py --positive-control) is decided "reversed" against Retrain by this
   judge. An attack that cannot tell a model that never forgot from one that never learned measures
   nothing about the models in between;
4. for "resists" only: the attack reverses its hiding control (harness/settings.py HIDING_CONTROL),
   a model known to hold f with f's usual path cut, which itself hides f (its step-0 rate within
   REFERENCE_BOUND). An attack that cannot find a class known to be hidden cannot certify that a
   method removed it: its "resists" becomes "attack too weak to certify removal".

A cell that fails a check gets the reason instead of a verdict. A cell that passes may carry a note:
"like theta_0" when the row and theta_0 are both at SATURATED or more at the first measured step,
where the curve cannot tell "relearns like a model that never forgot" from "relearns fast" (the
relearning delay, harness/delay.py, measured on denser early points, can).
"""
from dataclasses import dataclass

from metrics.verdict import Verdict

from .decisions import JUDGES, attack_results, decision, verdict_cell
from .settings import HIDING_CONTROL

REFERENCE_BOUND = 0.2   # 4x the verdict's margin: a judge misreads 1-5 in 100 real digits, Retrain's samples
                        # of f are read as f 0.00-0.07 of the time for classes 0, 3 and 7; 8 reads 1.00 (CNN)
BROKEN = 0.5            # retain_acc below this (mean over seeds): the model lost the retained classes too
SATURATED = 0.95        # a first measured point at or above this has no room left to show speed
POSITIVE = "pretrained"


@dataclass(frozen=True)
class Cell:
    """A cell's verdict, or the reason it has none (`reason`), and a note that qualifies a verdict."""
    verdict: Verdict | None
    reason: str = ""
    note: str = ""

    @property
    def valid(self) -> bool:
        return self.verdict is not None and not self.reason


def step0(rows: dict, name: str, attack: str, judge: str, n: int) -> float | None:
    """The mean over seeds of a row's step-0 rate (forget_acc before the attack) by `judge`, from the counts
    of n samples: the files store rates as float32 (20/100 reads 0.2000000030), and a share exactly at
    the bound must not pass it."""
    counts = [round(a["curve"][JUDGES[judge]][0] * n) for a in attack_results(rows, name, attack).values()
              if a["curve"]["step"][0] == 0 and JUDGES[judge] in a["curve"]]
    return sum(counts) / (n * len(counts)) if counts else None


def first_point(rows: dict, name: str, attack: str, judge: str):
    """(step, the smallest rate over seeds) at the first measured step after 0, or (None, None)."""
    res = attack_results(rows, name, attack).values()
    pts = [(a["curve"]["step"][1], a["curve"][JUDGES[judge]][1]) for a in res
           if len(a["curve"]["step"]) > 1 and JUDGES[judge] in a["curve"]]
    return (pts[0][0], min(p[1] for p in pts)) if pts else (None, None)


def retain_of(rows: dict, name: str, seeds) -> float | None:
    accs = [rows[name][s]["retain_acc"] for s in seeds if "retain_acc" in rows[name].get(s, {})]
    return sum(accs) / len(accs) if accs else None


def gate(rows: dict, name: str, attack: str, judge: str, n: int, horizon: int, ref: str = "retrain") -> Cell | None:
    """The cell of row `name` under `attack` by `judge`: its verdict if every check passes, else why not.
    None when there is nothing to decide (Retrain itself, a missing curve)."""
    try:
        v = decision(rows, name, attack, judge, n, horizon, ref)
    except ValueError as e:
        return Cell(None, f"not paired: {e}")
    if v is None:
        return None
    seeds = sorted(attack_results(rows, name, attack))
    retain, r0 = retain_of(rows, name, seeds), step0(rows, ref, attack, judge, n)
    if retain is not None and retain < BROKEN:
        return Cell(v, f"model broken (retain_acc {retain:.2f} < {BROKEN})")
    if r0 is not None and r0 > REFERENCE_BOUND:
        return Cell(v, f"no reference: the {judge} reads Retrain's samples of f as f ({r0:.2f} > {REFERENCE_BOUND} at step 0)")
    if name == POSITIVE:           # its verdict is check 3 itself: a control, never evidence
        return Cell(v, "" if v.verdict == "reversed" else "attack cannot separate theta_0 from Retrain",
                    note="positive control")
    pos = decision(rows, POSITIVE, attack, judge, n, horizon, ref) if POSITIVE in rows else None
    if pos is None:
        return Cell(v, "not checked: theta_0 not attacked in this run (--positive-control)")
    if pos.verdict != "reversed":
        return Cell(v, f"attack cannot separate theta_0 from Retrain (theta_0 {pos.format()})")
    note = saturation_note(rows, name, attack, judge)
    if v.verdict == "resists":
        why = uncertified(rows, attack, judge, n, horizon, ref)
        if why:
            return Cell(v, why, note)
    return Cell(v, "", note)


def saturation_note(rows, name, attack, judge) -> str:
    step, mine = first_point(rows, name, attack, judge)
    _, theirs = first_point(rows, POSITIVE, attack, judge)
    if mine is not None and theirs is not None and mine >= SATURATED and theirs >= SATURATED:
        return f"like theta_0: both at >= {SATURATED} by step {step}"
    return ""


def uncertified(rows, attack, judge, n, horizon, ref) -> str:
    """'' when `attack` reverses its hiding control by `judge`; else why its "resists" certifies nothing."""
    control = HIDING_CONTROL.get(attack)
    if control is None or control not in rows:
        return f"resists, not certified: no hiding control ({control or 'none registered'}) in this run"
    hides = step0(rows, control, attack, judge, n)
    if hides is not None and hides > REFERENCE_BOUND:
        return f"resists, not certified: the hiding control {control} does not hide f ({hides:.2f} at step 0)"
    cv = decision(rows, control, attack, judge, n, horizon, ref)
    if cv is None or cv.verdict != "reversed":
        shown = cv.format() if cv else "not attacked"
        return f"attack too weak to certify removal (its hiding control {control}: {shown})"
    return ""


def cells(rows: dict, name: str, attack: str, n: int, horizon: int, ref: str = "retrain") -> dict:
    """{judge: Cell} for the judges whose curves the run recorded."""
    out = {j: gate(rows, name, attack, j, n, horizon, ref) for j in JUDGES}
    return {j: c for j, c in out.items() if c is not None}


def dependent_seeds(info: dict) -> set:
    """The run's seeds whose Retrain was trained with the pre-trained model's seed (so from theta_0's very
    initial weights and batches): a reference not independent of theta_0, left out of every claim. Runs
    before settings.RETRAIN_SEED trained Retrain of seed s with seed s (one Retrain, seed 0, before that)."""
    theta0 = info["ddpm_config"]["seed"]
    if "retrain_seeds" in info:
        return {int(s) for s, r in info["retrain_seeds"].items() if r == theta0}
    if info.get("retrain_per_seed"):
        return {s for s in info["seeds"] if s == theta0}
    return set(info["seeds"])


def cell_text(by_judge: dict) -> str:
    """A table cell: 'reversed: CNN +0.63 [+0.58, +0.67], kNN ...' when every judge's cell is valid (⚑ and
    'judges disagree' when their words differ); else each judge on its own, 'CNN no verdict (<reason>)
    +0.02 [...]; kNN resists -0.01 [...]'. Notes follow in brackets; '' when nothing was decided."""
    if not by_judge:
        return ""
    notes = sorted({c.note for c in by_judge.values() if c.note})
    tail = f" ({'; '.join(notes)})" if notes else ""
    if all(c.valid for c in by_judge.values()):
        return verdict_cell({j: c.verdict for j, c in by_judge.items()}) + tail
    parts = []
    for j, c in by_judge.items():
        word = c.verdict.verdict if c.valid else f"no verdict ({c.reason})"
        numbers = f" {c.verdict.effect:+.2f} [{c.verdict.lo:+.2f}, {c.verdict.hi:+.2f}]" if c.verdict else ""
        parts.append(f"{j} {word}{numbers}")
    return "; ".join(parts) + tail
