"""Public tests of part esd: esd_loss in unlearn/esd.py.

    target    = eps_0(x_t, t, null) - neg_guidance * (eps_0(x_t, t, f) - eps_0(x_t, t, null))
    L_ESD     = || eps_theta(x_t, t, f) - target ||^2 + alpha * L_simple(theta; D_r)

Each `call` runs your esd_loss in a process of its own (course/testkit.py) and returns what it did.
Some tests use testkit.PerClass, a model whose prediction under class c is one learnable image
table[c]: with it the target is known exactly and the gradient shows which predictions are trained.
"""
import copy

import torch

from course.testkit import PerClass, Steps, call, expect, images, other_labels, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 2


def batches(n: int = 6, size: int = 8):
    return images(n, seed=1, size=size), torch.full((n,), F_CLASS), images(n, seed=2, size=size), other_labels(n, F_CLASS)


def constant_models(prediction_under_f: float):
    """A frozen eps_0 that predicts 1.0 under f and 0.5 under null (and 0 otherwise), and a trained
    model that predicts `prediction_under_f` under f (and 0 otherwise)."""
    frozen_table, model_table = torch.zeros(11, 1, 4, 4), torch.zeros(11, 1, 4, 4)
    frozen_table[F_CLASS], frozen_table[10] = 1.0, 0.5
    model_table[F_CLASS] = prediction_under_f
    return PerClass(model_table), PerClass(frozen_table).requires_grad_(False)


def test_esd_loss_is_zero_at_the_negatively_guided_target():
    """With eps_0 = 1 under f and 0.5 under null, the target is 0.5 - g (1 - 0.5): the loss is 0 there."""
    for guidance in (0.0, 2.0):
        target = 0.5 - guidance * (1.0 - 0.5)
        model, frozen = constant_models(target)
        loss = call("esd_loss", model, NoiseSchedule(50), *batches(size=4), alpha=0.0, frozen=frozen,
                    neg_guidance=guidance).value
        expect(abs(loss.item()) < 1e-10,
               f"with neg_guidance = {guidance}, a model that predicts eps_0(null) - neg_guidance (eps_0(f) - eps_0(null)) "
               f"= {target} under f must have loss 0, got {loss.item():.4f}: check the target's terms and sign")
        wrong_side, _ = constant_models(0.5 + guidance * 0.5)
        far = call("esd_loss", wrong_side, NoiseSchedule(50), *batches(size=4), alpha=0.0, frozen=frozen,
                   neg_guidance=guidance).value
        expect(guidance == 0 or far.item() > 0.1,
               "the target must point away from f (eps_0(null) minus the guidance direction), not towards it")


def test_esd_trains_only_the_prediction_under_f():
    """The gradient reaches eps_theta(., f) only: not the frozen model, not the other classes."""
    model, frozen = constant_models(0.3)             # the target is 0.5 - 1.0 (1 - 0.5) = 0: not where it predicts
    res = call("esd_loss", model, NoiseSchedule(50), *batches(size=4), alpha=0.0, frozen=frozen, neg_guidance=1.0,
               backward=True)
    grad = res.grads(model).get("table")
    grad = grad if isinstance(grad, torch.Tensor) else torch.zeros_like(model.table)
    expect(grad[F_CLASS].abs().sum() > 0, "the loss must train eps_theta(x_t, t, f): its prediction under f got no gradient")
    others = torch.cat([grad[:F_CLASS], grad[F_CLASS + 1:]])
    expect(others.abs().sum() == 0, "only the prediction under f is trained: a prediction under another class "
                                     "(the null class?) received a gradient")
    expect(res.grads(frozen).get("table") is None, "the target comes from the frozen model eps_0 and carries no gradient")


def test_esd_steps_move_the_prediction_towards_the_target():
    """A few SGD steps lower the ESD loss (on the same draws), and the frozen model does not change."""
    model, schedule = tiny_unet(), NoiseSchedule(50)
    frozen = copy.deepcopy(model).eval().requires_grad_(False)
    res = call("esd_loss", model, schedule, *batches(), alpha=0.0, frozen=frozen, neg_guidance=1.0,
               sgd=Steps(3, lr=0.05, seed=5))
    before, after = res.value[0], res.value[-1]
    expect(after < before, f"three SGD steps must lower L_ESD (on the same draws): it went from {before:.4f} to {after:.4f}")
    kept = res.after(frozen).state_dict()
    expect(all(torch.equal(v, kept[k]) for k, v in frozen.state_dict().items()), "the frozen model eps_0 must not change")
    expect(res.grad(frozen).abs().sum() == 0, "the frozen model eps_0 must receive no gradient")
