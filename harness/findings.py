"""The findings, generated from the committed results: one bottom line a claim, and the evidence behind it.

    python -m harness.findings            # writes docs/findings.md and the README's findings table
    python -m harness.findings --check    # exit 1 if either differs from what the results say

The unit of replication is (forget class, seed). A claim is about one or more parts, each a (row,
attack) against a reference (Retrain, or for the retain-term claim the same method with its retain
term). Only cells that pass every check of harness/validity.py, at the claim's registered attack
setting (REGISTERED: the one place it lives), with two seeds or more, count. A part's units are
pooled over classes and seeds into one effect with its 95 % interval (metrics/verdict.py, the units
in place of the seeds); each class with counted evidence is also decided on its own. Per judge:

    supported       every part decided the way the claim says, no class the other way
    contradicted    every decided part the other way (for a "resists" claim: any part reversed)
    differs across classes / parts   decided both ways across classes, or across the claim's parts
    undecided       valid evidence whose interval holds the margin
    not enough valid evidence        nothing counted

One-seed cells are listed as first looks, sweep cells in their own robustness table: neither counts.
No cell counts for two claims (a test checks it).
"""
import argparse
import json
import os
import sys
from dataclasses import dataclass

from metrics.verdict import Counts, decide, from_rates

from .decisions import JUDGES, attack_results, horizon_of, judged
from .findings_report import quality_lines, readme_with, report
from .validity import Cell, dependent_seeds, gate

RUNS = ["results/mnist5k-quick-headline/results.json", "results/mnist5k-quick-headline-f3/results.json",
        "results/mnist5k-quick-headline-f7/results.json",
        "results/mnist5k-quick-bf16/results.json", "results/mnist5k-quick-bf16-controls/results.json",
        "results/mnist5k-quick-f7/results.json", "results/mnist5k-quick-f3/results.json",
        "results/mnist5k-quick-f8/results.json", "results/mnist-cpu/results.json"]
SWEEPS = ["results/mnist5k-quick-bf16/sweep/retain-1000steps-seeds0-1-2.json",
          "results/mnist5k-quick-bf16/sweep/retain-1000steps-seed0.json",
          "results/mnist5k-quick-bf16/sweep/mixed1%-300steps-seed0.json"]
OUT, README = "docs/findings.md", "README.md"
UNCOND = "uncond"           # the unconditional branch's share of f, read as a one-point curve
# The registered setting of each attack: cells at another setting go to the robustness tables. The
# image size and the attack's settings but its seed and where its curve was watched.
REGISTERED = {"image_size": 16,
              "dimra_retain": dict(steps=300, lr=1e-4, share=0.1, batch_size=64, p_uncond=0.1, grad_clip=1.0),
              "dimra_mixed": dict(steps=300, lr=1e-4, share=0.1, batch_size=64, p_uncond=0.1, grad_clip=1.0),
              "inversion": dict(steps=300, lr=1e-2, n_images=32, init="null"),
              "datafree": dict(steps=300, lr=1e-4, n_samples=900),
              UNCOND: dict(n=500)}
OTHER_SIDE = ("inversion", "datafree", UNCOND)       # attacks that do not share a retain term's objective


@dataclass(frozen=True)
class Claim:
    words: str
    parts: tuple            # ((row, attack, reference row), ...)
    wanted: str             # 'reversed' or 'resists' (of the row against its reference)


def _parts(rows, attacks, ref="retrain"):
    return tuple((r, a, ref) for r in rows for a in attacks)


