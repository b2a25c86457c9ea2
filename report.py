"""Turn the per-stage results of reproduce.py into results/<preset>/: table.md, results.json, figures.

Verdict of a row under an attack (DESIGN.md): compare its recovery curve with Retrain's under the
same auxiliary set and budget, by the area under the curve (the mean forget_acc over the measured
steps, step 0 included), averaged over seeds:
    resists      AUC <= AUC_retrain + 0.05
    reversed     AUC >  AUC_retrain + max(0.05, 2 * sqrt(sd^2 + sd_retrain^2))   (clearly faster)
    partly       in between
"""
import json
import os
import platform
import statistics

import matplotlib.pyplot as plt   # picks the Agg backend by itself on a machine without a display
import torch

LABELS = {"pretrained": "Pre-trained", "retrain": "Retrain", "ga": "GA", "esd": "ESD", "salun": "SalUn",
          "dimum": "DiMUM"}
COLORS = {"pretrained": "tab:gray", "retrain": "black", "ga": "tab:red", "esd": "tab:orange",
          "salun": "tab:purple", "dimum": "tab:green"}


def mean_sd(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def fmt(xs, digits=2):
    m, sd = mean_sd(xs)
    if m is None:
        return "—"
    return f"{m:.{digits}f} ± {sd:.{digits}f}" if len(xs) > 1 else f"{m:.{digits}f}"


def at_step(curve, step):
    """forget_acc at `step` (or the last measured step before it)."""
    best = None
    for s, a in zip(curve["step"], curve["forget_acc"]):
        if s <= step:
            best = a
    return best


def auc(curve):
    return statistics.fmean(curve["forget_acc"])


def verdict(rows, name, aux):
    if name == "retrain" or f"dimra_{aux}" not in next(iter(rows[name].values())):
        return ""
    mine = [auc(r[f"dimra_{aux}"]["curve"]) for r in rows[name].values()]
    ref = [auc(r[f"dimra_{aux}"]["curve"]) for r in rows["retrain"].values()]
    (m, sd), (mr, sdr) = mean_sd(mine), mean_sd(ref)
    if m <= mr + 0.05:
        return "resists"
    return "reversed" if m > mr + max(0.05, 2 * (sd ** 2 + sdr ** 2) ** 0.5) else "partly"


def _settings(pipe) -> dict:
    from unlearn.run import DEFAULTS
    return {"preset": pipe.s.preset, "ddpm_config": pipe.cfg.to_dict(), "judge_config": vars(pipe.judge_cfg),
            "judge_test_acc": pipe.judge_acc, "forget_class": pipe.f, "seeds": list(pipe.s.seeds),
            "unlearn_defaults": DEFAULTS, "attack_steps": pipe.s.attack_steps, "eval_every": pipe.s.eval_every,
            "pretrained_samples": pipe.pretrained_samples, "n_forget": pipe.s.n_forget, "n_retain_per_class": pipe.s.n_retain,
            "sampler": f"DDIM eta=0, {pipe.sample.steps} steps, guidance w={pipe.sample.guidance}",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
                       f"device {pipe.device}"}


def recorded_minutes(rows) -> dict:
    """Compute time stored in the cached stages (whichever invocation ran them), summed over rows and seeds."""
    total = {"unlearning": 0.0, "evaluation": 0.0, "attacks": 0.0}
    for per_seed in rows.values():
        for r in per_seed.values():
            total["unlearning"] += r.get("unlearn_seconds") or 0.0
            total["evaluation"] += r.get("eval_seconds") or 0.0
            total["attacks"] += sum(r[k]["seconds"] for k in r if k.startswith("dimra_"))
    return {k: v / 60 for k, v in total.items()}


def header(pipe, seconds, argv, title, rows):
    s = pipe.s
    rec = recorded_minutes(rows)
    return [f"# {title}: {s.preset}, forget class {pipe.f}", "",
            f"Command: `python reproduce.py {argv}`  ",
            f"Wall clock: {seconds / 60:.1f} min for this invocation, which reused the stages that earlier "
            f"invocations had finished. Time recorded in the stages: unlearning {rec['unlearning']:.0f} min, "
            f"evaluation {rec['evaluation']:.0f} min, attacks {rec['attacks']:.0f} min (summed over rows and "
            f"seeds; pre-training and Retrain not included).  ",
            f"Seeds: {', '.join(map(str, s.seeds))}. The pre-trained and Retrain models are trained once "
            f"(seed 0) and shared by the seeds; the seeds vary unlearning, the attack and sampling.  ",
            f"Judge: test accuracy {pipe.judge_acc:.4f} on the real test split. Sampler: DDIM (eta = 0), "
            f"{pipe.sample.steps} steps, guidance w = {pipe.sample.guidance}. forget_acc: {s.n_forget} samples "
            f"of class {pipe.f}; retain_acc and cFID: {s.n_retain} samples of each retained class "
            f"(cFID = Frechet distance of the judge's penultimate features to the real test images of "
            f"the retained classes, not Inception FID).  ",
            f"Pre-trained model: the judge classifies {pipe.pretrained_samples['accuracy']:.1%} of its samples "
            f"correctly ({pipe.pretrained_samples['n_per_class']} a class; grid: pretrained.png).", ""]


def write_main(pipe, rows, variants, seconds, argv):
    os.makedirs(pipe.results, exist_ok=True)
    steps = pipe.s.attack_steps
    mid = 100 if steps >= 100 else steps
    lines = header(pipe, seconds, argv, "DiMRA vs. unlearning", rows)
    lines += [f"| model | forget_acc after unlearning | DiMRA-retain @{mid} / @{steps} | verdict | "
              f"DiMRA-mixed @{mid} / @{steps} | verdict | retain_acc | cFID (retained) | "
              f"‖θ−θ₀‖ after unlearning / after DiMRA-retain |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for v in variants:
        rs = list(rows[v.name].values())
        cells = [LABELS.get(v.name, v.name), fmt([r["forget_acc"] for r in rs])]
        for aux in ("retain", "mixed"):
            if f"dimra_{aux}" not in rs[0]:
                cells += ["—", ""]
                continue
            cs = [r[f"dimra_{aux}"]["curve"] for r in rs]
            cells += [f"{fmt([at_step(c, mid) for c in cs])} / {fmt([at_step(c, steps) for c in cs])}",
                      verdict(rows, v.name, aux)]
        cells += [fmt([r["retain_acc"] for r in rs]), fmt([r["cfid"] for r in rs], 1),
                  f"{fmt([r['distance'] for r in rs])} / "
                  f"{fmt([r['dimra_retain']['distance'] for r in rs]) if 'dimra_retain' in rs[0] else '—'}"]
        lines.append("| " + " | ".join(cells) + " |")
    n_mixed = next(iter(rows["retrain"].values()))["dimra_mixed"]
    lines += ["", f"DiMRA: lr {n_mixed['attack']['lr']}, batch {n_mixed['attack']['batch_size']}, "
              f"{steps} steps, label dropout {n_mixed['attack']['p_uncond']}; 'retain' = {next(iter(rows['retrain'].values()))['dimra_retain']['n_aux']} held-out "
              f"images of the other classes (none of class {pipe.f}); 'mixed' = the same plus "
              f"{n_mixed['n_aux_forget']} held-out images of class {pipe.f} ({n_mixed['n_aux']} in all). "
              f"Values are mean ± sd over seeds. Unlearning settings: see results.json 'settings'.", ""]
    with open(os.path.join(pipe.results, "table.md"), "w") as f:
        f.write("\n".join(lines))
    data = {"settings": _settings(pipe), "stage_seconds": pipe.timing, "wall_seconds": seconds,
            "rows": {k: {str(s): r for s, r in v.items()} for k, v in rows.items()}}
    with open(os.path.join(pipe.results, "results.json"), "w") as f:
        json.dump(data, f, indent=1)
    plot_recovery(rows, [v.name for v in variants], os.path.join(pipe.results, "recovery.png"), pipe.f)
    plot_losses(rows, [v.name for v in variants], os.path.join(pipe.results, "unlearn_loss.png"))
    plot_forget_samples(pipe, [v.name for v in variants], os.path.join(pipe.results, "forget_samples.png"))


def plot_forget_samples(pipe, names, path):
    """Row 1 of each saved grid (10 samples of class f, first seed): after unlearning and after each attack."""
    folder = os.path.join(pipe.results, "grids", f"seed{pipe.s.seeds[0]}")
    stages = [("unlearned", "after unlearning"), ("dimra-retain", "after DiMRA-retain"),
              ("dimra-mixed", "after DiMRA-mixed")]
    size = pipe.cfg.image_size + 2      # one image and its 1 px padding on each side
    fig, axes = plt.subplots(len(names), 3, figsize=(9, 0.75 * len(names) + 0.6), squeeze=False)
    for i, name in enumerate(names):
        for j, (stage, title) in enumerate(stages):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            file = os.path.join(folder, f"{name}-{stage}.png")
            if os.path.exists(file):
                ax.imshow(plt.imread(file)[:size], cmap="gray")
            else:
                ax.text(0.5, 0.5, "not attacked", ha="center", va="center", transform=ax.transAxes)
            if i == 0:
                ax.set_title(title)
            if j == 0:
                ax.set_ylabel(LABELS.get(name, name), rotation=0, ha="right", va="center")
    fig.suptitle(f"Samples of the forgotten class {pipe.f} (seed {pipe.s.seeds[0]})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_recovery(rows, names, path, f):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, aux in zip(axes, ("retain", "mixed")):
        for name in names:
            rs = list(rows[name].values())
            if f"dimra_{aux}" not in rs[0]:
                continue
            steps = rs[0][f"dimra_{aux}"]["curve"]["step"]
            accs = torch.tensor([r[f"dimra_{aux}"]["curve"]["forget_acc"] for r in rs])
            m, sd = accs.mean(0), (accs.std(0) if len(rs) > 1 else torch.zeros(len(steps)))
            ls = "--" if name in ("retrain", "pretrained") else "-"
            ax.plot(steps, m, ls, marker="o", ms=3, color=COLORS.get(name), label=LABELS.get(name, name))
            ax.fill_between(steps, m - sd, m + sd, color=COLORS.get(name), alpha=0.15)
        ax.set_title(f"DiMRA-{aux}: " + ("no image of class %d in D_aux" % f if aux == "retain"
                                          else "D_aux includes class %d" % f))
        ax.set_xlabel("attack step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"forget_acc (judge accuracy on class-{f} samples)")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Recovery of the forgotten class under DiMRA (mean ± sd over {len(rs)} seed(s))")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_losses(rows, names, path):
    methods = [n for n in names if "unlearn_loss" in next(iter(rows[n].values()))]
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.2), squeeze=False)
    for ax, name in zip(axes[0], methods):
        for seed, r in rows[name].items():
            ax.plot(r["unlearn_loss"], color=COLORS.get(name), alpha=0.6, lw=0.8, label=f"seed {seed}")
        ax.set_title(f"{LABELS.get(name, name)} unlearning loss")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("loss")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_ablation(pipe, rows, variants, seconds, argv):
    os.makedirs(pipe.results, exist_ok=True)
    steps = pipe.s.attack_steps
    mid = 100 if steps >= 100 else steps
    lines = header(pipe, seconds, argv, "Ablation (one seed)", rows)
    lines += [f"| variant | factor | forget_acc after unlearning | DiMRA-retain @{mid} / @{steps} | "
              f"DiMRA-mixed @{mid} / @{steps} | retain_acc | cFID | ‖θ−θ₀‖ |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    base = [("pretrained", "reference"), ("retrain", "reference"), ("ga", "headline"), ("esd", "headline"),
            ("salun", "headline"), ("dimum", "headline")]
    for name, factor in base + [(v.name, v.factor) for v in variants]:
        r = next(iter(rows[name].values()))
        cells = [name, factor, f"{r['forget_acc']:.2f}"]
        for aux in ("retain", "mixed"):
            c = r.get(f"dimra_{aux}")
            if c is None:
                cells.append("—")
            else:
                share = c["n_aux_forget"] / c["n_aux"]
                extra = f" (f share {share:.0%})" if aux == "mixed" else ""
                cells.append(f"{at_step(c['curve'], mid):.2f} / {at_step(c['curve'], steps):.2f}{extra}")
        cells += [f"{r['retain_acc']:.2f}", f"{r['cfid']:.1f}", f"{r['distance']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Each variant changes one setting of its headline method (unlearn/run.py DEFAULTS) or of "
              "the attack (attack/dimra.py DiMRAConfig); '—': that attack was not run for the variant.", ""]
    with open(os.path.join(pipe.results, "ablation.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(pipe.results, "ablation.json"), "w") as f:
        json.dump({"settings": _settings(pipe), "wall_seconds": seconds,
                   "rows": {k: {str(s): r for s, r in v.items()} for k, v in rows.items()}}, f, indent=1)
