"""Attack strength: which unlearned model does DiMRA break first as the attacker gets stronger?

    python -m harness.research.attack_sweep --tag bf16 --bf16                     # retain-only, 1e-4/3e-4/1e-3, 1,000 steps
    python -m harness.research.attack_sweep --tag bf16 --bf16 --seeds 0 1 2 --lrs 1e-3 --rows retrain,salun,dimum,esd+retain
    python -m harness.research.attack_sweep --tag bf16 --bf16 --aux mixed --share 0.01 --steps 300 --eval-every 50

The headline table attacks every unlearned model with one attacker (DiMRA, lr 1e-4, 300 steps).
This script attacks each row (Retrain, the main table's methods, and ESD / GA with the retain term
of reproduce.py's ablation) at several learning rates and for longer, measuring forget_acc every
--eval-every steps, and writes for every (row, lr):

    recovery   the mean forget_acc over the curve's points after step 0 (metrics/verdict.py)
    verdict    against Retrain under the same attack, with the effect and its 95 % interval
               (metrics/verdict.py: resists / reversed / undecided)
    breaks at  the first measured step where forget_acc reaches BREAK (— : not within the budget)

and, per learning rate, the rows ordered from the first to break (largest recovery) to the last.
`python -m harness.research.attack_sweep --rewrite results/.../sweep/X.json` writes X.md again from its JSON
with the current rule.
It runs inside reproduce.py's Pipeline, so every model and attack is a cached stage of
runs/<preset>[-tag]/ (a rerun only computes what is missing) and --workers works as there; use
the --tag (and --bf16) of the reproduce.py run whose models it should attack.

Writes results/<preset>[-tag]/sweep/<aux>-<steps>steps-seeds<...>.{md,json,png}.
"""
import argparse
import json
import os
import sys
import time

import matplotlib.pyplot as plt
import torch

from ddpm.errors import UserError
from lab.checkpoint import write_json
from lab.cli import run_cli
from unlearn import METHODS

from ..decisions import judged, rule_text
from ..pipeline import Pipeline
from ..rows import attacked, color, fmt, label, mean_sd
from ..run import add_run_arguments, run_info, run_pipeline, run_rows
from ..settings import ABLATION, SMOKE, Variant, main_variants
from ..workers import default_workers

DEFAULT_ROWS = ",".join(["retrain", *METHODS, "esd+retain"])   # every method; ga+retain: add it by name (a collapsed model)
BREAK = 0.5              # 'broken': half of the forget-class samples are judged to be the forgotten class


def base_rows() -> dict:
    """name -> Variant for every row the sweep can attack (the headline rows and the ablation's)."""
    return {v.name: v for v in main_variants() + ABLATION if v.name != "pretrained"}


def sweep_variant(base: Variant, lr: float, aux: str, attack: dict) -> Variant:
    """`base`'s model (its files are shared with reproduce.py's row) under one attack setting."""
    return Variant(f"{base.name}@{lr:g}", base.method, base.unlearn, attack={**attack, "lr": lr}, attacks=(f"dimra_{aux}",),
                   model=Pipeline.key(base))


def breaks_at(curve: dict):
    """The first measured attack step with forget_acc >= BREAK, or None."""
    return next((s for s, a in zip(curve["step"], curve["forget_acc"]) if a >= BREAK), None)


def summarise(rows: dict, names: list, lrs: list, aux: str) -> dict:
    """{lr: {row: {recoveries, breaks, forget_acc, curves}}} from the per-seed rows of run_rows."""
    out = {}
    for lr in lrs:
        out[lr] = {}
        for name in names:
            per_seed = list(rows[f"{name}@{lr:g}"].values())
            runs = attacked(per_seed, f"dimra_{aux}")
            out[lr][name] = {"breaks": [breaks_at(a["curve"]) for a in runs], "n_seeds": len(per_seed),
                             "forget_acc": [r.get("forget_acc") for r in per_seed], "n_attacked": len(runs),
                             "curves": [a["curve"] for a in runs]}
    return out


