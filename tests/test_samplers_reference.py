"""Our DDIM and DDPM samplers checked against two independent references:

1. Hugging Face diffusers' DDIMScheduler / DDPMScheduler (pinned in requirements.txt), step by step: the
   same noise schedule, the same noise-prediction function, the same starting noise and the same noise
   at every step, so every intermediate state must agree up to float32 rounding.
2. An exact oracle: for Gaussian data the optimal noise prediction is known in closed form, and a
   correct sampler driven by it must reproduce the data's mean and variance.
"""
import pytest
import torch
from torch import nn

from ddpm.diffusion import ddim_sample, ddim_timesteps, ddpm_sample
from ddpm.schedule import NoiseSchedule

T = 50
SHAPE = (8, 1, 4, 4)        # 8 "images" of 1 x 4 x 4


class EpsNet(nn.Module):
    """Stands in for the UNet: eps_theta(x_t, t, c) = fn(x_t, t), whatever the label.

    With record, it keeps every x_t it is asked about, so a test can read all intermediate states of a
    sampler. (Run the samplers with guidance=0: then they call the network once a step, on x_t itself.)
    """

    def __init__(self, fn, record=True):
        super().__init__()
        self.fn, self.record, self.states, self.null_class = fn, record, [], 10
        self.config = type("Config", (), {"in_channels": 1, "image_size": 4})()
        self.dummy = nn.Parameter(torch.zeros(1))        # the samplers ask the parameters for the device

    def forward(self, x, t, c):
        if self.record:
            self.states.append(x.clone())
        return self.fn(x, t[0].item())


def toy_eps(x, t):
    """A fixed noise prediction: linear in x_t, shifted with t, so x0^ is often outside [-1, 1]."""
    return 0.3 * x + 0.01 * t


LABELS = torch.zeros(SHAPE[0], dtype=torch.long)


def our_ddim(schedule, steps, eta, clip, seed):
    net = EpsNet(toy_eps)
    out = ddim_sample(net, schedule, LABELS, guidance=0.0, steps=steps, eta=eta, clip=clip,
                      generator=torch.Generator().manual_seed(seed))
    return net.states, out


def our_ddpm(schedule, clip, seed):
    net = EpsNet(toy_eps)
    out = ddpm_sample(net, schedule, LABELS, guidance=0.0, clip=clip, generator=torch.Generator().manual_seed(seed))
    return net.states, out


def assert_same_states(ours, theirs):
    """Every intermediate state and the final sample agree. The states reach |x| ~ 200 (x0^ = x_t / sqrt(abar_t)
    with abar_{T-1} ~ 1e-5), so the tolerance is relative to the state's scale: 3e-5, a few float32 roundings.
    The largest difference, 1.3e-5, is at the last DDPM step, where our x0^ coefficient beta_0 / (1 - abar_0)
    should be 1 but 1 - abar_0 loses digits in float32; elsewhere it is below 3e-6.
    Our samplers return the last state clamped to [-1, 1]."""
    (our_states, our_out), (their_states, their_last) = ours, theirs
    assert len(our_states) == len(their_states)
    pairs = list(zip(our_states, their_states)) + [(our_out, their_last.clamp(-1, 1))]
    scales = [b.abs().max().item() for b in their_states + [their_last]]
    for i, ((a, b), scale) in enumerate(zip(pairs, scales)):
        torch.testing.assert_close(a, b, rtol=0, atol=3e-5 * max(1.0, scale), msg=lambda m: f"state {i}: {m}")


