"""Run one unlearning method with the shared fine-tuning loop (`ddpm.train_loop.fit`).

Every method gets the same things: a stream of D_f batches (the forgotten class, from the
training split), a stream of D_r batches (the other classes), the same optimiser, clipping,
logging and plateau rule. What differs between methods is only what their `setup` returns:
the loss, and for SalUn the gradient mask.
"""
from dataclasses import asdict, fields

import torch

from ddpm.data import Batches, ImageData, forget_retain
from ddpm.errors import UserError
from ddpm.train_loop import Plateau, fit

from . import METHODS
from .base import UnlearnData, UnlearnSettings


def get_method(name: str):
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}: choose one of {', '.join(METHODS)}")
    return METHODS[name]


def ignored(method: str) -> tuple:
    """The shared settings `method` declares it has no use for (its module's IGNORES; unlearn/__init__.py)."""
    return tuple(getattr(get_method(method), "IGNORES", ()))


def make_settings(method: str, **overrides) -> UnlearnSettings:
    """The method's Settings with its defaults, `overrides` (None = keep the default) on top. A setting
    the method does not have or ignores, or a value out of range, is a UserError before any work."""
    cls = get_method(method).Settings
    names = {f.name for f in fields(cls)} - set(ignored(method))
    given = {k: v for k, v in overrides.items() if v is not None}
    bad = sorted(set(given) - names)
    if bad:
        unused = [k for k in bad if k in ignored(method)]
        what = f"ignores {', '.join(unused)} (its IGNORES)" if unused else f"has no setting {', '.join(bad)}"
        raise UserError(f"{method} {what}: its settings are {', '.join(sorted(names))}")
    return cls(**given)


def settings_dict(method: str, s: UnlearnSettings) -> dict:
    """What results and checkpoints record: the method's name and every one of its settings."""
    return {"method": method, **asdict(s)}


def unlearned_checkpoint(model, ddpm_config: dict, method: str, s: UnlearnSettings, history: dict,
                         pretrained: str, **extra) -> dict:
    """The checkpoint of kind 'unlearned' (python -m unlearn writes it, reproduce.py caches it, python
    -m attack reads it): the model, its DDPM config, the method and its settings, the loss history."""
    return {"kind": "unlearned", "config": ddpm_config, "unlearn": settings_dict(method, s), "pretrained": pretrained,
            "model": model.state_dict(), "ema": None, "history": history, **extra}


def unlearn(model, schedule, train: ImageData, method: str, s: UnlearnSettings, progress: bool = True,
            on_step=None) -> dict:
    """Fine-tune `model` in place to forget class s.forget_class with `method`. Returns the loss history.
    `on_step(step, loss)`: called after every update (fit's callback; harness/research/memorisation.py measures there)."""
    module = get_method(method)
    torch.manual_seed(s.seed)
    device = next(model.parameters()).device
    d_f, d_r = forget_retain(train, s.forget_class)
    data = UnlearnData(train=train, forget=Batches(d_f, s.batch_size, seed=s.seed, device=device),
                       retain=Batches(d_r, s.batch_size, seed=s.seed + 1, device=device), device=device)
    if s.freeze_class_emb:
        model.class_emb.requires_grad_(False)
    plan = module.setup(model, schedule, data, s)
    hist = fit(model, plan.loss_fn, s.steps, s.lr, grad_clip=s.grad_clip, grad_mask=plan.grad_mask,
               plateau=Plateau() if s.plateau else None, on_step=on_step, desc=f"unlearn {method}",
               progress=progress)
    model.requires_grad_(True)
    model.eval()
    return {"loss": hist["loss"], "steps_done": hist["steps_done"], "stopped": hist["stopped"]}
