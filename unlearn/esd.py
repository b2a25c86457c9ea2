"""Erased Stable Diffusion (ESD, Gandikota et al. 2023), ported to a class-conditional DDPM.

A frozen copy of the pre-trained model, eps_0, defines a target that points *away* from the
forgotten class f, as negative classifier-free guidance; the model learns to predict it under f:

    target = eps_0(x_t, t, null) - eta * ( eps_0(x_t, t, f) - eps_0(x_t, t, null) )
    L_ESD(theta) = E_{x_0 ~ D_f, t, eps} || eps_theta(x_t, t, f) - target ||^2  +  alpha * L_simple(theta; D_r)

The target is fixed (it comes from the frozen theta_0), but ESD is trained briefly, so the
weights stay near theta_0. alpha = 0 is ESD as its paper defines it.
"""
import torch
import torch.nn.functional as F

from ddpm.diffusion import noised, simple_loss


def esd_loss(model, schedule, x_f, f, x_r, c_r, alpha: float = 0.0, *, frozen, eta: float = 1.0):
    """`frozen` is the pre-trained model (requires_grad False); f is a tensor of labels (all f)."""
    t, _, x_t = noised(schedule, x_f)
    null = torch.full_like(f, frozen.null_class)
    with torch.no_grad():   # one batched pass of the frozen model gives both of its predictions
        eps0_f, eps0_null = frozen(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([f, null])).chunk(2)
        target = eps0_null - eta * (eps0_f - eps0_null)
    loss = F.mse_loss(model(x_t, t, f), target)
    if alpha > 0:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r)
    return loss