def diffusers_ddim(schedule, steps, eta, clip, seed):
    """The same sampling run with diffusers' DDIMScheduler, fed our starting noise and our per-step noise."""
    from diffusers import DDIMScheduler            # test-only dependency (requirements.txt)
    grid = ddim_timesteps(schedule.T, steps)
    sched = DDIMScheduler(num_train_timesteps=schedule.T, trained_betas=schedule.betas.tolist(),
                          clip_sample=clip, set_alpha_to_one=True, timestep_spacing="linspace",
                          prediction_type="epsilon")
    sched.set_timesteps(steps)
    assert sched.timesteps.tolist() == grid
    # DDIMScheduler.step() does not look the next timestep up in sched.timesteps: it takes
    # prev = t - num_train_timesteps // num_inference_steps (diffusers 0.42.1, scheduling_ddim.py; a known issue,
    # huggingface/diffusers#12633). On an evenly spaced grid with spacing k that is our next timestep when
    # T // num_inference_steps == k, so set num_inference_steps that way.
    k = grid[0] - grid[1]
    assert all(a - b == k for a, b in zip(grid, grid[1:])), "DDIMScheduler needs an evenly spaced grid"
    sched.num_inference_steps = schedule.T // k
    assert schedule.T // sched.num_inference_steps == k

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=g)                  # the draws in the order ddim_sample makes them
    states = []
    for i, t in enumerate(grid):
        states.append(x.clone())
        last = i == len(grid) - 1
        noise = torch.randn(SHAPE, generator=g) if eta > 0 and not last else torch.zeros(SHAPE)
        # use_clipped_model_output: recompute eps from the clipped x0^, as ddim_step does.
        x = sched.step(toy_eps(x, t), t, x, eta=eta, use_clipped_model_output=clip, variance_noise=noise).prev_sample
    return states, x


def diffusers_ddpm(schedule, clip, seed, timesteps=None):
    """The same run with diffusers' DDPMScheduler ("fixed_small" = the posterior variance beta~_t). It draws its
    noise with torch.randn(shape, generator) only when t > 0, as our samplers do, so one generator seeded like
    ours gives both runs the same noise. `timesteps`: a custom sub-sequence (default: all of T-1..0)."""
    from diffusers import DDPMScheduler
    sched = DDPMScheduler(num_train_timesteps=schedule.T, trained_betas=schedule.betas.tolist(),
                          variance_type="fixed_small", clip_sample=clip, prediction_type="epsilon")
    if timesteps is not None:
        sched.set_timesteps(timesteps=timesteps)
    grid = sched.timesteps.tolist()
    assert grid == (timesteps or list(range(schedule.T - 1, -1, -1)))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=g)
    states = []
    for t in grid:
        states.append(x.clone())
        x = sched.step(toy_eps(x, t), t, x, generator=g).prev_sample
    return states, x


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("steps", [T, 8])            # every timestep; and 49, 42, ..., 7, 0
def test_ddim_matches_diffusers_step_by_step(steps, clip, eta):
    s = NoiseSchedule(T)
    assert_same_states(our_ddim(s, steps, eta, clip, seed=1), diffusers_ddim(s, steps, eta, clip, seed=1))


@pytest.mark.parametrize("clip", [True, False])
def test_ddpm_matches_diffusers_step_by_step(clip):
    s = NoiseSchedule(T)
    assert_same_states(our_ddpm(s, clip, seed=2), diffusers_ddpm(s, clip, seed=2))


@pytest.mark.parametrize("clip", [True, False])
def test_ddim_eta1_is_ddpm_on_an_uneven_subsequence(clip):
    """DDIM with eta = 1 is the DDPM posterior between consecutive grid points t > s (Song et al. 2021, Eq. 16),
    which DDPMScheduler computes for any custom grid. The grid of 10 steps of T = 50 is unevenly spaced
    (49, 44, 38, ...), which DDIMScheduler itself cannot follow (see diffusers_ddim)."""
    s = NoiseSchedule(T)
    grid = ddim_timesteps(T, 10)
    assert len({a - b for a, b in zip(grid, grid[1:])}) > 1
    assert_same_states(our_ddim(s, 10, 1.0, clip, seed=3), diffusers_ddpm(s, clip, seed=3, timesteps=grid))


