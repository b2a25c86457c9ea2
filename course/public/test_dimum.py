"""Public tests of part dimum: dimum_loss in unlearn/dimum.py.

    L_DiMUM(theta) = L_simple(theta; {(x_alt, f)}) + alpha * L_simple(theta; D_r)

Each `call` runs your dimum_loss in a process of its own (course/testkit.py) and returns what it did.
"""
import torch

from course.testkit import Steps, call, expect, images, other_labels, tiny_unet
from ddpm.diffusion import simple_loss
from ddpm.schedule import NoiseSchedule

F_CLASS = 5


def batches(n: int = 6):
    """(x_alt, c_alt, x_r, c_r): n alternative images labelled f, and n images of the other classes."""
    return images(n, seed=1), torch.full((n,), F_CLASS), images(n, seed=2), other_labels(n, F_CLASS)


def test_dimum_loss_is_a_positive_scalar_with_a_gradient():
    """dimum_loss returns one positive number that autograd can differentiate."""
    res = call("dimum_loss", tiny_unet(), NoiseSchedule(50), *batches(), alpha=0.0, seed=0)
    loss = res.value
    expect(isinstance(loss, torch.Tensor) and loss.dim() == 0, "dimum_loss must return a scalar tensor (a mean over the batch)")
    expect(res.requires_grad, "the loss must carry a gradient w.r.t. theta: no torch.no_grad, .item() or .detach()")
    expect(loss.item() > 0, f"L_DiMUM is a mean squared error: it must be above zero, got {loss.item():.4f}")


def test_dimum_steps_lower_the_loss_on_the_alternative_set():
    """Descending L_DiMUM teaches the model to draw x_alt under f: its denoising loss there falls."""
    model, schedule = tiny_unet(), NoiseSchedule(50)
    x_alt, c_alt, x_r, c_r = -torch.ones(6, 1, 8, 8), torch.full((6,), F_CLASS), images(6, seed=2), other_labels(6, F_CLASS)

    def fixed_draws_loss(m):
        torch.manual_seed(123)
        with torch.no_grad():
            return simple_loss(m, schedule, x_alt.repeat(8, 1, 1, 1), c_alt.repeat(8)).item()
    res = call("dimum_loss", model, schedule, x_alt.repeat(4, 1, 1, 1), c_alt.repeat(4), x_r, c_r, alpha=0.0,
               sgd=Steps(3, lr=0.05))
    before, after = fixed_draws_loss(model), fixed_draws_loss(res.after(model))
    expect(after < before, f"three SGD steps on L_DiMUM must lower L_simple on (x_alt, f): it went from {before:.4f} to {after:.4f}")


def test_dimum_retain_term_adds_alpha_times_a_positive_loss():
    """Raising alpha by 1 adds L_simple(theta; D_r) > 0 to the loss, on the same draws."""
    model, schedule = tiny_unet(), NoiseSchedule(50)
    values = {alpha: call("dimum_loss", model, schedule, *batches(), alpha=alpha, seed=5).value.item()
              for alpha in (1.0, 2.0, 3.0)}
    first, second = values[2.0] - values[1.0], values[3.0] - values[2.0]
    expect(first > 0, "raising alpha by 1 must add L_simple(theta; D_r) > 0: the retain term is missing or has the wrong sign")
    expect(abs(second - first) <= 1e-4 * max(1.0, abs(first)),
           "the retain term must be alpha * L_simple(theta; D_r): alpha 2 -> 3 must add as much as 1 -> 2")


def test_dimum_learns_x_alt_under_the_label_f():
    """The model denoises x_alt under the label f it is given: no label dropout, no other class."""
    model = tiny_unet()
    x_alt, c_alt = images(64, seed=4), torch.full((64,), F_CLASS)
    res = call("dimum_loss", model, NoiseSchedule(50), x_alt, c_alt, images(6, seed=2), other_labels(6, F_CLASS),
               alpha=0.0, seed=3)
    calls = res.calls(model)
    first = calls[0]["c"] if calls else torch.empty(0)
    expect(len(first) == 64 and bool((first == F_CLASS).all()),
           "the model must denoise x_alt under exactly its labels c_alt (all f): unlearning uses no label dropout "
           f"(the null class was seen {(first == 10).sum().item()} times)")
