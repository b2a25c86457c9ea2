'''Correct implementations that differ from the reference, two or more a part: the grader must give
each of them full marks (self-check and tests/test_course_integrity.py grade them).

They draw their batches, t and eps in other orders than the reference (the retain batch first, eps
before t, c' before t), compute the same math another way (float64, two passes of the frozen model
instead of one, .detach() instead of torch.no_grad, kthvalue-free ranking, their own training loop),
and import what they need inside the function (the grader takes only the function). This file holds
answers: it is the instructor's, never in the student copy.
'''
import os
from dataclasses import dataclass

from course.parts import PARTS, ROOT
from course.stub import replace_function

GA_1 = '''def ga_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, p_uncond: float = 0.0):
    """The retain batch drawn first; the forget term subtracted at the end."""
    from ddpm.diffusion import simple_loss
    retain = simple_loss(model, schedule, x_r, c_r, p_uncond) if alpha > 0 else 0.0
    forget = simple_loss(model, schedule, x_f, c_f, p_uncond)
    return alpha * retain - forget
'''

NOISED = '''
    def denoising(x0, c):
        eps = torch.randn_like(x0)                                   # eps before t
        t = torch.randint(0, schedule.T, (len(x0),))
        abar = schedule.abar[t].view(-1, *[1] * (x0.dim() - 1))
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
        return ((model(x_t, t, drop_labels(c, model.null_class, p_uncond)) - eps) ** 2).mean()
'''

GA_2 = '''def ga_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, p_uncond: float = 0.0):
    """Noising written out, eps drawn before t, the retain term always computed (times alpha)."""
    import torch
    from ddpm.diffusion import drop_labels
''' + NOISED + '''    return alpha * denoising(x_r, c_r) - denoising(x_f, c_f)
'''

DIMUM_1 = GA_1.replace("def ga_loss", "def dimum_loss").replace("alpha * retain - forget", "forget + alpha * retain")
DIMUM_2 = GA_2.replace("def ga_loss", "def dimum_loss").replace("alpha * denoising(x_r, c_r) - denoising(x_f, c_f)",
                                                                "denoising(x_f, c_f) + alpha * denoising(x_r, c_r)")
DIMUM_1, DIMUM_2 = (s.replace("x_f, c_f", "x_alt, c_alt") for s in (DIMUM_1, DIMUM_2))

ESD_1 = '''def esd_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, *, frozen, neg_guidance: float,
             p_uncond: float = 0.0):
    """Retain term first, eps before t, two passes of the frozen model, the target rearranged."""
    import torch
    import torch.nn.functional as F
    from ddpm.diffusion import drop_labels, simple_loss
    retain = alpha * simple_loss(model, schedule, x_r, c_r, p_uncond) if alpha > 0 else 0.0
    eps = torch.randn_like(x_f)
    t = torch.randint(0, schedule.T, (len(x_f),))
    x_t = schedule.q_sample(x_f, t, eps)
    with torch.no_grad():
        e_f = frozen(x_t, t, c_f)
        e_null = frozen(x_t, t, torch.full_like(c_f, frozen.null_class))
    target = (1 + neg_guidance) * e_null - neg_guidance * e_f
    return F.mse_loss(model(x_t, t, drop_labels(c_f, frozen.null_class, p_uncond)), target) + retain
'''

ESD_2 = '''def esd_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, *, frozen, neg_guidance: float,
             p_uncond: float = 0.0):
    """One batched pass of the frozen model, its output detached (no torch.no_grad), the mean written out."""
    import torch
    from ddpm.diffusion import drop_labels, noised, simple_loss
    t, _, x_t = noised(schedule, x_f)
    null = torch.full_like(c_f, frozen.null_class)
    e_f, e_null = frozen(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([c_f, null])).detach().chunk(2)
    target = e_null - neg_guidance * (e_f - e_null)
    loss = ((model(x_t, t, drop_labels(c_f, model.null_class, p_uncond)) - target) ** 2).mean()
    if alpha:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r, p_uncond)
    return loss
'''

