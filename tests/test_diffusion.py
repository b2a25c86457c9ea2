import pytest
import torch
from torch import nn

from ddpm.diffusion import (ddim_sample, ddim_step, ddpm_sample, ddpm_step, drop_labels, guided_eps, noised,
                            simple_loss)
from ddpm.ema import EMA
from ddpm.schedule import NoiseSchedule
from tests.conftest import tiny_unet


def test_guidance_scale_zero_is_the_conditional_prediction(tiny):
    model, _ = tiny
    model.eval()
    x, t, c = torch.randn(4, 1, 8, 8), torch.tensor([1, 2, 3, 4]), torch.tensor([0, 1, 2, 3])
    assert torch.allclose(guided_eps(model, x, t, c, 0.0), model(x, t, c))


def test_guidance_formula_in_one_batched_pass(tiny):
    model, _ = tiny
    model.eval()
    x, t, c = torch.randn(4, 1, 8, 8), torch.tensor([1, 2, 3, 4]), torch.tensor([0, 1, 2, 3])
    null = torch.full_like(c, model.null_class)
    expected = 3.0 * model(x, t, c) - 2.0 * model(x, t, null)
    assert torch.allclose(guided_eps(model, x, t, c, 2.0), expected, atol=1e-5)


def test_ddim_eta0_is_deterministic_for_a_seed(tiny):
    model, s = tiny
    model.eval()
    labels = torch.tensor([0, 1, 2])
    a = ddim_sample(model, s, labels, guidance=2.0, steps=5, eta=0.0, generator=torch.Generator().manual_seed(3))
    b = ddim_sample(model, s, labels, guidance=2.0, steps=5, eta=0.0, generator=torch.Generator().manual_seed(3))
    c = ddim_sample(model, s, labels, guidance=2.0, steps=5, eta=0.0, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_guidance_has_no_default_here(tiny):
    """Its one home is DDPMConfig.guidance: a caller that forgets it gets an error, not a silent 2.0."""
    model, s = tiny
    with pytest.raises(TypeError, match="guidance"):
        ddim_sample(model, s, torch.tensor([0]), steps=2)
    with pytest.raises(TypeError, match="guidance"):
        ddpm_sample(model, s, torch.tensor([0]))


@pytest.mark.parametrize("clip", [True, False])
def test_ddim_eta1_one_timestep_at_a_time_is_the_ddpm_step(clip):
    """From t to s = t - 1, DDIM's sigma with eta = 1 is beta~_t and its mean is the posterior mean (Song et al. 2021)."""
    s = NoiseSchedule(50)
    g = torch.Generator().manual_seed(0)
    for t in (1, 10, 30, 49):
        x_t, eps, z = (torch.randn(4, 1, 8, 8, generator=g) * 2 for _ in range(3))
        torch.testing.assert_close(ddim_step(s, x_t, eps, t, t - 1, 1.0, clip, z), ddpm_step(s, x_t, eps, t, clip, z),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("clip", [True, False])
def test_last_step_returns_the_predicted_x0(clip):
    """After the last step (DDIM: s = -1, abar_s = 1; DDPM: t = 0, beta~_0 = 0) x is x0^, with no noise."""
    s = NoiseSchedule(50)
    g = torch.Generator().manual_seed(0)
    x_t, eps, z = (torch.randn(4, 1, 8, 8, generator=g) * 2 for _ in range(3))

    def x0_hat(t):
        x0 = (x_t - (1 - s.abar[t]).sqrt() * eps) / s.abar[t].sqrt()
        return x0.clamp(-1, 1) if clip else x0

    for t, eta in ((0, 0.0), (0, 1.0), (7, 1.0)):
        torch.testing.assert_close(ddim_step(s, x_t, eps, t, -1, eta, clip, z), x0_hat(t))
    # rtol: the DDPM step's x0^ coefficient beta_0 / (1 - abar_0) is 1 only up to float32 rounding of 1 - abar_0.
    torch.testing.assert_close(ddpm_step(s, x_t, eps, 0, clip, z), x0_hat(0), rtol=1e-4, atol=1e-5)


class Oracle(nn.Module):
    """The exact noise predictor for a data distribution that is one point x*: eps = (x_t - sqrt(abar) x*) / sqrt(1 - abar)."""

    def __init__(self, schedule, target):
        super().__init__()
        self.s, self.target, self.null_class = schedule, target, 10
        self.config = type("C", (), {"in_channels": 1, "image_size": 4})()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x, t, c):
        return (x - self.s.sqrt_abar[t].view(-1, 1, 1, 1) * self.target) / self.s.sqrt_one_minus_abar[t].view(-1, 1, 1, 1)


def test_samplers_recover_a_single_point_distribution():
    """With the exact eps of a one-point distribution, DDIM (any eta, any steps) and DDPM land on that point."""
    s = NoiseSchedule(100)
    target = torch.linspace(-0.8, 0.8, 16).view(1, 1, 4, 4)
    oracle = Oracle(s, target)
    labels = torch.zeros(2, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    for eta in (0.0, 1.0):
        x = ddim_sample(oracle, s, labels, steps=10, eta=eta, guidance=1.0, clip=False, generator=g)
        assert torch.allclose(x, target.expand_as(x), atol=1e-4)
    x = ddpm_sample(oracle, s, labels, guidance=0.0, clip=False, generator=g)
    assert torch.allclose(x, target.expand_as(x), atol=1e-4)


def test_every_timestep_is_trained():
    s = NoiseSchedule(10)
    seen = set()
    for _ in range(50):
        t, _, _ = noised(s, torch.zeros(16, 1, 2, 2))
        seen |= set(t.tolist())
    assert seen == set(range(10))      # t = 0 included


def test_label_dropout_rate():
    torch.manual_seed(0)
    c = drop_labels(torch.zeros(20000, dtype=torch.long), null_class=10, p=0.1)
    assert abs((c == 10).float().mean().item() - 0.1) < 0.01
    assert torch.equal(drop_labels(torch.zeros(5, dtype=torch.long), 10, 0.0), torch.zeros(5, dtype=torch.long))


def test_loss_falls_when_overfitting_a_few_images():
    torch.manual_seed(0)
    model, s = tiny_unet(), NoiseSchedule(50)
    x0, c = torch.rand(4, 1, 8, 8) * 2 - 1, torch.arange(4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def eval_loss():
        torch.manual_seed(123)
        with torch.no_grad():
            return sum(simple_loss(model, s, x0.repeat(16, 1, 1, 1), c.repeat(16)).item() for _ in range(4))

    before = eval_loss()
    for _ in range(150):
        loss = simple_loss(model, s, x0, c)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < 0.5 * before


def test_ema_update_rule():
    model = nn.Linear(2, 1, bias=False)
    nn.init.constant_(model.weight, 1.0)
    ema = EMA(model, decay=0.9)
    assert ema.current_decay() == 0.1           # warm-up: (1 + 0) / (10 + 0)
    nn.init.constant_(model.weight, 2.0)
    ema.update(model)                           # 0.1 * 1 + 0.9 * 2
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 1.9))
    ema.num_updates.fill_(1000)
    nn.init.constant_(model.weight, 0.0)
    ema.update(model)                           # decay capped at 0.9: 0.9 * 1.9 + 0.1 * 0
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 1.71))
    assert not ema.model.weight.requires_grad
