"""What `fit` (ddpm/train_loop.py) promises happens inside `fit`, each promise checked by its effect.

The model is two parameter vectors and the loss is linear in them, so the gradient is a known constant G
and every update can be predicted exactly: plain SGD (passed as the optimiser) moves the weights by
-lr * g, Adam's bias-corrected first step (and every step, while g is constant) by -lr * sign(g).
Checked: the optimiser steps with the given lr, grad_clip clips the global norm, the warmup ramp
(counted from the absolute step, also when resuming), grad_mask freezes, the EMA averages the updated
weights, on_step runs after every update, the plateau and non-finite stops, start_step, train mode.
"""
import math

import pytest
import torch
from torch import nn

from ddpm.ema import EMA
from ddpm.train_loop import Plateau, fit

G = torch.tensor([2.0, -1.0, 1.0, -3.0, 1.0, 1.0])        # d loss / d (a, b): a the first 4, b the last 2


class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 3.0]))
        self.b = nn.Parameter(torch.tensor([0.25, -1.0]))

    def flat(self) -> torch.Tensor:
        return torch.cat([self.a, self.b]).detach().clone()


def linear_loss(m: Two):
    return lambda: (torch.cat([m.a, m.b]) * G).sum()


def run(m: Two, steps: int, **kw) -> tuple[dict, list]:
    """fit with the linear loss; returns its history and (step, loss, weights) seen by on_step."""
    seen = []
    hist = fit(m, kw.pop("loss_fn", linear_loss(m)), steps, kw.pop("lr", 0.1),
               on_step=lambda step, loss: seen.append((step, loss, m.flat())), progress=False, **kw)
    return hist, seen


def sgd(m: Two, lr: float = 999.0):
    """An SGD optimiser whose own lr must be overwritten (warmup) or is the one used (no warmup)."""
    return torch.optim.SGD(m.parameters(), lr=lr)


def test_the_default_optimiser_is_adam_at_the_given_lr():
    for lr in (0.01, 0.02):
        m = Two()
        w0 = m.flat()
        run(m, 1, lr=lr, grad_clip=None)
        assert torch.allclose(m.flat() - w0, -lr * G.sign(), rtol=1e-4, atol=1e-7), lr


def test_a_given_optimiser_is_the_one_that_steps():
    m = Two()
    w0 = m.flat()
    run(m, 1, optimizer=sgd(m, lr=0.5), grad_clip=None)
    assert torch.allclose(m.flat() - w0, -0.5 * G)


@pytest.mark.parametrize("clip, scale", [(1.0, 1 / math.sqrt(17)), (0.5, 0.5 / math.sqrt(17)), (None, 1.0),
                                         (100.0, 1.0)])
def test_grad_clip_clips_the_global_norm(clip, scale):
    """|G| = sqrt(17): a clip below it rescales the whole gradient (both parameters) to norm `clip`."""
    m = Two()
    w0 = m.flat()
    run(m, 1, optimizer=sgd(m, lr=1.0), grad_clip=clip)
    assert torch.allclose(m.flat() - w0, -scale * G, atol=1e-6)


def test_grad_clip_defaults_to_1():
    m = Two()
    w0 = m.flat()
    fit(m, linear_loss(m), 1, 0.1, optimizer=sgd(m, lr=1.0), progress=False)
    assert torch.allclose(m.flat() - w0, -G / math.sqrt(17), atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_warmup_ramps_the_lr_linearly_to_lr(optimizer):
    """Step k (from 0) runs at lr * min(1, (k + 1) / warmup), whichever optimiser steps."""
    m = Two()
    w = [m.flat()]
    opt = sgd(m) if optimizer == "sgd" else None
    _, seen = run(m, 6, lr=0.1, warmup=4, grad_clip=None, optimizer=opt)
    w += [weights for _, _, weights in seen]
    direction = G if optimizer == "sgd" else G.sign()
    for k in range(6):
        assert torch.allclose(w[k + 1] - w[k], -0.1 * min(1.0, (k + 1) / 4) * direction, atol=1e-6), k


def test_warmup_counts_from_the_absolute_step_when_resuming():
    m = Two()
    w0 = m.flat()
    run(m, 4, lr=0.1, warmup=10, start_step=3, optimizer=sgd(m), grad_clip=None)    # steps 3: 0.04 lr
    assert torch.allclose(m.flat() - w0, -0.1 * 0.4 * G, atol=1e-6)


def test_grad_mask_freezes_the_masked_weights_and_every_unnamed_parameter():
    m = Two()
    w0 = m.flat()
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0])
    run(m, 2, optimizer=sgd(m, lr=1.0), grad_clip=None, grad_mask={"a": mask})
    assert torch.allclose(m.flat() - w0, -2 * G * torch.cat([mask, torch.zeros(2)]))


