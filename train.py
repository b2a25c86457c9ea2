"""Pre-train a class-conditional DDPM or the judge classifier.

    python train.py ddpm  --preset mnist5k-quick [--steps 3000 --lr 1e-3 --exclude-class 0 ...]
    python train.py judge --dataset mnist5k [--image-size 16 --epochs 15]
    torchrun --nproc_per_node=N train.py ddpm --preset cifar10   # data-parallel (ddpm/distributed.py)

Every DDPMConfig field is a flag (--ch-mult 1,2,2 for tuples); flags override the preset.
"""
import argparse
import dataclasses
import os
import sys
import time

from ddpm.checkpoint import check_writable
from ddpm.errors import UserError, parse_bool, run_cli
from ddpm.pretrain import PRESETS, DDPMConfig, make_config, pick_device, pretrain


def _tuple(s: str) -> tuple:
    return tuple(int(v) for v in s.split(",") if v.strip())


def ddpm_args(sub):
    p = sub.add_parser("ddpm", help="pre-train a DDPM")
    p.add_argument("--preset", default="mnist5k-quick", help=f"one of {', '.join(PRESETS)}")
    p.add_argument("--out", help="checkpoint path (default runs/<preset>/ddpm.pt, or ddpm-retrain<c>.pt)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint at --out")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    for f in dataclasses.fields(DDPMConfig):
        kind = {bool: parse_bool, tuple: _tuple, int: int, float: float, str: str}.get(f.type, None)
        if f.name == "exclude_class":
            kind = int
        p.add_argument("--" + f.name.replace("_", "-"), type=kind or str, default=None, dest=f.name)
    return p


def judge_args(sub):
    from metrics.judge import JudgeConfig
    p = sub.add_parser("judge", help="train the judge classifier on the real training split")
    p.add_argument("--out", help="checkpoint path (default runs/judge-<dataset>-<size>px.pt)")
    p.add_argument("--device")
    for f in dataclasses.fields(JudgeConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type={int: int, float: float, str: str}[f.type],
                       default=None, dest=f.name)
    return p


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    ddpm_args(sub)
    judge_args(sub)
    args = parser.parse_args(argv)
    def body():
        device = pick_device(args.device)
        t0 = time.time()
        if args.what == "ddpm":
            overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(DDPMConfig)}
            cfg = make_config(args.preset, **overrides)
            suffix = "" if cfg.exclude_class is None else f"-retrain{cfg.exclude_class}"
            out = args.out or os.path.join("runs", args.preset, f"ddpm{suffix}.pt")
            if args.resume and not os.path.exists(out):
                raise UserError(f"--resume: {out} does not exist; drop --resume to start a new run")
            pretrain(cfg, out, resume=args.resume, device=device)
            if os.environ.get("RANK", "0") == "0":          # under torchrun: rank 0 only
                print(f"saved {out} ({time.time() - t0:.0f} s); sample grids in {os.path.dirname(out) or '.'}/samples/")
        else:
            from metrics.judge import JudgeConfig, default_judge_path, train_judge
            overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(JudgeConfig)}
            cfg = JudgeConfig(**{k: v for k, v in overrides.items() if v is not None})
            out = args.out or default_judge_path(cfg)
            check_writable(out)
            acc = train_judge(cfg, out, device=device)
            print(f"judge test accuracy {acc:.4f}; saved {out} ({time.time() - t0:.0f} s)")
    return run_cli(body, "the last checkpoint is intact; rerun with --resume to continue")


if __name__ == "__main__":
    sys.exit(main())
