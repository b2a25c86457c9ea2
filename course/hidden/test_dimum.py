"""Hidden tests of part dimum: dimum_loss against its formula on the draws the student's code made,
on other sizes, its gradient, the labels the model sees and label dropout."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import call, expect, expect_close, images, other_labels, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 1


def rgb_batches(n: int, m: int):
    return (images(n, seed=61, size=16, channels=3), torch.full((n,), F_CLASS),
            images(m, seed=62, size=16, channels=3), other_labels(m, F_CLASS))


@pytest.mark.parametrize("alpha", [0.0, 0.4, 2.0])
def test_dimum_equals_the_formula_on_rgb_images(alpha):
    """L_DiMUM = L_simple(x_alt, f) + alpha L_simple(D_r) on 5 RGB images of 16 pixels and 3 of D_r, T = 20."""
    model, schedule = tiny_unet(seed=63, image_size=16, in_channels=3), NoiseSchedule(20)
    res = call("dimum_loss", model, schedule, *rgb_batches(5, 3), alpha=alpha, seed=64)
    expect_close(res.value, formulas.dimum(res, model, schedule, *rgb_batches(5, 3), alpha),
                 f"L_DiMUM must equal L_simple(theta; {{(x_alt, f)}}) + alpha L_simple(theta; D_r) (alpha = {alpha})",
                 atol=1e-4)


def test_dimum_on_a_single_image():
    """A batch of one alternative image, alpha = 0."""
    model, schedule = tiny_unet(seed=65), NoiseSchedule(50)
    batch = images(1, seed=66), torch.full((1,), F_CLASS), images(1, seed=67), other_labels(1, F_CLASS)
    res = call("dimum_loss", model, schedule, *batch, alpha=0.0, seed=68)
    expect_close(res.value, formulas.dimum(res, model, schedule, *batch, 0.0),
                 "with a batch of one image, L_DiMUM must still be L_simple(theta; {(x_alt, f)})", atol=1e-4)


def test_dimum_gradient_is_the_denoising_gradient_on_x_alt():
    """d L_DiMUM / d theta = + d L_simple(theta; {(x_alt, f)}) / d theta when alpha = 0 (descent, not ascent)."""
    model, schedule = tiny_unet(seed=69), NoiseSchedule(30)
    batch = images(5, seed=70), torch.full((5,), F_CLASS), images(5, seed=72), other_labels(5, F_CLASS)
    res = call("dimum_loss", model, schedule, *batch, alpha=0.0, seed=71, backward=True)
    model.zero_grad()
    formulas.dimum(res, model, schedule, *batch, 0.0, grad=True).backward()
    want = torch.cat([p.grad.flatten().double() for p in model.parameters()])
    expect_close(res.grad(model), want, "d L_DiMUM / d theta must be + d L_simple(theta; {(x_alt, f)}) / d theta (alpha = 0)",
                 atol=1e-5)


def test_dimum_model_sees_the_given_labels():
    """With alpha > 0 the model sees x_alt under c_alt (all f) and x_r under c_r: no null class, no other label."""
    model = tiny_unet()
    x_alt, c_alt, x_r, c_r = images(6, seed=73), torch.full((6,), F_CLASS), images(4, seed=74), other_labels(4, F_CLASS)
    res = call("dimum_loss", model, NoiseSchedule(50), x_alt, c_alt, x_r, c_r, alpha=1.0, seed=75)
    labels = sorted(res.labels(model).tolist())
    expect(labels == sorted(c_alt.tolist() + c_r.tolist()),
           "with alpha > 0 the model must run on x_alt under c_alt (all f) and on x_r under c_r, "
           "with no label dropped to the null class")


def test_dimum_draws_fresh_noise_for_each_image_and_term():
    """t and eps of both terms look random: t in 0..T-1 and varied, eps ~ N(0, I), new for each image."""
    model, schedule = tiny_unet(seed=2), NoiseSchedule(50)
    x_alt, c_alt, x_r, c_r = images(100, seed=76), torch.full((100,), F_CLASS), images(100, seed=77), other_labels(100, F_CLASS)
    res = call("dimum_loss", model, schedule, x_alt, c_alt, x_r, c_r, alpha=1.0, seed=78)
    (xa, ta), (xr, tr, _) = formulas.terms(res, model, F_CLASS, 100, 100, 1.0)
    formulas.fresh_draws(schedule, x_alt, xa, ta, "x_alt")
    formulas.fresh_draws(schedule, x_r, xr, tr, "D_r")


def test_dimum_label_dropout_follows_p_uncond():
    """p_uncond = 0.5 drops about half the labels of both terms to the null class (as simple_loss does)."""
    model = tiny_unet()
    res = call("dimum_loss", model, NoiseSchedule(50), images(200, seed=79), torch.full((200,), F_CLASS),
               images(200, seed=80), other_labels(200, F_CLASS), alpha=1.0, p_uncond=0.5, seed=81)
    labels = res.labels(model)
    share = (labels == 10).float().mean().item() if len(labels) else 0.0
    expect(len(labels) == 400 and abs(share - 0.5) < 0.08,
           f"with p_uncond = 0.5 about half of the 400 labels must become the null class, got {share:.0%} of {len(labels)}")
