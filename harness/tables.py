"""Turn the rows of a run into results/<preset>[-<tag>]/: table.md, results.json (figures: harness/figures.py).

Everything here takes plain data: `info` (a dict of the run's settings, see harness.pipeline.Pipeline.info)
and `rows` ({row name: {seed: row dict}}), so a notebook can call the same functions, and a committed
results.json can be turned into its table again with the current rule:

    python -m harness.tables results/mnist5k-quick-bf16/results.json     # rewrites table.md beside it

Each attack column's verdict compares the row with Retrain under the same attack, with the effect
and its 95 % interval under each judge (harness/decisions.py, metrics/verdict.py). A model that
diverged (NaN/inf) is never scored: its cells say so.
"""
import json
import os
import re
import statistics
import sys

from metrics.knn import DISAGREE
from unlearn import METHODS

from .decisions import attack_id, horizon_of, reference_row, rule_text
from .delay import delay_lines
from .validity import cell_text, dependent_seeds
from .validity import cells as gated
from .figures import plot_forget_samples, plot_losses, plot_recovery
from .rows import at_step, attack_label, attacked, fmt, label, middle_step
from .settings import ABLATION


def check_same_settings(rows, name, aux) -> None:
    """A column holds one setting: refuse to put attacks run with different settings side by side."""
    settings = {attack_id(a) for a in attacked(list(rows[name].values()), aux)}
    if len(settings) > 1:
        raise ValueError(f"row {name!r}, {aux}: seeds were attacked with different settings {settings}")


def diverged_note(rs: list, seeds: list) -> str:
    bad = [str(seed) for seed, r in zip(seeds, rs) if "diverged" in r]
    return f" (diverged on seed {', '.join(bad)})" if bad else ""


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




def recorded_minutes(rows) -> dict:
    """Compute time stored in the cached stages (whichever invocation ran them), summed over rows and seeds."""
    total = {"unlearning": 0.0, "evaluation": 0.0, "attacks": 0.0}
    for per_seed in rows.values():
        for r in per_seed.values():
            total["unlearning"] += r.get("unlearn_seconds") or 0.0
            total["evaluation"] += r.get("eval_seconds") or 0.0
            total["attacks"] += sum(v["seconds"] for v in r.values() if isinstance(v, dict) and "curve" in v)
    return {k: v / 60 for k, v in total.items()}


def workers(env: dict) -> str:
    """'2 thread(s)', or '2 worker processes x 1 thread(s)' for reproduce.py --workers 2."""
    n = env.get("workers", 1)
    if n == 1:
        return f"{env['threads']} thread(s)"
    return f"{n} worker processes x {max(1, env['threads'] // n)} thread(s)"


def legacy(info: dict, rows: dict) -> dict:
    """Settings of a results.json written before 2026-11-29 in the current layout: the sampler was one
    string ('DDIM eta=0, 20 steps, guidance w=2.0') and the attack setting lived only in each row."""
    if "attack" in info or "attacks" in info:
        return info
    steps, w = re.search(r"(\d+) steps, guidance w=([\d.]+)", info["sampler"]).groups()
    first = next(a["attack"] for per_seed in rows.values() for r in per_seed.values()
                 for a in r.values() if isinstance(a, dict) and "curve" in a)
    return {**info, "sampler": {"steps": int(steps), "guidance": float(w)}, "attack": first}