CLAIMS = {
    "C1": Claim("DiMRA on retained data only reverses GA", _parts(["ga"], ["dimra_retain"]), "reversed"),
    "C2": Claim("DiMRA on retained data only reverses ESD", _parts(["esd"], ["dimra_retain"]), "reversed"),
    "C3": Claim("DiMRA on retained data only reverses SalUn", _parts(["salun"], ["dimra_retain"]), "reversed"),
    "C4": Claim("DiMRA with some forgotten-class data (mixed) relearns f faster after GA, ESD and SalUn "
                "than after Retrain", _parts(["ga", "esd", "salun"], ["dimra_mixed"]), "reversed"),
    "C5": Claim("DiMUM resists DiMRA on retained data only", _parts(["dimum"], ["dimra_retain"]), "resists"),
    "C6": Claim("DiMUM resists DiMRA with some forgotten-class data (mixed)", _parts(["dimum"], ["dimra_mixed"]),
                "resists"),
    "C7": Claim("DiMUM removes the class rather than hiding it: inversion, data-free relearning and the "
                "unconditional branch draw f from it no more than from Retrain", _parts(["dimum"], OTHER_SIDE),
                "resists"),
    "C8": Claim("A retain term lowers what attacks that do not share its objective recover (ESD and SalUn "
                "without it, against with it)", (("esd", "inversion", "esd+retain"), ("esd", "datafree", "esd+retain"),
                                                 ("esd", UNCOND, "esd+retain"), ("salun-alpha0", "inversion", "salun"),
                                                 ("salun-alpha0", "datafree", "salun"),
                                                 ("salun-alpha0", UNCOND, "salun")), "reversed"),
}
OPPOSITE = {"reversed": "resists", "resists": "reversed"}


def with_uncond(rows: dict) -> dict:
    """The rows with the unconditional branch's share of f as a one-point 'attack' curve (step 0: 0, step
    1: the share of n null-label samples read as f), so that it is gated and decided like the attacks."""
    out = {}
    for name, per_seed in rows.items():
        out[name] = {}
        for seed, r in per_seed.items():
            r = dict(r)
            if "uncond_share" in r:
                r[UNCOND] = {"curve": {"step": [0, 1], "forget_acc": [0.0, r["uncond_share"]],
                                       "forget_acc_knn": [0.0, r["uncond_share_knn"]]},
                             "attack": {"n": r["uncond_n"]}}
            out[name][seed] = r
    return out


def settings_of(info: dict, rows: dict, attack: str) -> dict:
    if attack == UNCOND:
        n = next((r["uncond_n"] for ps in rows.values() for r in ps.values() if "uncond_n" in r), None)
        return {"n": n, "steps": 1}
    return info["attacks"][attack] if "attacks" in info else info["attack"]


def registered(info: dict, rows: dict, attack: str) -> bool:
    a = settings_of(info, rows, attack)
    return info["image_size"] == REGISTERED["image_size"] and all(a.get(k) == v for k, v in REGISTERED[attack].items())


def cells_of_run(path: str, root: str = ".", claims: dict | None = None) -> list[dict]:
    """One item a (part of a claim, judge) of a results.json: the gated cell and the curves behind it."""
    with open(os.path.join(root, path)) as f:
        data = json.load(f)
    info, dropped = data["settings"], dependent_seeds(data["settings"])
    rows = with_uncond({k: {int(s): r for s, r in v.items() if int(s) not in dropped} for k, v in data["rows"].items()})
    n_of = lambda a: settings_of(info, rows, a)["n"] if a == UNCOND else info["n_forget"]   # noqa: E731
    out = []
    for cid, claim in (claims or CLAIMS).items():
        for row, attack, ref in claim.parts:
            if row not in rows or ref not in rows or not rows[row] or not attack_results(rows, row, attack):
                continue
            horizon = 1 if attack == UNCOND else horizon_of(info, attack)
            for judge, key in JUDGES.items():
                own = gate(rows, row, attack, judge, n_of(attack), horizon)
                if own is None:
                    continue
                base = gate(rows, ref, attack, judge, n_of(attack), horizon) if ref != "retrain" else None
                cell = _versus(rows, row, ref, attack, key, n_of(attack), horizon, own, base)
                out.append({"claim": cid, "row": row, "attack": attack, "ref": ref, "judge": judge, "path": path,
                            "dropped": sorted(dropped),
                            "class": info["forget_class"], "seeds": cell["seeds"], "cell": cell["cell"],
                            "registered": registered(info, rows, attack), "curves": cell["curves"]})
    return out


