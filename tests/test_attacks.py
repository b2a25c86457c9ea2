"""The defining property of each new way to test the weights: inversion never changes a weight and
fits its images; data-free relearning reads no real image; the unconditional measure uses the null
label only. And each refuses bad settings with one line."""
import pytest
import torch

from attack import datafree, inversion
from attack.base import AttackData, as_attacked
from attack.run import make_config, run_attack
from ddpm.config import DDPMConfig
from ddpm.data import ImageData, load_splits, to_float
from ddpm.diffusion import simple_loss
from ddpm.errors import UserError
from ddpm.schedule import NoiseSchedule
from metrics.evaluate import SampleSettings
from metrics.knn import KNNJudge
from metrics.unconditional import unconditional_share
from tests.conftest import tiny_unet

F = 4


class Spy(torch.nn.Module):
    """Wraps a UNet; records every label batch it is asked to denoise, and whether it was training."""

    def __init__(self, model):
        super().__init__()
        self.model, self.null_class, self.config = model, model.null_class, model.config
        self.class_emb, self.seen = model.class_emb, []

    def forward(self, x, t, c):
        self.seen.append((c.clone(), torch.is_grad_enabled()))
        return self.model(x, t, c)


class Trap:
    """An aux split that must never be read: any attribute access fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the data-free attack read aux.{name}")

    def __len__(self):
        raise AssertionError("the data-free attack read len(aux)")


@pytest.fixture(scope="module")
def aux8():
    return load_splits("mnist5k", image_size=8)["aux"]


def label_f_embedding(m):
    """What label F means to the model now (a stand-in measure: it sees what sampling label F would)."""
    with torch.no_grad():
        return m.class_emb(torch.tensor([F]))[0].clone()


# ------------------------------------------------------------------ class-embedding inversion
def test_inversion_never_changes_a_weight(aux8):
    model = tiny_unet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.time_mlp[0].weight.requires_grad_(False)           # flags are restored as they were, not all True
    seen = []
    res = run_attack("inversion", model, NoiseSchedule(50), AttackData(aux8, F),
                     make_config("inversion", steps=12, eval_every=4, lr=0.05, n_images=8, batch_size=8),
                     measure=lambda m: seen.append(label_f_embedding(m)) or 0.0, progress=False)
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert [p.requires_grad for p in model.parameters()].count(False) == 1 and not model.time_mlp[0].weight.requires_grad
    # the measure saw label F bound to e: the null row at step 0, the learned e at the end, never E[F]
    assert res["curve"]["step"] == [0, 4, 8, 12]
    assert torch.equal(seen[0], before["class_emb.weight"][model.null_class])
    assert torch.equal(seen[-1], res["embedding"]) and not torch.equal(seen[-1], seen[0])
    assert (res["n_real"], res["n_real_forget"], res["diverged"]) == (8, 8, False)


def test_as_attacked_writes_e_into_row_f_and_restores_it(aux8):
    model, schedule = tiny_unet(), NoiseSchedule(50)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = AttackData(aux8, F)
    res = inversion.run(model, schedule, data, inversion.Config(steps=3, n_images=4, lr=0.1), progress=False)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([1, 20, 40])
    c = torch.tensor([F, F, 2])
    with torch.no_grad(), inversion.label_bound_to(model, F, res["embedding"]):
        bound = model(x, t, c)
    with torch.no_grad(), as_attacked(inversion, model, data, res) as m:
        assert torch.equal(m.state_dict()["class_emb.weight"][F], res["embedding"])
        assert torch.equal(m(x, t, c), bound)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_inversion_loss_falls_on_the_images_it_is_given(aux8):
    model, schedule, data = tiny_unet(), NoiseSchedule(50), AttackData(aux8, F, seed=3)
    cfg = inversion.Config(steps=150, lr=0.05, n_images=16, batch_size=16)
    images = inversion.images_of_f(data, cfg.n_images)
    assert (images.labels == F).all() and len(images) == 16

    def held_loss(e):              # L_simple(e; its 16 images) on fixed draws, 8 per image
        torch.manual_seed(0)
        x = to_float(images.images).repeat(8, 1, 1, 1)
        with torch.no_grad(), inversion.label_bound_to(model, F, e):
            return simple_loss(model, schedule, x, torch.full((len(x),), F)).item()

    start = held_loss(inversion.initial_embedding(model, F, "null"))
    res = inversion.run(model, schedule, data, cfg, progress=False)
    assert held_loss(res["embedding"]) < 0.95 * start      # 1.17 -> 1.07 on this untrained tiny UNet
    assert sum(res["loss"][-20:]) < sum(res["loss"][:20])


def test_inversion_mean_start_never_uses_row_f():
    model = tiny_unet()
    with torch.no_grad():
        model.class_emb.weight[F].fill_(1e3)
    e0 = inversion.initial_embedding(model, F, "mean")
    rows = model.class_emb.weight.detach()[[c for c in range(10) if c != F]]
    assert torch.allclose(e0, rows.mean(0)) and e0.abs().max() < 100


@pytest.mark.parametrize("aux,n,expect", [
    ("no_f", 8, "needs 8 held-out images of class 4, the aux split has 0"),
    ("aux", 101, "needs 101 held-out images of class 4, the aux split has 100"),
    (None, 8, "pass AttackData"),
])
def test_inversion_refuses_without_enough_images_of_f(aux, n, expect, aux8):
    data = {"no_f": aux8.subset(aux8.labels != F), "aux": aux8, None: None}[aux]
    with pytest.raises(UserError, match=expect):
        inversion.run(tiny_unet(), NoiseSchedule(50), AttackData(data, F), inversion.Config(n_images=n),
                      progress=False)


@pytest.mark.parametrize("bad,expect", [(dict(n_images=0), "^--n-images 0 must be at least 1$"),
                                        (dict(init="zeros"), "^--init 'zeros': use 'null' or 'mean'$"),
                                        (dict(lr=0.0), "^--lr 0.0 must be positive$"),
                                        (dict(eval_every=0), "^--eval-every 0")])
def test_inversion_refuses_bad_settings(bad, expect):
    with pytest.raises(UserError, match=expect):
        inversion.Config(**bad)


# ------------------------------------------------------------------ data-free relearning
def test_datafree_reads_no_real_image():
    spy, schedule = Spy(tiny_unet()), NoiseSchedule(50)
    before = [p.clone() for p in spy.parameters()]
    data = AttackData(aux=Trap(), forget_class=F, model_config=DDPMConfig(ddim_steps=3))
    res = datafree.run(spy, schedule, data, datafree.Config(n_samples=27, steps=30, batch_size=9), progress=False)
    sampled = torch.cat([c for c, training in spy.seen if not training])
    trained = torch.cat([c for c, training in spy.seen if training])
    assert len(sampled) == 27 * 3 * 2 and not (sampled == F).any()       # 3 DDIM steps, guided: [c, null]
    assert len(trained) == 30 * 9 and not (trained == F).any()
    assert (res["n_real"], res["n_real_forget"], res["n_synthetic"]) == (0, 0, 27)
    losses = torch.tensor(res["loss"])
    assert torch.isfinite(losses).all() and losses.std() > 0 and not res["diverged"]
    assert any(not torch.equal(a, b) for a, b in zip(before, spy.parameters()))


def test_datafree_trains_on_the_models_own_samples():
    model, schedule = tiny_unet(), NoiseSchedule(50)
    s = SampleSettings(steps=2, guidance=2.0)
    own = datafree.own_samples(model, schedule, F, 20, s, seed=5)
    assert own.labels.tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 9] * 2 + [0, 1]
    from metrics.evaluate import generate
    x = generate(model, schedule, own.labels, s, seed=5)
    assert (to_float(own.images) - x).abs().max() <= 1 / 127.5 + 1e-6      # the same images, as 8-bit


@pytest.mark.parametrize("model_config,p_uncond,share", [(DDPMConfig(ddim_steps=2, p_uncond=0.5), None, 0.5),
                                                         (None, None, 0.1), (None, 0.0, 0.0)])
def test_datafree_label_dropout_comes_from_the_checkpoint(model_config, p_uncond, share):
    spy = Spy(tiny_unet())
    data = AttackData(aux=None, forget_class=F, model_config=model_config)
    datafree.run(spy, NoiseSchedule(50), data, datafree.Config(n_samples=9, steps=100, batch_size=20,
                                                               p_uncond=p_uncond), progress=False)
    trained = torch.cat([c for c, training in spy.seen if training])
    assert (trained == 10).float().mean().item() == pytest.approx(share, abs=0.04)


@pytest.mark.parametrize("bad,expect", [(dict(n_samples=0), "^--n-samples 0 must be at least 1$"),
                                        (dict(p_uncond=1.0), r"^--p-uncond 1.0 must be in \[0, 1\)$"),
                                        (dict(batch_size=0), "^--batch-size 0")])
def test_datafree_refuses_bad_settings(bad, expect):
    with pytest.raises(UserError, match=expect):
        datafree.Config(**bad)


# ------------------------------------------------------------------ the unconditional branch
class FirstKJudge(torch.nn.Module):
    """Reads the first k images of every batch as class F, the rest as class 0."""

    def __init__(self, k):
        super().__init__()
        self.k, self.w = k, torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = torch.zeros(len(x), 10)
        logits[:self.k, F], logits[self.k:, 0] = 1.0, 1.0
        return logits


def test_unconditional_share_samples_with_the_null_label_only():
    spy = Spy(tiny_unet())
    share = unconditional_share(spy, NoiseSchedule(50), FirstKJudge(3), F, 10, SampleSettings(steps=4, guidance=2.0))
    assert share == pytest.approx(0.3)                  # counted by the judge
    assert len(spy.seen) == 4                           # 4 DDIM steps, one pass each: guidance off
    assert all(len(c) == 10 and (c == spy.null_class).all() for c, _ in spy.seen)


def test_unconditional_share_with_the_knn_judge():
    model, s = tiny_unet(), SampleSettings(steps=2, guidance=2.0)
    refs = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8)
    all_f, none_f = KNNJudge(ImageData(refs, torch.full((30,), F))), KNNJudge(ImageData(refs, torch.zeros(30).long()))
    assert unconditional_share(model, NoiseSchedule(50), all_f, F, 6, s) == 1.0
    assert unconditional_share(model, NoiseSchedule(50), none_f, F, 6, s) == 0.0


@pytest.mark.parametrize("n,f,expect", [(0, F, "needs n >= 1 samples, got 0"), (5, 10, "class index 10 is out of range")])
def test_unconditional_share_refuses_bad_arguments(n, f, expect):
    with pytest.raises(UserError, match=expect):
        unconditional_share(tiny_unet(), NoiseSchedule(50), FirstKJudge(1), f, n, SampleSettings(steps=2, guidance=0))


# ------------------------------------------------------------------ the recovery curve and inversion's draws
def test_the_curve_records_the_last_step_and_keeps_the_models_mode():
    """Points at 0, every `every` steps, the extra early steps and the last step even when `steps` is not a
    multiple of `every`; the measure may switch the model to eval, the curve hands it back as it was."""
    from attack.base import Curve
    for mode in (True, False):
        model = torch.nn.Dropout(0.5).train(mode)
        seen = []

        def measure(m):
            seen.append(m.training)
            m.eval()
            return 0.5
        c = Curve(measure, model, every=4, steps=10, at=(1,))
        c.record(0)
        for step in range(1, 11):
            c.on_step(step, 0.0)
            assert model.training is mode
        assert c.points["step"] == [0, 1, 4, 8, 10] and seen == [mode] * 5


def test_inversion_draws_its_images_of_f_with_its_own_seed(aux8):
    """Which n of aux's images of f the attacker holds follows the attack's seed: not always the first n."""
    have = aux8.subset(aux8.labels == F)
    picks = [inversion.images_of_f(AttackData(aux8, F, seed=s), 8).images for s in (0, 1)]
    assert not torch.equal(picks[0], picks[1])
    assert not torch.equal(picks[0], have.images[:8]) and not torch.equal(picks[1], have.images[:8])
    assert torch.equal(inversion.images_of_f(AttackData(aux8, F, seed=0), 8).images, picks[0])


def test_inversion_measures_step_0_with_its_starting_embedding(aux8):
    """Step 0 of the curve is label f bound to e's start (the null row), never E[f] as the model holds it."""
    model = tiny_unet()
    seen = []
    cfg = make_config("inversion", steps=2, eval_every=1, n_images=8, batch_size=8)
    run_attack("inversion", model, NoiseSchedule(50), AttackData(aux8, F), cfg,
               measure=lambda m: seen.append(label_f_embedding(m)) or 0.0, progress=False, start=0.77)
    null_row = model.class_emb.weight[model.null_class].detach()
    assert torch.allclose(seen[0], null_row) and not torch.allclose(seen[0], model.class_emb.weight[F].detach())
