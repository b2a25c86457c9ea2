"""Exponential moving average of the weights, used for sampling (Ho et al. 2020 used decay 0.9999).

    theta_ema <- d * theta_ema + (1 - d) * theta,    d = min(decay, (1 + n) / (10 + n))

n is the number of updates so far: the warm-up makes the average follow the weights closely at
the start of training, when they change fast and a 0.9999 average would remember the random init.
"""
import copy

import torch
from torch import nn


class EMA(nn.Module):
    def __init__(self, model: nn.Module, decay: float = 0.999):
        super().__init__()
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.long))

    def current_decay(self) -> float:
        n = int(self.num_updates)
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1 - d)   # ema += (1 - d) * (p - ema)
        for b_ema, b in zip(self.model.buffers(), model.buffers()):
            b_ema.copy_(b)
        self.num_updates += 1
