"""Pre-train a class-conditional DDPM or the judge classifier.

    python train.py ddpm  --preset mnist5k-quick [--steps 3000 --lr 1e-3 --exclude-class 0 ...]
    python train.py judge --dataset mnist5k [--image-size 16 --epochs 15]
    torchrun --nproc_per_node=N train.py ddpm --preset cifar10   # data-parallel (lab/distributed.py)

Every DDPMConfig / JudgeConfig field is a flag (--ch-mult 1,2,2 for tuples); flags override the
preset (lab/presets.py PRESETS, metrics/judge.py JUDGE_PRESETS: the judge reproduce.py trains).
"""
import argparse
import os
import sys
import time

from ddpm.config import DDPMConfig
from ddpm.errors import UserError
from lab.checkpoint import check_writable
from lab.cli import add_flags, given, run_cli
from lab.hardware import pick_device
from lab.judges import default_judge_path, train_judge
from lab.presets import PRESETS, make_config
from lab.pretrain import pretrain
from metrics.judge import JUDGE_PRESETS, JudgeConfig, judge_config


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    d = sub.add_parser("ddpm", help="pre-train a DDPM")
    d.add_argument("--preset", default="mnist5k-quick", help=f"one of {', '.join(PRESETS)}")
    d.add_argument("--out", help="checkpoint path (default runs/<preset>/ddpm.pt, or ddpm-retrain<c>.pt)")
    d.add_argument("--resume", action="store_true", help="continue the checkpoint at --out")
    d.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: CUDA, else MPS, else the CPU)")
    add_flags(d, DDPMConfig, help={"exclude_class": "train without this class (the Retrain reference)"})
    j = sub.add_parser("judge", help="train the judge classifier on the real training split")
    j.add_argument("--out", help="checkpoint path (default runs/judge-<dataset>-<size>px.pt)")
    j.add_argument("--device")
    add_flags(j, JudgeConfig, help={"dataset": f"one of {', '.join(JUDGE_PRESETS)} (default mnist5k)"})
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)

    def body():
        device = pick_device(args.device, announce=True)
        t0 = time.time()
        if args.what == "ddpm":
            cfg = make_config(args.preset, **given(args, DDPMConfig))
            suffix = "" if cfg.exclude_class is None else f"-retrain{cfg.exclude_class}"
            out = args.out or os.path.join("runs", args.preset, f"ddpm{suffix}.pt")
            if args.resume and not os.path.exists(out):
                raise UserError(f"--resume: {out} does not exist; drop --resume to start a new run")
            pretrain(cfg, out, resume=args.resume, device=device)
            if os.environ.get("RANK", "0") == "0":          # under torchrun: rank 0 only
                print(f"saved {out} ({time.time() - t0:.0f} s); sample grids in {os.path.dirname(out) or '.'}/samples/")
        else:
            flags = given(args, JudgeConfig)
            cfg = judge_config(flags.pop("dataset", "mnist5k"), **flags)
            out = args.out or default_judge_path(cfg)
            check_writable(out)
            acc = train_judge(cfg, out, device=device)
            print(f"judge test accuracy {acc:.4f}; saved {out} ({time.time() - t0:.0f} s)")
    return run_cli(body, "the last checkpoint is intact; rerun with --resume to continue")


if __name__ == "__main__":
    sys.exit(main())
