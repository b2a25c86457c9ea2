"""Hidden tests of part esd: esd_loss against its formula on the draws the student's code made, with a
frozen model that differs from the trained one, other guidance strengths, the inputs each network
sees, and label dropout."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import call, expect, expect_close, images, other_labels, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 6


def rgb_batches(n: int, m: int):
    return (images(n, seed=21, size=16, channels=3), torch.full((n,), F_CLASS),
            images(m, seed=22, size=16, channels=3), other_labels(m, F_CLASS))


def two_networks(size: int = 16, channels: int = 3):
    """(trained model, frozen eps_0): different weights, so a target taken from the wrong one shows."""
    frozen = tiny_unet(seed=23, image_size=size, in_channels=channels).eval().requires_grad_(False)
    return tiny_unet(seed=24, image_size=size, in_channels=channels), frozen


@pytest.mark.parametrize("neg_guidance,alpha", [(0.5, 0.0), (3.0, 0.0), (1.0, 0.7)])
def test_esd_equals_the_formula_with_a_different_frozen_model(neg_guidance, alpha):
    """L_ESD on 4 RGB images of f and 3 others, 16 pixels, T = 20, a frozen model unlike the trained one."""
    model, frozen = two_networks()
    schedule = NoiseSchedule(20)
    res = call("esd_loss", model, schedule, *rgb_batches(4, 3), alpha=alpha, frozen=frozen, neg_guidance=neg_guidance,
               seed=25)
    want = formulas.esd(res, model, schedule, *rgb_batches(4, 3), alpha, frozen, neg_guidance)
    expect_close(res.value, want, f"L_ESD must equal || eps_theta(x_t, t, f) - [eps_0(null) - g (eps_0(f) - eps_0(null))] "
                                  f"||^2 + alpha L_simple(D_r) (g = {neg_guidance}, alpha = {alpha}; the target from the "
                                  f"frozen eps_0 at the same x_t and t)", atol=1e-4)


def test_esd_without_guidance_targets_the_unconditional_prediction():
    """neg_guidance = 0: the target is eps_0(x_t, t, null), on a batch of one image."""
    model, frozen = two_networks(size=8, channels=1)
    schedule = NoiseSchedule(50)
    batch = images(1, seed=26), torch.full((1,), F_CLASS), images(1, seed=27), other_labels(1, F_CLASS)
    res = call("esd_loss", model, schedule, *batch, alpha=0.0, frozen=frozen, neg_guidance=0.0, seed=28)
    expect_close(res.value, formulas.esd(res, model, schedule, *batch, 0.0, frozen, 0.0),
                 "with neg_guidance = 0 the target must be the frozen model's unconditional prediction eps_0(x_t, t, null)",
                 atol=1e-4)


def test_esd_networks_see_one_noisy_image_under_the_right_labels():
    """eps_theta runs once, under f; eps_0 under f and under null; all on the same x_t and t."""
    model, frozen = two_networks(size=8, channels=1)
    x_f, c_f = images(5, seed=29), torch.full((5,), F_CLASS)
    res = call("esd_loss", model, NoiseSchedule(50), x_f, c_f, images(5, seed=31), other_labels(5, F_CLASS),
               alpha=0.0, frozen=frozen, neg_guidance=1.0, seed=30)
    trained = [c for c in res.calls(model) if c["grad"]]
    expect(len(trained) == 1 and bool((trained[0]["c"] == F_CLASS).all()),
           "with alpha = 0 the trained model must run once with autograd on, under the label f (not null, not another class)")
    x_t, t = trained[0]["x"], trained[0]["t"]
    calls = res.calls(frozen)
    frozen_x = torch.cat([c["x"] for c in calls]) if calls else torch.empty(0)
    frozen_t = torch.cat([c["t"] for c in calls]) if calls else torch.empty(0)
    expect(frozen_x.shape[0] == 10 and torch.equal(frozen_x, torch.cat([x_t, x_t])) and torch.equal(frozen_t, torch.cat([t, t])),
           "eps_0(x_t, t, f), eps_0(x_t, t, null) and eps_theta(x_t, t, f) must see the same x_t and t (one draw)")
    labels = res.labels(frozen)
    expect((labels == F_CLASS).sum() == 5 and (labels == 10).sum() == 5,
           "the frozen model must predict under f and under the null class, once each per image")


def test_esd_label_dropout_follows_p_uncond():
    """p_uncond = 0.5: the trained model predicts under null for about half the images; the target stays under f."""
    model, frozen = two_networks(size=8, channels=1)
    res = call("esd_loss", model, NoiseSchedule(50), images(200, seed=32), torch.full((200,), F_CLASS),
               images(4, seed=33), other_labels(4, F_CLASS), alpha=0.0, frozen=frozen, neg_guidance=1.0,
               p_uncond=0.5, seed=34)
    trained = res.labels(model)
    share = (trained == 10).float().mean().item() if len(trained) else 0.0
    expect(len(trained) == 200 and abs(share - 0.5) < 0.1,
           f"with p_uncond = 0.5 the trained model must predict under the null class for about half of the 200 "
           f"images, got {share:.0%} of {len(trained)}")
    target = res.labels(frozen)
    expect((target == F_CLASS).sum() == 200 and (target == 10).sum() == 200,
           "label dropout is for the trained model only: eps_0 still predicts under f and null once each per image")