def _versus(rows, row, ref, attack, key, n, horizon, own, base):
    """The cell of `row` against `ref` (Retrain: the gate's own; another row: decided against it, valid
    when both rows' own cells are) and the curves {seed: (row Counts, ref Counts)} for pooling."""
    counts = lambda a: from_rates({"step": a["curve"]["step"], "forget_acc": a["curve"][key]}, n)  # noqa: E731
    mine, theirs = attack_results(rows, row, attack), attack_results(rows, ref, attack)
    seeds = sorted(s for s in mine if s in theirs)
    curves = {s: (counts(mine[s]), counts(theirs[s])) for s in seeds}
    if ref == "retrain":
        return {"cell": own, "seeds": own.verdict.seeds if own.verdict else len(seeds), "curves": curves}
    v = decide({s: c[0] for s, c in curves.items()}, {s: c[1] for s, c in curves.items()}, horizon) if seeds else None
    reason = next((f"{name}: {c.reason}" for name, c in ((row, own), (ref, base)) if c is not None and c.reason
                   and not c.reason.startswith(("resists, not certified", "attack too weak"))), "")
    return {"cell": Cell(v, reason if v else "no paired seeds"), "seeds": len(seeds), "curves": curves}


def collect(root: str = ".") -> list[dict]:
    """Every claim cell of the committed runs, each counted once (the controls run reuses the headline
    run's stages: the same cell from two files is kept from the first), numbered E1, E2, ..."""
    kept = {}
    for path in RUNS:
        if not os.path.exists(os.path.join(root, path)):
            continue
        for it in cells_of_run(path, root):
            v, it = it["cell"].verdict, {**it, "counted": counted(it)}
            key = (it["claim"], it["row"], it["attack"], it["ref"], it["judge"], it["class"], it["seeds"],
                   v and (v.effect, v.lo, v.hi))
            if key not in kept or (kept[key]["counted"] and not it["counted"]):   # the file that can check it
                kept[key] = it
    return [{**it, "id": f"E{i + 1}"} for i, it in enumerate(once_a_unit(list(kept.values())))]


def once_a_unit(items: list) -> list:
    """A (forget class, seed) unit counts once for a part of a claim: where two runs measured the same
    class (the float32 headline and the older bf16 run of class 0), the first run of RUNS counts and the
    later one is listed with the reason."""
    first, out = {}, []
    for it in items:
        key = (it["claim"], it["row"], it["attack"], it["ref"], it["judge"], it["class"])
        if not it["counted"]:
            if first.setdefault(key, it["path"]) != it["path"]:
                it = {**it, "counted": f"the same units counted from {first[key]}"}
        out.append(it)
    return out


def counted(it: dict) -> str:
    """'' when the cell counts for its claim, else why not."""
    if not it["registered"]:
        return "another setting (robustness)"
    if it["seeds"] < 2:
        return "one seed (first look)"
    return "" if it["cell"].valid else "invalid: " + it["cell"].reason


def _common(curves: list) -> list:
    """The curves cut to the steps every one of them measured (runs that watched at other steps pool on
    the shared points: the recovery over those)."""
    common = set.intersection(*(set(c.step) for pair in curves for c in pair))
    cut = lambda c: Counts(*zip(*[(s, k, n) for s, k, n in zip(c.step, c.k, c.n) if s in common]))  # noqa: E731
    return [(cut(a), cut(b)) for a, b in curves]


