"""Hidden tests of part ga: ga_loss on other draws, sizes and weights than the public tests, compared
with the formula on the draws the student's code made (course/hidden/formulas.py)."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import call, expect, expect_close, images, other_labels, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 7


def rgb_batches(n: int, m: int | None = None):
    """(x_f, c_f, x_r, c_r): n 3-channel 16-pixel images of f and m (default n) of the other classes."""
    m = n if m is None else m
    return (images(n, seed=11, size=16, channels=3), torch.full((n,), F_CLASS),
            images(m, seed=12, size=16, channels=3), other_labels(m, F_CLASS))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 2.5])
def test_ga_equals_the_formula_on_rgb_images(alpha):
    """L_GA = - L_simple(D_f) + alpha L_simple(D_r) on 3 RGB images of f and 4 others, 16 pixels, T = 20."""
    model, schedule = tiny_unet(seed=11, image_size=16, in_channels=3), NoiseSchedule(20)
    res = call("ga_loss", model, schedule, *rgb_batches(3, 4), alpha=alpha, seed=13)
    expect_close(res.value, formulas.ga(res, model, schedule, *rgb_batches(3, 4), alpha),
                 f"L_GA must equal - L_simple(theta; D_f) + alpha L_simple(theta; D_r) (alpha = {alpha})", atol=1e-4)


def test_ga_on_a_single_image():
    """A batch of one image of f, alpha = 0."""
    model, schedule = tiny_unet(seed=3), NoiseSchedule(50)
    batch = images(1, seed=4), torch.full((1,), F_CLASS), images(1, seed=5), other_labels(1, F_CLASS)
    res = call("ga_loss", model, schedule, *batch, alpha=0.0, seed=2)
    expect_close(res.value, formulas.ga(res, model, schedule, *batch, 0.0),
                 "with a batch of one image, L_GA must still be - L_simple(theta; D_f)", atol=1e-4)


def test_ga_gradient_is_minus_the_denoising_gradient():
    """d L_GA / d theta = - d L_simple(theta; D_f) / d theta when alpha = 0 (gradient ascent)."""
    model, schedule = tiny_unet(seed=6), NoiseSchedule(30)
    batch = images(5, seed=7), torch.full((5,), F_CLASS), images(5, seed=8), other_labels(5, F_CLASS)
    res = call("ga_loss", model, schedule, *batch, alpha=0.0, seed=9, backward=True)
    model.zero_grad()
    formulas.ga(res, model, schedule, *batch, 0.0, grad=True).backward()
    want = torch.cat([p.grad.flatten().double() for p in model.parameters()])
    expect_close(res.grad(model), want, "d L_GA / d theta must be - d L_simple(theta; D_f) / d theta (alpha = 0)", atol=1e-5)


def test_ga_forget_term_uses_the_forget_labels():
    """The forget term denoises x_f under its own label f: no label dropout, no other class."""
    model = tiny_unet()
    res = call("ga_loss", model, NoiseSchedule(50), images(64, seed=2), torch.full((64,), F_CLASS), images(8, seed=3),
               other_labels(8, F_CLASS), alpha=0.5, seed=1)
    labels = res.labels(model)
    expect(int((labels == F_CLASS).sum()) == 64,
           "the forget term must denoise x_f under exactly its labels c_f (all f): no label dropout to the null class")
    expect(not (labels == 10).any(), "with p_uncond = 0 (the default) no label is dropped to the null class")


def test_ga_draws_fresh_noise_for_each_image_and_term():
    """t and eps of both terms look random: t in 0..T-1 and varied, eps ~ N(0, I), new for each image."""
    model, schedule = tiny_unet(seed=1), NoiseSchedule(50)
    x_f, c_f, x_r, c_r = images(100, seed=14), torch.full((100,), F_CLASS), images(100, seed=15), other_labels(100, F_CLASS)
    res = call("ga_loss", model, schedule, x_f, c_f, x_r, c_r, alpha=1.0, seed=16)
    (xf, tf), (xr, tr, _) = formulas.terms(res, model, F_CLASS, 100, 100, 1.0)
    formulas.fresh_draws(schedule, x_f, xf, tf, "D_f")
    formulas.fresh_draws(schedule, x_r, xr, tr, "D_r")
    eps_f, eps_r = formulas.noise_of(schedule, x_f, xf, tf), formulas.noise_of(schedule, x_r, xr, tr)
    expect((eps_f - eps_r).abs().max().item() > 1e-3, "D_r's noise must be a new draw, not D_f's again")


def test_ga_label_dropout_follows_p_uncond():
    """p_uncond = 0.5 drops about half the labels of both terms to the null class (as simple_loss does)."""
    model = tiny_unet()
    res = call("ga_loss", model, NoiseSchedule(50), images(200, seed=17), torch.full((200,), F_CLASS),
               images(200, seed=18), other_labels(200, F_CLASS), alpha=1.0, p_uncond=0.5, seed=19)
    labels = res.labels(model)
    share = (labels == 10).float().mean().item() if len(labels) else 0.0
    expect(len(labels) == 400 and abs(share - 0.5) < 0.08,
           f"with p_uncond = 0.5 about half of the 400 labels must become the null class, got {share:.0%} of {len(labels)}")
