"""The basin picture: is an unlearned model still in the pre-trained model's basin?

    python -m harness.research.basin                           # after `python reproduce.py` (seed 0)
    python -m harness.research.basin --methods ga,dimum --n 50 --points 11

The paper's explanation of DiMRA: non-convergent unlearning losses (GA, ESD) stop close to the
pre-trained weights theta_0, so fine-tuning on other data falls back into theta_0's basin, where
the forgotten class is drawn again; DiMUM memorises alternative data for the forgotten label and
moves to a new basin. This script looks along two straight lines in weight space, for each method's
unlearned model theta_u (reproduce.py's cached stage, one seed) and its DiMRA-retain result theta_a:

    line 1:  theta(lam) = theta_0 + lam (theta_u - theta_0),   lam = 0 ... 1.25   (past theta_u too)
    line 2:  theta(mu)  = theta_u + mu (theta_a - theta_u),    mu  = 0 ... 1

and at each point measures forget_acc (the judge on --n guided samples of class f, the table's
sampler and seed) and L_simple of the class-f label on the held-out real images of class f (the
test split; fixed t and eps for every point, so the points differ only by their weights). Retrain
is the reference line. A barrier between theta_0 and theta_u shows up as an L_simple bump (or a
forget_acc dip and rise) inside line 1; a model that sits on theta_0's slope shows a monotone line.

Writes results/<preset>[-tag]/basin/{basin.json, basin.png}; wall clock in basin.json.
"""
import argparse
import os
import sys
import time

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm


from ddpm.data import to_float
from ddpm.errors import UserError
from lab.checkpoint import load_checkpoint, write_json
from lab.cli import run_cli
from lab.hardware import precision_region
from lab.pretrain import load_ddpm
from metrics.evaluate import forget_acc
from unlearn import METHODS

from ..rows import color, label
from ..run import add_run_arguments, run_pipeline

DEFAULT_ROWS = (*METHODS, "ga+retain", "esd+retain")   # every method; the last two: reproduce.py --ablation
LOSS_DRAWS = 4           # (t, eps) draws per held-out image for L_simple


def blend(a: dict, b: dict, w: float) -> dict:
    """a + w (b - a) for every floating-point tensor (integer buffers are taken from a)."""
    return {k: a[k] + w * (b[k] - a[k]) if a[k].is_floating_point() else a[k] for k in a}


@torch.no_grad()
def forget_loss(model, schedule, x_f: torch.Tensor, f: int, seed: int = 0) -> float:
    """L_simple of label f on the real images x_f, with the same (t, eps) draws for every model."""
    g = torch.Generator().manual_seed(seed)
    x0 = x_f.repeat(LOSS_DRAWS, 1, 1, 1)
    t = torch.randint(0, schedule.T, (len(x0),), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    c = torch.full((len(x0),), f)
    model.eval()
    return torch.nn.functional.mse_loss(model(schedule.q_sample(x0, t, eps), t, c).float(), eps).item()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=",".join(DEFAULT_ROWS), help="rows of reproduce.py (missing ones are skipped)")
    p.add_argument("--points", type=int, default=11, help="points on each line (at least 2)")
    p.add_argument("--n", type=int, default=100, help="guided samples per forget_acc")
    a = p.parse_args(argv)

    def body():
        if a.points < 2 or a.n < 1:
            raise UserError("--points must be at least 2 and --n at least 1")
        t0 = time.time()
        pipe = run_pipeline(a, (a.seed,))
        with precision_region(pipe.s.precision):
            pipe.prepare()
            rows = [r.strip() for r in a.methods.split(",") if r.strip()]
            found = {r: os.path.join(pipe.folder(a.seed), f"{r}.pt") for r in rows}
            missing = [r for r, path in found.items() if not os.path.exists(path)]
            if missing:
                print(f"skipping {', '.join(missing)}: no model in {pipe.folder(a.seed)} (run reproduce.py"
                      f"{' --ablation' if any('+' in r for r in missing) else ''} first)", file=sys.stderr)
            rows = [r for r in rows if r not in missing]
            if not rows:
                raise UserError(f"no unlearned model in {pipe.folder(a.seed)}: run `python reproduce.py --seeds "
                                f"{a.seed}` first")
            model, schedule = load_ddpm(pipe.ddpm_path, pipe.device)[:2]
            theta0 = {k: v.clone() for k, v in model.state_dict().items()}
            test = pipe.splits["test"]
            x_f = to_float(test.images[test.labels == pipe.f]).to(pipe.device)

            def measure(state: dict) -> dict:
                model.load_state_dict(state)
                return {"forget_acc": forget_acc(model, schedule, pipe.judge, pipe.f, a.n, pipe.sample, a.seed),
                        "loss": forget_loss(model, schedule, x_f, pipe.f)}

            retrain = load_ddpm(pipe.retrain_paths[a.seed], pipe.device)[0].state_dict()
            out = {"settings": vars(a), "retrain": measure(retrain), "lines": {}}
            lam = torch.linspace(0, 1.25, a.points).tolist()
            mu = torch.linspace(0, 1, a.points).tolist()
            for r in rows:
                theta_u = load_checkpoint(found[r], kind="unlearned")["model"]
                attacked = os.path.join(pipe.folder(a.seed), f"{r}-dimra-retain.pt")
                line = {"lam": lam, "to_unlearned": [measure(blend(theta0, theta_u, w))
                                                     for w in tqdm(lam, desc=f"{r}: theta_0 -> theta_u")]}
                if os.path.exists(attacked):
                    theta_a = load_checkpoint(attacked, kind="attacked")["model"]
                    line.update(mu=mu, to_attacked=[measure(blend(theta_u, theta_a, w))
                                                    for w in tqdm(mu, desc=f"{r}: theta_u -> theta_attacked")])
                out["lines"][r] = line
        out["seconds"] = time.time() - t0
        folder = os.path.join(pipe.results, "basin")
        write_json(out, os.path.join(folder, "basin.json"))
        plot(out, os.path.join(folder, "basin.png"), pipe.f)
        print(f"done in {out['seconds']:.0f} s: {folder}/")

    return run_cli(body, "nothing was written; rerun the same command")


def plot(out: dict, path: str, f: int) -> None:
    """2 x 2 panels: forget_acc and L_simple (rows) along theta_0 -> theta_u and theta_u -> theta_a."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex="col")
    for r, line in out["lines"].items():
        for col, (xs, key) in enumerate((("lam", "to_unlearned"), ("mu", "to_attacked"))):
            if key not in line:
                continue
            for row, metric in enumerate(("forget_acc", "loss")):
                axes[row][col].plot(line[xs], [p[metric] for p in line[key]], "o-", ms=3, label=label(r),
                                    color=color(r))
    for row, metric in enumerate(("forget_acc", "loss")):
        for col in range(2):
            axes[row][col].axhline(out["retrain"][metric], color="black", ls="--", lw=1, label="Retrain")
        axes[row][0].set_ylabel(f"forget_acc (class {f})" if metric == "forget_acc" else f"L_simple on held-out {f}s")
    for col in range(2):
        axes[0][col].axvline(0, color="gray", lw=0.5)
    axes[1][0].set_xlabel("λ:  θ₀ + λ (θ_u − θ₀)   (θ_u at λ = 1)")
    axes[1][1].set_xlabel("μ:  θ_u + μ (θ_attacked − θ_u)   (DiMRA-retain)")
    for ax in axes[:, 0]:
        ax.axvline(1, color="gray", lw=0.5, ls=":")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
