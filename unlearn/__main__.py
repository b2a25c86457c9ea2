"""Unlearn one class from a pre-trained DDPM.

    python -m unlearn --method ga --forget-class 0 --ckpt runs/mnist5k-quick/ddpm.pt [--out ...]

Writes a checkpoint of kind 'unlearned' that records the method, its settings and its loss curve.
Defaults per method are in unlearn/run.py (DEFAULTS); flags override them.
"""
import argparse
import os
import sys

from ddpm.checkpoint import save_checkpoint
from ddpm.data import load_splits
from ddpm.errors import run_cli
from ddpm.pretrain import load_ddpm, pick_device

from .run import METHODS, config_dict, make_unlearn_config, unlearn


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, help=f"one of {', '.join(METHODS)}")
    p.add_argument("--forget-class", type=int, required=True)
    p.add_argument("--ckpt", required=True, help="pre-trained DDPM checkpoint")
    p.add_argument("--out", help="default: beside --ckpt, unlearned-<method>-f<class>.pt")
    p.add_argument("--device")
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--alpha", type=float, help="retain-term weight (0 = no retain term)")
    p.add_argument("--eta", type=float, help="ESD negative-guidance strength")
    p.add_argument("--salun-fraction", type=float, help="SalUn: share of weights updated")
    p.add_argument("--alt", help="DiMUM alternative set: class:K, fixed:K:N, pattern:blank|checker")
    p.add_argument("--plateau", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--freeze-class-emb", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--seed", type=int)
    a = p.parse_args(argv)
    def body():
        cfg = make_unlearn_config(a.method, forget_class=a.forget_class, steps=a.steps, lr=a.lr,
                                  batch_size=a.batch_size, alpha=a.alpha, eta=a.eta,
                                  salun_fraction=a.salun_fraction, alt=a.alt, plateau=a.plateau,
                                  freeze_class_emb=a.freeze_class_emb, seed=a.seed)
        device = pick_device(a.device)
        model, schedule, dcfg, _ = load_ddpm(a.ckpt, device)
        train = load_splits(dcfg.dataset, dcfg.data_root, dcfg.image_size)["train"]
        hist = unlearn(model, schedule, train, cfg)
        out = a.out or os.path.join(os.path.dirname(a.ckpt), f"unlearned-{a.method}-f{a.forget_class}.pt")
        save_checkpoint({"kind": "unlearned", "config": dcfg.to_dict(), "unlearn": config_dict(cfg),
                         "pretrained": a.ckpt, "model": model.state_dict(), "ema": None,
                         "history": hist}, out)
        if hist["stopped"] == "nonfinite":
            print(f"warning: the {a.method} loss became NaN/inf after {hist['steps_done']} steps; "
                  f"kept the last finite weights. Lower --lr or --steps.", file=sys.stderr)
        print(f"saved {out} ({hist['steps_done']} steps, final loss {hist['loss'][-1]:.4f})")
    return run_cli(body, "nothing was written; rerun the command")


if __name__ == "__main__":
    sys.exit(main())
