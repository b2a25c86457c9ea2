"""Attack an unlearned DDPM with one of the registered attacks and print its recovery curve.

    python -m attack --ckpt runs/mnist5k-quick/unlearned-ga-f0.pt [--name dimra_retain --steps 300 ...]
    python -m attack --ckpt ... --name inversion --n-images 32      (--name X --help: X's settings)

Attacks (attack/__init__.py): dimra_retain (the default), dimra_mixed, inversion, datafree.
`--aux retain|mixed` still picks DiMRA's threat model (= --name dimra_<aux>).
Any DDPM checkpoint of this project works: one from `python -m unlearn`, or one that reproduce.py
cached under runs/<preset>/forget<f>/seed<s>/. The forgotten class is read from the checkpoint (or
--forget-class for a plain pre-trained model). Real images come from the held-out 'aux' split,
never from the data unlearning read. Every field of the attack's Config is a flag (defaults there).
"""
import argparse
import dataclasses
import os
import sys

from ddpm.data import check_class, load_splits
from ddpm.errors import UserError
from lab.checkpoint import check_writable, save_checkpoint
from lab.cli import add_flags, given, run_cli
from lab.hardware import pick_device
from lab.judges import check_judge_matches, find_judge, load_judge
from lab.pretrain import load_ddpm
from metrics.evaluate import N_FORGET, SampleSettings, forget_acc
from metrics.judge import JudgeConfig

from . import ATTACKS
from .base import AttackData, as_attacked, attacked_checkpoint
from .run import get_attack, make_config, run_attack, settings_of

DIMRA_AUX = ("retain", "mixed")


def attack_name(name: str | None, aux: str | None) -> str:
    """--name, or DiMRA's entry for the legacy --aux (dimra_retain when neither is given)."""
    if aux is not None and aux not in DIMRA_AUX:
        raise UserError(f"--aux {aux!r}: use 'retain' or 'mixed'")
    if aux is not None and name is not None and name != f"dimra_{aux}":
        raise UserError(f"--aux {aux} is DiMRA's threat model: drop it, or use --name dimra_{aux}")
    name = name or f"dimra_{aux or 'retain'}"
    get_attack(name)
    return name


def parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", help=f"one of {', '.join(ATTACKS)} (default dimra_retain)")
    p.add_argument("--aux", help="DiMRA's threat model, retain or mixed (same as --name dimra_<aux>)")
    p.add_argument("--ckpt", required=True, help="unlearned (or any DDPM) checkpoint")
    p.add_argument("--forget-class", type=int, help="default: the class the checkpoint unlearned")
    p.add_argument("--judge", help="judge checkpoint (default runs/judge-<dataset>-<size>px.pt)")
    p.add_argument("--out", help="default: beside --ckpt, <name>-<attack>.pt (e.g. -dimra-retain.pt)")
    p.add_argument("--n-eval", type=int, default=N_FORGET, help="samples per forget_acc measurement")
    p.add_argument("--device")
    cls = get_attack(name).Config
    add_flags(p, cls, skip=[f.name for f in dataclasses.fields(cls) if not f.init])   # DiMRA's fixed threat model
    return p


def forgotten_class(a, ckpt: dict) -> int:
    f = a.forget_class if a.forget_class is not None else \
        ckpt.get("forget_class", (ckpt.get("unlearn") or {}).get("forget_class"))
    if f is None:
        raise UserError(f"{a.ckpt} records no forgotten class: pass --forget-class")
    return check_class(f)


def body(argv) -> None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--name")
    pre.add_argument("--aux")
    known, _ = pre.parse_known_args(argv)
    name = attack_name(known.name, known.aux)
    a = parser(name).parse_args(argv)
    cfg = make_config(name, **given(a, names=[f.name for f in settings_of(name)]))
    if a.n_eval < 1:
        raise UserError(f"--n-eval {a.n_eval} must be at least 1")
    out = a.out or os.path.splitext(a.ckpt)[0] + f"-{name.replace('_', '-')}.pt"
    check_writable(out)
    device = pick_device(a.device)
    model, schedule, dcfg, ckpt = load_ddpm(a.ckpt, device)
    f = forgotten_class(a, ckpt)
    judge_path = a.judge or find_judge(JudgeConfig(dataset=dcfg.dataset, image_size=dcfg.image_size))
    judge, jckpt = load_judge(judge_path, device)
    check_judge_matches(jckpt, dcfg.dataset, dcfg.image_size, judge_path)
    aux = load_splits(dcfg.dataset, dcfg.data_root, dcfg.image_size)["aux"]
    data = AttackData(aux=aux, forget_class=f, seed=cfg.seed, model_config=dcfg)
    s = SampleSettings.of(dcfg)
    res = run_attack(name, model, schedule, data, cfg,
                     measure=lambda m: forget_acc(m, schedule, judge, f, a.n_eval, s, seed=cfg.seed))
    for step, acc in zip(res["curve"]["step"], res["curve"]["forget_acc"]):
        print(f"step {step:5d}  forget_acc {acc:.3f}")
    if res["diverged"]:
        raise UserError(f"the attack's loss became NaN/inf after {len(res['loss'])} steps: lower --lr; "
                        f"nothing was written")
    with as_attacked(ATTACKS[name], model, data, res):
        save_checkpoint(attacked_checkpoint(model, dcfg.to_dict(), name, cfg, f, a.ckpt, res), out)
    print(f"saved {out}")


def main(argv=None) -> int:
    return run_cli(lambda: body(argv), "nothing was written; rerun the command")


if __name__ == "__main__":
    sys.exit(main())
