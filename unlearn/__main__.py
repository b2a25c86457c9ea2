"""Unlearn one class from a pre-trained DDPM.

    python -m unlearn --method ga --forget-class 0 --ckpt runs/mnist5k-quick/ddpm.pt [--out ...]

Writes a checkpoint of kind 'unlearned' that records the method, its settings and its loss curve
(`python -m attack --ckpt <it>` attacks it). Each method's defaults live in its own file
(unlearn/<method>.py, class Settings); the flags of the chosen method are built from that class
(`python -m unlearn --method salun --help` lists SalUn's) and override it.
"""
import argparse
import os
import sys

from ddpm.data import load_splits
from lab.checkpoint import check_writable, save_checkpoint
from lab.cli import add_flags, given, run_cli
from lab.hardware import pick_device
from lab.pretrain import load_ddpm

from . import METHODS
from .run import get_method, ignored, make_settings, unlearn, unlearned_checkpoint


def parser(method: str | None, add_help: bool = True) -> argparse.ArgumentParser:
    """The flags: --method, --ckpt, --out, --device, and one per setting of `method` (when known)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                add_help=add_help)
    p.add_argument("--method", required=add_help, help=f"one of {', '.join(METHODS)}")
    p.add_argument("--ckpt", required=add_help, help="pre-trained DDPM checkpoint")
    p.add_argument("--out", help="default: beside --ckpt, unlearned-<method>-f<class>.pt")
    p.add_argument("--device")
    if method in METHODS:
        add_flags(p, METHODS[method].Settings, skip=ignored(method), forget_class={"type": int, "required": True})
    return p


def main(argv=None) -> int:
    known, _ = parser(None, add_help=False).parse_known_args(argv)   # --method first: it decides the other flags
    if known.method is not None and known.method not in METHODS:
        return run_cli(lambda: get_method(known.method), "nothing was written")     # one line: the known methods
    p = parser(known.method)
    a, extra = p.parse_known_args(argv)
    unknown = [x[2:].split("=")[0].replace("-", "_") for x in extra if x.startswith("--")]
    if unknown:                  # another method's setting: say whose settings these are, in one line
        return run_cli(lambda: make_settings(a.method, **dict.fromkeys(unknown, 0)), "nothing was written")
    if extra:
        p.error(f"unrecognized arguments: {' '.join(extra)}")

    def body():
        cls = get_method(a.method).Settings                                # refuses an unknown method
        s = make_settings(a.method, **given(a, cls))                       # refuses bad values first
        device = pick_device(a.device)
        out = a.out or os.path.join(os.path.dirname(a.ckpt), f"unlearned-{a.method}-f{s.forget_class}.pt")
        check_writable(out)
        model, schedule, dcfg, _ = load_ddpm(a.ckpt, device)
        train = load_splits(dcfg.dataset, dcfg.data_root, dcfg.image_size)["train"]
        hist = unlearn(model, schedule, train, a.method, s)
        save_checkpoint(unlearned_checkpoint(model, dcfg.to_dict(), a.method, s, hist, a.ckpt), out)
        if hist["stopped"] == "nonfinite":
            print(f"warning: the {a.method} loss became NaN/inf after {hist['steps_done']} steps; "
                  f"kept the last finite weights. Lower --lr or --steps.", file=sys.stderr)
        final = f"final loss {hist['loss'][-1]:.4f}" if hist["loss"] else "no finite step"
        print(f"saved {out} ({hist['steps_done']} steps, {final})")
    return run_cli(body, "nothing was written; rerun the command")


if __name__ == "__main__":
    sys.exit(main())
