"""The math of each part written out directly, for the hidden tests to compare with.

Each function reproduces the random draws of the project's helpers (ddpm.diffusion.noised: t, then
eps, from torch's global generator; unlearn.salun.random_other_class: one randint) but computes
every formula itself, so that a student's change to a helper cannot change what is expected.
"""
import torch


def noisy(schedule, x0):
    """(t, eps, x_t) with t ~ U{0..T-1} and eps ~ N(0, I): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps."""
    t = torch.randint(0, schedule.T, (x0.shape[0],))
    eps = torch.randn_like(x0)
    abar = schedule.abar[t].view(-1, 1, 1, 1)
    return t, eps, abar.sqrt() * x0 + (1 - abar).sqrt() * eps


def mse(a, b):
    return ((a - b) ** 2).mean()


def l_simple(model, schedule, x0, c):
    """|| eps - eps_theta(x_t, t, c) ||^2, averaged over pixels and the batch."""
    t, eps, x_t = noisy(schedule, x0)
    return mse(eps, model(x_t, t, c))


def ga(model, schedule, x_f, c_f, x_r, c_r, alpha):
    loss = -l_simple(model, schedule, x_f, c_f)
    return loss + alpha * l_simple(model, schedule, x_r, c_r) if alpha > 0 else loss


def dimum(model, schedule, x_alt, c_alt, x_r, c_r, alpha):
    loss = l_simple(model, schedule, x_alt, c_alt)
    return loss + alpha * l_simple(model, schedule, x_r, c_r) if alpha > 0 else loss


def esd(model, schedule, x_f, c_f, x_r, c_r, alpha, frozen, neg_guidance):
    t, _, x_t = noisy(schedule, x_f)
    with torch.no_grad():
        e_f, e_null = frozen(x_t, t, c_f), frozen(x_t, t, torch.full_like(c_f, frozen.null_class))
    loss = mse(model(x_t, t, c_f), e_null - neg_guidance * (e_f - e_null))
    return loss + alpha * l_simple(model, schedule, x_r, c_r) if alpha > 0 else loss


def salun(model, schedule, x_f, c_f, x_r, c_r, alpha, num_classes, class_first):
    """The SalUn loss; `class_first`: c' is drawn before (t, eps) rather than after (both orders are right)."""
    if class_first:
        c_other = (c_f + torch.randint(1, num_classes, c_f.shape)) % num_classes
        t, _, x_t = noisy(schedule, x_f)
    else:
        t, _, x_t = noisy(schedule, x_f)
        c_other = (c_f + torch.randint(1, num_classes, c_f.shape)) % num_classes
    loss = mse(model(x_t, t, c_f), model(x_t, t, c_other).detach())
    return loss + alpha * l_simple(model, schedule, x_r, c_r) if alpha > 0 else loss


def ddim(schedule, x_t, eps, t, s, eta, clip, noise):
    """Song et al. 2021, Eq. 12, computed in float64."""
    abar_t = schedule.abar[t].double()
    abar_s = schedule.abar[s].double() if s >= 0 else torch.ones((), dtype=torch.float64)
    x_t, eps = x_t.double(), eps.double()
    x0 = (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
    if clip:
        x0 = x0.clamp(-1, 1)
        eps = (x_t - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()
    sigma = eta * ((1 - abar_s) / (1 - abar_t)).sqrt() * (1 - abar_t / abar_s).sqrt()
    x_s = abar_s.sqrt() * x0 + (1 - abar_s - sigma ** 2).clamp(min=0).sqrt() * eps
    return x_s + sigma * noise.double() if noise is not None else x_s
