"""Erased Stable Diffusion (ESD, Gandikota et al. 2023), ported to a class-conditional DDPM.

A frozen copy of the pre-trained model, eps_0, defines a target that points *away* from the
forgotten class f, as negative classifier-free guidance of strength `neg_guidance` (eta in the
ESD paper); the model learns to predict it under f:

    target = eps_0(x_t, t, null) - neg_guidance * ( eps_0(x_t, t, f) - eps_0(x_t, t, null) )
    L_ESD(theta) = E_{x_0 ~ D_f, t, eps} || eps_theta(x_t, t, f) - target ||^2  +  alpha * L_simple(theta; D_r)

With label dropout `p_uncond` > 0 the label the model predicts under becomes the null label with that
probability (the unconditional branch then learns the target too); the target is always computed
under f. The target is fixed (it comes from the frozen theta_0), but ESD is trained briefly, so the
weights stay near theta_0. alpha = 0 is ESD as its paper defines it.

Departures from the ESD paper: x_t noises *real* images of f (ESD samples x_t from the model
itself under the concept prompt), all weights are trained (ESD-x / ESD-u train parts of the
UNet), and the budget is 300 steps at lr 1e-4 (the paper: 1,000 steps at 1e-5).
"""
import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ddpm.diffusion import drop_labels, noised, simple_loss

from .base import Plan, UnlearnSettings

LABEL, COLOR = "ESD", "tab:orange"


@dataclass(kw_only=True)
class Settings(UnlearnSettings):
    steps: int = 300
    lr: float = 1e-4
    alpha: float = 0.0
    neg_guidance: float = 1.0          # eta of the ESD paper: how far the target points away from f


def esd_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, *, frozen, neg_guidance: float,
             p_uncond: float = 0.0):
    """L_ESD = || eps_theta(x_t, t, f) - [eps_0(x_t, t, null) - neg_guidance (eps_0(x_t, t, f) - eps_0(x_t, t, null))] ||^2
             + alpha * L_simple(theta; D_r),   x_t noised from x_f.

    `frozen` is the pre-trained model eps_0 (requires_grad False); c_f: the labels of x_f (all f)."""
    t, _, x_t = noised(schedule, x_f)
    null = torch.full_like(c_f, frozen.null_class)
    with torch.no_grad():   # one batched pass of the frozen model gives both of its predictions
        eps0_f, eps0_null = frozen(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([c_f, null])).chunk(2)
        target = eps0_null - neg_guidance * (eps0_f - eps0_null)
    c = drop_labels(c_f, frozen.null_class, p_uncond)                   # f, or null with prob. p_uncond
    loss = F.mse_loss(model(x_t, t, c), target)                          # || eps_theta(x_t, t, f) - target ||^2
    if alpha > 0:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r, p_uncond)
    return loss


def setup(model, schedule, data, s: Settings) -> Plan:
    frozen = copy.deepcopy(model).eval().requires_grad_(False)     # eps_0: the pre-trained model
    return Plan(lambda: esd_loss(model, schedule, *next(data.forget), *next(data.retain), alpha=s.alpha,
                                 frozen=frozen, neg_guidance=s.neg_guidance, p_uncond=s.p_uncond))
