"""The DDPM training loss and the two samplers (DDPM ancestral, DDIM), with classifier-free guidance.

Everything takes the UNet (`model`) and the `NoiseSchedule` separately: the network only maps
(x_t, t, c) to a noise prediction, the schedule holds the numbers of the diffusion process.
Each sampler is a loop over one pure update, ddim_step or ddpm_step, which maps (x_t, eps) to the
next state and can be tested on its own. The guidance scale has no default here: its one home is
DDPMConfig.guidance (ddpm/config.py).
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
                p_uncond: float = 0.0, part: slice = slice(None)) -> torch.Tensor:
    """Algorithm 1 of Ho et al. 2020 (one Monte-Carlo draw per image):

        L_simple = E_{x0, c, t, eps} || eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t, c) ||^2

    averaged over pixels and the batch; each label is dropped to the null class with prob. p_uncond.
    `part`: the images of the batch this process computes (data-parallel training draws t, eps and
    the dropped labels for the whole global batch, then each process keeps its slice).
    """
    t, eps, x_t = noised(schedule, x0)
    c = drop_labels(c, getattr(model, "module", model).null_class, p_uncond)    # .module: inside DDP
    return F.mse_loss(model(x_t[part], t[part], c[part]), eps[part])


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
    """x_T ~ N(0, I), drawn on the CPU so that a seeded generator gives the same images on any device."""
    cfg = model.config
    device = next(model.parameters()).device
    shape = (n, cfg.in_channels, cfg.image_size, cfg.image_size)
    return torch.randn(shape, generator=generator, device="cpu").to(device)


def _noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """z ~ N(0, I) shaped like x, drawn on the CPU (see _start_noise) and moved to x's device."""
    return torch.randn(x.shape, generator=generator).to(x.device)


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """The DDIM sub-sequence tau: `steps` evenly spaced timesteps from T - 1 down to 0, both included.

    For example T = 1000, steps = 5 gives [999, 749, 500, 250, 0]; steps = T gives every timestep.
    """
    if not 1 <= steps <= T:
        raise ValueError(f"DDIM steps must be in 1..T={T}, got {steps}")
    return torch.linspace(T - 1, 0, steps).round().long().tolist()


def ddim_step(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, s: int, eta: float,
              clip: bool, noise: torch.Tensor | None) -> torch.Tensor:
    """One DDIM update (Song et al. 2021, Eq. 12) from timestep t down to s < t; s = -1 is the end
    of sampling, where abar_s = 1 (x_s is then the clean image x0^).

        x0^   = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
        sigma = eta * sqrt((1 - abar_s) / (1 - abar_t)) * sqrt(1 - abar_t / abar_s)        (Eq. 16)
        x_s   = sqrt(abar_s) x0^ + sqrt(1 - abar_s - sigma^2) eps + sigma z

    With clip, x0^ is clipped to [-1, 1] and eps recomputed from the clipped x0^, so that the two
    stay consistent: eps = (x_t - sqrt(abar_t) x0^) / sqrt(1 - abar_t). z is `noise`, or 0 if None
    (eta = 0, or the last step, where sigma = 0 anyway).
    """
    abar_t = schedule.abar[t]
    abar_s = schedule.abar[s] if s >= 0 else torch.ones_like(abar_t)
    x0 = (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
    if clip:
        x0 = x0.clamp(-1, 1)
        eps = (x_t - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()      # the eps of the clipped x0^
    sigma = eta * ((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)).sqrt()
    # clamp(min=0): rounding at eta = 1, and sigma^2 > 1 - abar_s for eta > 1 (the eps term is then dropped)
    x_s = abar_s.sqrt() * x0 + (1 - abar_s - sigma ** 2).clamp(min=0).sqrt() * eps
    if noise is not None:
        x_s = x_s + sigma * noise
    return x_s


def ddpm_step(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, clip: bool,
              noise: torch.Tensor | None) -> torch.Tensor:
    """One step of ancestral sampling (Ho et al. 2020, Algorithm 2), from t to t - 1, written through x0^:

        x0^     = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)          (clipped to [-1, 1] if clip)
        x_{t-1} = mu~_t(x_t, x0^) + sqrt(beta~_t) z

    where mu~_t and beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t are the mean and variance of the
    posterior q(x_{t-1} | x_t, x0) (NoiseSchedule.posterior_mean, .posterior_var). z is `noise`, or 0
    if None (the last step, t = 0, where beta~_0 = 0 anyway). Without clipping this equals
    Algorithm 2's  x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sqrt(beta~_t) z.
    """
    x0 = (x_t - schedule.sqrt_one_minus_abar[t] * eps) / schedule.sqrt_abar[t]
    if clip:
        x0 = x0.clamp(-1, 1)
    x_prev = schedule.posterior_mean(x0, x_t, t)
    if noise is not None:
        x_prev = x_prev + schedule.posterior_var[t].sqrt() * noise
    return x_prev


@torch.no_grad()
def ddim_sample(model, schedule: NoiseSchedule, labels: torch.Tensor, *, guidance: float, steps: int,
                eta: float = 0.0, clip: bool = True, generator: torch.Generator | None = None,
                progress: bool = False) -> torch.Tensor:
    """DDIM sampling with classifier-free guidance scale `guidance` (see guided_eps): start from
    x_T ~ N(0, I) and apply ddim_step for each consecutive pair t > s of tau = ddim_timesteps(T, steps),
    then from tau's last element, 0, to the end (s = -1, abar_s = 1).

    eta = 0 is deterministic given the starting noise; eta = 1 is DDPM's posterior variance on tau.
    Returns images clipped to [-1, 1].
    """
    model_device = next(model.parameters()).device
    labels = labels.to(model_device)
    x = _start_noise(model, len(labels), generator)
    taus = ddim_timesteps(schedule.T, steps)
    nexts = taus[1:] + [-1]
    for t, s in tqdm(list(zip(taus, nexts)), desc="ddim", disable=not progress, leave=False):
        tt = torch.full((len(x),), t, device=model_device, dtype=torch.long)
        eps = guided_eps(model, x, tt, labels, guidance)
        noise = _noise_like(x, generator) if eta > 0 and s >= 0 else None
        x = ddim_step(schedule, x, eps, t, s, eta, clip, noise)
    return x.clamp(-1, 1)


@torch.no_grad()
def ddpm_sample(model, schedule: NoiseSchedule, labels: torch.Tensor, *, guidance: float, clip: bool = True,
                generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
    """Ancestral sampling (Ho et al. 2020, Algorithm 2) with classifier-free guidance scale `guidance`:
    start from x_T ~ N(0, I) and apply ddpm_step for t = T-1, ..., 0, with no noise at the last step.
    Returns images clipped to [-1, 1].
    """
    model_device = next(model.parameters()).device
    labels = labels.to(model_device)
    x = _start_noise(model, len(labels), generator)
    for t in tqdm(range(schedule.T - 1, -1, -1), desc="ddpm", disable=not progress, leave=False):
        tt = torch.full((len(x),), t, device=model_device, dtype=torch.long)
        eps = guided_eps(model, x, tt, labels, guidance)
        noise = _noise_like(x, generator) if t > 0 else None
        x = ddpm_step(schedule, x, eps, t, clip, noise)
    return x.clamp(-1, 1)
