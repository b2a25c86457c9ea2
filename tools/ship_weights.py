"""Export the trained mnist5k-quick models to weights/ (safetensors + a JSON description each).

    make weights          # trains the three models with train.py (about 15 min on 2 CPU cores), then runs this
    python -m tools.ship_weights [--forget-class 0]

Writes weights/mnist5k-quick-ddpm.safetensors (the pre-trained DDPM's EMA weights),
weights/mnist5k-quick-ddpm-retrain<f>.safetensors (Retrain: the same recipe without class f) and
weights/judge-mnist5k-16px.safetensors, each with a .json beside it: the config, the command and
commit that trained it, the file's sha256 and its measured quality. reproduce.py and the notebook
use them when their config matches (`--from-scratch` trains instead).
"""
import argparse
import os
import platform
import subprocess
import sys
import torch


from ddpm.config import DDPMConfig
from ddpm.errors import UserError
from harness.settings import RETRAIN_SEED, retrain_config
from lab.checkpoint import load_checkpoint, save_shipped
from lab.cli import run_cli
from lab.judges import default_judge_path, load_judge
from lab.presets import make_config
from lab.pretrain import load_ddpm
from metrics.evaluate import SampleSettings, generate, judge_accuracy
from metrics.judge import JudgeConfig

PRESET = "mnist5k-quick"
PER_CLASS = 100          # guided samples per class behind each quality figure


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def quality(path: str, judge, classes: list[int]) -> dict:
    """The judge's accuracy on PER_CLASS guided samples of each class (the evaluation sampler, seed 0)."""
    model, schedule, cfg, _ = load_ddpm(path)
    labels = torch.tensor(classes).repeat_interleave(PER_CLASS)
    x = generate(model, schedule, labels, SampleSettings.of(cfg), seed=0)
    per_class = {k: judge_accuracy(judge, x[labels == k], labels[labels == k]) for k in classes}
    return {"judge_accuracy_on_guided_samples": judge_accuracy(judge, x, labels),
            "per_class": per_class, "samples": len(labels),
            "sampler": f"DDIM eta=0, {cfg.ddim_steps} steps, guidance w={cfg.guidance}, seed 0"}


def ship_unlearned(run: str, f: int, out: str) -> None:
    """weights/<preset>-<method>-forget<f>-seed0.safetensors for every method: the run's unlearned model and
    its history, keyed by its stage key, which the pipeline checks before using it (harness/pipeline.py)."""
    from unlearn import METHODS
    for method in METHODS:
        src = os.path.join(run, f"forget{f}", "seed0", f"{method}.pt")
        saved = load_checkpoint(src, kind="unlearned", hint=f"run reproduce.py so that {run} holds it")
        if saved.get("stage_key") is None:
            raise UserError(f"{src} has no stage key: it was not written by reproduce.py")
        meta = save_shipped(saved["model"], {"kind": "unlearned", "config": {"stage_key": saved["stage_key"]},
                                             "history": saved["history"], "method": method, "commit": commit(),
                                             "source": src}, os.path.join(out, f"{PRESET}-{method}-forget{f}-seed0.safetensors"))
        print(f"{meta['file']}: {method}, stage key {saved['stage_key'][:12]}")


