"""Public tests of part ga: ga_loss in unlearn/ga.py.

    L_GA(theta) = - L_simple(theta; D_f) + alpha * L_simple(theta; D_r)

Each `call` runs your ga_loss in a process of its own (course/testkit.py) and returns what it did.
"""
import torch

from course.testkit import Steps, call, expect, images, other_labels, tiny_unet
from ddpm.diffusion import simple_loss
from ddpm.schedule import NoiseSchedule

F_CLASS = 3


def batches(n: int = 6):
    """(x_f, c_f, x_r, c_r): n images of the forgotten class and n of the others."""
    return images(n, seed=1), torch.full((n,), F_CLASS), images(n, seed=2), other_labels(n, F_CLASS)


def denoising_loss_on_fixed_draws(model, schedule, x, c) -> float:
    """L_simple on the same draws of t and eps every call, to compare a model before and after a step."""
    torch.manual_seed(123)
    with torch.no_grad():
        return simple_loss(model, schedule, x.repeat(8, 1, 1, 1), c.repeat(8)).item()


def test_ga_loss_is_a_scalar_with_a_gradient():
    """ga_loss returns one number that autograd can differentiate."""
    res = call("ga_loss", tiny_unet(), NoiseSchedule(50), *batches(), alpha=0.0)
    expect(isinstance(res.value, torch.Tensor) and res.value.dim() == 0,
           "ga_loss must return a scalar tensor (a mean over the batch), not a tensor per image or a float")
    expect(res.requires_grad, "the loss must carry a gradient w.r.t. theta: no torch.no_grad, .item() or .detach()")


def test_ga_loss_without_retain_term_is_negative():
    """With alpha = 0, L_GA is minus a mean squared error: below zero."""
    loss = call("ga_loss", tiny_unet(), NoiseSchedule(50), *batches(), alpha=0.0, seed=0).value
    expect(loss.item() < 0, f"with alpha = 0, L_GA = - L_simple(theta; D_f) must be below zero, got {loss.item():.4f}: "
                            f"check the sign of the forget term")


def test_ga_steps_raise_the_denoising_loss_of_the_forgotten_class():
    """Gradient descent on L_GA is gradient ascent on L_simple(theta; D_f)."""
    model, schedule = tiny_unet(), NoiseSchedule(50)
    x_f, c_f, x_r, c_r = batches()
    before = denoising_loss_on_fixed_draws(model, schedule, x_f, c_f)
    res = call("ga_loss", model, schedule, x_f.repeat(4, 1, 1, 1), c_f.repeat(4), x_r, c_r, alpha=0.0,
               sgd=Steps(3, lr=0.05))
    after = denoising_loss_on_fixed_draws(res.after(model), schedule, x_f, c_f)
    expect(after > before, f"three SGD steps on L_GA must raise L_simple on D_f (gradient ascent): "
                           f"it went from {before:.4f} to {after:.4f}")


def test_ga_retain_term_adds_alpha_times_a_positive_loss():
    """Raising alpha by 1 adds L_simple(theta; D_r) > 0 to the loss, on the same draws."""
    model, schedule = tiny_unet(), NoiseSchedule(50)
    values = {alpha: call("ga_loss", model, schedule, *batches(), alpha=alpha, seed=5).value.item() for alpha in (1.0, 2.0, 3.0)}
    first, second = values[2.0] - values[1.0], values[3.0] - values[2.0]
    expect(first > 0, "raising alpha by 1 must add L_simple(theta; D_r) > 0: the retain term is missing or has the wrong sign")
    expect(abs(second - first) <= 1e-4 * max(1.0, abs(first)),
           "the retain term must be alpha * L_simple(theta; D_r): alpha 2 -> 3 must add as much as 1 -> 2")
