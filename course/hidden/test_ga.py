"""Hidden tests of part ga: ga_loss on other draws, sizes and weights than the public tests."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import Spy, expect, expect_close, flat_grad, images, other_labels, student, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 7


def rgb_batches(n: int):
    """(x_f, c_f, x_r, c_r) of n 3-channel 16-pixel images."""
    return (images(n, seed=11, size=16, channels=3), torch.full((n,), F_CLASS),
            images(n, seed=12, size=16, channels=3), other_labels(n, F_CLASS))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 2.5])
def test_ga_equals_the_formula_on_rgb_images(alpha):
    """L_GA = - L_simple(D_f) + alpha L_simple(D_r) on 3 RGB images of 16 pixels, T = 20."""
    model, schedule = tiny_unet(seed=11, image_size=16, in_channels=3), NoiseSchedule(20)
    torch.manual_seed(13)
    got = student("ga_loss")(model, schedule, *rgb_batches(3), alpha=alpha)
    torch.manual_seed(13)
    want = formulas.ga(model, schedule, *rgb_batches(3), alpha=alpha)
    expect_close(got, want, f"L_GA must equal - L_simple(theta; D_f) + alpha L_simple(theta; D_r) (alpha = {alpha}; "
                            "D_f's t and eps drawn first, as simple_loss draws them)")


def test_ga_on_a_single_image():
    """A batch of one image of f, alpha = 0."""
    model, schedule = tiny_unet(seed=3), NoiseSchedule(50)
    x_f, c_f, x_r, c_r = images(1, seed=4), torch.full((1,), F_CLASS), images(1, seed=5), other_labels(1, F_CLASS)
    torch.manual_seed(2)
    got = student("ga_loss")(model, schedule, x_f, c_f, x_r, c_r, alpha=0.0)
    torch.manual_seed(2)
    expect_close(got, formulas.ga(model, schedule, x_f, c_f, x_r, c_r, 0.0),
                 "with a batch of one image, L_GA must still be - L_simple(theta; D_f)")


def test_ga_gradient_is_minus_the_denoising_gradient():
    """d L_GA / d theta = - d L_simple(theta; D_f) / d theta when alpha = 0 (gradient ascent)."""
    model, schedule = tiny_unet(seed=6), NoiseSchedule(30)
    x_f, c_f, x_r, c_r = images(5, seed=7), torch.full((5,), F_CLASS), images(5, seed=8), other_labels(5, F_CLASS)
    torch.manual_seed(9)
    student("ga_loss")(model, schedule, x_f, c_f, x_r, c_r, alpha=0.0).backward()
    got = flat_grad(model)
    model.zero_grad()
    torch.manual_seed(9)
    formulas.l_simple(model, schedule, x_f, c_f).backward()
    expect_close(got, -flat_grad(model), "d L_GA / d theta must be - d L_simple(theta; D_f) / d theta (alpha = 0)", atol=1e-6)


def test_ga_forget_term_uses_the_forget_labels():
    """The forget term denoises x_f under its own label f: no label dropout, no other class."""
    spy = Spy(tiny_unet())
    torch.manual_seed(1)
    student("ga_loss")(spy, NoiseSchedule(50), images(64, seed=2), torch.full((64,), F_CLASS), images(8, seed=3),
                       other_labels(8, F_CLASS), alpha=0.5)
    first = spy.calls[0]["c"] if spy.calls else torch.empty(0)
    expect(len(first) == 64 and bool((first == F_CLASS).all()),
           "the forget term must denoise x_f under exactly its labels c_f (all f): no label dropout to the null class")
    expect(not (spy.labels() == 10).any(), "unlearning losses never drop labels to the null class")
