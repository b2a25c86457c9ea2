"""Gradient ascent (GA): push the model's denoising loss on the forgotten class up.

    L_GA(theta) = - L_simple(theta; D_f)  +  alpha * L_simple(theta; D_r)

alpha = 0 is gradient ascent as usually defined; alpha > 0 adds a retain term that keeps the other
classes ("NegGrad+"). The first term is unbounded below: GA never converges and is stopped after
a fixed number of steps, which is why it stays close to the pre-trained weights.
"""
from ddpm.diffusion import simple_loss


def ga_loss(model, schedule, x_f, f, x_r, c_r, alpha: float = 0.0):
    """x_f: a batch of D_f (all labelled f, given as a tensor of labels); (x_r, c_r): a batch of D_r."""
    loss = -simple_loss(model, schedule, x_f, f)
    if alpha > 0:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r)
    return loss
