"""The main job: pre-train -> unlearn one class with every method -> attack with DiMRA -> table + figures.

    python reproduce.py                              # mnist5k-quick, seeds 0 1 2, forget class 0
    python reproduce.py --seeds 0 --methods ga,dimum # one seed, two methods
    python reproduce.py --ablation                   # the ablation table (one seed)
    python reproduce.py --preset mnist --seeds 0     # on a GPU (downloads MNIST once)
    python reproduce.py --smoke                      # tiny sizes: checks the pipeline runs
    python reproduce.py --seeds 0 --bf16 --workers 2 # bf16 autocast, two processes of one thread each

Every stage (unlearning, evaluation, each attack) stores its result under runs/<preset>/ together
with a key: a hash of everything it was computed from (its settings, the weights of the models it
reads, the data split, the judge). A rerun reuses a stage only when the key still matches, so
changing a setting or replacing a model reruns exactly the stages that depend on it; after a
crash or Ctrl-C a rerun continues. --fresh redoes every stage. Results go to results/<preset>/
(results/<preset>-smoke/ with --smoke): table.md, results.json, figures. The pre-trained and
Retrain models are trained once (seed 0) and shared by all seeds; the seeds vary unlearning, the
attack and sampling.

--workers N runs independent stages (pre-training and Retrain; then each seed's rows) in N
processes with (threads / N) torch threads each: on a CPU, one process per core is faster than one
process using every core, and N processes with the default thread count each would fight over the
cores (20-40x slower). A stage's numbers depend on its thread count, not on which worker ran it.
"""
import argparse
import functools
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace

import torch
from tqdm.auto import tqdm

from attack.dimra import DiMRAConfig, attack_set, dimra
from ddpm.checkpoint import check_writable, load_checkpoint, save_checkpoint, shipped_config, weights_hash, write_json
from ddpm.data import ImageData, check_class, load_splits, save_grid
from ddpm.errors import UserError, run_cli
from ddpm.hardware import PRECISIONS, choose_precision, pick_device, precision_region
from ddpm.pretrain import PRESETS, finished, load_ddpm, make_config, pretrain
from ddpm.workers import Eta, children_peak_mb, default_workers, run_parallel
from metrics.evaluate import (N_FORGET, N_RETAIN_PER_CLASS, NonFiniteSamples, SampleSettings, forget_acc,
                              generate, judge_accuracy, param_distance, retain_metrics)
from metrics.judge import JudgeConfig, check_judge_matches, default_judge_path, load_judge, train_judge
from metrics.knn import KNNJudge
from unlearn import METHODS
from unlearn.run import make_settings, settings_dict, unlearn

# Judge settings per data set (the CIFAR-10 judge is wider; it needs a GPU to train in minutes).
JUDGES = {"mnist5k": dict(epochs=15), "mnist": dict(epochs=6, width=32),
          "cifar10": dict(epochs=40, width=96, feature_dim=256)}

# --smoke: tiny sizes everywhere, to check that every stage runs (the one place these live).
SMOKE = {"ddpm": dict(steps=30, batch_size=16, sample_every=10 ** 9, ckpt_every=10, ch=16, ch_mult=(1, 2),
                      groups=8, num_res_blocks=1, ddim_steps=5),
         "judge": dict(epochs=1, width=8, feature_dim=16),
         "unlearn_steps": 5, "n_forget": 10, "n_retain": 4, "attack_steps": 4, "eval_every": 2,
         "pretrained_per_class": 10}
PRETRAINED_PER_CLASS = 100       # samples per class of the pre-trained model's accuracy check
EVAL_STEPS = 70    # a row's evaluation costs about 70 training steps (15 s vs 0.22 s a step, docs/benchmarks.md)
WEIGHTS = "weights"              # shipped weights: <preset>-ddpm, <preset>-ddpm-retrain<f>, judge-<data>-<px>


@dataclass
class Variant:
    """One row: a model (pretrained, retrain, or an unlearning method with settings) and its attacks."""
    name: str
    method: str | None                      # None: the pre-trained model; 'retrain'; or an unlearning method
    unlearn: dict = field(default_factory=dict)
    attack: dict = field(default_factory=dict)
    auxes: tuple = ("retain", "mixed")
    factor: str = ""                        # what an ablation row varies
    model: str = ""                         # the row whose model this row attacks (its files are shared)


