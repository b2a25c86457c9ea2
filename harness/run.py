"""One whole run: check every row's settings, prepare the shared models, compute the rows (in worker
processes when there are several), write the table and figures. reproduce.py is its command line;
the research scripts (python -m harness.research.attack_sweep, ...) and the notebook call the parts they need.
"""
import os
import shutil
import time
from dataclasses import asdict, replace

import torch

from ddpm.errors import UserError
from lab.hardware import PRECISIONS, pick_device
from unlearn import METHODS
from unlearn.run import make_settings, settings_dict

from . import stages
from .pipeline import HIDDEN, Pipeline
from .settings import ABLATION, CONTROLS, Settings, Variant, main_variants, retrain_config
from .tables import write_ablation, write_main
from .workers import Eta, children_peak_mb, default_workers, run_parallel

EVAL_STEPS = 70    # a row's evaluation costs about 70 training steps (15 s vs 0.22 s a step, docs/benchmarks.md)


def choose_rows(methods: str | None = None, ablation: bool = False, variants: str | None = None,
                control: bool = False, controls: bool = False):
    """(rows, ablation rows) named by reproduce.py's --methods, --ablation, --variants, --positive-control
    and --controls (the CONTROLS rows after the headline ones, every seed)."""
    names = None
    if methods:
        names = [m.strip() for m in methods.split(",") if m.strip()]
        unknown = [m for m in names if m not in METHODS]
        if unknown:
            raise UserError(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(METHODS)}")
    if controls and ablation:
        raise UserError("--controls and --ablation are two tables: run them one after the other")
    if not ablation:
        return main_variants(names, control) + (CONTROLS if controls else []), []
    wanted = variants.split(",") if variants else None
    chosen = [v for v in ABLATION if not wanted or v.name in wanted]
    if wanted and len(chosen) < len(wanted):
        raise UserError(f"unknown variant in --variants {variants}: choose from {', '.join(v.name for v in ABLATION)}")
    return main_variants() + chosen, chosen


def row_cost(pipe: Pipeline, v: Variant, seed: int) -> float:
    """A row's work in training steps, for the time-left estimate: its unlearning, its evaluation
    (its sampling costs about as much as EVAL_STEPS training steps), and its attacks."""
    us = pipe.settings(v, seed)
    own_model = not v.model and (v.unlearn or not v.attack)      # rows that share a model add attacks only
    return ((us.steps if us and own_model else 0) + (EVAL_STEPS if own_model else 0)
            + sum(pipe.attack_config(a).steps for a in pipe.attacks_of(v)))


def run_rows_in_worker(s: Settings, device: str, variants: list, seed: int) -> dict:
    """One worker's share: some rows of one seed (their stages land in the stage cache). Returns
    the stage timings for the parent's report."""
    pipe = Pipeline(s, torch.device(device))
    pipe.prepare()
    for v in variants:
        pipe.run_variant(v, seed)
    return pipe.timing


def compute_in_workers(pipe: Pipeline, variants: list[Variant], seeds, workers: int) -> None:
    """Every stage of these rows and seeds, computed in `workers` processes (rows that share a model,
    and so its files, stay in one worker; the longest first, so that no worker is left alone with a
    long row at the end)."""
    if pipe.s.fresh:           # the workers redo every stage of these seeds; the caller only reads them
        for seed in seeds:
            shutil.rmtree(pipe.folder(seed), ignore_errors=True)
        pipe.s = replace(pipe.s, fresh=False)
    groups = {}
    for seed in seeds:
        for v in variants:
            groups.setdefault((seed, pipe.key(v)), []).append(v)

    def work(group):           # unlearning steps, then attacks
        (seed, _), vs = group
        us = pipe.settings(vs[0], seed)
        return (us.steps if us else 0) + sum(len(pipe.attacks_of(v)) for v in vs)

    quiet = replace(pipe.s, progress=False)
    ordered = sorted(groups.items(), key=work, reverse=True)
    calls = [(run_rows_in_worker, (quiet, str(pipe.device), vs, seed)) for (seed, _), vs in ordered]
    done = run_parallel(calls, workers, pipe.s.progress, f"rows ({workers} workers)",
                        work=[sum(row_cost(pipe, v, seed) for v in vs) for (seed, _), vs in ordered])
    pipe.worker_peak_mb = children_peak_mb()
    for timing in done:
        for k, seconds in timing.items():
            pipe.timing[k] = pipe.timing.get(k, 0.0) + seconds


