"""The noise schedule of a DDPM and the closed-form forward process q(x_t | x_0).

Ho et al. 2020 define a Markov chain that adds Gaussian noise in T steps:

    q(x_t | x_{t-1}) = N(x_t; sqrt(1 - beta_t) x_{t-1}, beta_t I)

With alpha_t = 1 - beta_t and abar_t = prod_{s<=t} alpha_s, any step can be reached in one jump:

    q(x_t | x_0) = N(x_t; sqrt(abar_t) x_0, (1 - abar_t) I)
    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,   eps ~ N(0, I)

Timesteps are 0-indexed here: t in {0, ..., T-1}, and t = 0 is the first noising step (it is
trained like every other step). Every per-step quantity is a named buffer, so it follows the
module to the right device and is saved in the state dict.
"""
import math

import torch
from torch import nn


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """Ho et al. 2020: beta rises linearly from 1e-4 to 0.02 (values chosen for T = 1000).

    For other T the end points are rescaled by 1000 / T so the total amount of noise is similar.
    """
    scale = 1000 / T
    return torch.linspace(beta_1 * scale, beta_T * scale, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021: abar(t) = f(t) / f(0),  f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2).

    beta_t = 1 - abar(t + 1) / abar(t), clipped at max_beta to avoid a singularity at t = T.
    """
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """beta_t, alpha_t, abar_t and the coefficients derived from them, as buffers of shape [T]."""

    def __init__(self, T: int = 1000, kind: str = "linear"):
        super().__init__()
        if kind == "linear":
            betas = linear_betas(T)
        elif kind == "cosine":
            betas = cosine_betas(T)
        else:
            raise ValueError(f"unknown schedule {kind!r}: use 'linear' or 'cosine'")
        self.T, self.kind = T, kind
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, dim=0)
        # Computed in float64, stored in float32.
        self.register_buffer("betas", betas.float())
        self.register_buffer("alphas", alphas.float())
        self.register_buffer("abar", abar.float())
        self.register_buffer("sqrt_abar", abar.sqrt().float())
        self.register_buffer("sqrt_one_minus_abar", (1 - abar).sqrt().float())
        # Posterior variance of q(x_{t-1} | x_t, x_0): beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t,
        # with abar_{-1} = 1 (so beta~_0 = 0: from x_0 the last step is exact).
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        self.register_buffer("abar_prev", abar_prev.float())
        self.register_buffer("posterior_var", ((1 - abar_prev) / (1 - abar) * betas).float())

    @staticmethod
    def _at(buf: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Pick buf[t] for a batch of timesteps and shape it [B, 1, 1, 1] to broadcast over images."""
        return buf[t].view(-1, 1, 1, 1)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps   (the closed form of q(x_t | x_0))."""
        return self._at(self.sqrt_abar, t) * x0 + self._at(self.sqrt_one_minus_abar, t) * eps

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Invert q_sample for x_0:  x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        return (x_t - self._at(self.sqrt_one_minus_abar, t) * eps) / self._at(self.sqrt_abar, t)

    def posterior_mean(self, x0: torch.Tensor, x_t: torch.Tensor, t: int) -> torch.Tensor:
        """Mean of the posterior q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I)  (Ho et al. 2020, Eq. 7),
        for one timestep t (an int):

            mu~_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t

        At t = 0 (abar_{-1} = 1) this is x_0 itself, and beta~_0 = 0.
        """
        coef_x0 = self.abar_prev[t].sqrt() * self.betas[t] / (1 - self.abar[t])
        coef_xt = self.alphas[t].sqrt() * (1 - self.abar_prev[t]) / (1 - self.abar[t])
        return coef_x0 * x0 + coef_xt * x_t

    def extra_repr(self) -> str:
        return f"T={self.T}, kind={self.kind!r}"
