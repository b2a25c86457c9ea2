"""The relearning-delay table of a run (metrics/delay.py): steps to forget_acc 0.5 under each attack,
each row against Retrain (never learned f) and theta_0 (never forgot it), paired by seed, per judge.

A row "relearns like Retrain" when its difference to Retrain's delay has an interval around 0, "like
a model that never forgot" when its difference to theta_0's has. Shown for the attacks under which
Retrain reaches the level on some seed (under DiMRA-retain it never does: no table).
"""
import math

from metrics.delay import LEVEL, paired_difference, steps_to

from .decisions import JUDGES, attack_results
from .rows import label

POSITIVE, REFERENCE = "pretrained", "retrain"


def delays(rows: dict, name: str, attack: str, judge: str) -> dict:
    """{seed: steps to LEVEL} of a row's curves under `attack` by `judge`."""
    key = JUDGES[judge]
    return {s: steps_to(a["curve"]["step"], a["curve"][key]) for s, a in attack_results(rows, name, attack).items()
            if key in a["curve"]}


def fmt_delay(ds: dict) -> str:
    vals = [ds[s] for s in sorted(ds)]
    shown = ", ".join("never" if math.isinf(v) else f"{v:.0f}" for v in vals)
    return shown or "—"


def fmt_diff(mine: dict, ref: dict, horizon: float) -> str:
    d = paired_difference(mine, ref, horizon)
    if d is None:
        return "—"
    mean, lo, hi, censored = d
    bound = f" (bound: {censored} seed(s) never reached {LEVEL})" if censored else ""
    return f"{mean:+.0f} [{lo:+.0f}, {hi:+.0f}]{bound}"


def delay_lines(info: dict, rows: dict, names: list, attacks: list) -> list[str]:
    """The table's section, or [] when no attack brings Retrain or theta_0 to the level."""
    out = []
    for attack in attacks:
        horizon = (info["attacks"][attack] if "attacks" in info else info["attack"])["steps"]
        ref = delays(rows, REFERENCE, attack, "CNN") if REFERENCE in rows else {}
        if all(math.isinf(v) for v in ref.values()):        # Retrain never relearns: nothing to time against
            continue
        out += [f"Relearning delay under {attack}: attack steps until forget_acc reaches {LEVEL} (per seed; "
                f"'never': not within {horizon} steps), and the difference to Retrain's and to the pre-trained "
                f"model's, paired by seed [95 % bootstrap over seeds] (metrics/delay.py).", "",
                "| model | judge | steps to 0.5, per seed | − Retrain's | − pre-trained's |", "| --- | --- | --- | --- | --- |"]
        for name in names:
            for judge in JUDGES:
                mine = delays(rows, name, attack, judge)
                if not mine:
                    continue
                vs = [fmt_diff(mine, delays(rows, ref, attack, judge), horizon) if name != ref and ref in rows
                      else "—" for ref in (REFERENCE, POSITIVE)]
                out.append(f"| {label(name)} | {judge} | {fmt_delay(mine)} | {vs[0]} | {vs[1]} |")
        out.append("")
    return out