def header(info, seconds, argv, title, rows):
    rec = recorded_minutes(rows)
    smp, env = info["sampler"], info.get("environment", {})
    own = info.get("retrain_seeds")
    retrain = ("The pre-trained model is trained once (seed 0) and shared by the seeds; Retrain is trained once a "
               + (f"seed, with its own seed ({', '.join(f'{s}: {r}' for s, r in own.items())})" if own else
                  "seed, with that seed") if info.get("retrain_per_seed") else
               "The pre-trained and Retrain models are trained once (seed 0) and shared by the seeds")
    peak = f", {env['worker_peak_mb']:.0f} MB peak a worker" if env.get("worker_peak_mb") else ""
    return [f"# {title}: {info['preset']}, forget class {info['forget_class']}", "",
            f"Command: `python reproduce.py {argv}`  ",
            f"Wall clock: {seconds / 60:.1f} min for this invocation (which reuses the stages earlier invocations "
            f"finished, unless it has --fresh). Time recorded in the stages: unlearning {rec['unlearning']:.0f} min, "
            f"evaluation {rec['evaluation']:.0f} min, attacks {rec['attacks']:.0f} min (summed over rows and "
            f"seeds; pre-training and Retrain not included).  ",
            (f"Environment: torch {env['torch']}, {workers(env)}{peak}, device {env['device']}, "
             f"{env.get('precision', 'float32')}, {env['machine']} (the same seed gives the same numbers with the "
             f"same torch, thread count per process, device and precision).  " if env else
             "Environment: not recorded by this older run (see the stage files under runs/).  "),
            f"Seeds: {', '.join(map(str, info['seeds']))}. {retrain}; the seeds vary unlearning, the attack and "
            f"sampling.  ",
            f"Judge: test accuracy {info['judge_test_acc']:.4f} on the real test split. Sampler: DDIM (eta = 0), "
            f"{smp['steps']} steps, guidance w = {smp['guidance']}. forget_acc: {info['n_forget']} samples "
            f"of class {info['forget_class']}; retain_acc and cFID: {info['n_retain_per_class']} samples of each "
            f"retained class (cFID = Frechet distance of the judge's penultimate features to the real test "
            f"images of the retained classes, not Inception FID).  ",
            f"Pre-trained model: the judge classifies {info['pretrained_samples']['accuracy']:.1%} of its samples "
            f"correctly ({info['pretrained_samples']['n_per_class']} a class; grid: pretrained.png).", ""]


def attacks_of(rows: dict) -> list:
    """The attack columns of a run: the attack results its rows hold, in a fixed order."""
    names = {k for per_seed in rows.values() for r in per_seed.values() for k, v in r.items()
             if isinstance(v, dict) and "curve" in v}
    order = ["dimra_retain", "dimra_mixed"]
    return [a for a in order if a in names] + sorted(names - set(order))


def curve_cells(ok: list, attack: str, mid: int, steps: int) -> str:
    """'0.42 / 0.61 (kNN 0.50 / 0.70)': forget_acc at the middle and the last step, over the seeds."""
    cs = [a["curve"] for a in attacked(ok, attack)]
    n_bad = len([r for r in ok if attack in r]) - len(cs)
    note = f" (attack diverged on {n_bad} seed(s))" if n_bad else ""
    text = f"{fmt([at_step(c, mid) for c in cs])} / {fmt([at_step(c, steps) for c in cs])}"
    if cs and all("forget_acc_knn" in c for c in cs):
        knn = [{"step": c["step"], "forget_acc": c["forget_acc_knn"]} for c in cs]
        text += f" (kNN {fmt([at_step(c, mid) for c in knn])} / {fmt([at_step(c, steps) for c in knn])})"
    return text + note


def has_uncond(rows: dict) -> bool:
    """Whether the run measured the unconditional branch (reproduce.py --uncond N)."""
    return any("uncond_share" in r for per_seed in rows.values() for r in per_seed.values())


