"""Hidden tests of part esd: esd_loss against its formula, with a frozen model that differs from the
trained one, other guidance strengths, and the inputs each network sees."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import Spy, expect, expect_close, images, other_labels, student, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 6


def rgb_batches(n: int):
    return (images(n, seed=21, size=16, channels=3), torch.full((n,), F_CLASS),
            images(n, seed=22, size=16, channels=3), other_labels(n, F_CLASS))


def two_networks(size: int = 16, channels: int = 3):
    """(trained model, frozen eps_0): different weights, so a target taken from the wrong one shows."""
    frozen = tiny_unet(seed=23, image_size=size, in_channels=channels).eval().requires_grad_(False)
    return tiny_unet(seed=24, image_size=size, in_channels=channels), frozen


@pytest.mark.parametrize("neg_guidance,alpha", [(0.5, 0.0), (3.0, 0.0), (1.0, 0.7)])
def test_esd_equals_the_formula_with_a_different_frozen_model(neg_guidance, alpha):
    """L_ESD on 4 RGB images of 16 pixels, T = 20, a frozen model unlike the trained one."""
    model, frozen = two_networks()
    schedule = NoiseSchedule(20)
    torch.manual_seed(25)
    got = student("esd_loss")(model, schedule, *rgb_batches(4), alpha=alpha, frozen=frozen, neg_guidance=neg_guidance)
    torch.manual_seed(25)
    want = formulas.esd(model, schedule, *rgb_batches(4), alpha, frozen, neg_guidance)
    expect_close(got, want, f"L_ESD must equal || eps_theta(x_t, t, f) - [eps_0(null) - g (eps_0(f) - eps_0(null))] ||^2 "
                            f"+ alpha L_simple(D_r) (g = {neg_guidance}, alpha = {alpha}; the target from the frozen eps_0)")


def test_esd_without_guidance_targets_the_unconditional_prediction():
    """neg_guidance = 0: the target is eps_0(x_t, t, null), on a batch of one image."""
    model, frozen = two_networks(size=8, channels=1)
    schedule = NoiseSchedule(50)
    x_f, c_f, x_r, c_r = images(1, seed=26), torch.full((1,), F_CLASS), images(1, seed=27), other_labels(1, F_CLASS)
    torch.manual_seed(28)
    got = student("esd_loss")(model, schedule, x_f, c_f, x_r, c_r, alpha=0.0, frozen=frozen, neg_guidance=0.0)
    torch.manual_seed(28)
    expect_close(got, formulas.esd(model, schedule, x_f, c_f, x_r, c_r, 0.0, frozen, 0.0),
                 "with neg_guidance = 0 the target must be the frozen model's unconditional prediction eps_0(x_t, t, null)")


def test_esd_networks_see_one_noisy_image_under_the_right_labels():
    """eps_theta runs once, under f; eps_0 under f and under null; all on the same x_t and t."""
    model, frozen = two_networks(size=8, channels=1)
    model, frozen = Spy(model), Spy(frozen)
    x_f, c_f = images(5, seed=29), torch.full((5,), F_CLASS)
    torch.manual_seed(30)
    student("esd_loss")(model, NoiseSchedule(50), x_f, c_f, images(5, seed=31), other_labels(5, F_CLASS),
                        alpha=0.0, frozen=frozen, neg_guidance=1.0)
    expect(len(model.calls) == 1 and bool((model.calls[0]["c"] == F_CLASS).all()),
           "with alpha = 0 the trained model must run once, under the label f (not null, not another class)")
    x_t, t = model.calls[0]["x"], model.calls[0]["t"]
    frozen_x = torch.cat([call["x"] for call in frozen.calls]) if frozen.calls else torch.empty(0)
    frozen_t = torch.cat([call["t"] for call in frozen.calls]) if frozen.calls else torch.empty(0)
    expect(frozen_x.shape[0] == 10 and torch.equal(frozen_x, torch.cat([x_t, x_t])) and torch.equal(frozen_t, torch.cat([t, t])),
           "eps_0(x_t, t, f), eps_0(x_t, t, null) and eps_theta(x_t, t, f) must see the same x_t and t (one draw)")
    labels = frozen.labels()
    expect((labels == F_CLASS).sum() == 5 and (labels == 10).sum() == 5,
           "the frozen model must predict under f and under the null class, once each per image")
