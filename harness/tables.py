"""Turn the rows of a run into results/<preset>[-<tag>]/: table.md, results.json (figures: harness/figures.py).

Everything here takes plain data: `info` (a dict of the run's settings, see harness.pipeline.Pipeline.info)
and `rows` ({row name: {seed: row dict}}), so a notebook can call the same functions.

Verdict of a row under an attack (docs/design.md): compare its recovery curve with Retrain's under
the same auxiliary set and budget, by the area under the curve (the mean forget_acc over the
measured steps, step 0 included), averaged over seeds:
    resists      AUC <= AUC_retrain + 0.05
    reversed     AUC >  AUC_retrain + max(0.05, 2 * sqrt(sd^2 + sd_retrain^2))   (clearly faster)
    partly       in between
A model that diverged (NaN/inf) is never scored: its cells say so.
"""
import json
import os
import statistics


from metrics.knn import DISAGREE
from unlearn import METHODS

from .figures import plot_forget_samples, plot_losses, plot_recovery
from .rows import at_step, attacked, fmt, label, mean_sd, middle_step

def auc(curve) -> float:
    """Area under a recovery curve: the mean forget_acc over its measured steps, step 0 included."""
    return statistics.fmean(curve["forget_acc"])


def verdict(aucs: list, retrain_aucs: list, margin: float = 0.05) -> str:
    """Compare a row's recovery-curve areas (one a seed) with Retrain's under the same attack.

        resists   mean <= mean_retrain + margin
        reversed  mean >  mean_retrain + max(margin, 2 * sqrt(sd^2 + sd_retrain^2))   (clearly faster)
        partly    in between
    """
    (m, sd), (mr, sdr) = mean_sd(aucs), mean_sd(retrain_aucs)
    if m is None or mr is None:
        return ""
    if m <= mr + margin:
        return "resists"
    return "reversed" if m > mr + max(margin, 2 * (sd ** 2 + sdr ** 2) ** 0.5) else "partly"


def row_verdict(rows, name, aux):
    """verdict() of row `name` under attack `aux`, from the per-seed rows of reproduce.py."""
    if name == "retrain":
        return ""
    mine = [auc(a["curve"]) for a in attacked(list(rows[name].values()), aux)]
    ref = [auc(a["curve"]) for a in attacked(list(rows["retrain"].values()), aux)]
    return verdict(mine, ref) if mine and ref else ""


def check_same_settings(rows, name, aux) -> None:
    """A column holds one setting: refuse to put attacks run with different settings side by side."""
    settings = {attack_id(a) for a in attacked(list(rows[name].values()), aux)}
    if len(settings) > 1:
        raise ValueError(f"row {name!r}, DiMRA-{aux}: seeds were attacked with different settings {settings}")


def diverged_note(rs: list, seeds: list) -> str:
    bad = [str(seed) for seed, r in zip(seeds, rs) if "diverged" in r]
    return f" (diverged on seed {', '.join(bad)})" if bad else ""


def recorded_minutes(rows) -> dict:
    """Compute time stored in the cached stages (whichever invocation ran them), summed over rows and seeds."""
    total = {"unlearning": 0.0, "evaluation": 0.0, "attacks": 0.0}
    for per_seed in rows.values():
        for r in per_seed.values():
            total["unlearning"] += r.get("unlearn_seconds") or 0.0
            total["evaluation"] += r.get("eval_seconds") or 0.0
            total["attacks"] += sum(r[k]["seconds"] for k in r if k.startswith("dimra_"))
    return {k: v / 60 for k, v in total.items()}


def workers(env: dict) -> str:
    """'2 thread(s)', or '2 worker processes x 1 thread(s)' for reproduce.py --workers 2."""
    n = env.get("workers", 1)
    if n == 1:
        return f"{env['threads']} thread(s)"
    return f"{n} worker processes x {max(1, env['threads'] // n)} thread(s)"


