"""The one fine-tuning loop. Pre-training, Retrain, every unlearning method and DiMRA call `fit`.

What differs between them is only `loss_fn`: a function of no arguments that draws its own
batches and returns a scalar loss. The loop does the rest, the same way for all of them:

    for each step:   loss = loss_fn();  stop if it is NaN/inf (weights stay the last finite ones)
                     loss.backward();  clip the gradient norm;  g <- g * mask (SalUn's saliency mask)
                     optimizer step;  EMA update;  log;  on_step callback;  stop on a plateau
"""
import contextlib
import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm


@dataclass
class Plateau:
    """Stop when the mean loss of the last `window` steps fell less than `rel_tol` (relative)
    below the mean of the window before it, and not before `min_steps`. Only meaningful for
    losses that converge (DiMUM); these defaults are the one place the rule's numbers live."""
    window: int = 100
    rel_tol: float = 0.02
    min_steps: int = 200

    def reached(self, losses: list[float]) -> bool:
        w = self.window
        if len(losses) < max(self.min_steps, 2 * w):
            return False
        prev, last = sum(losses[-2 * w:-w]) / w, sum(losses[-w:]) / w
        return prev - last < self.rel_tol * abs(prev)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when asked for (DDPMConfig.amp). On the CPU this stays plain float32;
    bf16 on the CPU is a choice of the whole run instead (reproduce.py --precision, lab/hardware.py)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fit(model: torch.nn.Module, loss_fn, steps: int, lr: float = 1e-4, *, optimizer=None,
        start_step: int = 0, ema=None, grad_clip: float | None = 1.0, grad_mask: dict | None = None,
        warmup: int = 0, plateau: Plateau | None = None, on_step=None, amp: bool = False,
        desc: str = "train", progress: bool = True) -> dict:
    """Run steps start_step..steps-1 of `loss_fn` on the trainable parameters of `model`.

    Returns {'loss': [per-step loss], 'steps_done', 'stopped': None | 'plateau' | 'nonfinite'}.
    `grad_mask` maps parameter names to 0/1 tensors (parameters not named are frozen).
    `on_step(step, loss)` runs after every update (evaluation, sample grids, checkpoints).
    `warmup`: the learning rate rises linearly from lr / warmup to lr over the first steps.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        optimizer = torch.optim.Adam(params, lr=lr)
    masks = None
    if grad_mask is not None:
        masks = [(p, grad_mask.get(name)) for name, p in model.named_parameters() if p.requires_grad]
    device = next(model.parameters()).device
    history = {"loss": [], "steps_done": start_step, "stopped": None}
    model.train()
    bar = tqdm(range(start_step, steps), desc=desc, disable=not progress, dynamic_ncols=True)
    for step in bar:
        if warmup:
            for group in optimizer.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warmup)
        with autocast(device, amp):
            loss = loss_fn()
        if not torch.isfinite(loss):
            history["stopped"] = "nonfinite"
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if masks is not None:
            for p, m in masks:
                if p.grad is not None:
                    p.grad.mul_(m) if m is not None else p.grad.zero_()
        if grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
            if not math.isfinite(float(norm)):
                history["stopped"] = "nonfinite"
                break
        optimizer.step()
        if ema is not None:
            ema.update(model)
        value = loss.item()
        history["loss"].append(value)
        history["steps_done"] = step + 1
        if step % 10 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{value:.4f}")
        if on_step is not None:
            on_step(step + 1, value)
        if plateau is not None and plateau.reached(history["loss"]):
            history["stopped"] = "plateau"
            break
    return history
