"""Hidden tests of part dimum: dimum_loss against its formula on other draws and sizes, its gradient,
and the labels the model sees."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import Spy, expect, expect_close, flat_grad, images, other_labels, student, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 1


def rgb_batches(n: int):
    return (images(n, seed=61, size=16, channels=3), torch.full((n,), F_CLASS),
            images(n, seed=62, size=16, channels=3), other_labels(n, F_CLASS))


@pytest.mark.parametrize("alpha", [0.0, 0.4, 2.0])
def test_dimum_equals_the_formula_on_rgb_images(alpha):
    """L_DiMUM = L_simple(x_alt, f) + alpha L_simple(D_r) on 5 RGB images of 16 pixels, T = 20."""
    model, schedule = tiny_unet(seed=63, image_size=16, in_channels=3), NoiseSchedule(20)
    torch.manual_seed(64)
    got = student("dimum_loss")(model, schedule, *rgb_batches(5), alpha=alpha)
    torch.manual_seed(64)
    want = formulas.dimum(model, schedule, *rgb_batches(5), alpha)
    expect_close(got, want, f"L_DiMUM must equal L_simple(theta; {{(x_alt, f)}}) + alpha L_simple(theta; D_r) "
                            f"(alpha = {alpha}; x_alt's t and eps drawn first)")


def test_dimum_on_a_single_image():
    """A batch of one alternative image, alpha = 0."""
    model, schedule = tiny_unet(seed=65), NoiseSchedule(50)
    x_alt, c_alt, x_r, c_r = images(1, seed=66), torch.full((1,), F_CLASS), images(1, seed=67), other_labels(1, F_CLASS)
    torch.manual_seed(68)
    got = student("dimum_loss")(model, schedule, x_alt, c_alt, x_r, c_r, alpha=0.0)
    torch.manual_seed(68)
    expect_close(got, formulas.dimum(model, schedule, x_alt, c_alt, x_r, c_r, 0.0),
                 "with a batch of one image, L_DiMUM must still be L_simple(theta; {(x_alt, f)})")


def test_dimum_gradient_is_the_denoising_gradient_on_x_alt():
    """d L_DiMUM / d theta = + d L_simple(theta; {(x_alt, f)}) / d theta when alpha = 0 (descent, not ascent)."""
    model, schedule = tiny_unet(seed=69), NoiseSchedule(30)
    x_alt, c_alt = images(5, seed=70), torch.full((5,), F_CLASS)
    torch.manual_seed(71)
    student("dimum_loss")(model, schedule, x_alt, c_alt, images(5, seed=72), other_labels(5, F_CLASS), alpha=0.0).backward()
    got = flat_grad(model)
    model.zero_grad()
    torch.manual_seed(71)
    formulas.l_simple(model, schedule, x_alt, c_alt).backward()
    expect_close(got, flat_grad(model), "d L_DiMUM / d theta must be + d L_simple(theta; {(x_alt, f)}) / d theta (alpha = 0)",
                 atol=1e-6)


def test_dimum_sees_c_alt_then_c_r():
    """The alternative batch is denoised under c_alt, the retain batch under c_r: no dropout, no swap."""
    spy = Spy(tiny_unet())
    x_alt, c_alt, x_r, c_r = images(80, seed=73), torch.full((80,), F_CLASS), images(7, seed=74), other_labels(7, F_CLASS)
    torch.manual_seed(75)
    student("dimum_loss")(spy, NoiseSchedule(50), x_alt, c_alt, x_r, c_r, alpha=1.0)
    labels = [call["c"] for call in spy.calls]
    expect(len(labels) == 2 and torch.equal(labels[0], c_alt) and torch.equal(labels[1], c_r),
           "with alpha > 0 the model must run twice: on x_alt under c_alt (all f), then on x_r under c_r, "
           "with no label dropped to the null class")
