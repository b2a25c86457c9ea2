"""DiMUM's memorisation of D_alt against its budget: after how many steps does label f draw D_alt?

    python -m harness.research.memorisation --tag bf16 --from-scratch --bf16 --seeds 0 1 2   # after make paper

DiMUM trains the model to generate its alternative images under label f (unlearn/dimum.py), so it has
memorised D_alt when the samples of label f ARE D_alt: memorisation = the share of the n_forget samples
of label f (the evaluation's sampler and seed) that a judge reads as D_alt's class (digit 1 by
default); memorised when both judges read MEMORISED or more of them so. This script runs DiMUM from the
run's pre-trained model with its defaults except the budget (`--steps`, no plateau stop) and measures
memorisation and forget_acc every `--every` steps, by both judges. Sampling draws no number from the
training's random streams, so up to its stop the curve IS the headline DiMUM row of the same seed: the
table marks where that row's plateau rule stopped (the rule applied to this loss history).

Writes results/<preset>-<tag>/memorisation/{memorisation.md, memorisation.json, memorisation.png}.
"""
import argparse
import os
import sys
import time

import matplotlib.pyplot as plt
import torch

from ddpm.errors import UserError
from ddpm.train_loop import Plateau
from lab.checkpoint import write_json
from lab.cli import run_cli
from lab.hardware import precision_region
from lab.pretrain import load_ddpm
from metrics.evaluate import generate, judge_predictions
from unlearn.dimum import parse_alt
from unlearn.run import make_settings, unlearn

from ..rows import fmt
from ..run import add_run_arguments, run_pipeline

MEMORISED = 0.9


def plateau_stop(losses: list) -> int | None:
    """The step at which DiMUM's plateau rule (ddpm.train_loop.Plateau) stops on this loss history."""
    rule = Plateau()
    return next((k for k in range(1, len(losses) + 1) if rule.reached(losses[:k])), None)


def memorisation_curve(pipe, seed: int, steps: int, every: int, progress: bool = True) -> dict:
    """{'step', 'alt', 'alt_knn', 'forget', 'forget_knn', 'loss', 'plateau_step', 'alt_class'} for one seed."""
    s = make_settings("dimum", forget_class=pipe.f, seed=seed, steps=steps, plateau=False)
    kind, k, _ = parse_alt(s.alt, pipe.f)
    if kind != "class":
        raise UserError(f"D_alt {s.alt!r} has no class a judge could read: memorisation needs class:K or fixed:K:N")
    model, schedule = load_ddpm(pipe.ddpm_path, pipe.device)[:2]
    labels = torch.full((pipe.s.n_forget,), pipe.f)
    out = {"step": [], "alt": [], "alt_knn": [], "forget": [], "forget_knn": [], "alt_class": k}

    def measure(step: int, loss=None) -> None:
        if step % every and step != steps:
            return
        x = generate(model, schedule, labels, pipe.sample, seed)       # the evaluation's samples of label f
        out["step"].append(step)
        for judge, read in (("", judge_predictions(pipe.judge, x)), ("_knn", pipe.knn.predict(x))):
            out["alt" + judge].append((read == k).float().mean().item())
            out["forget" + judge].append((read == pipe.f).float().mean().item())
        model.train()
    measure(0)
    hist = unlearn(model, schedule, pipe.splits["train"], "dimum", s, progress=progress, on_step=measure)
    return {**out, "loss": hist["loss"], "plateau_step": plateau_stop(hist["loss"]), "settings": vars(s)}


def first_memorised(c: dict) -> int | None:
    return next((st for st, a, b in zip(c["step"], c["alt"], c["alt_knn"]) if a >= MEMORISED and b >= MEMORISED), None)


def table(curves: dict, argv: str, seconds: float) -> str:
    seeds = list(curves)
    c0 = curves[seeds[0]]
    lines = [f"# DiMUM's memorisation of D_alt (class {c0['alt_class']}) against its budget", "",
             f"Command: `python -m harness.research.memorisation {argv}` ({seconds / 60:.1f} min). Seeds: "
             f"{', '.join(map(str, seeds))}" + (" (one seed: a first look)." if len(seeds) == 1 else "."), "",
             "| step | read as D_alt's class, CNN (kNN) | read as f, CNN (kNN) | DiMUM loss (mean of the 50 steps before) |",
             "| --- | --- | --- | --- |"]
    for i, step in enumerate(c0["step"]):
        col = lambda key: fmt([curves[s][key][i] for s in seeds])              # noqa: E731
        loss = fmt([sum(curves[s]["loss"][max(0, step - 50):step]) / max(1, min(50, step)) for s in seeds], 4) \
            if step else "—"
        lines.append(f"| {step} | {col('alt')} ({col('alt_knn')}) | {col('forget')} ({col('forget_knn')}) | {loss} |")
    stops = [curves[s]["plateau_step"] for s in seeds]
    firsts = [first_memorised(curves[s]) for s in seeds]
    lines += ["", f"Memorised (both judges read {MEMORISED:.2f} or more of the samples of label f as D_alt's class) "
              f"first at step: {', '.join(str(x) if x is not None else 'not within the budget' for x in firsts)} "
              f"(seed {', '.join(map(str, seeds))}). The headline DiMUM row stops at its plateau rule after "
              f"{', '.join(str(x) if x is not None else 'no stop' for x in stops)} steps (same seeds: up to that step "
              "this curve is that row).", ""]
    return "\n".join(lines)


def plot(curves: dict, path: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for seed, c in curves.items():
        ax.plot(c["step"], c["alt"], "-o", color="tab:green", label="read as D_alt's class (CNN)" if seed == min(curves) else None)
        ax.plot(c["step"], c["alt_knn"], "--", color="tab:green", label="(kNN)" if seed == min(curves) else None)
        ax.plot(c["step"], c["forget"], "-o", color="tab:red", label="read as f (CNN)" if seed == min(curves) else None)
        if c["plateau_step"]:
            ax.axvline(c["plateau_step"], color="grey", lw=0.8)
    ax.axhline(MEMORISED, color="black", lw=0.6, ls=":")
    ax.set(xlabel="DiMUM steps", ylabel="share of label-f samples", ylim=(-0.02, 1.02),
           title="DiMUM memorising D_alt (grey: the plateau stop)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=1000, help="DiMUM's budget (no plateau stop)")
    p.add_argument("--every", type=int, default=100, help="steps between measurements")
    a = p.parse_args(argv)

    def body():
        if a.steps < 1 or a.every < 1:
            raise UserError("--steps and --every must be at least 1")
        t0 = time.time()
        pipe = run_pipeline(a, a.seeds)
        with precision_region(pipe.s.precision, pipe.device.type):
            pipe.prepare()
            curves = {seed: memorisation_curve(pipe, seed, a.steps, a.every, pipe.s.progress) for seed in a.seeds}
        out = os.path.join(pipe.results, "memorisation")
        os.makedirs(out, exist_ok=True)
        argv_text = " ".join(argv if argv is not None else sys.argv[1:])
        write_json({"argv": argv_text, "wall_seconds": time.time() - t0, "curves": curves}, os.path.join(out, "memorisation.json"))
        with open(os.path.join(out, "memorisation.md"), "w") as f:
            f.write(table(curves, argv_text, time.time() - t0))
        plot(curves, os.path.join(out, "memorisation.png"))
        print(f"{out}/memorisation.md")
    return run_cli(body, "rerun the same command")


if __name__ == "__main__":
    raise SystemExit(main())