def ship_retrain(src: str, f: int, out: str, seed: int = 0) -> None:
    """weights/<preset>-ddpm-retrain<f>[-seed<s>]: Retrain of the run's seed s (trained with seed
    RETRAIN_SEED + s), from `src`; reproduce.py uses it when its config matches."""
    cfg = make_config(PRESET)
    c = retrain_config(cfg, f, seed)
    command = f"python train.py ddpm --preset {PRESET} --exclude-class {f} --seed {c.seed}"
    ckpt = load_checkpoint(src, kind="ddpm", hint=f"train it with `{command}`")
    if DDPMConfig(**ckpt["config"]) != c:
        raise UserError(f"{src} was not trained with Retrain's config (seed {c.seed}): retrain it with `{command}`")
    judge, _ = load_judge(os.path.join("weights", f"judge-{cfg.dataset}-{cfg.image_size}px.safetensors"))
    trained_on = {"torch": torch.__version__, "machine": platform.machine(), "commit": commit(), "source": src}
    meta = save_shipped(ckpt["ema"], {"kind": "ddpm", "config": c.to_dict(), "command": command, "weights": "EMA",
                                      "steps_trained": ckpt["step"], "trained_on": trained_on,
                                      "quality": quality(src, judge, list(range(10)))},
                        os.path.join(out, f"{PRESET}-ddpm-retrain{f}" + (f"-seed{seed}" if seed else "") + ".safetensors"))
    print(f"{meta['file']}: judge accuracy {meta['quality']['judge_accuracy_on_guided_samples']:.3f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--forget-class", type=int, default=0)
    p.add_argument("--out", default="weights")
    p.add_argument("--unlearned", metavar="RUN", help="instead: ship the unlearned models of seed 0 that a float32 "
                   "run from the shipped weights made (e.g. runs/mnist5k-quick-headline), for make demo")
    p.add_argument("--retrain-only", metavar="CKPT", help="instead: ship only Retrain, from this checkpoint (e.g. "
                   "runs/mnist5k-quick-headline/ddpm-retrain0.pt, the Retrain of seed 0 a run trained), judged by the "
                   "shipped judge")
    p.add_argument("--seed", type=int, default=0, help="with --retrain-only: the run's seed that Retrain belongs to")
    a = p.parse_args()
    if a.unlearned:
        return run_cli(lambda: ship_unlearned(a.unlearned, a.forget_class, a.out), "rerun the command")
    if a.retrain_only:
        return run_cli(lambda: ship_retrain(a.retrain_only, a.forget_class, a.out, a.seed), "rerun the command")

    def body():
        cfg = make_config(PRESET)
        jcfg = JudgeConfig(dataset=cfg.dataset, image_size=cfg.image_size)
        judge_path = default_judge_path(jcfg)
        judge, jckpt = load_judge(judge_path)
        trained_on = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
                      "commit": commit()}
        f = a.forget_class
        models = [("ddpm", cfg, f"python train.py ddpm --preset {PRESET}", list(range(10))),
                  (f"ddpm-retrain{f}", retrain_config(cfg, f, 0),
                   f"python train.py ddpm --preset {PRESET} --exclude-class {f} --seed {RETRAIN_SEED}",
                   list(range(10)))]
        for name, c, command, classes in models:
            src = os.path.join("runs", PRESET, f"{name}.pt")
            ckpt = load_checkpoint(src, kind="ddpm", hint=f"train it with `{command}`")
            if DDPMConfig(**ckpt["config"]) != c:
                raise UserError(f"{src} was not trained with the {PRESET} preset's config: retrain it with `{command}`")
            meta = save_shipped(ckpt["ema"], {"kind": "ddpm", "config": c.to_dict(), "command": command,
                                              "weights": "EMA", "steps_trained": ckpt["step"],
                                              "trained_on": trained_on, "quality": quality(src, judge, classes)},
                                os.path.join(a.out, f"{PRESET}-{name}.safetensors"))
            print(f"{meta['file']}: judge accuracy {meta['quality']['judge_accuracy_on_guided_samples']:.3f} "
                  f"on {meta['quality']['samples']} guided samples")
        meta = save_shipped(jckpt["model"], {"kind": "judge", "config": jckpt["config"],
                                             "command": f"python train.py judge --dataset {cfg.dataset} "
                                                        f"--image-size {cfg.image_size}",
                                             "trained_on": trained_on, "quality": {"test_acc": jckpt["test_acc"]},
                                             "extra": {"in_channels": jckpt["in_channels"],
                                                       "test_acc": jckpt["test_acc"]}},
                            os.path.join(a.out, os.path.basename(judge_path).replace(".pt", ".safetensors")))
        print(f"{meta['file']}: test accuracy {jckpt['test_acc']:.4f}")
    return run_cli(body, "rerun the command")


if __name__ == "__main__":
    sys.exit(main())
