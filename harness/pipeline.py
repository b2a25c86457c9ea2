"""The pipeline: pre-train -> unlearn one class with every method -> attack -> the numbers of a table.

`Pipeline(settings, device)` holds one run: `prepare()` loads the data and the shared models (the
pre-trained DDPM, Retrain, the judges), `run_variant(v, seed)` computes one row (its unlearning, its
evaluation, its attacks), each step a stage of the stage cache (harness/stages.py) under
runs/<preset>[-<tag>]/. reproduce.py is its command line; harness/workers.py runs rows in worker
processes; harness/tables.py and harness/figures.py turn the rows into results/<preset>[-<tag>]/.
"""
import functools
import os
import sys
import time
from dataclasses import asdict, replace

import torch
from tqdm.auto import tqdm

from attack import ATTACKS
from attack.base import AttackData, as_attacked, attacked_checkpoint
from attack.run import run_attack
from attack.run import make_config as make_attack_config
from ddpm.data import ImageData, load_splits, save_grid
from ddpm.errors import UserError
from lab.checkpoint import check_writable, load_checkpoint, save_checkpoint, weights_hash
from lab.hardware import choose_precision, precision_region
from lab.presets import make_config
from lab.pretrain import finished, load_ddpm, pretrain
from metrics.evaluate import (PRETRAINED_PER_CLASS, NonFiniteSamples, SampleSettings, generate, judge_accuracy,
                              judge_predictions, param_distance, read_as, retain_metrics)
from lab.judges import check_judge_matches, default_judge_path, load_judge, train_judge
from metrics.judge import judge_config
from metrics.knn import KNNJudge
from metrics.unconditional import null_samples
from unlearn.run import make_settings, settings_dict, unlearn, unlearned_checkpoint

from . import stages
from .controls import hide_class_embedding
from .settings import HIDING_CONTROL, SMOKE, Settings, Variant, retrain_config
from .workers import run_parallel

