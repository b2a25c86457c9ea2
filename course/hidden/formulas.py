"""The math of each part written out directly, for the hidden tests to compare with, on the draws the
student's code made.

A value test does not replay torch's random generator: a correct loss may draw its batches' t and
eps in any order. It reads back every forward call the student's code made (res.calls(model): x_t,
t, c and whether autograd was on), recovers each image's noise from x_t = sqrt(abar_t) x0 +
sqrt(1 - abar_t) eps, and computes the formula on those draws in float64, with this process's own
copy of the model. `fresh_draws` checks the draws themselves: t in range and varied, eps ~ N(0, I),
a new draw for each image and each term. Nothing here uses the project's loss helpers.
"""
import torch

from course.testkit import expect


def rows(res, model):
    """Every forward call of `model`, concatenated: x, t, c, and autograd on or off for each row."""
    calls = res.calls(model)
    expect(calls, "the model was never called")
    grad = torch.cat([torch.full((len(c["c"]),), bool(c["grad"])) for c in calls])
    return (torch.cat([c["x"] for c in calls]).double(), torch.cat([c["t"] for c in calls]).long(),
            torch.cat([c["c"] for c in calls]).long(), grad)


def noise_of(schedule, x0, x_t, t):
    """The eps of x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, in float64."""
    abar = schedule.abar.double()[t].view(-1, *[1] * (x0.dim() - 1))
    return (x_t.double() - abar.sqrt() * x0.double()) / (1 - abar).sqrt()


def mse(a, b):
    return ((a.double() - b.double()) ** 2).mean()


def predict(model, x_t, t, c, grad: bool = False):
    with torch.set_grad_enabled(grad):
        return model(x_t.float(), t, c).double()


def denoising(model, schedule, x0, x_t, t, c, grad: bool = False):
    """|| eps - eps_theta(x_t, t, c) ||^2 on the student's draws (x_t, t) of the images x0."""
    return mse(noise_of(schedule, x0, x_t, t), predict(model, x_t, t, c, grad))


def terms(res, model, f: int, n_f: int, n_r: int, alpha: float):
    """(x_t, t) of the images of f, and (x_t, t, c) of the retained images, from the calls with autograd on."""
    x, t, c, g = rows(res, model)
    forget, retain = g & (c == f), g & (c != f)
    expect(int(forget.sum()) == n_f, f"the model must denoise each of the {n_f} images labelled f once, under f and "
                                     f"with autograd on: it did so for {int(forget.sum())} rows")
    expect(int(retain.sum()) == n_r or (alpha == 0 and int(retain.sum()) == 0),
           f"the model must denoise each of the {n_r} images of D_r once (alpha = {alpha}): it did {int(retain.sum())}")
    return (x[forget], t[forget]), (x[retain], t[retain], c[retain])


def ga(res, model, schedule, x_f, c_f, x_r, c_r, alpha, grad: bool = False):
    """- L_simple(D_f) + alpha L_simple(D_r) on the student's draws."""
    (xf, tf), (xr, tr, _) = terms(res, model, int(c_f[0]), len(x_f), len(x_r), alpha)
    loss = -denoising(model, schedule, x_f, xf, tf, c_f, grad)
    return loss + alpha * denoising(model, schedule, x_r, xr, tr, c_r, grad) if alpha > 0 else loss


def dimum(res, model, schedule, x_alt, c_alt, x_r, c_r, alpha, grad: bool = False):
    """L_simple({(x_alt, f)}) + alpha L_simple(D_r) on the student's draws."""
    (xa, ta), (xr, tr, _) = terms(res, model, int(c_alt[0]), len(x_alt), len(x_r), alpha)
    loss = denoising(model, schedule, x_alt, xa, ta, c_alt, grad)
    return loss + alpha * denoising(model, schedule, x_r, xr, tr, c_r, grad) if alpha > 0 else loss