def main_row(info, rows, name, attacks, flagged) -> str:
    seeds = info["seeds"]
    rs = [rows[name][seed] for seed in seeds]
    if all("diverged" in r for r in rs):
        return (f"| {label(name)} | diverged: {rs[0]['diverged']} | " + "— | | " * len(attacks)
                + "— | " * has_uncond(rows) + f"— | — | {fmt([r['distance'] for r in rs])} / — |")
    ok = [r for r in rs if "diverged" not in r]
    cells = [label(name) + diverged_note(rs, seeds), fmt([r["forget_acc"] for r in ok]) + second_judge(ok, name, flagged)]
    for attack in attacks:
        if not any(attack in r for r in ok):
            cells += ["—", ""]
            continue
        check_same_settings(rows, name, attack)
        steps, mid = horizon_of(info, attack), middle_step(attack_settings(info, attack))
        text = cell_text(gated(rows, name, attack, info["n_forget"], steps))
        cells += [curve_cells(ok, attack, mid, steps), text]
        if text.startswith("⚑") and label(name) not in flagged:
            flagged.append(label(name))
    if has_uncond(rows):
        cells.append(fmt([r.get("uncond_share") for r in ok]) + f" ({fmt([r.get('uncond_share_knn') for r in ok])})")
    after = [a["distance"] for a in attacked(ok, attacks[0])] if attacks else []
    cells += [fmt([r["retain_acc"] for r in ok]), fmt([r["cfid"] for r in ok], 1),
              f"{fmt([r['distance'] for r in ok])} / {fmt(after) if after else '—'}"]
    return "| " + " | ".join(cells) + " |"


def attack_settings(info: dict, attack: str) -> dict:
    return info["attacks"][attack] if "attacks" in info else info["attack"]


def main_table(info, rows, names, seconds, argv) -> str:
    """The text of table.md."""
    attacks = attacks_of({n: rows[n] for n in names})
    lines = header(info, seconds, argv, "Unlearning vs. attacks", rows)
    flagged = []
    titles = []
    for attack in attacks:
        a = attack_settings(info, attack)
        steps, mid = horizon_of(info, attack), middle_step(a)
        titles += [f"{attack_label(attack)} @{mid} / @{steps}", "verdict (effect vs Retrain [95 % interval])"]
    uncond = ["unconditional samples read as f (kNN)"] if has_uncond(rows) else []
    lines += ["| model | forget_acc after unlearning (kNN judge) | " + " | ".join(titles + uncond) + " | retain_acc | "
              f"cFID (retained) | ‖θ−θ₀‖ after unlearning / after {attack_label(attacks[0]) if attacks else '—'} |",
              "|" + " --- |" * (5 + 2 * len(attacks) + len(uncond))]
    lines += [main_row(info, rows, name, attacks, flagged) for name in names]
    lines += (["", attack_note(info, rows, attacks), ""] + after_attacks(info, rows, names, attacks)
              + delay_lines(info, rows, names, attacks) + memorised(rows, names))
    lines += [rule_text(info["n_forget"], max((horizon_of(info, a) for a in attacks), default=0), len(info["seeds"])),
              ""]
    if dependent_seeds(info):
        lines += [f"Not independent of the pre-trained model: the Retrain of seed(s) "
                  f"{', '.join(map(str, sorted(dependent_seeds(info))))} was trained with its seed (its initial weights "
                  f"and batches). The verdicts above use them; the findings (docs/findings.md) leave them out.", ""]
    if "knn_judge" in info:
        k = info["knn_judge"]
        lines += [f"The second judge (in brackets) is of another family: the majority label of the {k['k']} most "
                  f"similar real training images (cosine of the ink images; test accuracy {k['test_acc']:.4f}). "
                  + (f"⚑ marks rows where the judges' verdicts or forget_acc (by more than {DISAGREE}) differ: "
                     f"{', '.join(flagged)}; their samples are in forget_samples.png and grids/." if flagged else
                     "No row's two judges disagree."), ""]
    return "\n".join(lines)


def after_attacks(info, rows, names, attacks) -> list[str]:
    """retain_acc / cFID of every attacked model (runs since they are measured): an attack that brings f
    back by breaking the model shows here."""
    have = lambda name, a: [r[a]["after"] for r in rows[name].values()           # noqa: E731
                            if a in r and "after" in r[a] and "diverged" not in r[a]["after"]]
    if not any(have(n, a) for n in names for a in attacks):
        return []
    n = info.get("n_after_per_class", "?")
    lines = [f"After each attack: retain_acc / cFID of the attacked model ({n} samples a retained class, so "
             "cFID is biased upwards against the columns above, which use more samples; compare within this table).", "",
             "| model | " + " | ".join(attack_label(a) for a in attacks) + " |", "|" + " --- |" * (1 + len(attacks))]
    for name in names:
        cells = [f"{fmt([x['retain_acc'] for x in have(name, a)])} / {fmt([x['cfid'] for x in have(name, a)], 1)}"
                 if have(name, a) else "—" for a in attacks]
        lines.append(f"| {label(name)} | " + " | ".join(cells) + " |")
    return lines + [""]