def breaks_text(breaks: list) -> str:
    """'300' (every seed), '300, 500, —' (per seed), '—' (no seed broke)."""
    if all(b is None for b in breaks):
        return "—"
    shown = ["—" if b is None else str(b) for b in breaks]
    return shown[0] if len(set(shown)) == 1 else ", ".join(shown)


def table(summary: dict, names: list, aux: str, steps: int, n: int) -> list:
    lrs = list(summary)
    lines = ["| row | forget_acc after unlearning | " + " | ".join(
                 f"lr {lr:g}: recovery / verdict (effect vs Retrain [95 % interval]) / breaks at" for lr in lrs) + " |",
             "| --- | --- | " + " | ".join("---" for _ in lrs) + " |"]
    order = {}
    for name in names:
        first = summary[lrs[0]][name]
        cells = [label(name), fmt(first["forget_acc"])]
        for lr in lrs:
            c = summary[lr][name]
            recs, v = judged(c, summary[lr].get("retrain"), n)
            if not recs:
                cells.append("diverged" if c["n_seeds"] else "—")
                continue
            order.setdefault(lr, []).append((name, mean_sd(recs)[0]))
            cells.append(f"{fmt(recs)} / {v if v else 'reference'} / {breaks_text(c['breaks'])}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Order, first to break (largest recovery first; Retrain left out):", ""]
    for lr in lrs:
        ranked = sorted((x for x in order.get(lr, []) if x[0] != "retrain"), key=lambda x: -x[1])
        lines.append(f"- lr {lr:g}: " + " > ".join(f"{label(name)} ({r:.2f})" for name, r in ranked))
    seeds = max((len(summary[lr][name]["curves"]) for lr in lrs for name in names), default=1)
    lines += ["", f"recovery: mean forget_acc over the curve's points after step 0, up to step {steps}; mean ± sd "
              f"over seeds where there are several. breaks at: first measured step with forget_acc >= {BREAK} (per "
              f"seed when the seeds differ; — never within {steps} steps).", "",
              rule_text(n, steps, seeds), ""]
    return lines