SALUN_1 = '''def salun_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, *, num_classes: int,
               p_uncond: float = 0.0, retain_sum: bool = False):
    """c' drawn before t and eps; the target detached instead of computed under torch.no_grad."""
    import torch.nn.functional as F
    from ddpm.diffusion import drop_labels, noised, simple_loss
    from unlearn.salun import random_other_class
    c_other = random_other_class(c_f, num_classes)
    t, _, x_t = noised(schedule, x_f)
    target = model(x_t, t, c_other).detach()
    loss = F.mse_loss(model(x_t, t, drop_labels(c_f, model.null_class, p_uncond)), target)
    if alpha > 0:
        retain = simple_loss(model, schedule, x_r, c_r, p_uncond)
        loss = loss + alpha * (x_r[0].numel() * retain if retain_sum else retain)
    return loss
'''

SALUN_2 = '''def salun_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, *, num_classes: int,
               p_uncond: float = 0.0, retain_sum: bool = False):
    """The retain term first; the noising written out, eps before t; c' = f + 1 + U{0..K-2} mod K."""
    import torch
    from ddpm.diffusion import drop_labels
''' + NOISED + '''    retain = denoising(x_r, c_r) * (x_r[0].numel() if retain_sum else 1) if alpha > 0 else 0.0
    eps = torch.randn_like(x_f)
    t = torch.randint(0, schedule.T, (len(x_f),))
    x_t = schedule.q_sample(x_f, t, eps)
    c_other = (c_f + 1 + torch.randint(0, num_classes - 1, c_f.shape)) % num_classes
    with torch.no_grad():
        target = model(x_t, t, c_other)
    return ((model(x_t, t, drop_labels(c_f, model.null_class, p_uncond)) - target) ** 2).mean() + alpha * retain
'''

MASK_1 = '''def saliency_mask(model, schedule, forget_batches, fraction: float, guidance: float = 0.0,
                  n_batches: int = 10) -> dict:
    """Gradients by torch.autograd.grad, averaged by hand; the weights ranked with argsort."""
    import torch
    import torch.nn.functional as F
    from ddpm.diffusion import guided_eps, noised
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for _, p in named]
    for _ in range(n_batches):
        x, c = next(forget_batches)
        t, eps, x_t = noised(schedule, x)
        loss = F.mse_loss(guided_eps(model, x_t, t, c, guidance), eps)
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
        total = [acc + (g / n_batches if g is not None else 0) for acc, g in zip(total, grads)]
    scores = torch.cat([g.abs().flatten() for g in total])
    keep = torch.zeros_like(scores)
    keep[scores.argsort(descending=True)[:round(fraction * len(scores))]] = 1.0
    masks, start = {}, 0
    for name, p in named:
        masks[name] = keep[start:start + p.numel()].reshape(p.shape)
        start += p.numel()
    return masks
'''

MASK_2 = '''def saliency_mask(model, schedule, forget_batches, fraction: float, guidance: float = 0.0,
                  n_batches: int = 10) -> dict:
    """eps drawn before t, the losses summed and differentiated once, the top-k per tensor's slice."""
    import torch
    import torch.nn.functional as F
    from ddpm.diffusion import guided_eps
    model.zero_grad(set_to_none=True)
    losses = []
    for _ in range(n_batches):
        x, c = next(forget_batches)
        eps = torch.randn_like(x)
        t = torch.randint(0, schedule.T, (len(x),))
        losses.append(F.mse_loss(guided_eps(model, schedule.q_sample(x, t, eps), t, c, guidance), eps))
    (sum(losses) / n_batches).backward()
    params = dict(model.named_parameters())
    scores = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).abs().flatten() for p in params.values()])
    model.zero_grad(set_to_none=True)
    k = round(fraction * len(scores))
    keep = torch.zeros(len(scores))
    if k:
        keep[torch.topk(scores, k).indices] = 1.0
    sizes = [p.numel() for p in params.values()]
    return {name: part.view_as(p) for (name, p), part in zip(params.items(), keep.split(sizes))}
'''

