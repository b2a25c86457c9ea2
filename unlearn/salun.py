"""SalUn (Fan et al., ICLR 2024): random labelling restricted to the weights most salient for f.

Saliency mask: the gradient of the forgetting loss, here L_simple(theta; D_f), tells which
weights matter for f. Only the top `fraction` of weights by |gradient| (over the whole model) are
updated:   m = 1[ |grad_theta L_simple(theta; D_f)| >= the (1 - fraction) quantile ].

Loss: make the prediction under f look like the model's own prediction under a random other
class c' != f (stop-gradient on that target), and keep the retained classes:

    L_SalUn(theta) = E_{x_0 ~ D_f, c' != f} || eps_theta(x_t, t, f) - sg[eps_theta(x_t, t, c')] ||^2
                     + alpha * L_simple(theta; D_r)

The target moves with the model, so this loss has no fixed minimum to converge to.
Here c' is drawn uniformly at random among the other classes for every image and step.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ddpm.diffusion import noised, simple_loss
from ddpm.errors import UserError

from .base import Plan, UnlearnSettings

LABEL, COLOR = "SalUn", "tab:purple"


@dataclass(kw_only=True)
class Settings(UnlearnSettings):
    steps: int = 300
    lr: float = 1e-4
    alpha: float = 1.0
    fraction: float = 0.5              # share of the weights the saliency mask lets move

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.fraction <= 1:
            raise UserError(f"--fraction {self.fraction} must be in (0, 1]")


def saliency_mask(model, schedule, forget_batches, fraction: float, n_batches: int = 10) -> dict:
    """{parameter name: 0/1 tensor} keeping exactly round(fraction * #weights) weights (top |grad|)."""
    model.zero_grad(set_to_none=True)
    for _ in range(n_batches):
        x_f, c_f = next(forget_batches)
        (simple_loss(model, schedule, x_f, c_f) / n_batches).backward()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    scores = torch.cat([p.grad.abs().flatten() if p.grad is not None else torch.zeros(p.numel(), device=p.device)
                        for _, p in named])
    model.zero_grad(set_to_none=True)
    keep = torch.zeros_like(scores)
    keep[torch.topk(scores, round(fraction * len(scores))).indices] = 1.0
    masks, start = {}, 0
    for name, p in named:
        masks[name] = keep[start:start + p.numel()].view_as(p)
        start += p.numel()
    return masks


def random_other_class(c_f: torch.Tensor, num_classes: int) -> torch.Tensor:
    """c' uniform over the K - 1 classes other than f, for every label in c_f."""
    return (c_f + torch.randint(1, num_classes, c_f.shape, device=c_f.device)) % num_classes


def salun_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, *, num_classes: int):
    """|| eps_theta(x_t, t, f) - sg[eps_theta(x_t, t, c')] ||^2 + alpha * L_simple(theta; D_r), x_t from
    x_f (labels c_f, all f), c' a random other class; (x_r, c_r) a batch of D_r."""
    t, _, x_t = noised(schedule, x_f)
    with torch.no_grad():
        target = model(x_t, t, random_other_class(c_f, num_classes))    # sg[eps_theta(x_t, t, c')]
    loss = F.mse_loss(model(x_t, t, c_f), target)                        # || eps_theta(x_t, t, f) - sg[...] ||^2
    if alpha > 0:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r)
    return loss


def setup(model, schedule, data, s: Settings) -> Plan:
    mask = saliency_mask(model, schedule, data.forget, s.fraction)
    return Plan(lambda: salun_loss(model, schedule, *next(data.forget), *next(data.retain), alpha=s.alpha,
                                   num_classes=data.train.num_classes), grad_mask=mask)