def header(info, seconds, argv, title, rows):
    rec = recorded_minutes(rows)
    smp, env = info["sampler"], info["environment"]
    return [f"# {title}: {info['preset']}, forget class {info['forget_class']}", "",
            f"Command: `python reproduce.py {argv}`  ",
            f"Wall clock: {seconds / 60:.1f} min for this invocation (which reuses the stages earlier invocations "
            f"finished, unless it has --fresh). Time recorded in the stages: unlearning {rec['unlearning']:.0f} min, "
            f"evaluation {rec['evaluation']:.0f} min, attacks {rec['attacks']:.0f} min (summed over rows and "
            f"seeds; pre-training and Retrain not included).  ",
            f"Environment: torch {env['torch']}, {workers(env)}, device {env['device']}, "
            f"{env.get('precision', 'float32')}, {env['machine']} (the same seed gives the same numbers with the "
            f"same torch, thread count per process, device and precision).  ",
            f"Seeds: {', '.join(map(str, info['seeds']))}. The pre-trained and Retrain models are trained once "
            f"(seed 0) and shared by the seeds; the seeds vary unlearning, the attack and sampling.  ",
            f"Judge: test accuracy {info['judge_test_acc']:.4f} on the real test split. Sampler: DDIM (eta = 0), "
            f"{smp['steps']} steps, guidance w = {smp['guidance']}. forget_acc: {info['n_forget']} samples "
            f"of class {info['forget_class']}; retain_acc and cFID: {info['n_retain_per_class']} samples of each "
            f"retained class (cFID = Frechet distance of the judge's penultimate features to the real test "
            f"images of the retained classes, not Inception FID).  ",
            f"Pre-trained model: the judge classifies {info['pretrained_samples']['accuracy']:.1%} of its samples "
            f"correctly ({info['pretrained_samples']['n_per_class']} a class; grid: pretrained.png).", ""]


def second_judge(ok: list, name: str, flagged: list) -> str:
    """' (kNN 0.12)' after a forget_acc cell, with ⚑ (and `name` added to `flagged`) when the two
    judges' mean forget_acc differ by more than DISAGREE. Empty for results without the second judge."""
    knn = [r["forget_acc_knn"] for r in ok if "forget_acc_knn" in r]
    if not knn or len(knn) != len(ok):
        return ""
    gap = abs(statistics.mean(knn) - statistics.mean(r["forget_acc"] for r in ok))
    if gap > DISAGREE:
        flagged.append(label(name))
    return f" ({fmt(knn)}{' ⚑' if gap > DISAGREE else ''})"


def write_main(info, rows, names, seconds, argv):
    """table.md, results.json and the figures of the headline table; `names` are the rows in order."""
    out = info["results_dir"]
    os.makedirs(out, exist_ok=True)
    steps, mid = info["attack"]["steps"], middle_step(info["attack"])
    seeds = info["seeds"]
    lines = header(info, seconds, argv, "DiMRA vs. unlearning", rows)
    flagged = []
    lines += [f"| model | forget_acc after unlearning (kNN judge) | DiMRA-retain @{mid} / @{steps} | verdict | "
              f"DiMRA-mixed @{mid} / @{steps} | verdict | retain_acc | cFID (retained) | "
              f"‖θ−θ₀‖ after unlearning / after DiMRA-retain |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in names:
        rs = [rows[name][seed] for seed in seeds]
        if all("diverged" in r for r in rs):
            lines.append(f"| {label(name)} | diverged: {rs[0]['diverged']} | — | | — | | — | — | "
                         f"{fmt([r['distance'] for r in rs])} / — |")
            continue
        ok = [r for r in rs if "diverged" not in r]
        cells = [label(name) + diverged_note(rs, seeds), fmt([r["forget_acc"] for r in ok]) + second_judge(ok, name, flagged)]
        for aux in ("retain", "mixed"):
            if not any(f"dimra_{aux}" in r for r in ok):
                cells += ["—", ""]
                continue
            check_same_settings(rows, name, aux)
            cs = [a["curve"] for a in attacked(ok, aux)]
            n_bad = len([r for r in ok if f"dimra_{aux}" in r]) - len(cs)
            note = f" (attack diverged on {n_bad} seed(s))" if n_bad else ""
            cells += [f"{fmt([at_step(c, mid) for c in cs])} / {fmt([at_step(c, steps) for c in cs])}{note}",
                      row_verdict(rows, name, aux)]
        after = [a["distance"] for a in attacked(ok, "retain")]
        cells += [fmt([r["retain_acc"] for r in ok]), fmt([r["cfid"] for r in ok], 1),
                  f"{fmt([r['distance'] for r in ok])} / {fmt(after) if after else '—'}"]
        lines.append("| " + " | ".join(cells) + " |")
    ref = rows["retrain"][seeds[0]]
    a = info["attack"]
    lines += ["", f"DiMRA: lr {a['lr']}, batch {a['batch_size']}, {steps} steps, label dropout {a['p_uncond']}; "
              f"'retain' = {ref['dimra_retain']['n_aux']} held-out images of the other classes (none of class "
              f"{info['forget_class']}); 'mixed' = the same plus {ref['dimra_mixed']['n_aux_forget']} held-out "
              f"images of class {info['forget_class']} ({ref['dimra_mixed']['n_aux']} in all). Values are "
              f"mean ± sd over seeds. Unlearning settings: results.json, each row's 'unlearn_config'.", ""]
    if "knn_judge" in info:
        k = info["knn_judge"]
        lines += [f"forget_acc is counted by the CNN judge, and in brackets by a second judge of another family: "
                  f"the majority label of the {k['k']} most similar real training images (cosine of the ink "
                  f"images; test accuracy {k['test_acc']:.4f}). The verdicts use the CNN judge. "
                  + (f"⚑ marks rows where the two differ by more than {DISAGREE}: {', '.join(flagged)}; their "
                     f"samples are in forget_samples.png and grids/." if flagged else
                     f"No row's two counts differ by more than {DISAGREE}."), ""]
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(lines))
    data = {"settings": info, "wall_seconds": seconds,
            "rows": {k: {str(s): r for s, r in v.items()} for k, v in rows.items()}}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(data, f, indent=1)
    plot_recovery(rows, names, os.path.join(out, "recovery.png"), info["forget_class"])
    plot_losses(rows, names, os.path.join(out, "unlearn_loss.png"))
    plot_forget_samples(os.path.join(out, "grids", f"seed{seeds[0]}"), names, os.path.join(out, "forget_samples.png"),
                        info["forget_class"], info["image_size"], seeds[0])


