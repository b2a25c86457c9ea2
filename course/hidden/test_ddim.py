"""Hidden tests of part ddim: ddim_step against Eq. 12 on random states, over both schedules, uneven
jumps, every eta the samplers use, with and without clipping and noise."""
import pytest
import torch

from course.hidden import formulas
from course.testkit import call, expect, expect_close
from ddpm.schedule import NoiseSchedule


def random_state(shape, seed: int, scale: float = 1.0):
    """(x_t, eps, z): three independent Gaussian tensors; x_t scaled so that x0^ may leave [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(shape, generator=g), torch.randn(shape, generator=g), torch.randn(shape, generator=g)


CASES = [  # (T, schedule, t, s, eta, clip)
    (1000, "linear", 999, 749, 0.0, True),
    (1000, "linear", 500, 250, 0.5, False),
    (1000, "linear", 250, 0, 1.0, True),
    (1000, "linear", 3, -1, 0.0, False),
    (50, "cosine", 45, 30, 1.0, False),
    (50, "cosine", 17, 16, 0.3, True),
    (50, "cosine", 6, -1, 1.0, True),
]


@pytest.mark.parametrize("T,kind,t,s,eta,clip", CASES)
def test_ddim_step_equals_eq_12(T, kind, t, s, eta, clip):
    """x_s = sqrt(abar_s) x0^ + sqrt(1 - abar_s - sigma^2) eps + sigma z, on random x_t, eps and z."""
    schedule = NoiseSchedule(T, kind)
    x_t, eps, z = random_state((3, 3, 16, 16), seed=t + 7 * (s + 1), scale=1.5)
    noise = z if s >= 0 else None
    got = call("ddim_step", schedule, x_t, eps, t, s, eta, clip, noise).value
    expect_close(got, formulas.ddim(schedule, x_t, eps, t, s, eta, clip, noise),
                 f"the DDIM step from t = {t} to s = {s} (T = {T} {kind}, eta = {eta}, clip = {clip}) must follow Eq. 12 "
                 f"with sigma = eta sqrt((1 - abar_s)/(1 - abar_t)) sqrt(1 - abar_t/abar_s)", atol=2e-4)


def test_ddim_clip_recomputes_eps_from_the_clipped_image():
    """With clip, eps is recomputed from the clipped x0^, so x_s stays consistent with x_t."""
    schedule = NoiseSchedule(100)
    x_t, eps, _ = random_state((4, 1, 8, 8), seed=80, scale=3.0)
    got = call("ddim_step", schedule, x_t, eps, 60, 40, 0.0, True, None).value
    expect_close(got, formulas.ddim(schedule, x_t, eps, 60, 40, 0.0, True, None),
                 "with clip=True, eps must be recomputed from the clipped x0^: eps = (x_t - sqrt(abar_t) x0^) / sqrt(1 - abar_t)",
                 atol=2e-4)


def test_ddim_without_noise_has_no_noise_term():
    """noise=None means z = 0: with eta = 0.8 the step is the deterministic part of Eq. 12."""
    schedule = NoiseSchedule(100)
    x_t, eps, _ = random_state((2, 1, 8, 8), seed=81)
    got = call("ddim_step", schedule, x_t, eps, 70, 35, 0.8, False, None).value
    expect_close(got, formulas.ddim(schedule, x_t, eps, 70, 35, 0.8, False, None),
                 "with noise=None (z = 0) the step is sqrt(abar_s) x0^ + sqrt(1 - abar_s - sigma^2) eps, sigma from eta = 0.8",
                 atol=2e-4)


def test_ddim_leaves_its_inputs_unchanged():
    """The step returns a new tensor and does not write into x_t or eps."""
    schedule = NoiseSchedule(50)
    x_t, eps, z = random_state((2, 1, 8, 8), seed=82, scale=2.0)
    res = call("ddim_step", schedule, x_t, eps, 30, 10, 1.0, True, z, after=True)
    got, (_, x_after, eps_after) = res.value, res.report["arguments"][:3]
    expect(torch.equal(x_t, x_after) and torch.equal(eps, eps_after),
           "ddim_step must not modify x_t or eps in place (the sampler reuses them)")
    expect(isinstance(got, torch.Tensor) and got.shape == x_t.shape, "ddim_step must return a tensor shaped like x_t")
