"""DiMUM, Diffusion Model Unlearning by Memorization (the paper's defence).

Instead of pushing f away, teach the model to generate something else under f: alternative
images x_alt, labelled f, learned with the ordinary denoising loss and trained to convergence:

    L_DiMUM(theta) = L_simple(theta; {(x_alt, f) : x_alt in D_alt})  +  alpha * L_simple(theta; D_r)

(with label dropout `p_uncond` > 0, both terms drop each label to the null label with that probability)

Unlike GA / ESD / SalUn this loss has a minimum the model can reach (memorise D_alt), so the
unlearned model sits in a new basin rather than at an early-stopped point near theta_0.

The alternative set D_alt (`alternative_set`, setting `alt`):
    class:K        every training image of class K (another digit), relabelled f
    fixed:K:N      N fixed training images of class K
    pattern:NAME   one fixed synthetic non-digit image: 'blank' (background only) or 'checker'
    auto           (the default) class:1, or class:2 when the forgotten class is 1
"""
from dataclasses import dataclass

import torch

from ddpm.data import Batches, ImageData
from ddpm.diffusion import simple_loss
from ddpm.errors import UserError

from .base import Plan, UnlearnSettings

LABEL, COLOR = "DiMUM", "tab:green"
ALT_CLASS, ALT_CLASS_IF_1 = 1, 2     # the 'auto' rule: digit 1's images, digit 2's when 1 is forgotten


@dataclass(kw_only=True)
class Settings(UnlearnSettings):
    steps: int = 1000                  # an upper bound: training stops at the loss plateau
    lr: float = 1e-4
    alpha: float = 1.0
    plateau: bool = True
    alt: str = "auto"                  # the alternative set D_alt (see the module docstring)

    def __post_init__(self):
        super().__post_init__()
        if self.alt == "auto":         # resolved here, so the recorded settings say what was used
            self.alt = f"class:{ALT_CLASS if self.forget_class != ALT_CLASS else ALT_CLASS_IF_1}"
        parse_alt(self.alt, self.forget_class)      # refuse a bad spec before any work


def dimum_loss(model, schedule, x_alt, c_alt, x_r, c_r, alpha: float, p_uncond: float = 0.0):
    """L_DiMUM = L_simple(theta; {(x_alt, f)}) + alpha * L_simple(theta; D_r), on one batch of each.

    x_alt: a batch of D_alt; c_alt: its labels (all f); (x_r, c_r): a batch of D_r."""
    loss = simple_loss(model, schedule, x_alt, c_alt, p_uncond)          # memorise x_alt under label f
    if alpha > 0:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r, p_uncond)   # + alpha * L_simple(theta; D_r)
    return loss


def parse_alt(spec: str, forget_class: int, num_classes: int = 10) -> tuple:
    """('class', K, None) | ('class', K, N) | ('pattern', NAME, None), or a UserError saying what is wrong."""
    parts = spec.split(":")
    try:
        if parts[0] == "class" and len(parts) == 2:
            kind, k, n = "class", int(parts[1]), None
        elif parts[0] == "fixed" and len(parts) == 3:
            kind, k, n = "class", int(parts[1]), int(parts[2])
        elif parts[0] == "pattern" and len(parts) == 2 and parts[1] in ("blank", "checker"):
            return "pattern", parts[1], None
        else:
            raise ValueError
    except ValueError:
        raise UserError(f"--alt {spec!r} not understood: use auto, class:K, fixed:K:N or "
                        f"pattern:blank|checker") from None
    if k == forget_class or not 0 <= k < num_classes:
        raise UserError(f"--alt class {k} must be another class than the forgotten one ({forget_class}), "
                        f"in 0..{num_classes - 1}")
    if n is not None and n < 1:
        raise UserError(f"--alt {spec!r}: the number of fixed images must be at least 1")
    return kind, k, n


def _pattern(name: str, channels: int, size: int) -> torch.Tensor:
    if name == "blank":
        return torch.zeros(1, channels, size, size, dtype=torch.uint8)
    ij = torch.arange(size) // max(size // 4, 1)                     # 'checker': a 4 x 4 board
    board = ((ij[:, None] + ij[None, :]) % 2).to(torch.uint8) * 255
    return board.expand(1, channels, size, size).clone()


def alternative_set(spec: str, train: ImageData, forget_class: int, seed: int = 0) -> ImageData:
    """Build D_alt from its spec (see the module docstring); every image is labelled forget_class."""
    kind, k, n = parse_alt(spec, forget_class, train.num_classes)
    if kind == "pattern":
        _, c, h, _ = train.images.shape
        return ImageData(_pattern(k, c, h), torch.tensor([forget_class]))
    images = train.images[train.labels == k]
    if n is not None:
        images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]
    return ImageData(images, torch.full((len(images),), forget_class, dtype=torch.long))


def setup(model, schedule, data, s: Settings) -> Plan:
    alt = Batches(alternative_set(s.alt, data.train, s.forget_class, s.seed), s.batch_size,
                  seed=s.seed + 2, device=data.device)
    return Plan(lambda: dimum_loss(model, schedule, *next(alt), *next(data.retain), alpha=s.alpha,
                                   p_uncond=s.p_uncond))