def plot(summary: dict, names: list, path: str, aux: str, f: int) -> None:
    """One panel per attack learning rate: forget_acc along the attack, mean over seeds, one line a row."""
    lrs = list(summary)
    fig, axes = plt.subplots(1, len(lrs), figsize=(4.2 * len(lrs), 3.8), sharey=True, squeeze=False)
    for ax, lr in zip(axes[0], lrs):
        for name in names:
            curves = summary[lr][name]["curves"]
            if not curves:
                continue
            accs = torch.tensor([c["forget_acc"] for c in curves]).mean(0)
            ax.plot(curves[0]["step"], accs, "--" if name == "retrain" else "-", marker="o", ms=3,
                    color=color(name), label=label(name))
        ax.axhline(BREAK, color="gray", lw=0.5, ls=":")
        ax.set_title(f"DiMRA-{aux}, lr {lr:g}")
        ax.set_xlabel("attack step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"forget_acc (class {f})")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_sweep(pipe, a, summary: dict, names: list, seconds: float, argv_text: str) -> None:
    """results/<run>/sweep/<aux>-<steps>steps-<seeds>.md, .json and .png, and the table on the terminal."""
    s = pipe.s
    aux = a.aux + (f"{a.share:.0%}" if a.aux == "mixed" else "")
    seeds = f"seed{a.seeds[0]}" if len(a.seeds) == 1 else "seeds" + "-".join(map(str, a.seeds))
    stem = os.path.join(pipe.results, "sweep", f"{aux}-{a.steps}steps-{seeds}")
    env = run_info(pipe)["environment"]
    title = f"DiMRA-{aux}, {a.steps} steps, forget class {pipe.f}, seed(s) {', '.join(map(str, a.seeds))}"
    lines = [f"# Attack strength: {title}",
             "", f"Command: `python -m harness.research.attack_sweep {argv_text}`  ",
             f"Wall clock: {seconds / 60:.1f} min for this invocation (cached stages reused). Environment: "
             f"torch {env['torch']}, {pipe.workers} worker(s), {env['precision']}, {env['machine']}. "
             f"forget_acc: {s.n_forget} guided samples every {a.eval_every} attack steps.", ""]
    lines += table(summary, names, a.aux, a.steps, s.n_forget)
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    with open(stem + ".md", "w") as fh:
        fh.write("\n".join(lines))
    write_json({"settings": {**vars(a), "n_forget": s.n_forget}, "seconds": seconds, "environment": env,
                "summary": {f"{lr:g}": cells for lr, cells in summary.items()}}, stem + ".json")
    plot(summary, names, stem + ".png", a.aux, pipe.f)
    print("\n".join(lines))
    print(f"done in {seconds:.0f} s: {stem}.md")


def rewrite(path: str) -> str:
    """Write <path>.md again from its .json with the current rule (the header lines are kept)."""
    with open(path) as f:
        data = json.load(f)
    summary = {float(lr): cells for lr, cells in data["summary"].items()}
    md = os.path.splitext(path)[0] + ".md"
    with open(md) as f:
        head = f.read().split("\n| row |")[0].rstrip("\n").replace("scripts/attack_sweep.py", "-m harness.research.attack_sweep")
    head = head.replace("python -m harness", "python -m harness").split("\n")
    settings = data["settings"]
    lines = head + [""] + table(summary, list(next(iter(summary.values()))), settings["aux"], settings["steps"],
                                settings.get("n_forget", 100))     # 100: metrics.evaluate.N_FORGET, what they used
    with open(md, "w") as f:
        f.write("\n".join(lines))
    return md


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--rows", default=DEFAULT_ROWS, help="rows of reproduce.py's table and ablation (retrain: the reference)")
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3], help="attack learning rates")
    p.add_argument("--aux", choices=("retain", "mixed"), default="retain")
    p.add_argument("--share", type=float, default=0.01, help="share of the forgotten class in D_aux (--aux mixed)")
    p.add_argument("--steps", type=int, help="attack steps (default 1000; SMOKE's with --smoke)")
    p.add_argument("--eval-every", type=int, help="attack steps between forget_acc measurements (default 100)")
    p.add_argument("--workers", type=int, help="as reproduce.py --workers (default: one per CPU core)")
    p.add_argument("--rewrite", nargs="+", help="write these sweep JSON files' tables again with the current rule")
    a = p.parse_args(argv)
    if a.rewrite:
        for path in a.rewrite:
            print(f"wrote {rewrite(path)}")
        return 0

    def body():
        known = base_rows()
        names = [r.strip() for r in a.rows.split(",") if r.strip()]
        unknown = [r for r in names if r not in known]
        if unknown:
            raise UserError(f"unknown row(s) {', '.join(unknown)}: choose from {', '.join(known)}")
        if a.steps is None:
            a.steps = SMOKE["attack_steps"] if a.smoke else 1000
        if a.eval_every is None:
            a.eval_every = SMOKE["eval_every"] if a.smoke else 100
        if "retrain" not in names:
            names.insert(0, "retrain")          # every verdict needs Retrain under the same attack
        if a.steps < 1 or a.eval_every < 1 or min(a.lrs) <= 0:
            raise UserError("--steps and --eval-every must be at least 1 and every --lrs value positive")
        if a.workers is not None and a.workers < 1:
            raise UserError(f"--workers {a.workers} must be at least 1")
        t0 = time.time()
        pipe = run_pipeline(a, a.seeds)
        s = pipe.s
        attack = {"steps": a.steps, "eval_every": a.eval_every, **({"share": a.share} if a.aux == "mixed" else {})}
        variants = [sweep_variant(known[n], lr, a.aux, attack) for n in names for lr in a.lrs]
        for v in variants:                   # refuse bad settings before any work
            pipe.settings(v, a.seeds[0])
        workers = pipe.workers = a.workers or default_workers(pipe.device, s.smoke)
        pipe.prepare(workers)
        rows = run_rows(pipe, variants, a.seeds, workers)
        summary = summarise(rows, names, a.lrs, a.aux)
        write_sweep(pipe, a, summary, names, time.time() - t0, " ".join(sys.argv[1:] if argv is None else argv))

    return run_cli(body, "finished stages are cached under runs/; rerun the same command to continue")


if __name__ == "__main__":
    sys.exit(main())
