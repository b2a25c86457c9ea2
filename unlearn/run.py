"""Run one unlearning method with the shared fine-tuning loop (`ddpm.train_loop.fit`).

Every method gets the same things: a stream of D_f batches (the forgotten class, from the
training split), a stream of D_r batches (the other classes), the same optimiser, clipping and
logging. The only line that differs between methods is the loss they are given.
"""
import copy
from dataclasses import asdict, dataclass, fields

import torch

from ddpm.data import Batches, ImageData, check_class, forget_retain
from ddpm.errors import UserError
from ddpm.train_loop import Plateau, fit

from .dimum import alternative_set, dimum_loss
from .esd import esd_loss
from .ga import ga_loss
from .salun import salun_loss, saliency_mask

METHODS = ("ga", "esd", "salun", "dimum")

# Each method as its own paper defines it (the headline rows). Tuned on seed 0, then frozen.
DEFAULTS = {
    "ga":    dict(steps=130, lr=1e-5, alpha=0.0),
    "esd":   dict(steps=300, lr=1e-4, alpha=0.0, eta=1.0),
    "salun": dict(steps=300, lr=1e-4, alpha=1.0, salun_fraction=0.5),
    "dimum": dict(steps=1000, lr=1e-4, alpha=1.0, alt="class:1", plateau=True),
}


@dataclass
class UnlearnConfig:
    method: str = "ga"
    forget_class: int = 0
    steps: int = 100
    lr: float = 1e-5
    batch_size: int = 64
    alpha: float = 0.0                 # weight of the retain term alpha * L_simple(theta; D_r)
    eta: float = 1.0                   # ESD: strength of the negative guidance in its target
    salun_fraction: float = 0.5        # SalUn: share of weights its saliency mask updates
    alt: str = "class:1"               # DiMUM: alternative set (class:K, fixed:K:N, pattern:NAME)
    plateau: bool = False              # stop when the loss stops falling (convergent losses only)
    freeze_class_emb: bool = False     # keep the class embedding at theta_0 (cf. SD's frozen text encoder)
    grad_clip: float = 1.0
    seed: int = 0


def make_unlearn_config(method: str, **overrides) -> UnlearnConfig:
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    names = {f.name for f in fields(UnlearnConfig)}
    bad = set(overrides) - names
    if bad:
        raise UserError(f"unknown unlearning setting(s): {', '.join(sorted(bad))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return UnlearnConfig(method=method, **{**DEFAULTS[method], **given})


def unlearn(model, schedule, train: ImageData, cfg: UnlearnConfig, progress: bool = True) -> dict:
    """Fine-tune `model` in place to forget class cfg.forget_class. Returns the loss history."""
    f_class = check_class(cfg.forget_class, train.num_classes)
    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    d_f, d_r = forget_retain(train, f_class)
    forget = Batches(d_f, cfg.batch_size, seed=cfg.seed, device=device)
    retain = Batches(d_r, cfg.batch_size, seed=cfg.seed + 1, device=device)
    if cfg.freeze_class_emb:
        model.class_emb.requires_grad_(False)

    grad_mask = None
    if cfg.method == "ga":
        def loss_fn():
            x_f, f = next(forget)
            return ga_loss(model, schedule, x_f, f, *next(retain), alpha=cfg.alpha)
    elif cfg.method == "esd":
        frozen = copy.deepcopy(model).eval().requires_grad_(False)     # eps_0: the pre-trained model

        def loss_fn():
            x_f, f = next(forget)
            return esd_loss(model, schedule, x_f, f, *next(retain), alpha=cfg.alpha, frozen=frozen, eta=cfg.eta)
    elif cfg.method == "salun":
        grad_mask = saliency_mask(model, schedule, forget, cfg.salun_fraction)

        def loss_fn():
            x_f, f = next(forget)
            return salun_loss(model, schedule, x_f, f, *next(retain), alpha=cfg.alpha,
                              num_classes=train.num_classes)
    elif cfg.method == "dimum":
        alt = Batches(alternative_set(cfg.alt, train, f_class, cfg.seed), cfg.batch_size,
                      seed=cfg.seed + 2, device=device)

        def loss_fn():
            return dimum_loss(model, schedule, *next(alt), *next(retain), alpha=cfg.alpha)
    else:
        raise UserError(f"unknown method {cfg.method!r}: choose one of {', '.join(METHODS)}")

    hist = fit(model, loss_fn, cfg.steps, cfg.lr, grad_clip=cfg.grad_clip, grad_mask=grad_mask,
               plateau=Plateau(window=100, rel_tol=0.02, min_steps=200) if cfg.plateau else None, desc=f"unlearn {cfg.method}", progress=progress)
    model.requires_grad_(True)
    model.eval()
    return {"loss": hist["loss"], "steps_done": hist["steps_done"], "stopped": hist["stopped"]}


def config_dict(cfg: UnlearnConfig) -> dict:
    return asdict(cfg)
