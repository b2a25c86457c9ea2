"""Each method's loss equals its formula, and one optimiser step moves it the way its math says."""
import copy

import pytest
import torch

from ddpm.data import ImageData, forget_retain
from ddpm.diffusion import simple_loss
from ddpm.errors import UserError
from ddpm.schedule import NoiseSchedule
from ddpm.train_loop import Plateau, fit
from tests.conftest import tiny_unet
from unlearn.dimum import alternative_set, dimum_loss
from unlearn.esd import esd_loss
from unlearn.ga import ga_loss
from unlearn import METHODS
from unlearn.run import make_settings, unlearn
from unlearn.salun import random_other_class, saliency_mask, salun_loss


def batch(n=6, f=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_f = torch.rand(n, 1, 8, 8, generator=g) * 2 - 1
    x_r = torch.rand(n, 1, 8, 8, generator=g) * 2 - 1
    return x_f, torch.full((n,), f), x_r, torch.randint(1, 10, (n,), generator=g)


def draw(s, x):
    """The same draws as ddpm.diffusion.noised: t, then eps, from the global RNG."""
    t = torch.randint(0, s.T, (x.shape[0],))
    eps = torch.randn_like(x)
    return t, eps, s.sqrt_abar[t].view(-1, 1, 1, 1) * x + s.sqrt_one_minus_abar[t].view(-1, 1, 1, 1) * eps


def mse(a, b):
    return ((a - b) ** 2).mean()


@pytest.fixture
def setup():
    return tiny_unet(), NoiseSchedule(50), batch()


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_ga_value(setup, alpha):
    model, s, (x_f, f, x_r, c_r) = setup
    torch.manual_seed(7)
    got = ga_loss(model, s, x_f, f, x_r, c_r, alpha=alpha)
    torch.manual_seed(7)
    t, eps, xt = draw(s, x_f)
    want = -mse(eps, model(xt, t, f))
    if alpha:
        t, eps, xt = draw(s, x_r)
        want = want + alpha * mse(eps, model(xt, t, c_r))
    assert torch.allclose(got, want, atol=1e-6)


def test_esd_value_and_target_from_the_frozen_model(setup):
    model, s, (x_f, f, x_r, c_r) = setup
    frozen = tiny_unet(seed=1).eval().requires_grad_(False)       # a different network than `model`
    torch.manual_seed(7)
    got = esd_loss(model, s, x_f, f, x_r, c_r, alpha=0.0, frozen=frozen, neg_guidance=2.0)
    torch.manual_seed(7)
    t, _, xt = draw(s, x_f)
    null = torch.full_like(f, 10)
    target = frozen(xt, t, null) - 2.0 * (frozen(xt, t, f) - frozen(xt, t, null))
    assert torch.allclose(got, mse(model(xt, t, f), target), atol=1e-5)
    got.backward()
    assert all(p.grad is None for p in frozen.parameters())          # the target carries no gradient


def test_salun_value_uses_the_models_own_prediction_as_target(setup):
    model, s, (x_f, f, x_r, c_r) = setup
    torch.manual_seed(7)
    got = salun_loss(model, s, x_f, f, x_r, c_r, alpha=1.0, num_classes=10)
    torch.manual_seed(7)
    t, _, xt = draw(s, x_f)
    c_other = random_other_class(f, 10)
    want = mse(model(xt, t, f), model(xt, t, c_other).detach())
    t, eps, xt2 = draw(s, x_r)
    want = want + mse(eps, model(xt2, t, c_r))
    assert torch.allclose(got, want, atol=1e-6)
    assert not (c_other == f).any()


def test_random_other_class_is_uniform_over_the_others():
    torch.manual_seed(0)
    c = random_other_class(torch.full((9000,), 4), 10)
    counts = c.bincount(minlength=10)
    others = torch.cat([counts[:4], counts[5:]])
    assert counts[4] == 0 and (others - 1000).abs().max() < 150


def test_dimum_value(setup):
    model, s, (x_alt, f, x_r, c_r) = setup
    torch.manual_seed(7)
    got = dimum_loss(model, s, x_alt, f, x_r, c_r, alpha=1.0)
    torch.manual_seed(7)
    t, eps, xt = draw(s, x_alt)
    want = mse(eps, model(xt, t, f))
    t, eps, xt = draw(s, x_r)
    assert torch.allclose(got, want + mse(eps, model(xt, t, c_r)), atol=1e-6)


def fixed_eval(model, s, x, c):
    """L_simple on fixed draws (same t and eps every call), to compare before/after a step."""
    torch.manual_seed(123)
    with torch.no_grad():
        return simple_loss(model, s, x.repeat(8, 1, 1, 1), c.repeat(8)).item()


def one_step(model, loss_fn, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    loss_fn().backward()
    opt.step()


def test_ga_step_raises_the_forget_loss(setup):
    model, s, (x_f, f, x_r, c_r) = setup
    before = fixed_eval(model, s, x_f, f)
    for _ in range(3):
        one_step(model, lambda: ga_loss(model, s, x_f.repeat(4, 1, 1, 1), f.repeat(4), x_r, c_r, alpha=0.0), 0.05)
    assert fixed_eval(model, s, x_f, f) > before


def test_dimum_step_lowers_the_loss_on_the_alternative_set(setup):
    model, s, (_, f, x_r, c_r) = setup
    x_alt = -torch.ones(6, 1, 8, 8)
    before = fixed_eval(model, s, x_alt, f)
    for _ in range(3):
        one_step(model, lambda: dimum_loss(model, s, x_alt.repeat(4, 1, 1, 1), f.repeat(4), x_r, c_r, alpha=0.0), 0.05)
    assert fixed_eval(model, s, x_alt, f) < before


def test_esd_step_moves_the_prediction_towards_its_target(setup):
    model, s, (x_f, f, x_r, c_r) = setup
    frozen = copy.deepcopy(model).eval().requires_grad_(False)

    def loss():
        torch.manual_seed(5)
        return esd_loss(model, s, x_f, f, x_r, c_r, alpha=0.0, frozen=frozen, neg_guidance=1.0)
    before = loss().item()
    assert before > 0        # at theta = theta_0 the target -(eps0_f - 2 eps0_null)... differs from eps0_f
    for _ in range(3):
        one_step(model, loss, 0.05)
    assert loss().item() < before
    assert all(torch.equal(a, b) for a, b in zip(frozen.state_dict().values(),
                                                  tiny_unet().state_dict().values()))


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.37])
def test_saliency_mask_keeps_exactly_the_fraction(setup, fraction):
    model, s, (x_f, f, _, _) = setup
    stream = iter(lambda: (x_f, f), None)
    masks = saliency_mask(model, s, stream, fraction, n_batches=2)
    total = sum(p.numel() for p in model.parameters())
    kept = sum(m.sum().item() for m in masks.values())
    assert kept == round(fraction * total)
    assert set(masks) == {n for n, _ in model.named_parameters()}


