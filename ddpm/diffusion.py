"""The DDPM training loss and the two samplers (DDPM ancestral, DDIM), with classifier-free guidance.

Everything takes the UNet (`model`) and the `NoiseSchedule` separately: the network only maps
(x_t, t, c) to a noise prediction, the schedule holds the numbers of the diffusion process.
"""
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .schedule import NoiseSchedule


def noised(schedule: NoiseSchedule, x0: torch.Tensor):
    """Draw t ~ U{0..T-1} and eps ~ N(0, I) for each image and return (t, eps, x_t)."""
    t = torch.randint(0, schedule.T, (x0.shape[0],), device=x0.device)
    eps = torch.randn_like(x0)
    return t, eps, schedule.q_sample(x0, t, eps)


def drop_labels(c: torch.Tensor, null_class: int, p: float) -> torch.Tensor:
    """Replace each label by the null class with probability p (classifier-free guidance training)."""
    if p <= 0:
        return c
    drop = torch.rand(c.shape, device=c.device) < p
    return torch.where(drop, torch.full_like(c, null_class), c)


def simple_loss(model, schedule: NoiseSchedule, x0: torch.Tensor, c: torch.Tensor,
                p_uncond: float = 0.0) -> torch.Tensor:
    """Algorithm 1 of Ho et al. 2020 (one Monte-Carlo draw per image):

        L_simple = E_{x0, c, t, eps} || eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t, c) ||^2

    averaged over pixels and the batch; each label is dropped to the null class with prob. p_uncond.
    """
    t, eps, x_t = noised(schedule, x0)
    c = drop_labels(c, model.null_class, p_uncond)
    return F.mse_loss(model(x_t, t, c), eps)


def guided_eps(model, x_t: torch.Tensor, t: torch.Tensor, c: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022), scale w >= 0:

        eps~ = (1 + w) eps_theta(x_t, t, c) - w eps_theta(x_t, t, null)

    w = 0 is the plain conditional prediction. For w > 0 the conditional and unconditional
    predictions come from one forward pass over a batch of twice the size.
    """
    if scale == 0:
        return model(x_t, t, c)
    null = torch.full_like(c, model.null_class)
    eps_c, eps_u = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([c, null])).chunk(2)
    return (1 + scale) * eps_c - scale * eps_u


def _start_noise(model, n: int, generator: torch.Generator | None) -> torch.Tensor:
    cfg = model.config
    device = next(model.parameters()).device
    shape = (n, cfg.in_channels, cfg.image_size, cfg.image_size)
    return torch.randn(shape, generator=generator, device="cpu").to(device)


@torch.no_grad()
def ddim_sample(model, schedule: NoiseSchedule, labels: torch.Tensor, steps: int = 50,
                eta: float = 0.0, guidance: float = 2.0, clip: bool = True,
                generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
    """DDIM (Song et al. 2021), Eq. 12, on an evenly spaced sub-sequence tau of {0..T-1}:

        x0^   = (x_t - sqrt(1 - abar_t) eps~) / sqrt(abar_t)
        sigma = eta * sqrt((1 - abar_s) / (1 - abar_t)) * sqrt(1 - abar_t / abar_s)
        x_s   = sqrt(abar_s) x0^ + sqrt(1 - abar_s - sigma^2) eps~ + sigma z

    for consecutive t > s in tau (abar_s = 1 after the last step). eta = 0 is deterministic given
    the starting noise; eta = 1 matches DDPM's posterior variance. Returns images in [-1, 1].
    """
    model_device = next(model.parameters()).device
    labels = labels.to(model_device)
    x = _start_noise(model, len(labels), generator)
    taus = torch.linspace(schedule.T - 1, 0, steps).round().long().tolist()
    for i, t in enumerate(tqdm(taus, desc="ddim", disable=not progress, leave=False)):
        tt = torch.full((len(x),), t, device=model_device, dtype=torch.long)
        eps = guided_eps(model, x, tt, labels, guidance)
        abar_t = schedule.abar[t]
        abar_s = schedule.abar[taus[i + 1]] if i + 1 < len(taus) else torch.ones_like(abar_t)
        x0 = (x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = (x - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()   # keep eps consistent with clipped x0
        sigma = eta * ((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)).sqrt()
        x = abar_s.sqrt() * x0 + (1 - abar_s - sigma ** 2).clamp(min=0).sqrt() * eps
        if eta > 0 and i + 1 < len(taus):
            x = x + sigma * torch.randn(x.shape, generator=generator).to(model_device)
    return x.clamp(-1, 1)


@torch.no_grad()
def ddpm_sample(model, schedule: NoiseSchedule, labels: torch.Tensor, guidance: float = 2.0,
                clip: bool = True, generator: torch.Generator | None = None,
                progress: bool = False) -> torch.Tensor:
    """Algorithm 2 of Ho et al. 2020 (ancestral sampling), over all T steps, written through x0^:

        x0^     = (x_t - sqrt(1 - abar_t) eps~) / sqrt(abar_t)          (clipped to [-1, 1] if clip)
        mu      = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0^ + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
        x_{t-1} = mu + sqrt(beta~_t) z,   z ~ N(0, I), no noise at the last step

    Without clipping this equals Algorithm 2's  (x_t - beta_t / sqrt(1 - abar_t) eps~) / sqrt(alpha_t).
    """
    model_device = next(model.parameters()).device
    labels = labels.to(model_device)
    s = schedule
    x = _start_noise(model, len(labels), generator)
    for t in tqdm(range(s.T - 1, -1, -1), desc="ddpm", disable=not progress, leave=False):
        tt = torch.full((len(x),), t, device=model_device, dtype=torch.long)
        eps = guided_eps(model, x, tt, labels, guidance)
        x0 = (x - s.sqrt_one_minus_abar[t] * eps) / s.sqrt_abar[t]
        if clip:
            x0 = x0.clamp(-1, 1)
        mean = (s.abar_prev[t].sqrt() * s.betas[t] / (1 - s.abar[t])) * x0 \
            + (s.alphas[t].sqrt() * (1 - s.abar_prev[t]) / (1 - s.abar[t])) * x
        if t > 0:
            mean = mean + s.posterior_var[t].sqrt() * torch.randn(x.shape, generator=generator).to(model_device)
        x = mean
    return x.clamp(-1, 1)
