"""Unlearn one class from a pre-trained DDPM.

    python -m unlearn --method ga --forget-class 0 --ckpt runs/mnist5k-quick/ddpm.pt [--out ...]

Writes a checkpoint of kind 'unlearned' that records the method, its settings and its loss curve
(`python -m attack --ckpt <it>` attacks it). Each method's defaults live in its own file
(unlearn/<method>.py, class Settings); the flags below are built from those classes and override them.
"""
import argparse
import dataclasses
import os
import sys

from ddpm.checkpoint import check_writable, save_checkpoint
from ddpm.data import load_splits
from ddpm.errors import parse_bool, run_cli
from ddpm.pretrain import load_ddpm, pick_device

from . import METHODS
from .run import make_settings, settings_dict, unlearn


def settings_flags(p: argparse.ArgumentParser) -> list[str]:
    """One flag per setting of any registered method (--forget-class, --steps, --neg-guidance, ...)."""
    owners = {}
    for name, module in METHODS.items():
        for f in dataclasses.fields(module.Settings):
            owners.setdefault(f.name, (f.type, []))[1].append(name)
    for field, (kind, methods) in owners.items():
        parse = {bool: parse_bool, "bool": parse_bool, int: int, "int": int, float: float, "float": float}.get(kind, str)
        used_by = "" if len(methods) == len(METHODS) else f" ({', '.join(methods)})"
        p.add_argument("--" + field.replace("_", "-"), type=parse, default=None, dest=field,
                       required=field == "forget_class", help=f"default: the method's own{used_by}")
    return list(owners)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, help=f"one of {', '.join(METHODS)}")
    p.add_argument("--ckpt", required=True, help="pre-trained DDPM checkpoint")
    p.add_argument("--out", help="default: beside --ckpt, unlearned-<method>-f<class>.pt")
    p.add_argument("--device")
    names = settings_flags(p)
    a = p.parse_args(argv)

    def body():
        s = make_settings(a.method, **{n: getattr(a, n) for n in names})     # refuses bad values first
        device = pick_device(a.device)
        out = a.out or os.path.join(os.path.dirname(a.ckpt), f"unlearned-{a.method}-f{s.forget_class}.pt")
        check_writable(out)
        model, schedule, dcfg, _ = load_ddpm(a.ckpt, device)
        train = load_splits(dcfg.dataset, dcfg.data_root, dcfg.image_size)["train"]
        hist = unlearn(model, schedule, train, a.method, s)
        save_checkpoint({"kind": "unlearned", "config": dcfg.to_dict(), "unlearn": settings_dict(a.method, s),
                         "pretrained": a.ckpt, "model": model.state_dict(), "ema": None,
                         "history": hist}, out)
        if hist["stopped"] == "nonfinite":
            print(f"warning: the {a.method} loss became NaN/inf after {hist['steps_done']} steps; "
                  f"kept the last finite weights. Lower --lr or --steps.", file=sys.stderr)
        final = f"final loss {hist['loss'][-1]:.4f}" if hist["loss"] else "no finite step"
        print(f"saved {out} ({hist['steps_done']} steps, {final})")
    return run_cli(body, "nothing was written; rerun the command")


if __name__ == "__main__":
    sys.exit(main())
