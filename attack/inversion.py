"""Class-embedding inversion: is the forgotten class still in the weights, reachable from a new label?

Threat model: the attacker of DiMRA-mixed, who holds a few real images of the forgotten class f
(`n_images` of the held-out 'aux' split), but who may not change a single weight. With every
weight of theta_u frozen, it learns one new conditioning vector e, used in place of the class
embedding E[f], by minimising the denoising loss on its images of f:

    e* = argmin_e  E_{x0 in D_f^aux, t, eps} || eps - eps_theta_u(x_t, t; emb = MLP(t) + e) ||^2

(L_simple with label f bound to e, no label dropout: only the conditional branch is inverted),
then samples with e, guidance and all, as the evaluation samples with label f. If theta_u draws f
from some embedding while Retrain (which never saw f) does not, the class is still in the
weights, whatever fine-tuning shows; an unlearned model that only moved E[f] away is found out.

e starts from the null label's embedding E[K] (`init='null'`, the default: the conditional
prediction then equals the unconditional one, so step 0 draws the unconditional samples and no
trace of E[f] is used) or from the mean of the retained classes' rows (`init='mean'`).
Label f is bound to e by a forward hook on the class embedding; the weights are never written
during the attack. Afterwards, `as_attacked` writes e into row f and restores the row bit for bit.
"""
import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from ddpm.data import Batches
from ddpm.diffusion import simple_loss
from ddpm.errors import UserError, require
from ddpm.train_loop import fit

from .base import AttackConfig, AttackData, Curve

LABEL = "Inversion"
THREAT = "weights frozen; learns a new class embedding from a few real images of f, then samples with it"


@dataclass
class Config(AttackConfig):
    n_images: int = 32          # real images of f the attacker holds (from the held-out aux split)
    init: str = "null"          # e's start: 'null' (E[K], no label) or 'mean' (mean of E[c], c != f)
    steps: int = 300
    lr: float = 1e-2            # Adam on the one vector e
    batch_size: int = 32
    grad_clip: float = 1.0
    eval_every: int = 100
    seed: int = 0

    def __post_init__(self):
        require((self.n_images >= 1, f"--n-images {self.n_images} must be at least 1"),
                (self.init in ("null", "mean"), f"--init {self.init!r}: use 'null' or 'mean'"),
                (self.steps >= 1, f"--steps {self.steps} must be at least 1"),
                (self.lr > 0, f"--lr {self.lr} must be positive"),
                (self.batch_size >= 1, f"--batch-size {self.batch_size} must be at least 1"),
                (self.grad_clip > 0, f"--grad-clip {self.grad_clip} must be positive"),
                (self.eval_every >= 1, f"--eval-every {self.eval_every} must be at least 1"),
                (self.seed >= 0, f"--seed {self.seed} must be >= 0"))


@contextlib.contextmanager
def label_bound_to(model, f: int, e: torch.Tensor):
    """Inside: the class embedding returns e for every label f (gradients reach e), E[c] otherwise."""
    def hook(module, args, out):
        return torch.where((args[0] == f).unsqueeze(-1), e.to(out.dtype), out)
    handle = model.class_emb.register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


@contextlib.contextmanager
def as_attacked(model, data: AttackData, result: dict):
    """Inside: row f of the class embedding holds the learned e (samples AND state_dict are the attacked
    model's); on exit the row is restored bit for bit."""
    row = model.class_emb.weight.data[data.forget_class]
    saved = row.clone()
    row.copy_(result["embedding"].to(row))
    try:
        yield model
    finally:
        row.copy_(saved)


def images_of_f(data: AttackData, n: int):
    """The attacker's n real images of f: a seeded draw from aux's images of f (refused if too few)."""
    f = data.forget_class
    if data.aux is None:
        raise UserError(f"inversion learns from real images of class {f}: pass AttackData(aux=the held-out split)")
    have = data.aux.subset(data.aux.labels == f)
    if len(have) < n:
        raise UserError(f"--n-images {n} needs {n} held-out images of class {f}, the aux split has {len(have)}: "
                        f"lower --n-images")
    pick = torch.randperm(len(have), generator=torch.Generator().manual_seed(data.seed))[:n]
    return have.subset(pick)


def initial_embedding(model, f: int, init: str) -> torch.Tensor:
    """E[K] (the null label) or the mean of E[c] over the retained classes c != f (never E[f])."""
    weight = model.class_emb.weight.detach()
    if init == "null":
        return weight[model.null_class].clone()
    keep = [c for c in range(model.null_class) if c != f]
    return weight[keep].mean(0)


class _Embedding(nn.Module):
    """What `fit` trains: the vector e; the UNet rides along as a frozen submodule (train/eval modes)."""

    def __init__(self, model, e0: torch.Tensor):
        super().__init__()
        self.unet, self.e = model, nn.Parameter(e0)


def run(model, schedule, data: AttackData, cfg: Config, measure=None, progress: bool = True,
        start: float | None = None) -> dict:
    """Learn e on the attacker's images of f with theta_u frozen; measure(model) sees label f bound to e.
    `start` is not used: step 0 here is label f bound to e's start, not the model as given.
    Returns the common result (attack/base.py) plus 'embedding', the learned e (on the CPU)."""
    f = data.forget_class
    real = images_of_f(data, cfg.n_images)
    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    batches = Batches(real, min(cfg.batch_size, cfg.n_images), seed=cfg.seed, device=device)
    was_trainable = {name: p.requires_grad for name, p in model.named_parameters()}
    model.requires_grad_(False)
    inv = _Embedding(model, initial_embedding(model, f, cfg.init))
    curve = Curve(measure, model, cfg.eval_every, cfg.steps)
    try:
        with label_bound_to(model, f, inv.e):
            curve.record(0)
            # L_simple(e; D_f^aux) with label f bound to e: eps_theta_u(x_t, t; MLP(t) + e), no label dropout
            hist = fit(inv, lambda: simple_loss(model, schedule, *next(batches)), cfg.steps, cfg.lr,
                       grad_clip=cfg.grad_clip, on_step=curve.on_step, desc="inversion", progress=progress)
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(was_trainable[name])
    model.eval()
    return {"curve": curve.points, "loss": hist["loss"], "diverged": hist["stopped"] == "nonfinite",
            "n_real": len(real), "n_real_forget": len(real), "embedding": inv.e.detach().cpu().clone()}