def attack_id(a: dict) -> str:
    """An attack's settings without its seed: which Retrain curve a row is compared with."""
    return json.dumps({k: v for k, v in a["attack"].items() if k != "seed"}, sort_keys=True)


def retrain_references(rows) -> dict:
    """{(aux, attack settings): Retrain's curve}, from every Retrain row (the headline one and the
    ablation's 'retrain-...' rows with another attack)."""
    refs = {}
    for name, per_seed in rows.items():
        if name == "retrain" or name.startswith("retrain-"):
            r = next(iter(per_seed.values()))
            for aux in ("retain", "mixed"):
                a = r.get(f"dimra_{aux}")
                if a and "diverged" not in a:
                    refs[(aux, attack_id(a))] = a["curve"]
    return refs


def write_ablation(info, rows, variants, seconds, argv):
    """ablation.md / ablation.json: one seed, each variant beside the headline rows; `variants` is a
    list of (name, what it varies)."""
    out = info["results_dir"]
    os.makedirs(out, exist_ok=True)
    steps, mid = info["attack"]["steps"], middle_step(info["attack"])
    lines = header(info, seconds, argv, "Ablation (one seed)", rows)
    lines += [f"| variant | factor | forget_acc after unlearning | DiMRA-retain @{mid} / @{steps} | "
              f"DiMRA-mixed @{mid} / @{steps} | retain_acc | cFID | ‖θ−θ₀‖ |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    refs = retrain_references(rows)
    base = [("pretrained", "reference"), ("retrain", "reference")] + [(m, "headline") for m in METHODS]
    for name, factor in base + list(variants):
        r = next(iter(rows[name].values()))
        if "diverged" in r:
            lines.append(f"| {name} | {factor} | diverged: {r['diverged']} | — | — | — | — | {r['distance']:.2f} |")
            continue
        cells = [name, factor, f"{r['forget_acc']:.2f}"]
        for aux in ("retain", "mixed"):
            c = r.get(f"dimra_{aux}")
            if c is None:
                cells.append("—")
            elif "diverged" in c:
                cells.append("attack diverged")
            else:
                share = c["n_aux_forget"] / c["n_aux"]
                extra = f" (f share {share:.0%})" if aux == "mixed" else ""
                ref = refs.get((aux, attack_id(c)))
                judged = f", {verdict([auc(c['curve'])], [auc(ref)])}" if ref and not name.startswith("retrain") else ""
                cells.append(f"{at_step(c['curve'], mid):.2f} / {at_step(c['curve'], steps):.2f}{extra}{judged}")
        cells += [f"{r['retain_acc']:.2f}", f"{r['cfid']:.1f}", f"{r['distance']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Each variant changes one setting of its headline method (its Settings in unlearn/<method>.py) "
              "or of the attack (attack/dimra.py DiMRAConfig); '—': that attack was not run for the variant. "
              "The verdict after a cell compares its recovery curve with Retrain's under the same attack "
              "settings (one seed: no spread, so resists or reversed by the 0.05 margin).", ""]
    with open(os.path.join(out, "ablation.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out, "ablation.json"), "w") as f:
        json.dump({"settings": info, "wall_seconds": seconds,
                   "rows": {k: {str(s): r for s, r in v.items()} for k, v in rows.items()}}, f, indent=1)