def pooled(items: list):
    """(Verdict over every (class, seed) unit, {class: Verdict}) of the counted cells of one part and judge."""
    units = {(it["class"], it["path"], s): pair for it in items for s, pair in it["curves"].items()}
    if not units:
        return None, {}
    keys, pairs = list(units), _common(list(units.values()))
    horizon = int(max(pairs[0][0].step))
    both = lambda ks: decide({k: pairs[keys.index(k)][0] for k in ks},              # noqa: E731
                             {k: pairs[keys.index(k)][1] for k in ks}, horizon)
    per_class = {c: both([k for k in keys if k[0] == c]) for c in sorted({k[0] for k in keys})}
    return both(keys), per_class


def bottom_line(cid: str, items: list, judge: str, claims: dict | None = None) -> dict:
    """The claim's outcome by one judge, and the pooled verdict of its part least favourable to it."""
    claim = (claims or CLAIMS)[cid]
    mine = [it for it in items if it["claim"] == cid and it["judge"] == judge and not it["counted"]]
    parts = {}
    for row, attack, ref in claim.parts:
        v, per_class = pooled([it for it in mine if (it["row"], it["attack"], it["ref"]) == (row, attack, ref)])
        if v is not None:
            parts[(row, attack)] = (v, per_class)
    if not parts:
        return {"outcome": "not enough valid evidence", "verdict": None, "units": 0}
    words = {v.verdict for v, _ in parts.values()}
    split = any({c.verdict for c in pc.values()} >= {"reversed", "resists"} for _, pc in parts.values())
    worst = min(parts.values(), key=lambda p: p[0].effect * (1 if claim.wanted == "reversed" else -1))[0]
    outcome = ("differs across classes" if split else "supported" if words == {claim.wanted}
               else "contradicted" if words == {OPPOSITE[claim.wanted]} or (claim.wanted == "resists" and "reversed" in words)
               else "differs across parts" if words >= {"reversed", "resists"} else "undecided")
    return {"outcome": outcome, "verdict": worst, "units": sum(v.seeds for v, _ in parts.values()),
            "classes": sorted({c for _, pc in parts.values() for c in pc})}


def robustness(root: str = ".") -> list[dict]:
    """The sweep cells (the headline's own seed-0 models attacked at other strengths): listed, never counted."""
    out = []
    for path in SWEEPS:
        if not os.path.exists(os.path.join(root, path)):
            continue
        with open(os.path.join(root, path)) as f:
            data = json.load(f)
        st = data["settings"]
        for lr, cells in data["summary"].items():
            for name, cell in cells.items():
                _, v = judged(cell, cells.get("retrain"), st.get("n_forget", 100))
                if v is not None:
                    share = f", {st['share']:.0%} of class f" if st["aux"] == "mixed" else ""
                    out.append({"row": name, "attack": "dimra_" + st["aux"], "verdict": v, "path": path,
                                "setting": f"class {st['forget_class']}, lr {float(lr):g}, {st['steps']} steps{share}"})
    return out


def findings_text(root: str = ".") -> tuple[str, str]:
    """(docs/findings.md, the README's block between START and END)."""
    items = collect(root)
    lines = {cid: {j: bottom_line(cid, items, j) for j in JUDGES} for cid in CLAIMS}
    headline = next(p for p in RUNS if os.path.exists(os.path.join(root, p)))
    quality = quality_lines(os.path.join(root, headline), headline)
    return report(CLAIMS, lines, items, robustness(root), quality)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if docs/findings.md or the README differ")
    a = p.parse_args(argv)
    doc, block = findings_text()
    with open(README) as f:
        readme = f.read()
    new_readme = readme_with(block, readme)
    if a.check:
        with open(OUT) as f:
            old_doc = f.read()
        stale = [name for name, old, new in ((OUT, old_doc, doc), (README, readme, new_readme)) if old != new]
        print(f"stale: {', '.join(stale)}: run python -m harness.findings" if stale else "findings up to date")
        return 1 if stale else 0
    for path, text in ((OUT, doc), (README, new_readme)):
        with open(path, "w") as f:
            f.write(text)
    print(f"wrote {OUT} and the findings table of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