def esd(res, model, schedule, x_f, c_f, x_r, c_r, alpha, frozen, neg_guidance):
    """|| eps_theta(x_t, t, f) - [eps_0(null) - g (eps_0(f) - eps_0(null))] ||^2 + alpha L_simple(D_r)."""
    (xf, tf), (xr, tr, _) = terms(res, model, int(c_f[0]), len(x_f), len(x_r), alpha)
    null = torch.full_like(c_f, frozen.null_class)
    e_f, e_null = predict(frozen, xf, tf, c_f), predict(frozen, xf, tf, null)
    loss = mse(predict(model, xf, tf, c_f), e_null - neg_guidance * (e_f - e_null))
    return loss + alpha * denoising(model, schedule, x_r, xr, tr, c_r) if alpha > 0 else loss


def salun(res, model, schedule, x_f, c_f, x_r, c_r, alpha, retain_sum: bool = False, grad: bool = False):
    """|| eps_theta(x_t, t, f) - sg[eps_theta(x_t, t, c')] ||^2 + alpha (C H W if retain_sum) L_simple(D_r),
    c' the class the student's code drew for each image (its call at the same x_t and t)."""
    x, t, c, g = rows(res, model)
    f = int(c_f[0])
    forget = g & (c == f)
    expect(int(forget.sum()) == len(x_f), f"the model must predict under f once for each of the {len(x_f)} images of "
                                          f"D_f, with autograd on: it did so for {int(forget.sum())} rows")
    same = (x[forget].flatten(1)[:, None, :] == x.flatten(1)[None, :, :]).all(-1) & (t[forget][:, None] == t[None, :])
    same &= ~forget[None, :]
    expect(bool(same.any(1).all()), "the target must be the model's prediction at the same x_t and t under a class c' != f")
    target_rows = same.float().argmax(1)
    retain = g & ~forget & ~same.any(0)
    loss = mse(predict(model, x[forget], t[forget], c_f, grad), predict(model, x[forget], t[forget], c[target_rows]))
    if alpha > 0:
        expect(int(retain.sum()) == len(x_r), f"the model must denoise each of the {len(x_r)} images of D_r once")
        pixels = x_r[0].numel() if retain_sum else 1
        loss = loss + alpha * pixels * denoising(model, schedule, x_r, x[retain], t[retain], c_r, grad)
    return loss


def mask_scores(res, model, schedule, x, c, guidance: float = 0.0):
    """|d L_mask / d theta| of every weight, L_mask averaged over the batches the student's code drew
    (the calls under label f, with autograd on), eps~ = (1 + w) eps(f) - w eps(null)."""
    xs, ts, cs, g = rows(res, model)
    picked = g & (cs == int(c[0]))
    expect(int(picked.sum()) % len(x) == 0 and picked.any(), "the mask's batches must each run the model on the whole batch under f")
    n = int(picked.sum()) // len(x)
    model.zero_grad()
    for i in range(n):
        x_t, t = xs[picked][i * len(x):(i + 1) * len(x)], ts[picked][i * len(x):(i + 1) * len(x)]
        guided = (1 + guidance) * predict(model, x_t, t, c, True) - \
            (guidance * predict(model, x_t, t, torch.full_like(c, model.null_class), True) if guidance else 0)
        (mse(guided, noise_of(schedule, x, x_t, t)) / n).backward()
    scores = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().abs() for p in model.parameters()])
    model.zero_grad()
    return scores, n


def fresh_draws(schedule, x0, x_t, t, what: str) -> None:
    """expect that the draws look random: t in 0..T-1 and varied, eps ~ N(0, I), a new eps for each image."""
    eps = noise_of(schedule, x0, x_t, t)
    expect(bool(((t >= 0) & (t < schedule.T)).all()), f"t for {what} must lie in 0..T-1 (T = {schedule.T})")
    expect(len(set(t.tolist())) >= min(len(t), schedule.T) // 2, f"t for {what} must be drawn at random for each image")
    expect(abs(eps.mean().item()) < 0.05 and abs(eps.std().item() - 1) < 0.05,
           f"the noise of {what} must be a fresh draw of N(0, I): its mean is {eps.mean().item():.3f} and its "
           f"standard deviation {eps.std().item():.3f}")
    expect(len(eps) < 2 or (eps[0] - eps[1]).abs().max().item() > 1e-3, f"each image of {what} must get its own noise")


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