def test_the_ema_averages_the_weights_after_each_update():
    """theta_ema <- d theta_ema + (1 - d) theta, d = min(decay, (1 + n) / (10 + n)), theta the weights
    *after* update n + 1 (an EMA taken before the optimiser step would lag one update)."""
    m = Two()
    ema = EMA(m, decay=0.5)
    expected = m.flat()
    _, seen = run(m, 3, optimizer=sgd(m, lr=1.0), grad_clip=None, ema=ema)
    for n, (_, _, weights) in enumerate(seen):
        d = min(0.5, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * weights
    assert int(ema.num_updates) == 3
    assert torch.allclose(torch.cat([ema.model.a, ema.model.b]), expected, atol=1e-6)


def test_on_step_runs_after_every_update_with_that_steps_loss():
    """on_step(k, loss) sees the weights after exactly k updates (each from a fresh gradient: no
    accumulation across steps) and the loss of step k, which is also what the history records."""
    m = Two()
    w0 = m.flat()
    hist, seen = run(m, 4, optimizer=sgd(m, lr=0.1), grad_clip=None)
    assert [step for step, _, _ in seen] == [1, 2, 3, 4]
    assert [loss for _, loss, _ in seen] == hist["loss"]
    for k, (_, loss, weights) in enumerate(seen, start=1):
        assert torch.allclose(weights, w0 - 0.1 * k * G, atol=1e-6)
        assert loss == pytest.approx(float(((w0 - 0.1 * (k - 1) * G) * G).sum()), abs=1e-5)   # before update k


def test_start_step_runs_only_the_remaining_steps():
    m = Two()
    w0 = m.flat()
    hist, seen = run(m, 5, start_step=2, optimizer=sgd(m, lr=0.1), grad_clip=None)
    assert [step for step, _, _ in seen] == [3, 4, 5]
    assert len(hist["loss"]) == 3 and hist["steps_done"] == 5 and hist["stopped"] is None
    assert torch.allclose(m.flat(), w0 - 0.3 * G, atol=1e-6)
    hist, seen = run(Two(), 5, start_step=5)
    assert (hist["steps_done"], hist["loss"], seen) == (5, [], [])


def test_the_plateau_stop_ends_the_run_after_that_update():
    """A constant loss: Plateau(window 2, min_steps 3) is reached after 4 losses; the 4th update is made."""
    m = Two()
    w0 = m.flat()
    def const():                      # the value is always 1, the gradient G
        value = (torch.cat([m.a, m.b]) * G).sum()
        return value - value.detach() + 1.0
    hist, seen = run(m, 20, loss_fn=const, optimizer=sgd(m, lr=0.1), grad_clip=None,
                     plateau=Plateau(window=2, rel_tol=0.1, min_steps=3))
    assert (hist["stopped"], hist["steps_done"], len(hist["loss"]), len(seen)) == ("plateau", 4, 4, 4)
    assert torch.allclose(m.flat(), w0 - 0.4 * G, atol=1e-6)
    hist, _ = run(Two(), 6, loss_fn=const, plateau=None)
    assert (hist["stopped"], hist["steps_done"]) == (None, 6)


@pytest.mark.parametrize("bad", ["loss", "gradient"])
def test_a_non_finite_loss_or_gradient_stops_with_the_last_finite_weights(bad):
    m = Two()
    calls = []

    def loss_fn():
        calls.append(1)
        value = (torch.cat([m.a, m.b]) * G).sum()
        if len(calls) == 3:       # a NaN loss, or a finite loss whose gradient is NaN (d sqrt(0 * a) / da)
            return value * float("nan") if bad == "loss" else value + torch.sqrt(m.a[0] * 0)
        return value
    w0 = m.flat()
    hist, seen = run(m, 6, loss_fn=loss_fn, optimizer=sgd(m, lr=0.1))
    assert (hist["stopped"], hist["steps_done"], len(seen)) == ("nonfinite", 2, 2)
    assert torch.allclose(m.flat(), w0 - 2 * 0.1 * G / math.sqrt(17), atol=1e-6)


def test_fit_trains_in_train_mode():
    m = Two().eval()
    modes = []
    run(m, 1, loss_fn=lambda: modes.append(m.training) or (m.a * 1.0).sum())
    assert modes == [True]