def test_masked_weights_do_not_move(setup):
    model, s, (x_f, f, x_r, c_r) = setup
    masks = saliency_mask(model, s, iter(lambda: (x_f, f), None), 0.2, n_batches=1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit(model, lambda: salun_loss(model, s, x_f, f, x_r, c_r, alpha=1.0, num_classes=10), 3, 1e-2,
        grad_mask=masks, progress=False)
    for n, p in model.named_parameters():
        assert torch.equal(p[masks[n] == 0], before[n][masks[n] == 0]), n


def test_divergence_stops_with_last_finite_weights():
    model, s = tiny_unet(), NoiseSchedule(50)
    calls = {"n": 0}

    def loss_fn():
        calls["n"] += 1
        x = torch.randn(2, 1, 8, 8)
        out = simple_loss(model, s, x, torch.zeros(2, dtype=torch.long))
        return out * (float("inf") if calls["n"] == 3 else 1.0)
    hist = fit(model, loss_fn, 10, 1e-3, progress=False)
    assert hist["stopped"] == "nonfinite" and hist["steps_done"] == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_plateau_rule():
    p = Plateau(window=10, rel_tol=0.02, min_steps=20)
    assert not p.reached([1.0] * 19)
    assert p.reached([1.0] * 20)
    assert not p.reached([2.0] * 10 + [1.0] * 10)


def tiny_train():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(8)
    return ImageData(torch.randint(0, 256, (80, 1, 8, 8), generator=g, dtype=torch.uint8), labels)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_through_the_shared_loop(method):
    model, s = tiny_unet(), NoiseSchedule(50)
    hist = unlearn(model, s, tiny_train(), method, make_settings(method, forget_class=2, steps=3, batch_size=4),
                   progress=False)
    assert hist["steps_done"] == 3 and len(hist["loss"]) == 3


def test_frozen_class_embedding_stays_put():
    model, s = tiny_unet(), NoiseSchedule(50)
    before = model.class_emb.weight.detach().clone()
    unlearn(model, s, tiny_train(), "dimum", make_settings("dimum", forget_class=2, steps=3, batch_size=4,
                                                           freeze_class_emb=True, lr=1e-2), progress=False)
    assert torch.equal(model.class_emb.weight, before)
    assert model.class_emb.weight.requires_grad      # restored for whoever trains next


def test_alternative_sets():
    train = tiny_train()
    a = alternative_set("class:1", train, forget_class=2)
    assert len(a) == 8 and (a.labels == 2).all()
    assert len(alternative_set("fixed:1:3", train, 2)) == 3
    blank = alternative_set("pattern:blank", train, 2)
    assert blank.images.shape == (1, 1, 8, 8) and blank.images.max() == 0
    for bad in ("class:2", "class:x", "pattern:stars", "nonsense"):
        with pytest.raises(UserError):
            alternative_set(bad, train, 2)


def test_bad_method_class_and_settings_are_refused_before_any_work():
    with pytest.raises(UserError, match="choose one of"):
        make_settings("nope", forget_class=0)
    for method, bad, match in [("ga", dict(forget_class=12), "out of range"), ("ga", dict(steps=0), "--steps 0"),
                               ("esd", dict(lr=-1.0), "--lr -1.0"), ("ga", dict(batch_size=0), "--batch-size 0"),
                               ("salun", dict(fraction=0.0), "--fraction"), ("ga", dict(neg_guidance=2.0), "no setting"),
                               ("dimum", dict(forget_class=1, alt="class:1"), "another class")]:
        with pytest.raises(UserError, match=match):
            make_settings(method, **{"forget_class": 0, **bad})


def test_dimum_alternative_class_never_clashes_with_the_forgotten_one():
    assert make_settings("dimum", forget_class=0).alt == "class:1"
    assert make_settings("dimum", forget_class=1).alt == "class:2"


def test_each_default_lives_in_its_methods_settings():
    """The headline settings (tuned on seed 0, then frozen): a change here changes results.json."""
    assert {m: (make_settings(m, forget_class=0).steps, make_settings(m, forget_class=0).lr,
                make_settings(m, forget_class=0).alpha) for m in ("ga", "esd", "salun", "dimum")} == \
        {"ga": (130, 1e-5, 0.0), "esd": (300, 1e-4, 0.0), "salun": (300, 1e-4, 1.0), "dimum": (1000, 1e-4, 1.0)}


def test_forget_retain_split():
    d_f, d_r = forget_retain(tiny_train(), 3)
    assert (d_f.labels == 3).all() and not (d_r.labels == 3).any() and len(d_f) + len(d_r) == 80
