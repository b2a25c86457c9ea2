import math

import torch

from ddpm.schedule import NoiseSchedule, cosine_betas, linear_betas


def test_linear_schedule_matches_ho_et_al():
    s = NoiseSchedule(1000, "linear")
    assert torch.isclose(s.betas[0], torch.tensor(1e-4)) and torch.isclose(s.betas[-1], torch.tensor(0.02))
    abar = torch.cumprod(1 - linear_betas(1000), 0)
    assert torch.allclose(s.abar.double(), abar, rtol=1e-5)
    assert torch.allclose(s.sqrt_abar ** 2 + s.sqrt_one_minus_abar ** 2, torch.ones(1000), atol=1e-6)
    # Ho et al. report abar_T ~ 4e-5 for this schedule: the last step is (almost) pure noise.
    assert 1e-5 < s.abar[-1] < 1e-4


def test_cosine_schedule_closed_form():
    T, s_ = 100, 0.008
    abar = torch.cumprod(1 - cosine_betas(T), 0)
    f = lambda t: math.cos((t / T + s_) / (1 + s_) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 50, 90):
        assert math.isclose(abar[t].item(), f(t + 1) / f(0), rel_tol=1e-6)


def test_q_sample_closed_form_and_buffers():
    s = NoiseSchedule(200)
    x0, eps = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    t = torch.tensor([0, 1, 100, 199])
    expected = torch.stack([s.abar[k].sqrt() * x0[i] + (1 - s.abar[k]).sqrt() * eps[i] for i, k in enumerate(t)])
    assert torch.allclose(s.q_sample(x0, t, eps), expected, atol=1e-6)
    assert torch.allclose(s.predict_x0(s.q_sample(x0, t, eps), t, eps), x0, atol=1e-4)
    assert {"betas", "abar", "sqrt_abar"} <= set(dict(s.named_buffers()))


def test_q_sample_equals_running_the_markov_chain():
    """Iterating q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t) gives the closed form's moments."""
    s = NoiseSchedule(50)
    x0 = torch.full((20000, 1), 0.7)
    x = x0.clone()
    for t in range(30):
        x = (1 - s.betas[t]).sqrt() * x + s.betas[t].sqrt() * torch.randn_like(x)
    mean, var = s.sqrt_abar[29] * 0.7, 1 - s.abar[29]
    assert abs(x.mean() - mean) < 0.02 and abs(x.var() - var) < 0.02


def test_unknown_schedule_is_rejected():
    import pytest
    with pytest.raises(ValueError, match="linear"):
        NoiseSchedule(10, "quadratic")
