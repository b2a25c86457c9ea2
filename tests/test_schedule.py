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
    g = torch.Generator().manual_seed(0)    # seeded: at t = 199, predict_x0 divides by sqrt(abar) ~ 0.006, which
    x0, eps = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)   # amplifies rounding
    t = torch.tensor([0, 1, 100, 199])
    expected = torch.stack([s.abar[k].sqrt() * x0[i] + (1 - s.abar[k]).sqrt() * eps[i] for i, k in enumerate(t)])
    assert torch.allclose(s.q_sample(x0, t, eps), expected, atol=1e-6)
    assert torch.allclose(s.predict_x0(s.q_sample(x0, t, eps), t, eps), x0, atol=1e-4)
    assert {"betas", "abar", "sqrt_abar"} <= set(dict(s.named_buffers()))


def test_q_sample_equals_running_the_markov_chain():
    """Iterating q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t) gives the closed form's moments.

    N = 100,000 draws: the standard errors are 0.003 (mean) and 0.004 (variance, ~1), so 0.02 is > 4.5 of them.
    """
    s = NoiseSchedule(50)
    g = torch.Generator().manual_seed(0)
    x = torch.full((100_000,), 0.7)
    for t in range(30):
        x = (1 - s.betas[t]).sqrt() * x + s.betas[t].sqrt() * torch.randn(x.shape, generator=g)
    mean, var = s.sqrt_abar[29] * 0.7, 1 - s.abar[29]
    assert abs(x.mean() - mean) < 0.02 and abs(x.var() - var) < 0.02


def test_unknown_schedule_is_rejected():
    import pytest
    with pytest.raises(ValueError, match="linear"):
        NoiseSchedule(10, "quadratic")


def test_posterior_variance_closed_form():
    """beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t, with abar_{-1} = 1 (so beta~_0 = 0)."""
    for kind, betas in (("linear", linear_betas(1000)), ("cosine", cosine_betas(1000))):
        s = NoiseSchedule(1000, kind)
        abar = torch.cumprod(1 - betas, 0)
        for t in (1, 2, 10, 500, 999):
            expected = (1 - abar[t - 1]) / (1 - abar[t]) * betas[t]
            assert math.isclose(s.posterior_var[t].item(), expected.item(), rel_tol=1e-5), (kind, t)
            assert math.isclose(s.abar_prev[t].item(), abar[t - 1].item(), rel_tol=1e-6)
        assert s.abar_prev[0] == 1 and s.posterior_var[0] == 0
        assert (s.posterior_var[1:] < s.betas[1:]).all()          # beta~_t < beta_t since abar_{t-1} > abar_t


def test_posterior_is_bayes_rule():
    """q(x_{t-1} | x_t, x_0) is proportional to q(x_t | x_{t-1}) q(x_{t-1} | x_0), a product of two Gaussians in x_{t-1}:

        N(x_t; sqrt(alpha_t) x_{t-1}, beta_t)  N(x_{t-1}; sqrt(abar_{t-1}) x_0, 1 - abar_{t-1})

    so its precision is the sum of the precisions, alpha_t / beta_t + 1 / (1 - abar_{t-1}), and its mean is the
    precision-weighted sum  var (sqrt(alpha_t) / beta_t x_t + sqrt(abar_{t-1}) / (1 - abar_{t-1}) x_0).
    Computed here in float64, for every t >= 1; at t = 0 the posterior is the point x_0.
    """
    one, zero = torch.ones(()), torch.zeros(())
    for kind in ("linear", "cosine"):
        s = NoiseSchedule(1000, kind)
        betas = s.betas.double()
        abar = torch.cumprod(1 - betas, 0)
        beta, alpha, abar_prev = betas[1:], 1 - betas[1:], abar[:-1]
        var = 1 / (alpha / beta + 1 / (1 - abar_prev))
        coef_x0 = var * abar_prev.sqrt() / (1 - abar_prev)
        coef_xt = var * alpha.sqrt() / beta
        ours_x0 = torch.stack([s.posterior_mean(one, zero, t) for t in range(1, 1000)]).double()
        ours_xt = torch.stack([s.posterior_mean(zero, one, t) for t in range(1, 1000)]).double()
        torch.testing.assert_close(s.posterior_var[1:].double(), var, rtol=1e-5, atol=0)
        # posterior_mean works in float32, where 1 - abar is short of digits while abar ~ 1 (small t): 5e-4 there,
        # 1e-6 from t = 100 on.
        torch.testing.assert_close(ours_x0, coef_x0, rtol=1e-3, atol=0)
        torch.testing.assert_close(ours_xt, coef_xt, rtol=1e-3, atol=0)
        torch.testing.assert_close(ours_x0[99:], coef_x0[99:], rtol=1e-5, atol=0)
        torch.testing.assert_close(ours_xt[99:], coef_xt[99:], rtol=1e-5, atol=0)
        assert abs(s.posterior_mean(one, zero, 0) - 1) < 1e-3 and s.posterior_mean(zero, one, 0) == 0