def memorised(rows, names) -> list[str]:
    """DiMUM's memorisation of D_alt: the share of its samples of label f that the judges read as D_alt's class."""
    lines = []
    for name in names:
        rs = [r for r in rows[name].values() if "forget_read_as" in r and (r.get("unlearn_config") or {}).get("method") == "dimum"]
        alt = (rs[0]["unlearn_config"].get("alt") or "").split(":") if rs else []
        if len(alt) < 2 or alt[0] not in ("class", "fixed"):
            continue
        k = int(alt[1])
        share = [r["forget_read_as"][k] / sum(r["forget_read_as"]) for r in rs]
        share_knn = [r["forget_read_as_knn"][k] / sum(r["forget_read_as_knn"]) for r in rs]
        steps = fmt([r["unlearn_steps"] for r in rs], 0)
        lines.append(f"- {label(name)}: {fmt(share)} of its samples of label f read as {k} (kNN {fmt(share_knn)}) "
                     f"after {steps} unlearning steps.")
    return (["DiMUM's memorisation of D_alt (the share of its label-f samples the judges read as D_alt's class; "
             "memorised: 0.90 or more):", ""] + lines + [""]) if lines else []


def attack_note(info, rows, attacks) -> str:
    ref = rows["retrain"][info["seeds"][0]]
    parts = []
    for attack in attacks:
        r = ref.get(attack, {})
        a = {k: v for k, v in r.get("attack", attack_settings(info, attack)).items() if k != "eval_every"}
        held = (f"{r['n_aux']} held-out images, {r.get('n_aux_forget', 0)} of class {info['forget_class']}"
                if "n_aux" in r else "no real images")
        parts.append(f"{attack_label(attack)}: " + ", ".join(f"{k} {v}" for k, v in a.items() if k != "seed")
                     + f" ({held})")
    return ("Attacks: " + "; ".join(parts) + ". Values are mean ± sd over seeds. Unlearning settings: "
            "results.json, each row's 'unlearn_config'.")