LATER_SETTINGS = stages.LATER_SETTINGS    # unlearning settings added later (keys of older stages: harness/stages.py)
HIDDEN = "hidden-emb"      # the hiding control's row (harness/controls.py)


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
        self.runs, self.results = os.path.join("runs", tag), os.path.join("results", s.results or tag)
        self.judge_cfg = judge_config(self.cfg.dataset, image_size=self.cfg.image_size, data_root=self.cfg.data_root,
                                      **(SMOKE["judge"] if s.smoke else {}))
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
        """fn()'s result, reused from `path` when computed from the same inputs (harness/stages.py)."""
        return stages.cached(path, inputs, fn, self.s.fresh, stages.environment(self.device, self.s.precision))

    def shipped(self, name: str, config: dict) -> str | None:
        """The shipped weights trained with exactly `config`, unless this run trains its own."""
        return None if self.s.smoke or self.s.fresh or self.s.from_scratch else stages.shipped(name, config)

    def base_models(self) -> tuple[str, dict, list]:
        """The pre-trained model's path, {seed: Retrain's path}, and the trainings still needed.

        The pre-trained model is one (seed 0), shared by every seed. Retrain is trained once a seed s, with
        its own seed (settings.retrain_config: never theta_0's initial weights or batches; seed 0's file is
        ddpm-retrain<f>.pt, the shipped one; seed s's ddpm-retrain<f>-seed<s>.pt), so the reference every
        verdict is measured against carries its own training variance. Each
        model is trained here (runs/<preset>/<name>.pt, resumed if a run was interrupted), or taken
        from the shipped weights when they match its config."""
        models = [("ddpm", "pretrain", None, self.cfg)] + [
            (f"ddpm-retrain{self.f}" + (f"-seed{seed}" if seed else ""), "retrain" + (f" seed {seed}" if seed else ""),
             seed, retrain_config(self.cfg, self.f, seed)) for seed in self.s.seeds]
        paths, jobs = {}, []
        for name, job, seed, c in models:
            path = os.path.join(self.runs, name + ".pt")
            if self.s.fresh and os.path.exists(path):
                os.remove(path)
            shipped = None if os.path.exists(path) else self.shipped(f"{self.s.preset}-{name}", c.to_dict())
            paths[seed] = shipped or path
            if not shipped and not finished(path, c, self.device):
                jobs.append((job, pretrain, (c, path, True, self.device, self.s.progress)))
        ddpm_path = paths.pop(None)
        return ddpm_path, paths, jobs

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
        self.ddpm_path, self.retrain_paths, jobs = self.base_models()
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
                          "retrain": {seed: weights_hash(load_ddpm(path)[0].state_dict())
                                      for seed, path in self.retrain_paths.items()}}
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
    def folder(self, seed: int) -> str:
        return os.path.join(self.runs, f"forget{self.f}", f"seed{seed}")

    @staticmethod
    def key(v: Variant) -> str:
        """File names: variants that share a model share its files ('dimum-share1%' reuses the
        'dimum' model and evaluation, and only adds its own attack; v.model names the row otherwise)."""
        return v.model or (v.name if v.unlearn else (v.method or "pretrained"))

    def settings(self, v: Variant, seed: int):
        """The unlearning settings of a row (None for the pre-trained and Retrain rows)."""
        if v.method in (None, "retrain", HIDDEN):
            return None
        s = make_settings(v.method, forget_class=self.f, seed=seed, **v.unlearn)
        return replace(s, steps=min(s.steps, SMOKE["unlearn_steps"])) if self.s.smoke else s

    def model_inputs(self, v: Variant, seed: int) -> dict:
        """What a row's model is computed from; its fingerprint is the model's identity."""
        us = self.settings(v, seed)
        if v.method == HIDDEN:           # the hiding control: theta_0, f's embedding row redrawn with the seed
            return {"base": self.model_ids[None], "control": "class embedding row f redrawn", "seed": seed}
        if us is None:
            ids = self.model_ids[v.method]
            return {"weights": ids[seed] if v.method == "retrain" else ids}
        unlearn = {k: val for k, val in settings_dict(v.method, us).items()
                   if not (k in LATER_SETTINGS and val == LATER_SETTINGS[k])}
        return {"base": self.model_ids[None], "train": self.data_ids["train"], "unlearn": unlearn, **self.precision}

    @in_precision
    def unlearned_model(self, v: Variant, seed: int):
        """(model, schedule, loss history) of a row: the pre-trained or Retrain model (EMA weights),
        or the pre-trained model after v's unlearning with this seed (cached in <folder>/<key>.pt,
        a checkpoint of kind 'unlearned' that `python -m attack` reads)."""
        path = self.retrain_paths[seed] if v.method == "retrain" else self.ddpm_path
        model, schedule = load_ddpm(path, self.device)[:2]
        us = self.settings(v, seed)
        if v.method == HIDDEN:
            return hide_class_embedding(model, self.f, seed), schedule, None
        if us is None:
            return model, schedule, None
        model_path, key = os.path.join(self.folder(seed), f"{self.key(v)}.pt"), stages.fingerprint(self.model_inputs(v, seed))
        if os.path.exists(model_path) and (not self.s.fresh or key in self.made):   # --fresh: once a run
            try:
                saved = load_checkpoint(model_path, kind="unlearned")
            except UserError:
                raise UserError(f"cached stage {model_path} is damaged: delete it, or rerun with --fresh") from None
            if saved.get("stage_key") == key:
                model.load_state_dict(saved["model"])
                return model, schedule, saved["history"]
        shipped = self.shipped(f"{self.s.preset}-{self.key(v)}-forget{self.f}-seed{seed}", {"stage_key": key})
        if shipped:                # make demo's unlearned models (tools/ship_weights.py --unlearned)
            return model, schedule, stages.load_into(model, shipped)
        t0 = time.time()
        hist = unlearn(model, schedule, self.splits["train"], v.method, us, progress=self.s.progress)
        hist.update(seconds=time.time() - t0, config=settings_dict(v.method, us))
        save_checkpoint(unlearned_checkpoint(model, self.cfg.to_dict(), v.method, us, hist, self.ddpm_path,
                                             stage_key=key), model_path)
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
                cnn, knn = judge_predictions(self.judge, x_f), self.knn.predict(x_f)   # both judges, same samples
                row.update(forget_acc=(cnn == labels).float().mean().item(), forget_read_as=read_as(cnn),
                           forget_acc_knn=(knn == labels).float().mean().item(), forget_read_as_knn=read_as(knn))
                bar.update()
                row.update(retain_metrics(model, schedule, self.judge, self.f, self.splits["test"],
                                          self.s.n_retain, self.sample, seed))
                bar.update()
                self.grid(model, schedule, f"{self.key(v)}-unlearned.png", seed)
                if self.s.uncond:          # the unconditional branch: null-label, unguided samples read as f
                    x0 = null_samples(model, schedule, self.s.uncond, self.sample, seed)
                    f_labels = torch.full((self.s.uncond,), self.f)
                    row.update(uncond_n=self.s.uncond, uncond_share=judge_accuracy(self.judge, x0, f_labels),
                               uncond_share_knn=self.knn.accuracy(x0, f_labels))
                bar.update()
            except NonFiniteSamples as e:
                row.pop("forget_acc", None)
                row["diverged"] = str(e)
            bar.close()
        row["eval_seconds"] = time.time() - t0
        return row

    @in_precision
    def attack(self, v: Variant, seed: int, attack: str, name: str, cfg, start: float, start_knn: float) -> dict:
        """One attack (attack/ ATTACKS[attack]) on a row's model, its curve counted by both judges on the
        same samples. `start` and `start_knn`, the row's forget_acc by each judge, are step 0 for the
        attacks that start from the model as given: the evaluation drew those very samples."""
        model, schedule, _ = self.unlearned_model(v, seed)
        data = AttackData(self.splits["aux"], self.f, seed, self.cfg)
        t0 = time.time()
        knn = []                       # the second judge reads the very samples the CNN judge counts

        def measure(m) -> float:
            labels = torch.full((self.s.n_forget,), self.f)
            x = generate(m, schedule, labels, self.sample, seed)          # what forget_acc() draws
            knn.append(self.knn.accuracy(x, labels))
            return judge_accuracy(self.judge, x, labels)
        try:
            res = run_attack(attack, model, schedule, data, cfg, measure=measure, progress=self.s.progress, start=start)
            curve = res["curve"]
            curve["forget_acc_knn"] = knn if len(knn) == len(curve["step"]) else [start_knn] + knn
            diverged = "the attack's loss became NaN/inf" if res["diverged"] else None
        except NonFiniteSamples as e:
            res, diverged = {"curve": None}, f"during the attack: {e}"
        out = {"curve": res["curve"], "distance": param_distance(model, self.theta0), "attack": cfg.to_dict(),
               "n_aux": res.get("n_real"), "n_aux_forget": res.get("n_real_forget"), "seconds": time.time() - t0}
        if diverged:
            out["diverged"] = diverged
            return out
        with as_attacked(ATTACKS[attack], model, data, res):          # inversion: label f is its embedding here
            self.grid(model, schedule, f"{name}.png", seed)
            save_checkpoint(attacked_checkpoint(model, self.cfg.to_dict(), attack, cfg, self.f, self.key(v), res),
                            os.path.join(self.folder(seed), f"{name}.pt"))
        return out

    def attack_config(self, attack: str, seed: int = 0, own: dict | None = None):
        """An attack's Config: its own defaults, but what the run sets (--attack-steps, --eval-every, the
        row's seed, --eval-at where the attack takes it) and the row's own changes (`own`)."""
        s, fields = self.s, getattr(ATTACKS[attack].Config, "__dataclass_fields__", {})
        given = {"steps": s.attack_steps, "eval_every": s.eval_every, "eval_at": s.eval_at or None}
        given = {k: v for k, v in given.items() if v is not None and k in fields}
        return make_attack_config(attack, **{**given, "seed": seed, **(own or {})})

    def attacks_of(self, v: Variant) -> tuple:
        """The attacks a row gets: its own, or the run's (Settings.attacks); the hiding control only those
        it is the control of."""
        if v.method == HIDDEN:
            return tuple(a for a in self.s.attacks if HIDING_CONTROL.get(a) == HIDDEN)
        return self.s.attacks if v.attacks is None else v.attacks

    def needs_hidden(self) -> bool:
        """Whether the hiding control has work: an attack or the unconditional measure it controls."""
        return bool(self.attacks_of(Variant(HIDDEN, HIDDEN)) or self.s.uncond)

    @in_precision
    def run_variant(self, v: Variant, seed: int) -> dict:
        s, folder, key = self.s, self.folder(seed), self.key(v)
        model_id = stages.fingerprint(self.model_inputs(v, seed))
        judged = {"model": model_id, "judge": self.judge_id, "sample": asdict(self.sample), "n_forget": s.n_forget,
                  "forget_class": self.f, "seed": seed, **self.precision}
        row = dict(self.cached(os.path.join(folder, f"{key}.json"),
                               {**judged, "test": self.data_ids["test"], "n_retain": s.n_retain,
                                "second_judge": self.knn.id, **({"uncond": s.uncond} if s.uncond else {})},
                               lambda: self.evaluate(v, seed)))
        row["inputs"] = {**judged, "model": self.model_inputs(v, seed)}
        for attack in self.attacks_of(v):
            if "diverged" in row:
                break
            cfg = self.attack_config(attack, seed, v.attack)
            tag = "".join(f"-{k}{val}" for k, val in sorted(v.attack.items()))
            name = f"{key}-{attack.replace('_', '-')}{tag}"
            recorded = stages.attack_record(attack, cfg.to_dict())          # DiMRA's: its old keys (stages.py)
            inputs = {**judged, "attack": recorded, "aux": self.data_ids["aux"], "second_judge": self.knn.id}
            row[attack] = self._timed("attack", lambda: self.cached(
                os.path.join(folder, f"{name}.json"), inputs,
                lambda: self.attack(v, seed, attack, name, cfg, row["forget_acc"], row["forget_acc_knn"])))
            if s.n_after and "diverged" not in row[attack]:
                row[attack] = {**row[attack], "after": self._timed(
                    "after attack", lambda: self.after_attack(name, seed, stages.fingerprint(inputs)))}
        return row

    @in_precision
    def after_attack(self, name: str, seed: int, attacked: str) -> dict:
        """retain_acc and cFID of an attacked model (n_after samples a retained class), read from its
        checkpoint <folder>/<name>.pt: an attack that "brings f back" by breaking the model shows here."""
        path = os.path.join(self.folder(seed), f"{name}.pt")

        def compute():
            if not os.path.exists(path):
                raise UserError(f"the attacked model {path} is missing: rerun with --fresh")
            model, schedule = load_ddpm(self.ddpm_path, self.device)[:2]
            model.load_state_dict(load_checkpoint(path, kind="attacked")["model"])
            try:
                return retain_metrics(model, schedule, self.judge, self.f, self.splits["test"], self.s.n_after,
                                      self.sample, seed)
            except NonFiniteSamples as e:
                return {"diverged": str(e)}
        inputs = {"attacked": attacked, "judge": self.judge_id, "sample": asdict(self.sample), "seed": seed,
                  "test": self.data_ids["test"], "n_retain": self.s.n_after, **self.precision}
        return self.cached(os.path.join(self.folder(seed), f"{name}-after.json"), inputs, compute)

    def grid(self, model, schedule, name: str, seed: int) -> None:
        """10 samples of the forgotten class (row 1) and of four retained classes (rows 2-5)."""
        keep = [k for k in range(10) if k != self.f][:4]
        labels = torch.tensor([self.f] * 10 + [k for k in keep for _ in range(10)])
        path = os.path.join(self.results, "grids", f"seed{seed}", name)
        save_grid(generate(model, schedule, labels, self.sample, seed), path)
