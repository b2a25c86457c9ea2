"""Data-free relearning: fine-tune the unlearned model on its own samples of the retained classes.

Threat model: the attacker holds theta_u and its checkpoint (so its sampler settings and label
dropout), and no real image at all, not even of the retained classes. It draws `n_samples`
images of the retained classes from theta_u itself (labels c != f in turn, DDIM with guidance,
drawn as the evaluation draws its samples), stores them as 8-bit images, and
fine-tunes on them with the pre-training loss, label dropout included:

    D_syn  = {(x, c) : c != f,  x ~ p_theta_u(x | c)}
    theta* = argmin_theta L_simple(theta; D_syn),   from theta_u, for K steps at rate lr

This is DiMRA-retain with the real retained images replaced by the model's own: it needs no data,
and it does not share the objective of a retain term (L_simple on the real retained images): a
model at that objective's minimum need not be at this one's.
"""
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ddpm.data import Batches, ImageData
from ddpm.diffusion import ddim_sample, simple_loss
from ddpm.errors import UserError, require
from ddpm.train_loop import fit

from .base import AttackConfig, AttackData, Curve

LABEL = "Data-free"
THREAT = "no real data: fine-tunes theta_u with L_simple on its own samples of the retained classes"


@dataclass
class Config(AttackConfig):
    n_samples: int = 900              # own samples of the retained classes (DiMRA-retain holds 900 real ones)
    steps: int = 300
    lr: float = 1e-4
    batch_size: int = 64
    p_uncond: float | None = None     # label dropout; None: the checkpoint's (AttackData.model_config), else 0.1
    grad_clip: float = 1.0
    eval_every: int = 100
    seed: int = 0

    def __post_init__(self):
        require((self.n_samples >= 1, f"--n-samples {self.n_samples} must be at least 1"),
                (self.steps >= 1, f"--steps {self.steps} must be at least 1"),
                (self.lr > 0, f"--lr {self.lr} must be positive"),
                (self.batch_size >= 1, f"--batch-size {self.batch_size} must be at least 1"),
                (self.p_uncond is None or 0 <= self.p_uncond < 1, f"--p-uncond {self.p_uncond} must be in [0, 1)"),
                (self.grad_clip > 0, f"--grad-clip {self.grad_clip} must be positive"),
                (self.eval_every >= 1, f"--eval-every {self.eval_every} must be at least 1"),
                (self.seed >= 0, f"--seed {self.seed} must be >= 0"))


class Sampler(NamedTuple):
    """How the attacker samples theta_u: as the evaluation does (metrics.evaluate.SampleSettings.of(its
    checkpoint's config): DDIM steps, guidance, images a call)."""
    steps: int
    guidance: float
    batch_size: int = 500


@torch.no_grad()
def own_samples(model, schedule, f: int, n: int, s: Sampler, seed: int) -> ImageData:
    """n samples of theta_u, labels cycling over the retained classes c != f, quantised to uint8: DDIM
    with guidance in batches of s.batch_size from one seeded generator (metrics.evaluate.generate's draw).
    `s`: a Sampler, or anything with its fields (metrics.evaluate.SampleSettings)."""
    classes = torch.tensor([c for c in range(model.null_class) if c != f])
    labels = classes.repeat(-(-n // len(classes)))[:n]
    g = torch.Generator().manual_seed(seed)
    model.eval()
    x = torch.cat([ddim_sample(model, schedule, labels[i:i + s.batch_size], steps=s.steps, guidance=s.guidance,
                               generator=g).cpu() for i in range(0, n, s.batch_size)])
    if not torch.isfinite(x).all():                                   # a diverged model is refused here
        bad = (~torch.isfinite(x)).flatten(1).any(1).sum().item()
        raise UserError(f"{bad} of {n} generated images are NaN/inf: the model diverged")
    return ImageData(((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), labels)


def run(model, schedule, data: AttackData, cfg: Config, measure=None, progress: bool = True,
        start: float | None = None) -> dict:
    """Attack `model` in place; reads data.forget_class and data.config(), never data.aux.
    Returns the common result (attack/base.py) plus 'n_synthetic', the size of D_syn."""
    mcfg = data.config()
    p_uncond = cfg.p_uncond if cfg.p_uncond is not None else mcfg.p_uncond
    sampler = Sampler(steps=mcfg.ddim_steps, guidance=mcfg.guidance)
    synthetic = own_samples(model, schedule, data.forget_class, cfg.n_samples, sampler, cfg.seed)
    torch.manual_seed(cfg.seed)
    batches = Batches(synthetic, cfg.batch_size, seed=cfg.seed, device=next(model.parameters()).device)
    curve = Curve(measure, model, cfg.eval_every, cfg.steps)
    curve.record(0, start)
    # theta* = argmin_theta L_simple(theta; D_syn), labels dropped to the null class with prob. p_uncond
    hist = fit(model, lambda: simple_loss(model, schedule, *next(batches), p_uncond=p_uncond), cfg.steps, cfg.lr,
               grad_clip=cfg.grad_clip, on_step=curve.on_step, desc="data-free", progress=progress)
    model.eval()
    return {"curve": curve.points, "loss": hist["loss"], "diverged": hist["stopped"] == "nonfinite",
            "n_real": 0, "n_real_forget": 0, "n_synthetic": len(synthetic)}
