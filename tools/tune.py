"""Tune one unlearning method's budget on seed 0 (forget_acc and retain_acc after unlearning only).

    python -m tools.tune ga steps=100 lr=2e-5 [more key=value ...] [--n-retain 20]

Used to pick each method's frozen defaults (unlearn/<method>.py, Settings) before the 3-seed run;
prints one line per call.
"""
import os
import sys
import time


from ddpm.data import load_splits
from lab.judges import find_judge, load_judge
from lab.pretrain import load_ddpm
from metrics.evaluate import N_FORGET, SampleSettings, forget_acc, param_distance, retain_metrics
from metrics.judge import JudgeConfig
from unlearn.run import make_settings, unlearn


def parse(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


def main():
    method, rest = sys.argv[1], [a for a in sys.argv[2:] if "=" in a]
    overrides = {k: parse(v) for k, v in (a.split("=", 1) for a in rest)}
    runs = os.environ.get("RUNS", "runs/mnist5k-quick")
    model, schedule, cfg, _ = load_ddpm(os.path.join(runs, "ddpm.pt"))
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    judge, _ = load_judge(find_judge(JudgeConfig(dataset=cfg.dataset, image_size=cfg.image_size)))
    splits = load_splits(cfg.dataset, cfg.data_root, cfg.image_size)
    us = make_settings(method, forget_class=0, seed=0, **overrides)
    t0 = time.time()
    hist = unlearn(model, schedule, splits["train"], method, us, progress=False)
    s = SampleSettings.of(cfg)
    fa = forget_acc(model, schedule, judge, 0, N_FORGET, s, seed=0)
    rm = retain_metrics(model, schedule, judge, 0, splits["test"], 20, s, seed=0)
    print(f"{method} {overrides} steps_done={hist['steps_done']} stopped={hist['stopped']} "
          f"forget_acc={fa:.2f} retain_acc={rm['retain_acc']:.2f} cfid={rm['cfid']:.1f} "
          f"dist={param_distance(model, theta0):.2f} final_loss={hist['loss'][-1]:.4f} ({time.time() - t0:.0f} s)",
          flush=True)


if __name__ == "__main__":
    main()
