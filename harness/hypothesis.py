"""From an added method or attack to a decided hypothesis, in one command.

    python -m harness.hypothesis --methods zero --classes 0 3 --seeds 0 1 2
    python -m harness.hypothesis --methods ga --attacks dimra_retain,noise --classes 0 --seeds 0 1

For each forget class it runs reproduce.py with the chosen methods (and ESD, the hiding control of the
fine-tuning attacks), Retrain, the pre-trained model attacked too (the positive control) and the chosen
attacks (default: the headline ones), into results/<preset>-hyp-f<class>/ (stages cached: rerun to
continue). Then it decides, per method and attack, the hypothesis "the attack does not bring the class
back" the way the findings decide a claim (harness/findings.py): only cells that pass the validity
checks (harness/validity.py), pooled over (forget class, seed) units, one bottom line per judge:
supported (the method resists), contradicted (the attack reverses it), differs across classes,
undecided, or not enough valid evidence (one seed is a first look: give two or more). Prints the
table and writes it to results/<preset>-hyp.md.
"""
import argparse
import os
import sys

from ddpm.errors import UserError
from lab.cli import run_cli
from lab.hardware import pick_device

from .decisions import JUDGES
from .findings import Claim, bottom_line, cells_of_run, counted
from .findings_report import effect_text, one_word
from .rows import attack_label, label
from .run import choose_rows, run
from .settings import Settings


def run_classes(a, methods: list) -> list[str]:
    """reproduce.py's run once a forget class; the results.json it wrote, one a class."""
    rows = ",".join(dict.fromkeys(methods + ["esd"]))        # ESD: the fine-tuning attacks' hiding control
    attacks = tuple(x.strip() for x in a.attacks.split(",") if x.strip())
    paths = []
    for f in a.classes:
        tag = f"hyp-f{f}" + ("-smoke" if a.smoke else "")
        s = Settings(seeds=tuple(a.seeds), forget_class=f, tag=tag, attacks=attacks, smoke=a.smoke)
        variants, _ = choose_rows(rows, control=True)
        table = run(s, pick_device(None, announce=True), variants, argv_text=f"--methods {rows} --forget-class {f} "
                    f"--seeds {' '.join(map(str, a.seeds))} --positive-control --tag {tag}" + " --smoke" * a.smoke)
        paths.append(os.path.join(os.path.dirname(table), "results.json"))
    return paths


def decide_all(paths: list, methods: list, attacks: list) -> list[str]:
    """The table: one line a (method, attack), its bottom line and each judge's pooled effect."""
    claims = {f"{m}/{at}": Claim(f"{label(m)} resists {attack_label(at)}", ((m, at, "retrain"),), "resists")
              for m in methods for at in attacks}
    # every class ran with the same command: its attack settings are the hypothesis's own (no registry)
    items = [{**it, "counted": counted({**it, "registered": True})} for p in paths for it in cells_of_run(p, claims=claims)]
    if not items:
        raise UserError("no attacked row found in the runs: check --methods and --attacks")
    lines = ["| hypothesis | bottom line | CNN judge: effect vs Retrain [95 %] | kNN judge: effect vs Retrain [95 %] |",
             "| --- | --- | --- | --- |"]
    for cid, claim in claims.items():
        by_judge = {j: bottom_line(cid, items, j, claims) for j in JUDGES}
        lines.append(f"| {claim.words} | **{one_word(by_judge)}** | {effect_text(by_judge['CNN'])} | "
                     f"{effect_text(by_judge['kNN'])} |")
    skipped = sorted({f"{it['row']} / {it['attack']} / {it['judge']}, class {it['class']}: {it['counted']}"
                      for it in items if it["counted"] and it["claim"].startswith(it["row"])})
    return lines + [""] + [f"- not counted: {s}" for s in skipped]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", required=True, help="comma-separated methods of unlearn/ METHODS")
    p.add_argument("--attacks", default="", help="comma-separated attacks (default: the headline ones)")
    p.add_argument("--classes", type=int, nargs="+", default=[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="mnist5k-quick")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check that the whole path runs")
    a = p.parse_args(argv)

    def body():
        from attack import ATTACKS
        methods = [m.strip() for m in a.methods.split(",") if m.strip()]
        attacks = [x.strip() for x in a.attacks.split(",") if x.strip()] or \
            [n for n, m in ATTACKS.items() if getattr(m, "HEADLINE", False)]
        if a.preset != "mnist5k-quick":
            raise UserError("--preset: the hypothesis runs on mnist5k-quick (reproduce.py runs the others)")
        lines = decide_all(run_classes(a, methods), methods, attacks)
        out = os.path.join("results", f"{a.preset}-hyp" + ("-smoke" if a.smoke else "") + ".md")
        with open(out, "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines) + f"\n\nwritten to {out}")
    return run_cli(body, "finished stages are saved under runs/; rerun the same command to continue")


if __name__ == "__main__":
    sys.exit(main())
