"""Attack an unlearned DDPM with DiMRA and print its recovery curve.

    python -m attack --ckpt runs/mnist5k-quick/unlearned-ga-f0.pt [--aux retain|mixed --steps 300 --lr 1e-4]

Any DDPM checkpoint of this project works: one from `python -m unlearn`, or one that reproduce.py
cached under runs/<preset>/forget<f>/seed<s>/. The forgotten class is read from the checkpoint (or
--forget-class for a plain pre-trained model). The auxiliary set comes from the held-out 'aux'
split, never from the data unlearning read. Every DiMRAConfig field is a flag (defaults there).
"""
import argparse
import dataclasses
import os
import sys

from ddpm.checkpoint import check_writable, save_checkpoint
from ddpm.data import check_class, load_splits
from ddpm.errors import UserError, run_cli
from ddpm.pretrain import load_ddpm, pick_device
from metrics.evaluate import N_FORGET, SampleSettings, forget_acc
from metrics.judge import JudgeConfig, check_judge_matches, find_judge, load_judge

from .dimra import DiMRAConfig, attack_set, dimra


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, help="unlearned (or any DDPM) checkpoint")
    p.add_argument("--forget-class", type=int, help="default: the class the checkpoint unlearned")
    p.add_argument("--judge", help="judge checkpoint (default runs/judge-<dataset>-<size>px.pt)")
    p.add_argument("--out", help="default: beside --ckpt, <name>-dimra-<aux>.pt")
    p.add_argument("--n-eval", type=int, default=N_FORGET, help="samples per forget_acc measurement")
    p.add_argument("--device")
    for f in dataclasses.fields(DiMRAConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default, dest=f.name,
                       help=f"default {f.default}")
    a = p.parse_args(argv)

    def body():
        cfg = DiMRAConfig(**{f.name: getattr(a, f.name) for f in dataclasses.fields(DiMRAConfig)})
        if a.n_eval < 1:
            raise UserError(f"--n-eval {a.n_eval} must be at least 1")
        out = a.out or os.path.splitext(a.ckpt)[0] + f"-dimra-{a.aux}.pt"
        check_writable(out)
        device = pick_device(a.device)
        model, schedule, dcfg, ckpt = load_ddpm(a.ckpt, device)
        f = a.forget_class if a.forget_class is not None else \
            ckpt.get("forget_class", (ckpt.get("unlearn") or {}).get("forget_class"))
        if f is None:
            raise UserError(f"{a.ckpt} records no forgotten class: pass --forget-class")
        check_class(f)
        judge_path = a.judge or find_judge(JudgeConfig(dataset=dcfg.dataset, image_size=dcfg.image_size))
        judge, jckpt = load_judge(judge_path, device)
        check_judge_matches(jckpt, dcfg.dataset, dcfg.image_size, judge_path)
        splits = load_splits(dcfg.dataset, dcfg.data_root, dcfg.image_size)
        d_aux = attack_set(splits["aux"], f, cfg.aux, cfg.share, seed=cfg.seed)
        s = SampleSettings.of(dcfg)
        res = dimra(model, schedule, d_aux, f, cfg,
                    measure=lambda m: forget_acc(m, schedule, judge, f, a.n_eval, s, seed=cfg.seed))
        for step, acc in zip(res["curve"]["step"], res["curve"]["forget_acc"]):
            print(f"step {step:5d}  forget_acc {acc:.3f}")
        if res["diverged"]:
            raise UserError(f"the attack's loss became NaN/inf after {len(res['loss'])} steps: lower --lr; "
                            f"nothing was written")
        save_checkpoint({"kind": "attacked", "config": dcfg.to_dict(), "attack": cfg.to_dict(),
                         "forget_class": f, "source": a.ckpt, "model": model.state_dict(), "ema": None,
                         "curve": res["curve"], "history": {"loss": res["loss"]}}, out)
        print(f"saved {out}")
    return run_cli(body, "nothing was written; rerun the command")


if __name__ == "__main__":
    sys.exit(main())