DDIM_1 = '''def ddim_step(schedule, x_t, eps, t: int, s: int, eta: float, clip: bool, noise):
    """Eq. 12 in float64, cast back to x_t's dtype at the end."""
    abar_t = schedule.abar[t].double()
    abar_s = schedule.abar[s].double() if s >= 0 else torch.tensor(1.0, dtype=torch.float64)
    e = eps.double()
    x0 = (x_t.double() - (1 - abar_t).sqrt() * e) / abar_t.sqrt()
    if clip:
        x0 = x0.clamp(-1, 1)
        e = (x_t.double() - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()
    sigma = eta * torch.sqrt((1 - abar_s) / (1 - abar_t)) * torch.sqrt(1 - abar_t / abar_s)
    out = abar_s.sqrt() * x0 + torch.sqrt(torch.clamp(1 - abar_s - sigma ** 2, min=0)) * e
    if noise is not None:
        out = out + sigma * noise.double()
    return out.to(x_t.dtype)
'''

DDIM_2 = '''def ddim_step(schedule, x_t, eps, t: int, s: int, eta: float, clip: bool, noise):
    """The variance sigma^2 first, eps always recomputed from x0^ (equal to eps when nothing is clipped)."""
    a_t = schedule.abar[t]
    a_s = torch.ones_like(a_t) if s < 0 else schedule.abar[s]
    pred_x0 = (x_t - torch.sqrt(1 - a_t) * eps) / torch.sqrt(a_t)
    if clip:
        pred_x0 = torch.clamp(pred_x0, -1.0, 1.0)
    pred_eps = (x_t - torch.sqrt(a_t) * pred_x0) / torch.sqrt(1 - a_t)
    var = eta ** 2 * (1 - a_s) / (1 - a_t) * (1 - a_t / a_s)
    x_s = torch.sqrt(a_s) * pred_x0 + torch.sqrt(torch.clamp(1 - a_s - var, min=0.0)) * pred_eps
    return x_s if noise is None else x_s + torch.sqrt(var) * noise
'''

DIMRA_1 = '''def dimra(model, schedule, d_aux, forget_class: int, cfg, measure=None, progress: bool = True,
          start: float | None = None) -> dict:
    """Its own training loop: Adam, the gradient's norm clipped, a NaN/inf loss stops it."""
    import math
    import torch
    from ddpm.data import Batches
    from ddpm.diffusion import simple_loss
    from ddpm.errors import UserError
    if cfg.aux == "retain" and bool((d_aux.labels == forget_class).any()):
        raise UserError(f"a retain set holds images of class {forget_class}")
    torch.manual_seed(cfg.seed)
    batches = Batches(d_aux, cfg.batch_size, seed=cfg.seed, device=next(model.parameters()).device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    points, extra = {"step": [], "forget_acc": []}, set(getattr(cfg, "eval_at", ()))

    def point(step, value=None):
        if measure is not None:
            points["step"].append(step)
            points["forget_acc"].append(measure(model) if value is None else value)
            model.train()
    model.train()
    point(0, start)
    losses, diverged = [], False
    for step in range(1, cfg.steps + 1):
        loss = simple_loss(model, schedule, *next(batches), p_uncond=cfg.p_uncond)
        if not torch.isfinite(loss):
            diverged = True
            break
        optimizer.zero_grad()
        loss.backward()
        if not math.isfinite(float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))):
            diverged = True
            break
        optimizer.step()
        losses.append(loss.item())
        if step % cfg.eval_every == 0 or step == cfg.steps or step in extra:
            point(step)
    model.eval()
    return {"curve": points, "loss": losses, "diverged": diverged}
'''