def write_main(info, rows, names, seconds, argv):
    """table.md, results.json and the figures of the headline table; `names` are the rows in order."""
    out = info["results_dir"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(main_table(info, rows, names, seconds, argv))
    data = {"settings": info, "wall_seconds": seconds, "argv": argv,
            "rows": {k: {str(s): r for s, r in v.items()} for k, v in rows.items()}}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(data, f, indent=1)
    seeds = info["seeds"]
    plot_recovery(rows, names, os.path.join(out, "recovery.png"), info["forget_class"])
    plot_losses(rows, names, os.path.join(out, "unlearn_loss.png"))
    plot_forget_samples(os.path.join(out, "grids", f"seed{seeds[0]}"), names, os.path.join(out, "forget_samples.png"),
                        info["forget_class"], info["image_size"], seeds[0])


def ablation_cell(info, rows, name, attack, r) -> str:
    """'0.42 / 0.61 (f share 1%), reversed: CNN +0.40 [...]': one variant under one attack, against the
    Retrain row attacked with the same settings."""
    c = r.get(attack)
    if c is None:
        return "—"
    if "diverged" in c:
        return "attack diverged"
    steps, mid = c["attack"]["steps"], middle_step(c["attack"])
    extra = f" (f share {c['n_aux_forget'] / c['n_aux']:.0%})" if c.get("n_aux") and c.get("n_aux_forget") else ""
    ref = reference_row(rows, name, attack)
    judged = cell_text(gated(rows, name, attack, info["n_forget"], steps, ref)) if ref and ref != name else ""
    return f"{at_step(c['curve'], mid):.2f} / {at_step(c['curve'], steps):.2f}{extra}" + (f", {judged}" if judged else "")


def ablation_table(info, rows, variants, seconds, argv) -> str:
    """The text of ablation.md; `variants` is a list of (name, what it varies)."""
    attacks = attacks_of(rows)
    lines = header(info, seconds, argv, "Ablation (one seed)", rows)
    lines += ["| variant | factor | forget_acc after unlearning | " + " | ".join(
                  f"{attack_label(a)} @mid / @end, verdict" for a in attacks) + " | retain_acc | cFID | ‖θ−θ₀‖ |",
              "|" + " --- |" * (6 + len(attacks))]
    base = [("pretrained", "reference"), ("retrain", "reference")] + [(m, "headline") for m in METHODS if m in rows]
    for name, factor in base + list(variants):
        r = next(iter(rows[name].values()))
        if "diverged" in r:
            lines.append(f"| {name} | {factor} | diverged: {r['diverged']} | " + "— | " * len(attacks)
                         + f"— | — | {r['distance']:.2f} |")
            continue
        cells = [name, factor, f"{r['forget_acc']:.2f}"] + [ablation_cell(info, rows, name, a, r) for a in attacks]
        cells += [f"{r['retain_acc']:.2f}", f"{r['cfid']:.1f}", f"{r['distance']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Each variant changes one setting of its headline method (its Settings in unlearn/<method>.py) "
              "or of the attack; '—': that attack was not run for the variant. @mid / @end: forget_acc at the "
              "table's middle step and at the attack's last step. The verdict compares the variant with the "
              "Retrain row attacked with the same settings.", "",
              rule_text(info["n_forget"], info["attack"]["steps"], 1), ""]
    return "\n".join(lines)


def write_ablation(info, rows, variants, seconds, argv):
    """ablation.md / ablation.json: one seed, each variant beside the headline rows."""
    out = info["results_dir"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "ablation.md"), "w") as f:
        f.write(ablation_table(info, rows, variants, seconds, argv))
    with open(os.path.join(out, "ablation.json"), "w") as f:
        json.dump({"settings": info, "wall_seconds": seconds, "argv": argv, "variants": list(map(list, variants)),
                   "rows": {k: {str(s): r for s, r in v.items()} for k, v in rows.items()}}, f, indent=1)


def recorded_argv(folder: str, table: str) -> str:
    """The command of an older table.md (results.json did not record it then)."""
    try:
        with open(os.path.join(folder, table)) as f:
            found = re.search(r"Command: `python reproduce.py ?(.*?)`", f.read())
        return found.group(1) if found else "(not recorded)"
    except OSError:
        return "(not recorded)"


def rewrite(path: str) -> str:
    """Write table.md (or ablation.md) again beside a committed results.json (ablation.json) with the
    current rule; the numbers are the file's. Returns the path written."""
    with open(path) as f:
        data = json.load(f)
    folder, ablation = os.path.dirname(path), os.path.basename(path).startswith("ablation")
    table = "ablation.md" if ablation else "table.md"
    argv = data.get("argv") or recorded_argv(folder, table)
    rows = {name: {int(s): r for s, r in per_seed.items()} for name, per_seed in data["rows"].items()}
    info = legacy(data["settings"], rows)
    if ablation:
        factors = {v.name: v.factor for v in ABLATION}           # older files did not record them
        variants = data.get("variants") or [(n, factors.get(n, "")) for n in rows
                                            if n not in ("pretrained", "retrain", *METHODS)]
        text = ablation_table(info, rows, variants, data["wall_seconds"], argv)
    else:
        text = main_table(info, rows, list(rows), data["wall_seconds"], argv)
    with open(os.path.join(folder, table), "w") as f:
        f.write(text)
    return os.path.join(folder, table)


def main(argv=None) -> int:
    for path in (sys.argv[1:] if argv is None else argv):
        print(f"wrote {rewrite(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
