"""From a run's rows to verdicts: the glue between results.json and the rule in metrics/verdict.py.

A row's attack result holds its recovery curve as rates: 'forget_acc' (the CNN judge) and, in runs
since the kNN judge reads every point, 'forget_acc_knn', each point counted on `n_forget` samples.
`decision` turns one row, one attack and one judge into a Verdict against Retrain under the same
attack (paired by seed: each seed has its own Retrain model in the headline run); `verdict_cell`
writes both judges into one table cell, and never one word when they disagree.
"""
import json

from metrics.verdict import MARGIN, Verdict, combined, decide, from_rates, recovery

JUDGES = {"CNN": "forget_acc", "kNN": "forget_acc_knn"}     # judge -> the curve's key


def attack_results(rows: dict, name: str, attack: str) -> dict:
    """{seed: attack result} of row `name` under `attack`, for the seeds whose model and attack did not
    diverge."""
    out = {}
    for seed, r in rows.get(name, {}).items():
        a = r.get(attack)
        if a and "diverged" not in a and "diverged" not in r and a.get("curve"):
            out[seed] = a
    return out


def horizon_of(info: dict, attack: str) -> int:
    """The recovery's horizon: the attack's last step (every point the run measured after step 0)."""
    return info["attacks"][attack]["steps"] if "attacks" in info else info["attack"]["steps"]


def attack_id(a: dict) -> str:
    """An attack's settings without its seed: which Retrain curve a row is compared with."""
    return json.dumps({k: v for k, v in a["attack"].items() if k != "seed"}, sort_keys=True)


def reference_row(rows: dict, name: str, attack: str) -> str | None:
    """The Retrain row ('retrain', or an ablation's 'retrain-...') attacked with the same settings as
    row `name` under `attack`."""
    mine = next(iter(attack_results(rows, name, attack).values()), None)
    for ref in rows:
        theirs = next(iter(attack_results(rows, ref, attack).values()), None)
        if (ref == "retrain" or ref.startswith("retrain-")) and mine and theirs and attack_id(theirs) == attack_id(mine):
            return ref
    return None


def decision(rows: dict, name: str, attack: str, judge: str, n: int, horizon: int,
             ref_name: str = "retrain") -> Verdict | None:
    """The verdict of row `name` under `attack` counted by `judge` ('CNN' or 'kNN') against the Retrain
    row `ref_name`, or None when the row, Retrain or that judge's curve is missing. Paired by seed;
    one Retrain curve is shared by every seed only in runs that trained one Retrain (it has one seed);
    a row seed that Retrain lacks is refused, never compared with another seed's Retrain."""
    key = JUDGES[judge]
    mine, ref = attack_results(rows, name, attack), attack_results(rows, ref_name, attack)
    if name == ref_name or not mine or not ref or any(key not in a["curve"] for a in [*mine.values(), *ref.values()]):
        return None
    counts = lambda a: from_rates({"step": a["curve"]["step"], "forget_acc": a["curve"][key]}, n)  # noqa: E731
    row = {s: counts(a) for s, a in mine.items()}
    if set(mine) <= set(ref):                     # paired by seed
        return decide(row, {s: counts(ref[s]) for s in mine}, horizon)
    if len(rows.get(ref_name, {})) == 1:          # an older run's one Retrain model, shared by the seeds
        return decide(row, counts(next(iter(ref.values()))), horizon)
    missing = sorted(set(mine) - set(ref))
    raise ValueError(f"row {name!r} has seed(s) {missing} that Retrain has no {attack} curve for: "
                     f"rerun Retrain's seed(s) or leave the row's out")


def decisions(rows: dict, name: str, attack: str, n: int, horizon: int, ref_name: str = "retrain") -> dict:
    """{judge: Verdict} for the judges whose curves the run recorded."""
    out = {j: decision(rows, name, attack, j, n, horizon, ref_name) for j in JUDGES}
    return {j: v for j, v in out.items() if v is not None}


def verdict_cell(by_judge: dict) -> str:
    """'reversed: CNN +0.63 [+0.58, +0.67], kNN +0.70 [+0.64, +0.75]', or '⚑ judges disagree (CNN
    resists, kNN reversed): CNN ..., kNN ...'; '' for Retrain and rows without an attack."""
    if not by_judge:
        return ""
    word = combined(by_judge)
    flag = "⚑ " if word.startswith("judges disagree") else ""
    numbers = ", ".join(f"{j} {v.effect:+.2f} [{v.lo:+.2f}, {v.hi:+.2f}]" for j, v in by_judge.items())
    return f"{flag}{word}: {numbers}"


def rule_text(n: int, horizon: int, seeds: int) -> str:
    """The sentence a table prints under itself: how its verdicts were decided."""
    one = " With one seed the interval covers the judged samples only: a first look." if seeds == 1 else ""
    return (f"Verdicts (metrics/verdict.py): recovery = mean forget_acc over the attack's measured steps after "
            f"step 0 up to step {horizon}; effect = recovery minus Retrain's under the same attack, paired by "
            f"seed, with a 95 % bootstrap interval over seeds and over the {n} judged samples of every point; "
            f"resists if the interval lies below {MARGIN}, reversed if above it, undecided if it contains it. "
            f"Each judge decides on its own counts; ⚑ marks rows where they disagree. A cell is decided only if "
            f"the judge does not read Retrain's samples of f as f, the model is not broken, the attack reverses "
            f"the pre-trained model (positive control) and, for resists, the attack reverses its hiding control "
            f"(harness/validity.py); otherwise it says why instead.{one}")


def judged(cell: dict, ref: dict | None, n: int) -> tuple:
    """A sweep cell (harness/research/attack_sweep.py): (recoveries a seed, Verdict against Retrain's cell or
    None); seeds pair by their position."""
    if not cell["curves"]:
        return [], None
    horizon = cell["curves"][0]["step"][-1]
    mine = {i: from_rates(c, n) for i, c in enumerate(cell["curves"])}
    recs = [recovery(c, horizon) for c in mine.values()]
    if ref is None or not ref["curves"] or cell is ref:
        return recs, None
    theirs = {i: from_rates(c, n) for i, c in enumerate(ref["curves"])}
    if set(mine) <= set(theirs):
        return recs, decide(mine, {i: theirs[i] for i in mine}, horizon)
    if len(theirs) == 1:                          # one Retrain curve, shared by the seeds
        return recs, decide(mine, theirs[0], horizon)
    raise ValueError(f"the sweep cell has {len(mine)} seeds and Retrain {len(theirs)}: pair them or rerun Retrain")