def main_variants(methods=None) -> list[Variant]:
    """The headline rows: the references, then every registered method (or the chosen ones)."""
    names = list(METHODS) if methods is None else list(methods)
    return [Variant("pretrained", None, auxes=()), Variant("retrain", "retrain")] + [Variant(m, m) for m in names]


ABLATION = [   # in the order they are worth running; `--variants a,b` runs a subset
    # the retain term during unlearning (alpha = 0 -> 1); GA+retain as in NegGrad+, with the budget it needs
    Variant("ga+retain", "ga", dict(alpha=1.0, steps=300, lr=1e-4), auxes=("retain",),
            factor="retain term (alpha=1), 300 steps at lr 1e-4"),
    Variant("esd+retain", "esd", dict(alpha=1.0), auxes=("retain",), factor="retain term (alpha=1)"),
    # the share of the forgotten class in the mixed set (0% is the 'retain' attack, 10% the default)
    *[Variant(f"{m}-share1%", m, attack=dict(share=0.01), auxes=("mixed",), factor="mixed share 1%")
      for m in ("retrain", "esd", "dimum")],
    # the attacker: a 10x larger learning rate (retain-only for the methods added later)
    *[Variant(f"{m}-atk1e-3", m, attack=dict(lr=1e-3), factor="attack lr 1e-3") for m in ("retrain", "dimum")],
    *[Variant(f"{m}-atk1e-3", m, attack=dict(lr=1e-3), auxes=("retain",), factor="attack lr 1e-3")
      for m in ("ga", "esd", "salun")],
    Variant("ga+retain-atk1e-3", "ga", dict(alpha=1.0, steps=300, lr=1e-4), attack=dict(lr=1e-3), auxes=("retain",),
            factor="attack lr 1e-3", model="ga+retain"),
    Variant("esd+retain-atk1e-3", "esd", dict(alpha=1.0), attack=dict(lr=1e-3), auxes=("retain",),
            factor="attack lr 1e-3", model="esd+retain"),
    # freezing the class embedding (the analogue of Stable Diffusion's frozen text encoder)
    Variant("esd-frozenemb", "esd", dict(freeze_class_emb=True), auxes=("retain",),
            factor="class embedding frozen"),
    # the unlearning budget
    Variant("ga-100", "ga", dict(steps=100), factor="budget: 100 steps (default 130)"),
    Variant("dimum-1000", "dimum", dict(steps=1000, plateau=False), factor="budget: 1000 steps, no plateau stop"),
    # DiMUM's alternative set
    Variant("dimum-blank", "dimum", dict(alt="pattern:blank"), factor="D_alt: blank image"),
    Variant("dimum-fixed32", "dimum", dict(alt="fixed:1:32"), factor="D_alt: 32 fixed images of digit 1"),
]


@dataclass
class Settings:
    preset: str = "mnist5k-quick"
    seeds: tuple = (0, 1, 2)
    forget_class: int = 0
    attack_steps: int | None = None    # None: DiMRAConfig's default (SMOKE's with --smoke)
    eval_every: int | None = None      # None: DiMRAConfig's default (SMOKE's with --smoke)
    n_forget: int | None = None        # None: metrics.evaluate.N_FORGET (SMOKE's with --smoke)
    n_retain: int | None = None        # None: metrics.evaluate.N_RETAIN_PER_CLASS (SMOKE's with --smoke)
    smoke: bool = False
    fresh: bool = False                # redo every stage, pre-training included
    from_scratch: bool = False         # train the pre-trained, Retrain and judge models instead of using weights/
    tag: str = ""                      # runs/<preset>-<tag>/ and results/<preset>-<tag>/ (--smoke: 'smoke')
    precision: str = "auto"            # float32, bf16 (autocast), or auto: measured (ddpm/hardware.py)
    progress: bool = True              # tqdm bars

    def __post_init__(self):
        """Fill what was not given from the one home of each default, then refuse bad values."""
        pick = lambda given, smoke_key, default: given if given is not None else (  # noqa: E731
            SMOKE[smoke_key] if self.smoke else default)
        self.attack_steps = pick(self.attack_steps, "attack_steps", DiMRAConfig.steps)
        self.eval_every = pick(self.eval_every, "eval_every", DiMRAConfig.eval_every)
        self.n_forget = pick(self.n_forget, "n_forget", N_FORGET)
        self.n_retain = pick(self.n_retain, "n_retain", N_RETAIN_PER_CLASS)
        check_class(self.forget_class)
        self.from_scratch = self.from_scratch or self.fresh       # --fresh trains everything again
        if self.tag and not self.tag.replace("-", "").replace("_", "").isalnum():
            raise UserError(f"--tag {self.tag!r}: use letters, digits, - and _ only")
        if not self.seeds or min(self.seeds) < 0:
            raise UserError(f"--seeds {' '.join(map(str, self.seeds))}: give one or more seeds >= 0")
        for name in ("attack_steps", "eval_every", "n_forget", "n_retain"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} {getattr(self, name)} must be at least 1")