def test_ddim_grid_runs_from_T_minus_1_to_0():
    for T_, steps in [(1000, 50), (1000, 20), (50, 8), (50, 10), (50, 50), (100, 3)]:
        grid = ddim_timesteps(T_, steps)
        assert grid[0] == T_ - 1 and grid[-1] == 0 and len(grid) == steps
        assert all(a > b for a, b in zip(grid, grid[1:]))                 # strictly decreasing
        gaps = [a - b for a, b in zip(grid, grid[1:])]
        assert max(gaps) - min(gaps) <= 1                                  # evenly spaced, up to rounding
    assert ddim_timesteps(1000, 5) == [999, 749, 500, 250, 0]
    assert ddim_timesteps(50, T) == list(range(T - 1, -1, -1))
    assert ddim_timesteps(50, 1) == [49]
    for bad in (0, 51):
        with pytest.raises(ValueError, match="1..T=50"):
            ddim_timesteps(50, bad)


# --- Exact oracle: Gaussian data -------------------------------------------------------------------------------

MU = torch.linspace(-0.4, 0.4, 16).view(1, 1, 4, 4)     # a different data mean for each pixel
SD = 0.15                                                # data x0 ~ N(MU, SD^2 I)


def gaussian_oracle(schedule):
    """The optimal noise prediction for x0 ~ N(mu, s^2 I). x_t = sqrt(abar) x0 + sqrt(1 - abar) eps is Gaussian,
    jointly with eps, so E[eps | x_t] is linear in x_t:

        eps*(x_t, t) = Cov(eps, x_t) / Var(x_t) (x_t - E x_t) = sqrt(1 - abar_t) (x_t - sqrt(abar_t) mu) / (abar_t s^2 + 1 - abar_t)
    """
    def eps(x, t):
        abar = schedule.abar[t].double()
        return ((1 - abar).sqrt() * (x - abar.sqrt() * MU) / (abar * SD ** 2 + 1 - abar)).float()
    return eps


def moments(samples):
    """(largest error of the per-pixel means, variance pooled over pixels around the per-pixel means)."""
    mean = samples.mean(0, keepdim=True)
    return (mean - MU).abs().max().item(), ((samples - mean) ** 2).mean().item()


# Tolerances. Even with the exact eps a sampler is only approximately right: its T or `steps` steps discretise the
# reverse process. For this linear-Gaussian chain that error can be computed exactly (propagate mean and variance
# through the affine steps): DDPM with T = 1000 ends with a variance 0.0011 (5 %) below SD^2, DDIM (eta = 0) with
# 500 steps 0.0008 below, and both means within 4e-4 of MU. Sampling error, N = 2000 samples of 16 pixels: a
# per-pixel mean has standard error SD / sqrt(N) = 0.0034, and the largest of the 16 errors stays below 4.5 of
# them (0.015) with probability > 0.9999; the pooled variance has standard error SD^2 sqrt(2 / (16 N)) = 0.00018.
# So MEAN_TOL = 0.015 + 0.0004 and VAR_TOL = 0.0011 + 4 standard errors = 0.0018 (8 % of SD^2). |MU| + 4 SD <= 1:
# the samplers' final clamp to [-1, 1] touches less than 1e-4 of the samples. (16 N = 32,000 values stay below
# torch's parallel grain size, 32,768, so every op runs on one thread: fast also on a busy machine.)
N = 2000
MEAN_TOL, VAR_TOL = 0.016, 0.0018


def sample_with_oracle(sampler, schedule, **kw):
    net = EpsNet(gaussian_oracle(schedule), record=False)
    labels = torch.zeros(N, dtype=torch.long)
    return sampler(net, schedule, labels, guidance=0.0, clip=False, generator=torch.Generator().manual_seed(0), **kw)


@pytest.mark.parametrize("sampler, kw", [(ddpm_sample, {}), (ddim_sample, {"steps": 500, "eta": 0.0})],
                         ids=["ddpm", "ddim-eta0"])
def test_oracle_samplers_reproduce_gaussian_data(sampler, kw):
    s = NoiseSchedule(1000)
    mean_err, var = moments(sample_with_oracle(sampler, s, **kw))
    assert mean_err < MEAN_TOL
    assert abs(var - SD ** 2) < VAR_TOL, (var, SD ** 2)
