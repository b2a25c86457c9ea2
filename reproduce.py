"""The main job: pre-train -> unlearn one class with every method -> attack with DiMRA -> table + figures.

    python reproduce.py                              # mnist5k-quick, seeds 0 1 2, forget class 0
    python reproduce.py --ablation                   # the ablation table (one seed)
    python reproduce.py --preset mnist --seeds 0     # on a GPU (downloads MNIST once)
    python reproduce.py --smoke                      # tiny step counts: checks the pipeline runs

Every stage writes its result under runs/<preset>/ when it finishes; a rerun (after a crash or
Ctrl-C) reuses finished stages and continues. --fresh redoes them. Results go to
results/<preset>/ (results/<preset>-smoke/ with --smoke): table.md, results.json, figures.
The pre-trained and Retrain models are trained once (seed 0) and shared by all seeds; the seeds
vary unlearning, the attack and sampling.
"""
import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace

import torch

from attack.dimra import DiMRAConfig, dimra
from ddpm.data import attack_set, check_class, load_splits, save_grid
from ddpm.errors import run_cli
from ddpm.pretrain import PRESETS, load_ddpm, make_config, pick_device, pretrain
from metrics.evaluate import SampleSettings, forget_acc, generate, param_distance, retain_metrics
from metrics.judge import JudgeConfig, check_judge_matches, load_judge, train_judge
from unlearn.run import config_dict, make_unlearn_config, unlearn

# Judge settings per data set (the CIFAR-10 judge is wider; it needs a GPU to train in minutes).
JUDGES = {"mnist5k": dict(epochs=15), "mnist": dict(epochs=6, width=32),
          "cifar10": dict(epochs=40, width=96, feature_dim=256)}


@dataclass
class Variant:
    """One row: a model (pretrained, retrain, or an unlearning method with settings) and its attacks."""
    name: str
    method: str | None                      # None: the pre-trained model; 'retrain'; or an unlearning method
    unlearn: dict = field(default_factory=dict)
    attack: dict = field(default_factory=dict)
    auxes: tuple = ("retain", "mixed")
    factor: str = ""                        # what an ablation row varies


MAIN = [Variant("pretrained", None, auxes=()), Variant("retrain", "retrain"),
        Variant("ga", "ga"), Variant("esd", "esd"), Variant("salun", "salun"), Variant("dimum", "dimum")]