def fingerprint(inputs: dict) -> str:
    """The key of a stage: sha256 of its inputs (settings and the hashes of what it reads)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def environment(device, precision: str = "float32") -> dict:
    """What 'same seed, same numbers' also depends on: recorded with every stage."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device),
            "precision": "bf16 autocast" if precision == "bf16" else "float32"}


def run_rows_in_worker(s: "Settings", device: str, variants: list, seed: int) -> dict:
    """One worker's share: some rows of one seed (their stages land in the stage cache). Returns
    the stage timings for the parent's report."""
    pipe = Pipeline(s, torch.device(device))
    pipe.prepare()
    for v in variants:
        pipe.run_variant(v, seed)
    return pipe.timing


def in_precision(method):
    """A Pipeline method that computes: it runs inside the run's precision region (bf16 autocast or
    plain float32), so the notebook, the workers and the command line all compute alike."""
    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        with precision_region(self.s.precision, self.device.type):
            return method(self, *args, **kwargs)
    return wrapped


class Pipeline:
    def __init__(self, s: Settings, device: torch.device):
        self.cfg = make_config(s.preset, **(SMOKE["ddpm"] if s.smoke else {}))
        # 'auto' becomes float32 or bf16 here, once: the workers receive the resolved settings. --smoke
        # stays float32 under auto (measuring would take longer than its tiny run)
        asked = "float32" if s.smoke and s.precision == "auto" else s.precision
        s = replace(s, precision=choose_precision(asked, device, self.cfg.unet(), announce=s.progress))
        self.s, self.device = s, device
        tag = s.preset + (f"-{s.tag}" if s.tag else "-smoke" if s.smoke else "")
        self.runs, self.results = os.path.join("runs", tag), os.path.join("results", tag)
        jc = dict(JUDGES[self.cfg.dataset], dataset=self.cfg.dataset, image_size=self.cfg.image_size,
                  data_root=self.cfg.data_root, **(SMOKE["judge"] if s.smoke else {}))
        self.judge_cfg = JudgeConfig(**jc)
        # a run trained from scratch keeps its own judge beside its models: the judge is part of every
        # stage's key, and a judge shared in runs/ may be retrained by another run in the meantime
        self.judge_path = default_judge_path(self.judge_cfg, root=self.runs if s.smoke or s.from_scratch else "runs")
        self.sample = SampleSettings.of(self.cfg)
        self.f = s.forget_class
        self.timing = {}
        self.made = set()                  # stage keys of the unlearned models this invocation computed
        self.workers = 1
        self.worker_peak_mb = None         # measured when worker processes ran
        # bf16 changes every number a stage computes, so it is one of each stage's inputs (float32,
        # the default, adds nothing: the keys of float32 stages are what they always were)
        self.precision = {"precision": "bf16"} if s.precision == "bf16" else {}
        for folder in (self.runs, self.results):
            check_writable(os.path.join(folder, "x"))

    # ------------------------------------------------------------------ shared models
    def _timed(self, key, fn):
        t0 = time.time()
        out = fn()
        self.timing[key] = self.timing.get(key, 0.0) + time.time() - t0
        return out

    def cached(self, path: str, inputs: dict, fn):
        """fn()'s result, reused from `path` when that file was computed from the same inputs."""
        key = fingerprint(inputs)
        if os.path.exists(path) and not self.s.fresh:
            try:
                with open(path) as f:
                    saved = json.load(f)
            except (OSError, ValueError):
                raise UserError(f"cached stage {path} is damaged: delete it, or rerun with --fresh") from None
            if saved.get("key") == key:
                return saved["result"]
        result = fn()
        write_json({"key": key, "inputs": inputs, "environment": environment(self.device, self.s.precision),
                    "result": result}, path)
        return result

    def shipped(self, name: str, config: dict) -> str | None:
        """weights/<name>.safetensors when it was trained with exactly `config` (and may be used)."""
        path = os.path.join(WEIGHTS, name + ".safetensors")
        if self.s.smoke or self.s.fresh or self.s.from_scratch or not os.path.exists(path):
            return None
        return path if shipped_config(path) == json.loads(json.dumps(config)) else None

    def base_models(self) -> tuple[str, str, list]:
        """Paths of the pre-trained and the Retrain model, and the trainings still needed. Each model
        is trained here (runs/<preset>/<name>.pt, resumed if a run was interrupted), or else taken
        from the shipped weights when they match its config, or else trained."""
        paths, jobs = [], []
        for name, c in (("ddpm", self.cfg), (f"ddpm-retrain{self.f}", replace(self.cfg, exclude_class=self.f))):
            path = os.path.join(self.runs, name + ".pt")
            if self.s.fresh and os.path.exists(path):
                os.remove(path)
            shipped = None if os.path.exists(path) else self.shipped(f"{self.s.preset}-{name}", c.to_dict())
            paths.append(shipped or path)
            if not shipped and not finished(path, c, self.device):
                jobs.append(("retrain" if c.exclude_class is not None else "pretrain", pretrain,
                             (c, path, True, self.device, self.s.progress)))
        return paths[0], paths[1], jobs

    def judge_job(self) -> list:
        """[] when the judge at judge_path (or the shipped one, which then becomes judge_path) was
        trained with judge_cfg; else the training to run."""
        saved = None
        if os.path.exists(self.judge_path) and not self.s.fresh:
            saved = load_checkpoint(self.judge_path, kind="judge")["config"]
            if saved != asdict(self.judge_cfg):
                print(f"note: {self.judge_path} was trained with other settings; training the judge again",
                      file=sys.stderr)
        elif not os.path.exists(self.judge_path):
            shipped = self.shipped(os.path.splitext(os.path.basename(self.judge_path))[0], asdict(self.judge_cfg))
            if shipped:
                self.judge_path, saved = shipped, asdict(self.judge_cfg)
        if saved == asdict(self.judge_cfg):
            return []
        return [("judge", train_judge, (self.judge_cfg, self.judge_path, self.device, self.s.progress))]

    @in_precision
    def prepare(self, workers: int = 1):
        """The data, the pre-trained and Retrain models and the judge (trained side by side in
        worker processes when workers > 1 and more than one is missing)."""
        s, cfg = self.s, self.cfg
        self.splits = load_splits(cfg.dataset, cfg.data_root, cfg.image_size)
        self.data_ids = {k: v.fingerprint() for k, v in self.splits.items()}
        self.ddpm_path, self.retrain_path, jobs = self.base_models()
        jobs += self.judge_job()
        if workers > 1 and len(jobs) > 1:
            names = " + ".join(name for name, _, _ in jobs)
            calls = [(fn, args[:-1] + (False,)) for _, fn, args in jobs]     # no bars from the workers
            self._timed(names, lambda: run_parallel(calls, min(workers, len(jobs)), s.progress, names))
        else:
            for name, fn, args in jobs:
                self._timed(name, lambda: fn(*args))
        self.judge, jckpt = load_judge(self.judge_path, self.device)
        check_judge_matches(jckpt, cfg.dataset, cfg.image_size, self.judge_path)
        self.judge_acc = jckpt["test_acc"]
        self.knn = KNNJudge(ImageData(torch.cat([self.splits["train"].images, self.splits["aux"].images]),
                                      torch.cat([self.splits["train"].labels, self.splits["aux"].labels])))
        self.judge_id = weights_hash(jckpt["model"])
        model = load_ddpm(self.ddpm_path)[0]
        self.theta0 = {k: v.clone() for k, v in model.state_dict().items()}
        self.model_ids = {None: weights_hash(self.theta0),
                          "retrain": weights_hash(load_ddpm(self.retrain_path)[0].state_dict())}
        n = SMOKE["pretrained_per_class"] if s.smoke else PRETRAINED_PER_CLASS
        self.pretrained_samples = self.cached(
            os.path.join(self.runs, "pretrained-samples.json"),
            {"model": self.model_ids[None], "judge": self.judge_id, "sample": asdict(self.sample), "n": n,
             **self.precision},
            lambda: self.sample_all_classes(n))

    def sample_all_classes(self, n: int) -> dict:
        """The pre-trained model's samples of every class: a grid, and the judge's accuracy on them."""
        model, schedule = load_ddpm(self.ddpm_path, self.device)[:2]
        labels = torch.arange(10).repeat_interleave(n)
        t0 = time.time()
        x = generate(model, schedule, labels, self.sample, seed=0)
        seconds = time.time() - t0
        per_class = [judge_accuracy(self.judge, x[labels == k], labels[labels == k]) for k in range(10)]
        save_grid(x.view(10, n, *x.shape[1:])[:, :10].flatten(0, 1), os.path.join(self.results, "pretrained.png"))
        return {"accuracy": judge_accuracy(self.judge, x, labels), "per_class": per_class,
                "n_per_class": n, "sampling_images_per_second": len(x) / seconds}

    # ------------------------------------------------------------------ one row, one seed
    def run_rows(self, variants: list[Variant], seeds, workers: int = 1) -> dict:
        """rows[name][seed] for every row and seed. With workers > 1, worker processes compute the
        stages first (rows that share a model stay in one worker), and the loop below reads them back."""
        if workers > 1:
            if self.s.fresh:       # the workers redo every stage of these seeds; the loop below only reads
                for seed in seeds:
                    shutil.rmtree(self.folder(seed), ignore_errors=True)
                self.s = replace(self.s, fresh=False)
            groups = {}            # rows that share a model (and so its files) go to one worker
            for seed in seeds:
                for v in variants:
                    groups.setdefault((seed, self.key(v)), []).append(v)

            def work(group):       # longest first over all seeds (unlearning steps, then attacks), so
                (seed, _), vs = group          # that no worker is left alone with a long row at the end
                us = self.settings(vs[0], seed)
                return (us.steps if us else 0) + sum(len(v.auxes) for v in vs)

            quiet = replace(self.s, progress=False)
            ordered = sorted(groups.items(), key=work, reverse=True)
            calls = [(run_rows_in_worker, (quiet, str(self.device), vs, seed)) for (seed, _), vs in ordered]
            done = run_parallel(calls, workers, self.s.progress, f"rows ({workers} workers)",
                                work=[sum(self.cost(v, seed) for v in vs) for (seed, _), vs in ordered])
            self.worker_peak_mb = children_peak_mb()
            for timing in done:
                for k, seconds in timing.items():
                    self.timing[k] = self.timing.get(k, 0.0) + seconds
        rows = {v.name: {} for v in variants}
        eta = Eta(sum(self.cost(v, seed) for v in variants for seed in seeds), "rows") if workers == 1 else None
        for seed in seeds:                 # seed by seed: a stopped run leaves whole seeds behind
            for v in variants:
                rows[v.name][seed] = self.run_variant(v, seed)
                if eta and self.s.progress:
                    eta.update(self.cost(v, seed))
        return rows

    def cost(self, v: Variant, seed: int) -> float:
        """A row's work in training steps, for the time-left estimate: its unlearning, its evaluation
        (its sampling costs about as much as EVAL_STEPS training steps), and its attacks."""
        us = self.settings(v, seed)
        own_model = not v.model and (v.unlearn or not v.attack)      # rows that share a model add attacks only
        return ((us.steps if us and own_model else 0) + (EVAL_STEPS if own_model else 0)
                + len(v.auxes) * self.s.attack_steps)

    def folder(self, seed: int) -> str:
        return os.path.join(self.runs, f"forget{self.f}", f"seed{seed}")

    @staticmethod
    def key(v: Variant) -> str:
        """File names: variants that share a model share its files ('dimum-share1%' reuses the
        'dimum' model and evaluation, and only adds its own attack; v.model names the row otherwise)."""
        return v.model or (v.name if v.unlearn else (v.method or "pretrained"))

    def settings(self, v: Variant, seed: int):
        """The unlearning settings of a row (None for the pre-trained and Retrain rows)."""
        if v.method in (None, "retrain"):
            return None
        s = make_settings(v.method, forget_class=self.f, seed=seed, **v.unlearn)
        return replace(s, steps=min(s.steps, SMOKE["unlearn_steps"])) if self.s.smoke else s

    def model_inputs(self, v: Variant, seed: int) -> dict:
        """What a row's model is computed from; its fingerprint is the model's identity."""
        us = self.settings(v, seed)
        if us is None:
            return {"weights": self.model_ids[v.method]}
        return {"base": self.model_ids[None], "train": self.data_ids["train"], "unlearn": settings_dict(v.method, us),
                **self.precision}

    @in_precision
    def unlearned_model(self, v: Variant, seed: int):
        """(model, schedule, loss history) of a row: the pre-trained or Retrain model (EMA weights),
        or the pre-trained model after v's unlearning with this seed (cached in <folder>/<key>.pt,
        a checkpoint of kind 'unlearned' that `python -m attack` reads)."""
        path = self.retrain_path if v.method == "retrain" else self.ddpm_path
        model, schedule = load_ddpm(path, self.device)[:2]
        us = self.settings(v, seed)
        if us is None:
            return model, schedule, None
        model_path, key = os.path.join(self.folder(seed), f"{self.key(v)}.pt"), fingerprint(self.model_inputs(v, seed))
        if os.path.exists(model_path) and (not self.s.fresh or key in self.made):   # --fresh: once a run
            try:
                saved = load_checkpoint(model_path, kind="unlearned")
            except UserError:
                raise UserError(f"cached stage {model_path} is damaged: delete it, or rerun with --fresh") from None
            if saved.get("stage_key") == key:
                model.load_state_dict(saved["model"])
                return model, schedule, saved["history"]
        t0 = time.time()
        hist = unlearn(model, schedule, self.splits["train"], v.method, us, progress=self.s.progress)
        hist.update(seconds=time.time() - t0, config=settings_dict(v.method, us))
        save_checkpoint({"kind": "unlearned", "config": self.cfg.to_dict(), "unlearn": hist["config"],
                         "pretrained": self.ddpm_path, "model": model.state_dict(), "ema": None,
                         "history": hist, "stage_key": key}, model_path)
        self.made.add(key)
        return model, schedule, hist

    @in_precision
    def evaluate(self, v: Variant, seed: int) -> dict:
        """forget_acc, retain_acc, cFID and ||theta - theta_0|| of a row's model; a diverged model
        (its unlearning loss or its samples not finite) is reported as such and never scored."""
        model, schedule, hist = self._timed("unlearn", lambda: self.unlearned_model(v, seed))
        t0 = time.time()
        row = {"distance": param_distance(model, self.theta0)}
        if hist is not None:
            row.update(unlearn_loss=hist["loss"], unlearn_steps=hist["steps_done"], unlearn_stopped=hist["stopped"],
                       unlearn_seconds=hist.get("seconds"), unlearn_config=hist.get("config"))
        if hist is not None and hist["stopped"] == "nonfinite":
            row["diverged"] = f"the unlearning loss became NaN/inf after {hist['steps_done']} steps"
        else:
            bar = tqdm(total=3, desc=f"evaluate {v.name}", disable=not self.s.progress, leave=False)
            try:
                labels = torch.full((self.s.n_forget,), self.f)
                x_f = generate(model, schedule, labels, self.sample, seed)    # what forget_acc() draws
                row["forget_acc"] = judge_accuracy(self.judge, x_f, labels)
                row["forget_acc_knn"] = self.knn.accuracy(x_f, labels)        # the second judge, same samples
                bar.update()
                row.update(retain_metrics(model, schedule, self.judge, self.f, self.splits["test"],
                                          self.s.n_retain, self.sample, seed))
                bar.update()
                self.grid(model, schedule, f"{self.key(v)}-unlearned.png", seed)
                bar.update()
            except NonFiniteSamples as e:
                row.pop("forget_acc", None)
                row["diverged"] = str(e)
            bar.close()
        row["eval_seconds"] = time.time() - t0
        return row

    @in_precision
    def attack(self, v: Variant, seed: int, aux: str, name: str, acfg: DiMRAConfig, start: float) -> dict:
        """One DiMRA attack on a row's model. `start`, the row's forget_acc, is the curve's step 0:
        the evaluation drew the same samples from the same model, so they are not drawn again."""
        model, schedule, _ = self.unlearned_model(v, seed)
        d_aux = attack_set(self.splits["aux"], self.f, aux, acfg.share, seed=seed)
        t0 = time.time()
        try:
            res = dimra(model, schedule, d_aux, self.f, acfg, progress=self.s.progress,
                        measure=lambda m: forget_acc(m, schedule, self.judge, self.f, self.s.n_forget,
                                                     self.sample, seed), start=start)
            diverged = "the attack's loss became NaN/inf" if res["diverged"] else None
        except NonFiniteSamples as e:
            res, diverged = {"curve": None}, f"during the attack: {e}"
        out = {"curve": res["curve"], "distance": param_distance(model, self.theta0), "attack": acfg.to_dict(),
               "n_aux": len(d_aux), "n_aux_forget": int((d_aux.labels == self.f).sum()),
               "seconds": time.time() - t0}
        if diverged:
            out["diverged"] = diverged
        else:
            self.grid(model, schedule, f"{name}.png", seed)
            save_checkpoint({"kind": "attacked", "config": self.cfg.to_dict(), "attack": acfg.to_dict(),
                             "forget_class": self.f, "source": self.key(v), "model": model.state_dict(),
                             "ema": None, "curve": res["curve"], "history": {"loss": res["loss"]}},
                            os.path.join(self.folder(seed), f"{name}.pt"))
        return out

    @in_precision
    def run_variant(self, v: Variant, seed: int) -> dict:
        s, folder, key = self.s, self.folder(seed), self.key(v)
        model_id = fingerprint(self.model_inputs(v, seed))
        judged = {"model": model_id, "judge": self.judge_id, "sample": asdict(self.sample), "n_forget": s.n_forget,
                  "forget_class": self.f, "seed": seed, **self.precision}
        row = dict(self.cached(os.path.join(folder, f"{key}.json"),
                               {**judged, "test": self.data_ids["test"], "n_retain": s.n_retain,
                                "second_judge": self.knn.id},
                               lambda: self.evaluate(v, seed)))
        row["inputs"] = {**judged, "model": self.model_inputs(v, seed)}
        for aux in v.auxes:
            if "diverged" in row:
                break
            acfg = DiMRAConfig(**{"aux": aux, "steps": s.attack_steps, "eval_every": s.eval_every, "seed": seed,
                                  **v.attack})
            tag = "".join(f"-{k}{val}" for k, val in sorted(v.attack.items()))
            name = f"{key}-dimra-{aux}{tag}"
            row[f"dimra_{aux}"] = self._timed("attack", lambda: self.cached(
                os.path.join(folder, f"{name}.json"), {**judged, "attack": acfg.to_dict(), "aux": self.data_ids["aux"]},
                lambda: self.attack(v, seed, aux, name, acfg, row["forget_acc"])))
        return row

    def grid(self, model, schedule, name: str, seed: int) -> None:
        """10 samples of the forgotten class (row 1) and of four retained classes (rows 2-5)."""
        keep = [k for k in range(10) if k != self.f][:4]
        labels = torch.tensor([self.f] * 10 + [k for k in keep for _ in range(10)])
        path = os.path.join(self.results, "grids", f"seed{seed}", name)
        save_grid(generate(model, schedule, labels, self.sample, seed), path)

    def info(self) -> dict:
        """Plain data for report.py: every setting the tables and figures state."""
        s = self.s
        return {"preset": s.preset, "smoke": s.smoke, "forget_class": self.f, "seeds": list(s.seeds),
                "ddpm_config": self.cfg.to_dict(), "judge_config": asdict(self.judge_cfg),
                "judge_test_acc": self.judge_acc, "pretrained_samples": self.pretrained_samples,
                "knn_judge": {"id": self.knn.id, "k": self.knn.k, "test_acc": self.knn.test_accuracy(self.splits["test"])},
                "unlearn_defaults": {m: settings_dict(m, make_settings(m, forget_class=self.f)) for m in METHODS},
                "attack": {**DiMRAConfig(steps=s.attack_steps, eval_every=s.eval_every).to_dict()},
                "n_forget": s.n_forget, "n_retain_per_class": s.n_retain, "sampler": asdict(self.sample),
                "environment": {**environment(self.device, s.precision), "machine": f"{os.cpu_count()} CPU cores",
                                "workers": self.workers, "worker_peak_mb": self.worker_peak_mb},
                "results_dir": self.results, "image_size": self.cfg.image_size, "stage_seconds": self.timing}


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The options that name a reproduce.py run, for the scripts that read its models and stages
    (scripts/basin.py, rejudge.py, attack_sweep.py): give them as that run was given them."""
    p.add_argument("--preset", default="mnist5k-quick")
    p.add_argument("--tag", default="", help="the --tag of the reproduce.py run to read")
    p.add_argument("--forget-class", type=int, default=0)
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the run (its samples depend on it)")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="= --precision bf16")
    p.add_argument("--from-scratch", action="store_true", help="as the run (its models and judge)")
    p.add_argument("--smoke", action="store_true", help="read the models of `reproduce.py --smoke`")
    p.add_argument("--device")


def run_pipeline(a: argparse.Namespace, seeds, **settings) -> "Pipeline":
    """The Pipeline of the run named by add_run_arguments' options (not prepared yet)."""
    return Pipeline(Settings(preset=a.preset, seeds=tuple(seeds), forget_class=a.forget_class, tag=a.tag,
                             precision=a.precision, from_scratch=a.from_scratch, smoke=a.smoke, **settings),
                    pick_device(a.device))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="mnist5k-quick", help=f"one of {', '.join(PRESETS)}")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--forget-class", type=int, default=0)
    p.add_argument("--methods", help=f"comma-separated methods for the main table (default: all of "
                                     f"{', '.join(METHODS)})")
    p.add_argument("--ablation", action="store_true", help="run the ablation variants (first seed only)")
    p.add_argument("--variants", help="comma-separated ablation variants to run (default: all)")
    p.add_argument("--attack-steps", type=int, help=f"default {DiMRAConfig.steps}")
    p.add_argument("--eval-every", type=int, help=f"attack steps between forget_acc measurements "
                                                  f"(default {DiMRAConfig.eval_every})")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice). The same "
                                               "seed gives the same numbers only with the same thread count")
    p.add_argument("--workers", type=int, help="processes for independent stages, each with threads / workers "
                                               "torch threads (default: one per CPU core; 1 on a GPU and with --smoke)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="float32, bf16 autocast (the judges stay float32), or auto (default): on the CPU, "
                        "timed once per machine and bf16 kept only if clearly faster; bf16 on a CUDA GPU "
                        "that supports it; float32 on MPS")
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help="= --precision bf16")
    p.add_argument("--n-retain", type=int, help=f"samples per retained class for retain_acc and cFID "
                                                f"(default {N_RETAIN_PER_CLASS})")
    p.add_argument("--tag", default="", help="write to runs/<preset>-<tag>/ and results/<preset>-<tag>/, so a "
                                             "lighter setting (make demo) does not overwrite the main results")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check that every stage runs")
    p.add_argument("--fresh", action="store_true", help="redo every stage instead of reusing it, pre-training "
                                                         "included (implies --from-scratch)")
    p.add_argument("--from-scratch", action="store_true", help=f"train the pre-trained DDPM, Retrain and the "
                                                              f"judge instead of using {WEIGHTS}/")
    p.add_argument("--device")
    a = p.parse_args(argv)
    from report import write_ablation, write_main

    def body():
        s = Settings(preset=a.preset, seeds=tuple(a.seeds), forget_class=a.forget_class,
                     attack_steps=a.attack_steps, eval_every=a.eval_every, n_retain=a.n_retain, smoke=a.smoke,
                     fresh=a.fresh, from_scratch=a.from_scratch, tag=a.tag, precision=a.precision)
        if a.workers is not None and a.workers < 1:
            raise UserError(f"--workers {a.workers} must be at least 1")
        if a.threads is not None:
            if a.threads < 1:
                raise UserError(f"--threads {a.threads} must be at least 1")
            torch.set_num_threads(a.threads)
        methods = None
        if a.methods:
            methods = [m.strip() for m in a.methods.split(",") if m.strip()]
            unknown = [m for m in methods if m not in METHODS]
            if unknown:
                raise UserError(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(METHODS)}")
        variants = main_variants(methods)
        if a.ablation:
            chosen = [v for v in ABLATION if not a.variants or v.name in a.variants.split(",")]
            if a.variants and len(chosen) < len(a.variants.split(",")):
                raise UserError(f"unknown variant in --variants {a.variants}: choose from "
                                f"{', '.join(v.name for v in ABLATION)}")
            variants, seeds = main_variants() + chosen, s.seeds[:1]
        else:
            chosen, seeds = [], s.seeds
        t0 = time.time()
        pipe = Pipeline(s, pick_device(a.device, announce=True))
        for v in variants:               # every variant's settings are checked before any work
            for seed in seeds:
                pipe.settings(v, seed)
        workers = pipe.workers = a.workers or default_workers(pipe.device, s.smoke)
        pipe.prepare(workers)
        rows = pipe.run_rows(variants, seeds, workers)
        argv_text = " ".join(sys.argv[1:] if argv is None else argv)
        if a.ablation:
            write_ablation(pipe.info(), rows, [(v.name, v.factor) for v in chosen], time.time() - t0, argv_text)
        else:
            write_main(pipe.info(), rows, [v.name for v in variants], time.time() - t0, argv_text)
        table = os.path.join(pipe.results, "ablation.md" if a.ablation else "table.md")
        with open(table) as f:
            print("\n" + f.read())
        print(f"done in {time.time() - t0:.0f} s: {table} and the figures beside it")
    return run_cli(body, "finished stages are saved under runs/; rerun the same command to continue")


if __name__ == "__main__":
    sys.exit(main())
