"""Hidden tests of part salun: salun_loss against its formula and its stop-gradient on a real UNet, on
the draws the student's code made; the random class at both ends of the label range and with fewer
classes; label dropout and the summed retain term; the saliency mask against the exact top-k."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import Repeat, call, expect, expect_close, images, other_labels, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 8


def rgb_batches(n: int, m: int):
    return (images(n, seed=41, size=16, channels=3), torch.full((n,), F_CLASS),
            images(m, seed=42, size=16, channels=3), other_labels(m, F_CLASS))


@pytest.mark.parametrize("alpha,retain_sum", [(0.0, False), (1.5, False), (0.01, True)])
def test_salun_equals_the_formula_on_rgb_images(alpha, retain_sum):
    """L_SalUn on 5 RGB images of f and 3 others, 16 pixels, T = 20 (retain_sum: the retain term times C H W)."""
    model, schedule = tiny_unet(seed=43, image_size=16, in_channels=3), NoiseSchedule(20)
    res = call("salun_loss", model, schedule, *rgb_batches(5, 3), alpha=alpha, num_classes=10, retain_sum=retain_sum,
               seed=44)
    want = formulas.salun(res, model, schedule, *rgb_batches(5, 3), alpha, retain_sum)
    expect_close(res.value, want, f"L_SalUn must equal || eps_theta(x_t, t, f) - sg[eps_theta(x_t, t, c')] ||^2 "
                                  f"+ alpha L_simple(D_r) (alpha = {alpha}; retain_sum = {retain_sum}: the retain term "
                                  f"{'summed over C H W pixels' if retain_sum else 'averaged'})", atol=1e-4)


def test_salun_gradient_treats_the_target_as_a_constant():
    """On a real UNet, d L_SalUn / d theta is that of the loss with eps_theta(x_t, t, c') detached."""
    model, schedule = tiny_unet(seed=45), NoiseSchedule(50)
    batch = images(6, seed=46), torch.full((6,), F_CLASS), images(6, seed=47), other_labels(6, F_CLASS)
    res = call("salun_loss", model, schedule, *batch, alpha=0.0, num_classes=10, seed=48, backward=True)
    model.zero_grad()
    formulas.salun(res, model, schedule, *batch, 0.0, grad=True).backward()
    want = torch.cat([p.grad.flatten().double() for p in model.parameters()])
    expect_close(res.grad(model), want, "the target must not carry a gradient: d target / d theta is not zero "
                                        "(eps_theta(x_t, t, c') under torch.no_grad)", atol=1e-5)


@pytest.mark.parametrize("forgotten,classes", [(0, 10), (9, 10), (2, 5)])
def test_salun_random_class_covers_every_other_class(forgotten, classes):
    """c' is uniform over the K - 1 other classes, also when f is the first or the last class, or K = 5."""
    model = tiny_unet()
    res = call("salun_loss", model, NoiseSchedule(50), images(300, seed=50), torch.full((300,), forgotten),
               images(4, seed=51), other_labels(4, forgotten, classes), alpha=0.0, num_classes=classes, seed=49)
    labels = torch.cat([c["c"] for c in res.calls(model) if len(c["c"]) == 300] or [torch.empty(0, dtype=torch.long)])
    others = labels[labels != forgotten]
    counts = torch.bincount(others, minlength=11)
    expect(len(others) == 300 and counts[classes:].sum() == 0 and (counts[:classes] > 0).sum() == classes - 1,
           f"with f = {forgotten} and num_classes = {classes}, c' must take every class of 0..{classes - 1} but f "
           f"(never f, never the null class): its counts were {counts.tolist()}")


def test_salun_label_dropout_follows_p_uncond():
    """p_uncond = 0.5: about half the predictions under f become under null; the target's c' is never null."""
    model = tiny_unet()
    res = call("salun_loss", model, NoiseSchedule(50), images(200, seed=52), torch.full((200,), F_CLASS),
               images(4, seed=53), other_labels(4, F_CLASS), alpha=0.0, num_classes=10, p_uncond=0.5, seed=54)
    labels = res.labels(model)
    trained = labels[(labels == F_CLASS) | (labels == 10)]          # the predictions that are trained: under f or null
    share = (trained == 10).float().mean().item() if len(trained) else 0.0
    expect(len(trained) == 200 and abs(share - 0.5) < 0.1,
           f"with p_uncond = 0.5 about half of the 200 labels the model is trained under must be the null class, "
           f"got {share:.0%} of {len(trained)}: the target's c' must never be the null class")


def expected_mask(res, model, schedule, x, c, fraction, guidance=0.0):
    """(kept as a 0/1 vector, the expected one, the weights whose |gradient| ties the k-th largest)."""
    masks = res.value
    expect(isinstance(masks, dict) and all(isinstance(masks.get(n), torch.Tensor) for n, _ in model.named_parameters()),
           "the mask must be a dict with one tensor per parameter name")
    scores, _ = formulas.mask_scores(res, model, schedule, x, c, guidance)
    kept = torch.cat([masks[name].flatten() for name, _ in model.named_parameters()]).bool()
    k = round(fraction * len(scores))
    want = torch.zeros_like(kept)
    want[torch.topk(scores, k).indices] = True
    kth = scores[torch.topk(scores, k).indices].min() if k else scores.max() + 1
    ties = (scores - kth).abs() <= 1e-6 * kth.abs()
    return kept, want, ties


@pytest.mark.parametrize("fraction,guidance", [(0.3, 0.0), (1.0, 0.0), (0.4, 2.0)])
def test_saliency_mask_is_the_exact_top_fraction(fraction, guidance):
    """The mask keeps exactly the top round(fraction * N) weights by |gradient of L_mask| over the whole model."""
    model, schedule = tiny_unet(seed=55), NoiseSchedule(40)
    x, c = images(6, seed=56), torch.full((6,), F_CLASS)
    res = call("saliency_mask", model, schedule, Repeat((x, c)), fraction=fraction, guidance=guidance, n_batches=3, seed=57)
    kept, want, ties = expected_mask(res, model, schedule, x, c, fraction, guidance)
    k = round(fraction * len(kept))
    wrong = int(((kept != want) & ~ties).sum())
    expect(int(kept.sum()) == k and wrong == 0,
           f"the mask must keep the {k} weights with the largest |d L_mask / d theta| over the whole model (not per "
           f"tensor, not the signed gradient; guidance w = {guidance}): {wrong} weights differ")


def test_saliency_mask_reads_n_batches_and_keeps_one_weight_for_a_tiny_fraction():
    """n_batches = 2 batches are read; a fraction that rounds to one weight keeps the largest |gradient|."""
    model, schedule = tiny_unet(seed=58), NoiseSchedule(40)
    x, c = images(4, seed=59), torch.full((4,), F_CLASS)
    total = sum(p.numel() for p in model.parameters())
    res = call("saliency_mask", model, schedule, Repeat((x, c)), fraction=1.2 / total, n_batches=2, seed=60)
    expect(res.stream_reads == 2, f"with n_batches = 2 the mask must read 2 batches of D_f, it read {res.stream_reads}")
    kept, want, _ = expected_mask(res, model, schedule, x, c, 1.2 / total)
    expect(int(kept.sum()) == 1 and bool(kept[want].all()),
           "with fraction * N = 1.2 the mask must keep round(1.2) = 1 weight: the one with the largest |gradient|")