ABLATION = [   # in the order they are worth running; `--variants a,b` runs a subset
    # the retain term during unlearning (alpha = 0 -> 1); GA+retain as in NegGrad+, with the budget it needs
    Variant("ga+retain", "ga", dict(alpha=1.0, steps=300, lr=1e-4), auxes=("retain",),
            factor="retain term (alpha=1), 300 steps at lr 1e-4"),
    Variant("esd+retain", "esd", dict(alpha=1.0), auxes=("retain",), factor="retain term (alpha=1)"),
    # the share of the forgotten class in the mixed set (0% is the 'retain' attack, 10% the default)
    *[Variant(f"{m}-share1%", m, attack=dict(share=0.01), auxes=("mixed",), factor="mixed share 1%")
      for m in ("retrain", "esd", "dimum")],
    # the attacker: a 10x larger learning rate
    *[Variant(f"{m}-atk1e-3", m, attack=dict(lr=1e-3), factor="attack lr 1e-3") for m in ("retrain", "dimum")],
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
    attack_steps: int = 300
    eval_every: int = 50
    n_forget: int = 100            # samples per forget_acc
    n_retain: int = 50             # samples per retained class (retain_acc, cFID)
    smoke: bool = False
    fresh: bool = False
    progress: bool = True          # tqdm bars

    def __post_init__(self):
        if self.smoke:                 # tiny sizes everywhere: checks that every stage runs
            self.n_forget, self.n_retain, self.attack_steps, self.eval_every = 10, 4, 4, 2


def write_json(obj, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def stage(path: str, fresh: bool, fn):
    """Run fn() unless its result is already at `path` (and --fresh is not set); store it there."""
    if os.path.exists(path) and not fresh:
        with open(path) as f:
            return json.load(f)
    result = fn()
    write_json(result, path)
    return result


class Pipeline:
    def __init__(self, s: Settings, device: torch.device):
        self.s, self.device = s, device
        smoke = dict(steps=30, batch_size=16, sample_every=10 ** 9, ckpt_every=10, ch=16, ch_mult=(1, 2), groups=8,
                     num_res_blocks=1) if s.smoke else {}
        self.cfg = make_config(s.preset, **smoke)
        tag = s.preset + ("-smoke" if s.smoke else "")
        self.runs, self.results = os.path.join("runs", tag), os.path.join("results", tag)
        jc = dict(JUDGES[self.cfg.dataset], dataset=self.cfg.dataset, image_size=self.cfg.image_size,
                  data_root=self.cfg.data_root)
        if s.smoke:
            jc.update(epochs=1, width=8, feature_dim=16)
        self.judge_cfg = JudgeConfig(**jc)
        self.sample = SampleSettings(steps=5 if s.smoke else self.cfg.ddim_steps, guidance=self.cfg.guidance)
        self.splits = load_splits(self.cfg.dataset, self.cfg.data_root, self.cfg.image_size)
        self.f = check_class(s.forget_class)
        self.timing = {}

    # ------------------------------------------------------------------ shared models
    def _timed(self, key, fn):
        t0 = time.time()
        out = fn()
        self.timing[key] = self.timing.get(key, 0.0) + time.time() - t0
        return out

    def prepare(self):
        s, cfg = self.s, self.cfg
        self.ddpm_path = os.path.join(self.runs, "ddpm.pt")
        self.retrain_path = os.path.join(self.runs, f"ddpm-retrain{self.f}.pt")
        judge_path = os.path.join(self.runs, "judge.pt")
        for path, c in ((self.ddpm_path, cfg), (self.retrain_path, replace(cfg, exclude_class=self.f))):
            if s.fresh and os.path.exists(path):
                os.remove(path)
            self._timed("pretrain" if c.exclude_class is None else "retrain",
                        lambda: pretrain(c, path, resume=True, device=self.device, progress=s.progress))
        if s.fresh or not os.path.exists(judge_path):
            self._timed("judge", lambda: train_judge(self.judge_cfg, judge_path, device=self.device,
                                                        progress=s.progress))
        self.judge, jckpt = load_judge(judge_path, self.device)
        check_judge_matches(jckpt, cfg.dataset, cfg.image_size, judge_path)
        self.judge_acc = jckpt["test_acc"]
        self.theta0 = {k: v.clone() for k, v in load_ddpm(self.ddpm_path)[0].state_dict().items()}
        self.pretrained_samples = stage(os.path.join(self.runs, "pretrained-samples.json"), s.fresh,
                                        self.sample_all_classes)

    def sample_all_classes(self) -> dict:
        """The pre-trained model's samples of every class: a grid, and the judge's accuracy on them."""
        model, schedule = load_ddpm(self.ddpm_path, self.device)[:2]
        n = 10 if self.s.smoke else 100
        labels = torch.arange(10).repeat_interleave(n)
        t0 = time.time()
        x = generate(model, schedule, labels, self.sample, seed=0)
        seconds = time.time() - t0
        pred = torch.cat([self.judge(x[i:i + 500].to(self.device)).argmax(1).cpu() for i in range(0, len(x), 500)])
        per_class = [(pred[labels == k] == k).float().mean().item() for k in range(10)]
        save_grid(x.view(10, n, *x.shape[1:])[:, :10].flatten(0, 1), os.path.join(self.results, "pretrained.png"))
        return {"accuracy": (pred == labels).float().mean().item(), "per_class": per_class,
                "n_per_class": n, "sampling_images_per_second": len(x) / seconds}

    def base_model(self, v: Variant):
        path = self.retrain_path if v.method == "retrain" else self.ddpm_path
        return load_ddpm(path, self.device)[:2]      # EMA weights

    # ------------------------------------------------------------------ one row, one seed
    def folder(self, seed: int) -> str:
        return os.path.join(self.runs, f"forget{self.f}", f"seed{seed}")

    @staticmethod
    def key(v: Variant) -> str:
        """Stages are keyed by what they compute, so variants that share a model share its stages:
        'ga-share1%' reuses the 'ga' model and evaluation, and only adds its own attack."""
        return v.name if v.unlearn else (v.method or "pretrained")

    def unlearned_model(self, v: Variant, seed: int):
        """(model, schedule, loss history) of a row: the pre-trained or Retrain model (EMA weights),
        or the pre-trained model after v's unlearning with this seed (cached in <folder>/<key>.pt)."""
        s, model_path = self.s, os.path.join(self.folder(seed), f"{self.key(v)}.pt")
        model, schedule = self.base_model(v)
        hist = None
        if v.method not in (None, "retrain"):
            if os.path.exists(model_path) and not s.fresh:
                saved = torch.load(model_path, weights_only=True)
                model.load_state_dict(saved["model"])
                hist = saved["history"]
            else:
                ucfg = make_unlearn_config(v.method, forget_class=self.f, seed=seed, **v.unlearn)
                if s.smoke:
                    ucfg = replace(ucfg, steps=min(ucfg.steps, 5))
                t0 = time.time()
                hist = unlearn(model, schedule, self.splits["train"], ucfg, progress=s.progress)
                hist["seconds"] = time.time() - t0
                hist["config"] = config_dict(ucfg)
                os.makedirs(self.folder(seed), exist_ok=True)
                torch.save({"model": model.state_dict(), "history": hist}, model_path + ".tmp")
                os.replace(model_path + ".tmp", model_path)
        return model, schedule, hist

    def run_variant(self, v: Variant, seed: int) -> dict:
        s, folder, key = self.s, self.folder(seed), self.key(v)
        make_model = lambda: self.unlearned_model(v, seed)  # noqa: E731

        def evaluate():
            model, schedule, hist = self._timed("unlearn", make_model)
            t0 = time.time()
            row = {"forget_acc": forget_acc(model, schedule, self.judge, self.f, s.n_forget, self.sample, seed),
                   **retain_metrics(model, schedule, self.judge, self.f, self.splits["test"], s.n_retain,
                                    self.sample, seed),
                   "distance": param_distance(model, self.theta0)}
            if hist is not None:
                row.update(unlearn_loss=hist["loss"], unlearn_steps=hist["steps_done"],
                           unlearn_stopped=hist["stopped"], unlearn_seconds=hist.get("seconds"),
                           unlearn_config=hist.get("config"))
            row["eval_seconds"] = time.time() - t0
            self.grid(model, schedule, f"{key}-unlearned.png", seed)
            return row

        os.makedirs(folder, exist_ok=True)
        row = dict(stage(os.path.join(folder, f"{key}.json"), s.fresh, evaluate))
        for aux in v.auxes:
            tag = "".join(f"-{k}{val}" for k, val in sorted(v.attack.items()))
            name = f"{key}-dimra-{aux}{tag}"

            def attack(aux=aux, name=name):
                model, schedule, _ = make_model()
                acfg = DiMRAConfig(aux=aux, steps=s.attack_steps, eval_every=s.eval_every, seed=seed, **v.attack)
                d_aux = attack_set(self.splits["aux"], self.f, aux, acfg.share, seed=seed)
                t0 = time.time()
                res = dimra(model, schedule, d_aux, self.f, acfg,
                            measure=lambda m: forget_acc(m, schedule, self.judge, self.f, s.n_forget,
                                                         self.sample, seed), progress=s.progress)
                self.grid(model, schedule, f"{name}.png", seed)
                return {"curve": res["curve"], "distance": param_distance(model, self.theta0),
                        "attack": acfg.to_dict(), "n_aux": len(d_aux),
                        "n_aux_forget": int((d_aux.labels == self.f).sum()), "seconds": time.time() - t0}
            row[f"dimra_{aux}"] = self._timed(
                "attack", lambda: stage(os.path.join(folder, f"{name}.json"), s.fresh, attack))
        return row

    def grid(self, model, schedule, name: str, seed: int) -> None:
        """10 samples of the forgotten class (row 1) and of four retained classes (rows 2-5)."""
        keep = [k for k in range(10) if k != self.f][:4]
        labels = torch.tensor([self.f] * 10 + [k for k in keep for _ in range(10)])
        path = os.path.join(self.results, "grids", f"seed{seed}", name)
        save_grid(generate(model, schedule, labels, self.sample, seed), path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="mnist5k-quick", help=f"one of {', '.join(PRESETS)}")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--forget-class", type=int, default=0)
    p.add_argument("--ablation", action="store_true", help="run the ablation variants (first seed only)")
    p.add_argument("--variants", help="comma-separated ablation variants to run (default: all)")
    p.add_argument("--attack-steps", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=50, help="attack steps between forget_acc measurements")
    p.add_argument("--smoke", action="store_true", help="tiny step counts: check that every stage runs")
    p.add_argument("--fresh", action="store_true", help="redo finished stages instead of reusing them")
    p.add_argument("--device")
    a = p.parse_args(argv)
    from report import write_ablation, write_main
    def body():
        s = Settings(preset=a.preset, seeds=tuple(a.seeds), forget_class=a.forget_class,
                     attack_steps=a.attack_steps, eval_every=a.eval_every, smoke=a.smoke, fresh=a.fresh)
        t0 = time.time()
        pipe = Pipeline(s, pick_device(a.device))
        pipe.prepare()
        if a.ablation:
            chosen = [v for v in ABLATION if not a.variants or v.name in a.variants.split(",")]
            rows = {v.name: {s.seeds[0]: pipe.run_variant(v, s.seeds[0])} for v in MAIN + chosen}
            write_ablation(pipe, rows, chosen, time.time() - t0, " ".join(sys.argv[1:]))
        else:
            rows = {v.name: {} for v in MAIN}
            for seed in s.seeds:                  # seed by seed: a stopped run leaves whole seeds behind
                for v in MAIN:
                    rows[v.name][seed] = pipe.run_variant(v, seed)
            write_main(pipe, rows, MAIN, time.time() - t0, " ".join(sys.argv[1:]))
        print(f"done in {time.time() - t0:.0f} s: {pipe.results}/")
    return run_cli(body, "finished stages are saved under runs/; rerun the same command to continue")


if __name__ == "__main__":
    sys.exit(main())
