"""Noise relearning, the README's example attack: a weak attacker with no data at all fine-tunes the
unlearned model on pure noise images labelled with the retained classes.

    theta* = argmin_theta L_simple(theta; {(u, c)}),   u ~ U[-1, 1],   c != f,   from theta_u

Copy it to attack/noise.py and register it (README.md, "Add your own attack"; what an attack module
defines: attack/__init__.py).
"""
from dataclasses import dataclass

import torch

from ddpm.diffusion import simple_loss
from ddpm.errors import require
from ddpm.train_loop import fit

from .base import AttackConfig, Curve

LABEL = "Noise"                     # its column's name in tables and figures
THREAT = "no data: fine-tunes theta_u on noise images labelled with the retained classes"


@dataclass
class Config(AttackConfig):         # the attack's defaults: the only place they live
    steps: int = 300
    lr: float = 1e-4
    eval_every: int = 100
    seed: int = 0

    def __post_init__(self):
        require((self.steps >= 1, f"--steps {self.steps} must be at least 1"),
                (self.lr > 0, f"--lr {self.lr} must be positive"),
                (self.eval_every >= 1, f"--eval-every {self.eval_every} must be at least 1"))


def run(model, schedule, data, cfg: Config, measure=None, progress=True, start=None) -> dict:
    """Attack `model` in place: L_simple on 64 noise images a step, labels drawn from the classes c != f."""
    g, device = torch.Generator().manual_seed(cfg.seed), next(model.parameters()).device
    kept = torch.tensor([c for c in range(10) if c != data.forget_class])
    shape = (64, model.config.in_channels, model.config.image_size, model.config.image_size)
    curve = Curve(measure, model, cfg.eval_every, cfg.steps)     # forget_acc at 0, every eval_every, the end
    curve.record(0, start)

    def loss():
        u = torch.rand(shape, generator=g) * 2 - 1
        c = kept[torch.randint(0, len(kept), (64,), generator=g)]
        return simple_loss(model, schedule, u.to(device), c.to(device))
    hist = fit(model, loss, cfg.steps, cfg.lr, on_step=curve.on_step, desc="noise", progress=progress)
    model.eval()
    return {"curve": curve.points, "loss": hist["loss"], "diverged": hist["stopped"] == "nonfinite",
            "n_real": 0, "n_real_forget": 0}
