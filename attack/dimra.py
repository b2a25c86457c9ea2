"""DiMRA, the Diffusion Model Relearning Attack.

Fine-tune the unlearned model theta_u with the ordinary conditional denoising loss (label dropout
as in pre-training) on an auxiliary data set the attacker holds:

    theta* = argmin_theta L_simple(theta; D_aux),   starting from theta_u, for K steps at rate lr

Two threat models (`ddpm.data.attack_set`): 'retain', where D_aux holds no image of the
forgotten class f (the attacker need not know f), and 'mixed', where f is a share of D_aux.
If unlearning only moved theta a little from the pre-trained theta_0, this pulls it back into
theta_0's basin and f is generated again. The forget-class accuracy is measured every few steps:
that recovery curve is the attack's result.
"""
from dataclasses import asdict, dataclass

import torch

from ddpm.data import Batches, ImageData
from ddpm.diffusion import simple_loss
from ddpm.errors import UserError
from ddpm.train_loop import fit


@dataclass
class DiMRAConfig:
    aux: str = "retain"            # 'retain' (no image labelled f) or 'mixed'
    share: float = 0.1             # mixed: share of f in D_aux
    steps: int = 300
    lr: float = 1e-4
    batch_size: int = 64
    p_uncond: float = 0.1          # label dropout, as in pre-training
    eval_every: int = 50           # forget_acc is measured at step 0 and every eval_every steps
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def dimra(model, schedule, d_aux: ImageData, forget_class: int, cfg: DiMRAConfig,
          measure=None, progress: bool = True) -> dict:
    """Attack `model` in place. `measure(model) -> float` (e.g. forget_acc) gives the recovery curve.

    Returns {'curve': {'step': [...], 'forget_acc': [...]}, 'loss': [...]}.
    """
    if cfg.aux == "retain" and bool((d_aux.labels == forget_class).any()):
        raise UserError(f"the 'retain' auxiliary set holds images of class {forget_class}: "
                        f"build it with ddpm.data.attack_set(aux, f, 'retain')")
    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    batches = Batches(d_aux, cfg.batch_size, seed=cfg.seed, device=device)
    curve = {"step": [], "forget_acc": []}

    def record(step: int) -> None:
        if measure is not None:
            curve["step"].append(step)
            curve["forget_acc"].append(measure(model))
            model.train()

    def on_step(step: int, loss: float) -> None:
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record(step)

    record(0)
    hist = fit(model, lambda: simple_loss(model, schedule, *next(batches), p_uncond=cfg.p_uncond),
               cfg.steps, cfg.lr, grad_clip=1.0, on_step=on_step, desc=f"DiMRA-{cfg.aux}", progress=progress)
    model.eval()
    return {"curve": curve, "loss": hist["loss"]}
