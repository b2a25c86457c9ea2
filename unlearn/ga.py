"""Gradient ascent (GA): push the model's denoising loss on the forgotten class up.

    L_GA(theta) = - L_simple(theta; D_f)  +  alpha * L_simple(theta; D_r)

(with label dropout `p_uncond` > 0, both terms drop each label to the null label with that probability)

alpha = 0 is gradient ascent as usually defined; alpha > 0 adds a retain term that keeps the other
classes ("NegGrad+"). The first term is unbounded below: GA never converges and is stopped after
a fixed number of steps, which is why it stays close to the pre-trained weights.
"""
from dataclasses import dataclass

from ddpm.diffusion import simple_loss

from .base import Plan, UnlearnSettings

LABEL, COLOR = "GA", "tab:red"


@dataclass(kw_only=True)
class Settings(UnlearnSettings):
    # Tuned on seed 0 (scripts/tune.py), then frozen: 120 steps leave too much of f, 160 break the rest.
    steps: int = 130
    lr: float = 1e-5
    alpha: float = 0.0


def ga_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, p_uncond: float = 0.0):
    """L_GA = - L_simple(theta; D_f) + alpha * L_simple(theta; D_r), on one batch of each.

    x_f: a batch of D_f with its labels c_f (all f); (x_r, c_r): a batch of D_r."""
    loss = -simple_loss(model, schedule, x_f, c_f, p_uncond)             # - L_simple(theta; D_f)
    if alpha > 0:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r, p_uncond)   # + alpha * L_simple(theta; D_r)
    return loss


def setup(model, schedule, data, s: Settings) -> Plan:
    return Plan(lambda: ga_loss(model, schedule, *next(data.forget), *next(data.retain), alpha=s.alpha,
                                p_uncond=s.p_uncond))
