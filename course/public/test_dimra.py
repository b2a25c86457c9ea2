"""Public tests of part dimra: dimra in attack/dimra.py.

    theta* = argmin_theta L_simple(theta; D_aux)   (label dropout as in pre-training), from theta_u,
    K = cfg.steps steps at rate cfg.lr; forget_acc = measure(model) at step 0, every cfg.eval_every
    steps and at the end: the recovery curve.
"""
import torch

from attack.dimra import DiMRAConfig
from course.testkit import Counter, call, expect, tiny_unet
from ddpm.data import ImageData
from ddpm.schedule import NoiseSchedule

F_CLASS = 0


def retain_set(n: int = 40, seed: int = 0) -> ImageData:
    """n random 8-pixel images of the classes 1..9 (none of f = 0)."""
    g = torch.Generator().manual_seed(seed)
    return ImageData(torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8), torch.arange(n) % 9 + 1)


def test_dimra_records_the_curve_at_0_every_eval_every_steps_and_at_the_end():
    """10 steps measured every 4: the curve is at steps 0, 4, 8 and 10, with one loss a step."""
    model = tiny_unet()
    res = call("dimra", model, NoiseSchedule(50), retain_set(), F_CLASS, DiMRAConfig(steps=10, eval_every=4, batch_size=4),
               measure=Counter(), progress=False, after=True)
    out = res.value
    expect(isinstance(out, dict) and {"curve", "loss", "diverged"} <= set(out),
           "dimra must return {'curve': {'step': [...], 'forget_acc': [...]}, 'loss': [...], 'diverged': bool}")
    expect(out["curve"] == {"step": [0, 4, 8, 10], "forget_acc": [1.0, 2.0, 3.0, 4.0]},
           f"measure at step 0, every eval_every steps and after the last step: expected steps [0, 4, 8, 10], got {out['curve']}")
    expect(isinstance(out["loss"], list) and len(out["loss"]) == 10 and out["diverged"] is False,
           "one loss a step (10 here), and 'diverged' False")
    after = res.after(model)
    expect(any(not torch.equal(a, b) for a, b in zip(model.parameters(), after.parameters())),
           "the attack must train the model in place")


def test_dimra_refuses_a_retain_set_that_holds_the_forgotten_class():
    """DiMRA-retain's D_aux holds no image of f: given one that does, dimra raises a UserError."""
    data = retain_set()
    data.labels[3] = F_CLASS
    res = call("dimra", tiny_unet(), NoiseSchedule(50), data, F_CLASS, DiMRAConfig(aux="retain", steps=2), progress=False)
    expect(res.raised == "UserError",
           "with cfg.aux = 'retain', D_aux must hold no image labelled f: raise a UserError before training")


def test_dimra_drops_labels_like_pretraining():
    """The attack fine-tunes with label dropout: about p_uncond of the labels become the null class, none is f."""
    model = tiny_unet()
    res = call("dimra", model, NoiseSchedule(50), retain_set(), F_CLASS,
               DiMRAConfig(steps=20, batch_size=16, p_uncond=0.5, eval_every=20), progress=False)
    labels = res.labels(model)
    expect(len(labels) == 20 * 16, f"20 steps of batches of 16 must show the model 320 labels, it saw {len(labels)}")
    share = (labels == 10).float().mean().item()
    expect(abs(share - 0.5) < 0.1, f"with p_uncond = 0.5 about half the labels must be the null class (label dropout "
                                   f"as in pre-training), got {share:.2f}")
    expect(not (labels == F_CLASS).any(), "DiMRA-retain must never show the model the forgotten class")


def test_dimra_takes_the_first_point_from_start():
    """Given `start`, the curve's step-0 value is `start` and measure is not called for step 0."""
    res = call("dimra", tiny_unet(), NoiseSchedule(50), retain_set(), F_CLASS,
               DiMRAConfig(steps=4, eval_every=2, batch_size=4), measure=Counter(), progress=False, start=0.25)
    curve = res.value["curve"]["forget_acc"]
    expect(curve[:1] == [0.25] and res.measure_calls == 2,
           f"with start = 0.25 the curve must begin with 0.25 and measure run only at steps 2 and 4, "
           f"got {curve} after {res.measure_calls} calls")