DIMRA_2 = '''def dimra(model, schedule, d_aux, forget_class: int, cfg, measure=None, progress: bool = True,
          start: float | None = None) -> dict:
    """fit, with the curve kept as (step, value) pairs and split at the end."""
    import torch
    from ddpm.data import Batches
    from ddpm.diffusion import simple_loss
    from ddpm.errors import UserError
    from ddpm.train_loop import fit
    if cfg.aux == "retain" and forget_class in set(d_aux.labels.tolist()):
        raise UserError(f"D_aux holds class {forget_class}: not a retain set")
    torch.manual_seed(cfg.seed)
    data = Batches(d_aux, cfg.batch_size, seed=cfg.seed, device=next(model.parameters()).device)
    measured, extra = [], tuple(getattr(cfg, "eval_at", ()))
    if measure is not None:
        measured.append((0, start if start is not None else measure(model)))

    def on_step(step, loss):
        if measure is not None and (step % cfg.eval_every == 0 or step == cfg.steps or step in extra):
            measured.append((step, measure(model)))
            model.train()
    history = fit(model, lambda: simple_loss(model, schedule, *next(data), p_uncond=cfg.p_uncond), cfg.steps,
                  lr=cfg.lr, grad_clip=cfg.grad_clip, on_step=on_step, progress=progress, desc="DiMRA")
    model.eval()
    return {"curve": {"step": [s for s, _ in measured], "forget_acc": [v for _, v in measured]},
            "loss": history["loss"], "diverged": history["stopped"] == "nonfinite"}
'''


@dataclass(frozen=True)
class Alternative:
    part: str
    what: str
    sources: tuple          # (function name, its whole def), one for each function of the part it changes


ALTERNATIVES = [
    Alternative("ga", "retain batch first, forget term subtracted last", (("ga_loss", GA_1),)),
    Alternative("ga", "noising written out, eps before t, retain term always computed", (("ga_loss", GA_2),)),
    Alternative("esd", "retain first, eps before t, two frozen passes", (("esd_loss", ESD_1),)),
    Alternative("esd", "one frozen pass detached, the mean written out", (("esd_loss", ESD_2),)),
    Alternative("salun", "c' before t; target detached; mask by autograd.grad and argsort",
                (("salun_loss", SALUN_1), ("saliency_mask", MASK_1))),
    Alternative("salun", "retain first, eps before t; mask from one backward of the summed losses",
                (("salun_loss", SALUN_2), ("saliency_mask", MASK_2))),
    Alternative("dimum", "retain batch first", (("dimum_loss", DIMUM_1),)),
    Alternative("dimum", "noising written out, eps before t, retain term always computed", (("dimum_loss", DIMUM_2),)),
    Alternative("ddim", "float64, cast back", (("ddim_step", DDIM_1),)),
    Alternative("ddim", "variance first, eps recomputed always", (("ddim_step", DDIM_2),)),
    Alternative("dimra", "its own Adam loop", (("dimra", DIMRA_1),)),
    Alternative("dimra", "fit, the curve as (step, value) pairs", (("dimra", DIMRA_2),)),
]


def write_submission(folder: str, sources: dict, root: str = ROOT) -> None:
    """A submission folder holding each part file of `sources` ({function: def text}), the reference's
    file with those functions replaced."""
    paths = {path for part in PARTS.values() for path, name in part if name in sources}
    for path in paths:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
        for part in PARTS.values():
            for file, name in part:
                if file == path and name in sources:
                    text = replace_function(text, name, sources[name])
        os.makedirs(os.path.dirname(os.path.join(folder, path)), exist_ok=True)
        with open(os.path.join(folder, path), "w", encoding="utf-8") as f:
            f.write(text)


def by_round(k: int) -> dict:
    """{function: source} of the k-th alternative of every part (a submission full marks on every part)."""
    out = {}
    for part in PARTS:
        alternative = [a for a in ALTERNATIVES if a.part == part][k]
        out |= dict(alternative.sources)
    return out
