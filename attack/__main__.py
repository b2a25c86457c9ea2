"""Attack an unlearned DDPM with DiMRA and print its recovery curve.

    python -m attack --ckpt runs/mnist5k-quick/unlearned-ga-f0.pt [--aux retain|mixed --steps 300 --lr 1e-4]

The forgotten class is read from the checkpoint (or --forget-class for a plain pre-trained model).
The auxiliary set comes from the held-out 'aux' split, never from the data unlearning read.
"""
import argparse
import os
import sys

from ddpm.checkpoint import save_checkpoint
from ddpm.data import attack_set, load_splits
from ddpm.errors import UserError, run_cli
from ddpm.pretrain import load_ddpm, pick_device
from metrics.evaluate import SampleSettings, forget_acc
from metrics.judge import check_judge_matches, default_judge_path, load_judge, JudgeConfig

from .dimra import DiMRAConfig, dimra


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, help="unlearned (or any DDPM) checkpoint")
    p.add_argument("--forget-class", type=int, help="default: the class the checkpoint unlearned")
    p.add_argument("--judge", help="judge checkpoint (default runs/judge-<dataset>-<size>px.pt)")
    p.add_argument("--out", help="default: beside --ckpt, <name>-dimra-<aux>.pt")
    p.add_argument("--aux", default="retain", choices=["retain", "mixed"])
    p.add_argument("--share", type=float, default=0.1, help="mixed: share of the forgotten class")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--n-eval", type=int, default=100, help="samples per forget_acc measurement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    a = p.parse_args(argv)
    def body():
        device = pick_device(a.device)
        model, schedule, dcfg, ckpt = load_ddpm(a.ckpt, device)
        f = a.forget_class if a.forget_class is not None else ckpt.get("unlearn", {}).get("forget_class")
        if f is None:
            raise UserError(f"{a.ckpt} records no forgotten class: pass --forget-class")
        judge_path = a.judge or default_judge_path(JudgeConfig(dataset=dcfg.dataset, image_size=dcfg.image_size))
        judge, jckpt = load_judge(judge_path, device)
        check_judge_matches(jckpt, dcfg.dataset, dcfg.image_size, judge_path)
        splits = load_splits(dcfg.dataset, dcfg.data_root, dcfg.image_size)
        cfg = DiMRAConfig(aux=a.aux, share=a.share, steps=a.steps, lr=a.lr, batch_size=a.batch_size,
                          eval_every=a.eval_every, seed=a.seed)
        d_aux = attack_set(splits["aux"], f, a.aux, a.share, seed=a.seed)
        s = SampleSettings(steps=dcfg.ddim_steps, guidance=dcfg.guidance)
        res = dimra(model, schedule, d_aux, f, cfg,
                    measure=lambda m: forget_acc(m, schedule, judge, f, a.n_eval, s, seed=a.seed))
        for step, acc in zip(res["curve"]["step"], res["curve"]["forget_acc"]):
            print(f"step {step:5d}  forget_acc {acc:.3f}")
        out = a.out or os.path.splitext(a.ckpt)[0] + f"-dimra-{a.aux}.pt"
        save_checkpoint({"kind": "attacked", "config": dcfg.to_dict(), "attack": cfg.to_dict(),
                         "forget_class": f, "source": a.ckpt, "model": model.state_dict(), "ema": None,
                         "curve": res["curve"], "history": {"loss": res["loss"]}}, out)
        print(f"saved {out}")
    return run_cli(body, "nothing was written; rerun the command")


if __name__ == "__main__":
    sys.exit(main())
