"""SalUn (Fan et al., ICLR 2024): random labelling restricted to the weights most salient for f.

Saliency mask: the gradient of the forgetting loss tells which weights matter for f. Only the top
`fraction` of weights by |gradient| (over the whole model) are updated:

    m = 1[ |grad_theta L_mask(theta; D_f)| >= the (1 - fraction) quantile ]
    L_mask = E || eps - eps~_theta(x_t, t, f) ||^2,   eps~ = (1 + w) eps_theta(x_t, t, f) - w eps_theta(x_t, t, null)

with w = `mask_guidance` (0, the default, makes L_mask the plain L_simple(theta; D_f); the released
code uses the guided prediction, w = its sampling guidance).

Loss: make the prediction under f look like the model's own prediction under a random other
class c' != f (stop-gradient on that target), and keep the retained classes:

    L_SalUn(theta) = E_{x_0 ~ D_f, c' != f} || eps_theta(x_t, t, f) - sg[eps_theta(x_t, t, c')] ||^2
                     + alpha * L_simple(theta; D_r)

The target moves with the model, so this loss has no fixed minimum to converge to.
Here c' is drawn uniformly at random among the other classes for every image and step. Both terms
average over pixels; `retain_reduction='sum'` sums the retain term over the C*H*W pixels of each
image instead, as the released DDPM code does (its alpha = 1e-3 then weighs the retain term
1e-3 * 256 = 0.26 times the forget term on 16 px MNIST, about 3 times on 32 px CIFAR-10). With label
dropout `p_uncond` > 0 the label the model is trained under (f in the forget term, c in the retain
term) becomes the null label with that probability; the target is always computed under c'.
The row `salun-released` of harness/settings.py runs SalUn with the released code's settings.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ddpm.diffusion import drop_labels, guided_eps, noised, simple_loss
from ddpm.errors import require

from .base import Plan, UnlearnSettings

LABEL, COLOR = "SalUn", "tab:purple"


@dataclass(kw_only=True)
class Settings(UnlearnSettings):
    steps: int = 300
    lr: float = 1e-4
    alpha: float = 1.0
    fraction: float = 0.5              # share of the weights the saliency mask lets move
    mask_guidance: float = 0.0         # w of the guided loss the mask is computed from (0 = L_simple)
    retain_reduction: str = "mean"     # the retain term over pixels: 'mean', or 'sum' (the released code)

    def __post_init__(self):
        super().__post_init__()
        require((0 < self.fraction <= 1, f"--fraction {self.fraction} must be in (0, 1]"),
                (self.mask_guidance >= 0, f"--mask-guidance {self.mask_guidance} must be >= 0"),
                (self.retain_reduction in ("mean", "sum"),
                 f"--retain-reduction {self.retain_reduction!r}: use 'mean' or 'sum'"))


def saliency_mask(model, schedule, forget_batches, fraction: float, guidance: float = 0.0,
                  n_batches: int = 10) -> dict:
    """{parameter name: 0/1 tensor} keeping exactly round(fraction * #weights) weights (top |grad| of L_mask)."""
    model.zero_grad(set_to_none=True)
    for _ in range(n_batches):
        x_f, c_f = next(forget_batches)
        t, eps, x_t = noised(schedule, x_f)
        loss = F.mse_loss(guided_eps(model, x_t, t, c_f, guidance), eps)     # L_mask (w = 0: L_simple)
        (loss / n_batches).backward()
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


def salun_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float, *, num_classes: int,
               p_uncond: float = 0.0, retain_sum: bool = False):
    """|| eps_theta(x_t, t, f) - sg[eps_theta(x_t, t, c')] ||^2 + alpha * L_simple(theta; D_r), x_t from
    x_f (labels c_f, all f), c' a random other class; (x_r, c_r) a batch of D_r. `retain_sum`: the
    retain term summed over each image's pixels (C*H*W times the mean) instead of averaged."""
    t, _, x_t = noised(schedule, x_f)
    with torch.no_grad():
        target = model(x_t, t, random_other_class(c_f, num_classes))    # sg[eps_theta(x_t, t, c')]
    c = drop_labels(c_f, model.null_class, p_uncond)                    # f, or null with prob. p_uncond
    loss = F.mse_loss(model(x_t, t, c), target)                          # || eps_theta(x_t, t, f) - sg[...] ||^2
    if alpha > 0:
        pixels = x_r[0].numel() if retain_sum else 1
        loss = loss + alpha * pixels * simple_loss(model, schedule, x_r, c_r, p_uncond)
    return loss


def setup(model, schedule, data, s: Settings) -> Plan:
    mask = saliency_mask(model, schedule, data.forget, s.fraction, s.mask_guidance)
    return Plan(lambda: salun_loss(model, schedule, *next(data.forget), *next(data.retain), alpha=s.alpha,
                                   num_classes=data.train.num_classes, p_uncond=s.p_uncond,
                                   retain_sum=s.retain_reduction == "sum"), grad_mask=mask)