def run_rows(pipe: Pipeline, variants: list[Variant], seeds, workers: int = 1) -> dict:
    """rows[name][seed] for every row and seed. With workers > 1, worker processes compute the
    stages first, and the loop below reads them back from the stage cache."""
    if workers > 1:
        compute_in_workers(pipe, variants, seeds, workers)
    rows = {v.name: {} for v in variants}
    eta = Eta(sum(row_cost(pipe, v, seed) for v in variants for seed in seeds), "rows")
    for seed in seeds:                 # seed by seed: a stopped run leaves whole seeds behind
        for v in variants:
            rows[v.name][seed] = pipe.run_variant(v, seed)
            if workers == 1 and pipe.s.progress:
                eta.update(row_cost(pipe, v, seed))
    return rows


def run_info(pipe) -> dict:
    """Plain data for harness/tables.py: every setting the tables and figures state."""
    s = pipe.s
    return {"preset": s.preset, "smoke": s.smoke, "forget_class": pipe.f, "seeds": list(s.seeds),
            "retrain_per_seed": True, "ddpm_config": pipe.cfg.to_dict(), "judge_config": asdict(pipe.judge_cfg),
            "judge_test_acc": pipe.judge_acc, "pretrained_samples": pipe.pretrained_samples,
            "knn_judge": {"id": pipe.knn.id, "k": pipe.knn.k, "test_acc": pipe.knn.test_accuracy(pipe.splits["test"])},
            "unlearn_defaults": {m: settings_dict(m, make_settings(m, forget_class=pipe.f)) for m in METHODS},
            "attack": pipe.attack_config("dimra_retain").to_dict(),
            "attacks": {a: pipe.attack_config(a).to_dict() for a in s.attacks},
            "retrain_seeds": {seed: retrain_config(pipe.cfg, pipe.f, seed).seed for seed in s.seeds},
            "n_forget": s.n_forget, "n_retain_per_class": s.n_retain, "n_after_per_class": s.n_after,
            "sampler": asdict(pipe.sample),
            "environment": {**stages.environment(pipe.device, s.precision), "machine": f"{os.cpu_count()} CPU cores",
                            "workers": pipe.workers, "worker_peak_mb": pipe.worker_peak_mb},
            "results_dir": pipe.results, "image_size": pipe.cfg.image_size, "stage_seconds": pipe.timing}



def run(s: Settings, device: torch.device, variants: list[Variant], ablation: list[Variant] | None = None,
        workers: int | None = None, argv_text: str = "") -> str:
    """The whole run; returns the path of the table it wrote (ablation.md with `ablation` rows, which
    run on the first seed only; table.md otherwise)."""
    t0 = time.time()
    pipe = Pipeline(s, device)
    variants = [v for v in variants if v.method != HIDDEN or pipe.needs_hidden()]
    seeds = s.seeds[:1] if ablation else s.seeds
    for v in variants:                 # every row's settings are checked before any work
        for seed in seeds:
            pipe.settings(v, seed)
    workers = pipe.workers = workers or default_workers(pipe.device, s.smoke)
    pipe.prepare(workers)
    rows = run_rows(pipe, variants, seeds, workers)
    if ablation:
        write_ablation(run_info(pipe), rows, [(v.name, v.factor) for v in ablation], time.time() - t0, argv_text)
        return os.path.join(pipe.results, "ablation.md")
    write_main(run_info(pipe), rows, [v.name for v in variants], time.time() - t0, argv_text)
    return os.path.join(pipe.results, "table.md")


def add_run_arguments(p) -> None:
    """The options that name a reproduce.py run, for the scripts that read its models and stages
    (python -m harness.research.basin, .rejudge, .attack_sweep): give them as that run was given them."""
    p.add_argument("--preset", default="mnist5k-quick")
    p.add_argument("--tag", default="", help="the --tag of the reproduce.py run to read")
    p.add_argument("--forget-class", type=int, default=0)
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the run (its samples depend on it)")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="= --precision bf16")
    p.add_argument("--from-scratch", action="store_true", help="as the run (its models and judge)")
    p.add_argument("--smoke", action="store_true", help="read the models of `reproduce.py --smoke`")
    p.add_argument("--device")


def run_pipeline(a, seeds, **settings) -> Pipeline:
    """The Pipeline of the run named by add_run_arguments' options (not prepared yet)."""
    return Pipeline(Settings(preset=a.preset, seeds=tuple(seeds), forget_class=a.forget_class, tag=a.tag,
                             precision=a.precision, from_scratch=a.from_scratch, smoke=a.smoke, **settings),
                    pick_device(a.device))
