"""Hidden tests of part salun: salun_loss against its formula and its stop-gradient on a real UNet, the
random class at both ends of the label range, and the saliency mask against the exact top-k."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import Spy, expect, expect_close, flat_grad, images, other_labels, student, tiny_unet
from ddpm.diffusion import simple_loss
from ddpm.schedule import NoiseSchedule

F_CLASS = 8


def rgb_batches(n: int):
    return (images(n, seed=41, size=16, channels=3), torch.full((n,), F_CLASS),
            images(n, seed=42, size=16, channels=3), other_labels(n, F_CLASS))


def matches_either_order(compute, want_for) -> bool:
    """c' may be drawn before or after (t, eps): compare with the formula in both orders."""
    got = compute()
    return any(torch.allclose(got, want_for(order), atol=1e-5) for order in (False, True))


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_salun_equals_the_formula_on_rgb_images(alpha):
    """L_SalUn on 5 RGB images of 16 pixels, T = 20 (c' drawn before or after t and eps)."""
    model, schedule = tiny_unet(seed=43, image_size=16, in_channels=3), NoiseSchedule(20)

    def got():
        torch.manual_seed(44)
        return student("salun_loss")(model, schedule, *rgb_batches(5), alpha=alpha, num_classes=10).detach()

    def want(class_first):
        torch.manual_seed(44)
        return formulas.salun(model, schedule, *rgb_batches(5), alpha, 10, class_first).detach()
    expect(matches_either_order(got, want), f"L_SalUn must equal || eps_theta(x_t, t, f) - sg[eps_theta(x_t, t, c')] ||^2 "
                                            f"+ alpha L_simple(D_r) (alpha = {alpha}, c' = (f + randint(1, K)) mod K)")


def test_salun_gradient_treats_the_target_as_a_constant():
    """On a real UNet, d L_SalUn / d theta is that of the loss with eps_theta(x_t, t, c') detached."""
    model, schedule = tiny_unet(seed=45), NoiseSchedule(50)
    x_f, c_f = images(6, seed=46), torch.full((6,), F_CLASS)
    x_r, c_r = images(6, seed=47), other_labels(6, F_CLASS)

    def gradient(loss_fn):
        model.zero_grad()
        torch.manual_seed(48)
        loss_fn().backward()
        return flat_grad(model)
    got = gradient(lambda: student("salun_loss")(model, schedule, x_f, c_f, x_r, c_r, alpha=0.0, num_classes=10))
    wants = [gradient(lambda: formulas.salun(model, schedule, x_f, c_f, x_r, c_r, 0.0, 10, order)) for order in (False, True)]
    expect(any(torch.allclose(got, want, atol=1e-6) for want in wants),
           "the target must not carry a gradient: d target / d theta is not zero (eps_theta(x_t, t, c') under torch.no_grad)")


@pytest.mark.parametrize("forgotten", [0, 9])
def test_salun_random_class_covers_every_other_class(forgotten):
    """c' is uniform over the K - 1 other classes, also when f is the first or the last class."""
    spy = Spy(tiny_unet())
    torch.manual_seed(49)
    student("salun_loss")(spy, NoiseSchedule(50), images(900, seed=50), torch.full((900,), forgotten),
                          images(4, seed=51), other_labels(4, forgotten), alpha=0.0, num_classes=10)
    labels = torch.cat([call["c"] for call in spy.calls if len(call["c"]) == 900] or [torch.empty(0, dtype=torch.long)])
    others = labels[labels != forgotten]
    counts = torch.bincount(others, minlength=11)
    expect(len(others) == 900 and counts[10] == 0 and counts[forgotten] == 0 and (counts[:10] > 0).sum() == 9,
           f"with f = {forgotten}, c' must take every class but f (never f, never the null class): "
           f"its counts were {counts.tolist()}")


def reference_scores(model, schedule, x, c, n_batches):
    """|d (1/n sum_i L_simple(batch i)) / d theta| over every weight, on the draws saliency_mask makes."""
    model.zero_grad()
    for _ in range(n_batches):
        (simple_loss(model, schedule, x, c) / n_batches).backward()
    scores = flat_grad(model).abs()
    model.zero_grad()
    return scores


@pytest.mark.parametrize("fraction", [0.3, 1.0])
def test_saliency_mask_is_the_exact_top_fraction(fraction):
    """The mask keeps exactly the top round(fraction * N) weights by |gradient| over the whole model."""
    model, schedule = tiny_unet(seed=52), NoiseSchedule(40)
    x, c = images(6, seed=53), torch.full((6,), F_CLASS)
    torch.manual_seed(54)
    masks = student("saliency_mask")(model, schedule, iter(lambda: (x, c), None), fraction, n_batches=3)
    torch.manual_seed(54)
    scores = reference_scores(model, schedule, x, c, 3)
    kept = torch.cat([masks[name].flatten() for name, _ in model.named_parameters()]).bool()
    k = round(fraction * len(scores))
    want = torch.zeros_like(kept)
    want[torch.topk(scores, k).indices] = True
    expect(int(kept.sum()) == k and bool((kept == want).all()),
           f"the mask must keep the {k} weights with the largest |d L_simple(theta; D_f) / d theta| over the whole "
           f"model (not per tensor, not the signed gradient): {int((kept != want).sum())} weights differ")


def test_saliency_mask_keeps_one_weight_for_a_tiny_fraction():
    """A fraction that rounds to one weight keeps the single weight with the largest |gradient|."""
    model, schedule = tiny_unet(seed=55), NoiseSchedule(40)
    x, c = images(4, seed=56), torch.full((4,), F_CLASS)
    total = sum(p.numel() for p in model.parameters())
    torch.manual_seed(57)
    masks = student("saliency_mask")(model, schedule, iter(lambda: (x, c), None), 1.2 / total, n_batches=1)
    torch.manual_seed(57)
    scores = reference_scores(model, schedule, x, c, 1)
    kept = torch.cat([masks[name].flatten() for name, _ in model.named_parameters()])
    expect(int(kept.sum()) == 1 and kept[scores.argmax()] == 1,
           "with fraction * N = 1.2 the mask must keep round(1.2) = 1 weight: the one with the largest |gradient|")
