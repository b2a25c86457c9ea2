"""Public tests of part salun: salun_loss and saliency_mask in unlearn/salun.py.

    L_SalUn = || eps_theta(x_t, t, f) - sg[eps_theta(x_t, t, c')] ||^2 + alpha * L_simple(theta; D_r),  c' != f
    m       = 1[ |d L_simple(theta; D_f) / d theta| is among the top `fraction` of all weights ]

Each `call` runs your functions in a process of its own (course/testkit.py) and returns what they did.
Some tests use testkit.PerClass, a model whose prediction under class c is one learnable image
table[c]: its gradient shows which class's prediction a loss trains.
"""
import torch

from course.testkit import PerClass, Repeat, call, expect, images, other_labels, tiny_unet
from ddpm.schedule import NoiseSchedule

F_CLASS = 4


def batches(n: int = 6, size: int = 8):
    return images(n, seed=1, size=size), torch.full((n,), F_CLASS), images(n, seed=2, size=size), other_labels(n, F_CLASS)


def forget_stream(n: int = 6, size: int = 8):
    """An endless stream of the same batch of D_f, as saliency_mask reads it."""
    x_f, c_f, _, _ = batches(n, size)
    return Repeat((x_f, c_f))


def test_salun_target_carries_no_gradient():
    """Only eps_theta(x_t, t, f) is trained; the target sg[eps_theta(x_t, t, c')] is a constant."""
    torch.manual_seed(0)
    model = PerClass(torch.randn(11, 1, 4, 4))
    res = call("salun_loss", model, NoiseSchedule(50), *batches(size=4), alpha=0.0, num_classes=10, seed=1, backward=True)
    grad = res.grads(model).get("table")
    grad = grad if isinstance(grad, torch.Tensor) else torch.zeros_like(model.table)
    expect(grad[F_CLASS].abs().sum() > 0, "the loss must train eps_theta(x_t, t, f): its prediction under f got no gradient")
    others = torch.cat([grad[:F_CLASS], grad[F_CLASS + 1:]])
    expect(others.abs().sum() == 0, "the target must not carry a gradient: d target / d theta is not zero "
                                    "(compute eps_theta(x_t, t, c') under torch.no_grad)")


def test_salun_random_class_is_never_f():
    """The target's class c' is drawn among the other classes, never f and never the null class."""
    model = tiny_unet()
    x_f, c_f, x_r, c_r = images(90, seed=3), torch.full((90,), F_CLASS), images(6, seed=2), other_labels(6, F_CLASS)
    res = call("salun_loss", model, NoiseSchedule(50), x_f, c_f, x_r, c_r, alpha=0.0, num_classes=10, seed=2)
    labels = torch.cat([c["c"] for c in res.calls(model) if len(c["c"]) == 90] or [torch.empty(0)])
    expect((labels == F_CLASS).sum().item() == 90 and len(labels) == 180,
           "the loss must run the model once under f and once under c' != f for each image of D_f: "
           f"it saw {len(labels)} labels for them, {(labels == F_CLASS).sum().item():.0f} of them f")
    expect(not (labels == 10).any(), "c' must be one of the other classes, never the null class")
    expect(len(set(labels.tolist())) >= 6, "c' must be drawn at random among the other classes (for each image)")


def test_saliency_mask_keeps_exactly_the_fraction():
    """The mask names every parameter, is 0/1, and keeps round(fraction * #weights) weights."""
    model = tiny_unet()
    masks = call("saliency_mask", model, NoiseSchedule(50), forget_stream(), 0.25, n_batches=2, seed=0).value
    params = dict(model.named_parameters())
    expect(isinstance(masks, dict) and set(masks) == set(params), "the mask must be a dict with one entry per parameter name")
    expect(all(isinstance(masks[n], torch.Tensor) and masks[n].shape == p.shape for n, p in params.items()),
           "each mask must be a tensor of its parameter's shape")
    values = torch.cat([m.flatten().float() for m in masks.values()])
    expect(bool(((values == 0) | (values == 1)).all()), "the mask must hold only 0 and 1")
    total = sum(p.numel() for p in params.values())
    expect(values.sum().item() == round(0.25 * total),
           f"the mask must keep round(fraction * #weights) = {round(0.25 * total)} weights, it keeps {values.sum().item():.0f}")


def test_saliency_mask_keeps_the_weights_with_the_largest_gradient():
    """Only the prediction under f has a gradient in L_simple(D_f): the kept weights lie there."""
    torch.manual_seed(0)
    model = PerClass(torch.randn(11, 1, 4, 4))
    total = sum(p.numel() for p in model.parameters())          # 11 * 16 + 5
    masks = call("saliency_mask", model, NoiseSchedule(50), forget_stream(size=4), 8 / total, n_batches=3).value
    expect(isinstance(masks, dict) and {"table", "unused"} <= set(masks), "the mask must be a dict with one entry per parameter name")
    kept = masks["table"].flatten(1).sum(1)
    expect(kept[F_CLASS].item() == 8 and kept.sum().item() == 8 and masks["unused"].sum().item() == 0,
           "the mask must keep the weights with the LARGEST |d L_simple(theta; D_f) / d theta|: "
           f"{kept[F_CLASS].item():.0f} of its 8 kept weights have a nonzero gradient")
