"""Sampling speed and judge accuracy of a trained DDPM: 100 guided DDIM samples of each class.

    python -m tools.sample_speed --steps 50        # DDIM-50, w = 2, runs/mnist5k-quick/ddpm.pt

The README's images/s figures come from this script (2 CPU threads, nothing else running).
"""
import argparse
import sys
import time

import torch

from lab.cli import run_cli
from lab.judges import check_judge_matches, load_judge
from lab.pretrain import load_ddpm
from metrics.evaluate import SampleSettings, generate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default="runs/mnist5k-quick/ddpm.pt")
    p.add_argument("--judge", default="runs/judge-mnist5k-16px.pt")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--guidance", type=float, help="default: the model's own (its config's guidance)")
    p.add_argument("--per-class", type=int, default=100)
    a = p.parse_args()

    def body():
        model, schedule, cfg, _ = load_ddpm(a.ckpt)
        a.guidance = cfg.guidance if a.guidance is None else a.guidance
        judge, jckpt = load_judge(a.judge)
        check_judge_matches(jckpt, cfg.dataset, cfg.image_size, a.judge)
        measure(model, schedule, judge, a)
    return run_cli(body, "nothing was written; rerun the command")


def measure(model, schedule, judge, a) -> None:
    labels = torch.arange(10).repeat_interleave(a.per_class)
    t0 = time.time()
    x = generate(model, schedule, labels, SampleSettings(steps=a.steps, guidance=a.guidance), seed=1)
    seconds = time.time() - t0
    with torch.no_grad():
        acc = (judge(x).argmax(1) == labels).float().mean().item()
    print(f"DDIM-{a.steps}, w = {a.guidance}: {len(x) / seconds:.1f} images/s ({seconds:.0f} s for {len(x)}), "
          f"judge accuracy {acc:.3f}, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    sys.exit(main())
