"""Hidden tests of part dimra: label dropout at other rates, the curve's edge cases, the settings the
attack must honour (seed, learning rate, gradient clipping, extra measuring steps, threat model) and
an attack that diverges."""
from dataclasses import fields

import torch

from attack.dimra import DiMRAConfig
from course.testkit import BlowsUp, Constant, Counter, call, expect, tiny_unet
from ddpm.data import ImageData
from ddpm.schedule import NoiseSchedule

F_CLASS = 5


def aux_set(n: int = 36, seed: int = 0, with_f: bool = False) -> ImageData:
    """n random 8-pixel images of every class but f (or, with_f, of every class)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10 if with_f else (F_CLASS + 1 + torch.arange(n) % 9) % 10
    return ImageData(torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8), labels)


def attack(model, cfg, data=None, seed=None, **kw):
    return call("dimra", model, NoiseSchedule(40), data if data is not None else aux_set(), F_CLASS, cfg,
                progress=False, seed=seed, **kw)


def largest_move(model, res) -> float:
    after = res.after(model)
    return max((a - b).abs().max().item() for a, b in zip(after.parameters(), model.parameters()))


def test_dimra_label_dropout_follows_p_uncond():
    """p_uncond = 0.2 drops about a fifth of the labels to the null class; p_uncond = 0 drops none."""
    model = tiny_unet()
    res = attack(model, DiMRAConfig(steps=25, batch_size=24, p_uncond=0.2, eval_every=25))
    share = (res.labels(model) == 10).float().mean().item()
    expect(abs(share - 0.2) < 0.06, f"with p_uncond = 0.2 about 20% of the labels must be the null class, got {share:.0%}")
    res = attack(model, DiMRAConfig(steps=5, batch_size=24, p_uncond=0.0, eval_every=5))
    expect(res.ok and not (res.labels(model) == 10).any(), "with p_uncond = 0 no label may be dropped to the null class")


def test_dimra_curve_edge_cases():
    """steps a multiple of eval_every: no point twice; eval_every beyond steps: start and end only; no measure: empty."""
    for steps, every, want in ((8, 4, [0, 4, 8]), (3, 10, [0, 3])):
        res = attack(tiny_unet(), DiMRAConfig(steps=steps, eval_every=every, batch_size=4), measure=Constant(0.5))
        got = res.value["curve"]["step"]
        expect(got == want, f"steps = {steps}, eval_every = {every}: the curve must be at steps {want}, got {got}")
    res = attack(tiny_unet(), DiMRAConfig(steps=2, batch_size=4))
    expect(res.value["curve"] == {"step": [], "forget_acc": []}, "without `measure` the curve must be empty lists")


def test_dimra_start_replaces_the_first_measurement():
    """With `start` and eval_every = 1, measure runs after each step only, and the curve begins with start."""
    res = attack(tiny_unet(), DiMRAConfig(steps=3, eval_every=1, batch_size=4), start=0.9, measure=Constant(0.1))
    curve = res.value["curve"]
    expect(curve == {"step": [0, 1, 2, 3], "forget_acc": [0.9, 0.1, 0.1, 0.1]} and res.measure_calls == 3,
           f"with start = 0.9 the curve must be [0.9, then measure after steps 1, 2, 3], got {curve}")


def test_dimra_measures_at_the_extra_steps_of_eval_at():
    """eval_at = (1, 2) adds those steps to the curve: 6 steps every 4 are measured at 0, 1, 2, 4 and 6."""
    if "eval_at" not in {f.name for f in fields(DiMRAConfig)}:
        return                                       # a DiMRAConfig without eval_at: nothing to honour
    res = attack(tiny_unet(), DiMRAConfig(steps=6, eval_every=4, eval_at=(1, 2), batch_size=4), measure=Counter())
    got = res.value["curve"]["step"]
    expect(got == [0, 1, 2, 4, 6], f"with eval_at = (1, 2) the curve must be at steps [0, 1, 2, 4, 6], got {got}")


def test_dimra_threat_models():
    """aux = 'retain' refuses a D_aux with images of f (another f than the public test's); 'mixed' takes it."""
    res = attack(tiny_unet(), DiMRAConfig(aux="retain", steps=1, batch_size=4), data=aux_set(with_f=True))
    expect(res.raised == "UserError", f"with aux = 'retain' and an image of f = {F_CLASS} in D_aux, dimra must raise a UserError")
    res = attack(tiny_unet(), DiMRAConfig(aux="mixed", share=0.1, steps=2, batch_size=4), data=aux_set(with_f=True))
    expect(len(res.value["loss"]) == 2, "with aux = 'mixed' a D_aux that holds f is the threat model: the attack must run")


def test_dimra_is_reproducible_for_a_seed():
    """Two attacks with the same cfg.seed give the same losses, whatever torch's global state before."""
    losses = [attack(tiny_unet(), DiMRAConfig(steps=4, batch_size=8, seed=3), seed=outside).value["loss"] for outside in (1, 2)]
    expect(losses[0] == losses[1], "the attack must be reproducible: seed torch with cfg.seed (torch.manual_seed) "
                                   "and draw batches with Batches(..., seed=cfg.seed)")


def test_dimra_uses_the_learning_rate_of_its_settings():
    """One Adam step at cfg.lr = 3e-3 moves the largest weight by about 3e-3."""
    model = tiny_unet()
    moved = largest_move(model, attack(model, DiMRAConfig(steps=1, batch_size=8, lr=3e-3), after=True))
    expect(1.5e-3 < moved < 3.2e-3, f"one step at cfg.lr = 0.003 must move the largest weight by about 0.003 "
                                    f"(Adam's first step, as fit takes it), it moved {moved:.2g}")


def test_dimra_clips_the_gradient_to_grad_clip():
    """cfg.grad_clip = 1e-10 clips the gradient to almost nothing: Adam's first step then barely moves a weight."""
    model = tiny_unet()
    res = attack(model, DiMRAConfig(steps=1, batch_size=8, lr=3e-3, grad_clip=1e-10), after=True)
    moved = largest_move(model, res)
    expect(len(res.value["loss"]) == 1 and 0 < moved < 3e-4,
           f"with cfg.grad_clip = 1e-10 the gradient's norm must be clipped to 1e-10 (fit's grad_clip), so one Adam "
           f"step at lr 0.003 moves a weight, but by far less than 0.003: it moved {moved:.2g}")


def test_dimra_stops_when_the_loss_diverges():
    """A NaN loss at step 3 stops the attack: 2 losses, the curve measured so far, diverged True."""
    res = attack(BlowsUp(after=3), DiMRAConfig(steps=6, eval_every=1, batch_size=4), measure=Constant(0.0)).value
    expect(res["diverged"] is True and len(res["loss"]) == 2 and res["curve"]["step"] == [0, 1, 2],
           f"a loss that turns NaN at step 3 must stop the attack with 2 losses, the curve at [0, 1, 2] and diverged "
           f"True; got {len(res['loss'])} losses, curve {res['curve']['step']}, diverged {res['diverged']}")
